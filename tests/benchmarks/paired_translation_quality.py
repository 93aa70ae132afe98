"""Paired translation quality (CSGAN, CycleGAN with --paired): CelebA faces to pencil sketches.

Run on purpose (not collected by pytest), from the repository root:

    python tests/benchmarks/paired_translation_quality.py --app=csgan \
        --work_dir=/tmp/face2sketch/csgan --image_size=64 --steps=2000 \
        --extra_train_flags="--base_filters=32"

What it does, with the suite's own commands:
1. writes image folders `photos/{train,test}/` (the CelebA JPEGs of
   `--source`, the first `--max_train` of train and `--max_test` of test, by
   name) and `sketches/{train,test}/` (`pencil_sketch` of each photo, PNG, same
   name), then builds them into TFRecords with
   `python -m tfrecords.build --domains=photos,sketches --paired` (skipped
   when the dataset exists); domain A is the photos, B the sketches;
2. trains `python -m apps.<app>.train --paired` on the train pairs (skipped
   when the run already has `--steps`; a shorter run is resumed);
   `--no-paired` trains the same app on the same data unpaired, for comparison;
3. exports it with `python -m apps.<app>.export` and translates every test
   photo and sketch through the exported `a_to_b` / `b_to_a` signatures (uint8
   in, uint8 out: the numbers are those of the artefact a server would load);
4. compares the translations with their ground-truth counterparts.

Reported (test split, images at `--image_size`, pixels in [0, 1]):
- `l1_a_to_b`, `psnr_a_to_b`: mean |G(a) - b| and mean per-image PSNR of
  G(a) against the true sketch b; `l1_b_to_a`, `psnr_b_to_a`: F(b) against
  the true photo a;
- `cycle_l1_a`, `cycle_l1_b`: mean |a - F(G(a))| and |b - G(F(b))|;
- references that need no training: `constant_*`, the same measures for the
  best constant output, the mean training image of the target domain (an
  input-independent generator, the collapse CSGAN's CS loss allows on
  unpaired data, scores about this or worse), and `input_*`, the input itself
  as its own translation (the identity);
- a PNG with one column per test image (`--rows` of them) and the rows:
  photo a, G(a), true sketch b, sketch b, F(b), true photo a, F(G(a)), G(F(b)).

The sketch is deterministic (NumPy/SciPy only): grayscale (ITU-R 601-2 luma),
then a colour dodge of the grayscale with its inverted Gaussian blur
(`--sketch_sigma`, in pixels of the 64x64 photos), written as 3 equal channels.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.benchmarks.two_domain_quality import pixel_l1, run, translate  # noqa: E402

SKETCH_SIGMA = 2.0


def pencil_sketch(rgb: np.ndarray, sigma: float = SKETCH_SIGMA) -> np.ndarray:
    """A pencil sketch of one uint8 [H, W, 3] image as uint8 [H, W, 3] (three equal channels).

    gray = ITU-R 601-2 luma; sketch = min(255, gray * 255 / (255 - blur(255 - gray))),
    the colour dodge of the grayscale with its inverted, Gaussian-blurred copy:
    flat regions become white, edges dark strokes.
    """
    from scipy import ndimage

    gray = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    blurred = ndimage.gaussian_filter(255.0 - gray, sigma=sigma, mode="reflect")
    dodge = np.minimum(255.0, gray * 255.0 / np.maximum(255.0 - blurred, 1.0))
    sketch = np.round(dodge).astype(np.uint8)
    return np.repeat(sketch[..., None], 3, axis=-1)


def write_image_folders(source: str, folder: str, max_train: int, max_test: int, sigma: float) -> None:
    """`folder/photos/<split>/<name>.jpg` (copies of the source JPEGs) and `folder/sketches/<split>/<name>.png`."""
    from PIL import Image

    for split, limit in (("train", max_train), ("test", max_test)):
        names = sorted(n for n in os.listdir(os.path.join(source, split)) if not n.startswith("."))[:limit]
        if not names:
            raise SystemExit(f"error: no images in {os.path.join(source, split)}")
        for domain in ("photos", "sketches"):
            os.makedirs(os.path.join(folder, domain, split), exist_ok=True)
        for name in names:
            path = os.path.join(source, split, name)
            shutil.copyfile(path, os.path.join(folder, "photos", split, name))
            with Image.open(path) as image:
                photo = np.asarray(image.convert("RGB"))
            stem = os.path.splitext(name)[0]
            Image.fromarray(pencil_sketch(photo, sigma)).save(os.path.join(folder, "sketches", split, stem + ".png"))


def load_test_pairs(data_dir: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every test pair in stored order, as uint8 (photos [N, size, size, 3], sketches [N, size, size, 3])."""
    import tensorflow as tf

    from common.data import reader

    dataset = reader.load_paired(data_dir, split="test", image_size=image_size, batch_size=None, shuffle=False,
                               repeat=False, cache=False).batch(256)
    to_uint8 = lambda x: tf.cast(tf.round((tf.clip_by_value(x, -1.0, 1.0) + 1.0) * 127.5), tf.uint8)  # noqa: E731
    batches = [(to_uint8(batch["a"]).numpy(), to_uint8(batch["b"]).numpy()) for batch in dataset]
    return np.concatenate([a for a, _ in batches]), np.concatenate([b for _, b in batches])


def mean_train_images(data_dir: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The per-pixel mean training photo and sketch, uint8 [size, size, 3] each."""
    from common.data import reader

    dataset = reader.load_paired(data_dir, split="train", image_size=image_size, batch_size=None, shuffle=False,
                               repeat=False, cache=False).batch(256)
    sums, count = [0.0, 0.0], 0
    for batch in dataset:
        for side, key in enumerate(("a", "b")):
            sums[side] = sums[side] + (batch[key].numpy().astype(np.float64) + 1.0).sum(axis=0) * 127.5
        count += int(batch["a"].shape[0])
    return tuple(np.round(total / count).astype(np.uint8) for total in sums)


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over images of 10 log10(1 / MSE) with pixels in [0, 1] (an identical image counts as 100 dB)."""
    error = (x.astype(np.float64) - y.astype(np.float64)) / 255.0
    mse = np.mean(error ** 2, axis=tuple(range(1, error.ndim)))
    return float(np.mean(np.where(mse > 0, 10.0 * np.log10(1.0 / np.maximum(mse, 1e-10)), 100.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", default="csgan", choices=["csgan", "cyclegan"])
    parser.add_argument("--source", default=os.path.join(ROOT, "..", "shared", "data", "celeba64"),
                        help="CelebA folder with train/ and test/ JPEGs.")
    parser.add_argument("--max_train", type=int, default=2000, help="Training pairs (the first, by name).")
    parser.add_argument("--max_test", type=int, default=1000, help="Test pairs (the first, by name).")
    parser.add_argument("--sketch_sigma", type=float, default=SKETCH_SIGMA)
    parser.add_argument("--data_dir", default=None,
                        help="Built paired dataset; default: <work_dir>/../face2sketch_<max_train>_<max_test>.")
    parser.add_argument("--work_dir", default="/tmp/face2sketch/csgan")
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--paired", action=argparse.BooleanOptionalAction, default=True,
                        help="Train with --paired (default); --no-paired trains unpaired on the same data.")
    parser.add_argument("--rows", type=int, default=8, help="Test images shown in the sample PNG.")
    parser.add_argument("--extra_train_flags", default="", help="More flags for apps.<app>.train, space separated.")
    parser.add_argument("--skip_train", action="store_true", help="Only export and measure an existing run.")
    args = parser.parse_args()

    work_dir = os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    data_dir = os.path.abspath(args.data_dir or os.path.join(
        os.path.dirname(work_dir), f"face2sketch_{args.max_train}_{args.max_test}"))
    model_dir = os.path.join(work_dir, "run")
    export_dir = os.path.join(work_dir, "export")
    python = sys.executable
    if not os.path.exists(os.path.join(data_dir, "manifest.json")):
        images = data_dir + ".images"
        shutil.rmtree(images, ignore_errors=True)
        write_image_folders(os.path.abspath(args.source), images, args.max_train, args.max_test, args.sketch_sigma)
        run([python, "-m", "tfrecords.build", f"--source={images}", "--domains=photos,sketches", "--paired",
             f"--output={data_dir}", "--noprogress"])
        shutil.rmtree(images)
    train_seconds = None
    if not args.skip_train:
        train_seconds = run(
            [python, "-m", f"apps.{args.app}.train", f"--data={data_dir}", f"--model_dir={model_dir}",
             f"--image_size={args.image_size}", f"--steps={args.steps}",
             "--paired" if args.paired else "--nopaired"] + args.extra_train_flags.split())
    run([python, "-m", f"apps.{args.app}.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}",
         "--version=1", "--overwrite"])

    import tensorflow as tf

    from common.data import reader

    with open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")) as f:
        exported_step = json.load(f)["metadata"]["step"]
    with open(os.path.join(model_dir, "config.json")) as f:
        trained_paired = bool(json.load(f)["model"].get("paired", False))
    exported = tf.saved_model.load(os.path.join(export_dir, "1"))
    a_to_b, b_to_a = exported.signatures["a_to_b"], exported.signatures["b_to_a"]
    test_a, test_b = load_test_pairs(data_dir, args.image_size)
    fake_b, fake_a = translate(a_to_b, test_a), translate(b_to_a, test_b)
    cycled_a, cycled_b = translate(b_to_a, fake_b), translate(a_to_b, fake_a)
    mean_a, mean_b = mean_train_images(data_dir, args.image_size)
    constant_b, constant_a = np.broadcast_to(mean_b, test_b.shape), np.broadcast_to(mean_a, test_a.shape)

    result = {
        "app": args.app,
        "paired": trained_paired,
        "image_size": args.image_size,
        "steps": exported_step,
        "extra_train_flags": args.extra_train_flags,
        "train_seconds": None if train_seconds is None else round(train_seconds, 1),
        "train_pairs": reader.describe(data_dir).num_examples["train"] // 2,
        "test_pairs": int(len(test_a)),
        "sketch_sigma": args.sketch_sigma,
        "l1_a_to_b": round(pixel_l1(fake_b, test_b), 4),
        "psnr_a_to_b": round(psnr(fake_b, test_b), 2),
        "l1_b_to_a": round(pixel_l1(fake_a, test_a), 4),
        "psnr_b_to_a": round(psnr(fake_a, test_a), 2),
        "cycle_l1_a": round(pixel_l1(test_a, cycled_a), 4),
        "cycle_l1_b": round(pixel_l1(test_b, cycled_b), 4),
        "constant_l1_a_to_b": round(pixel_l1(constant_b, test_b), 4),
        "constant_psnr_a_to_b": round(psnr(constant_b, test_b), 2),
        "constant_l1_b_to_a": round(pixel_l1(constant_a, test_a), 4),
        "constant_psnr_b_to_a": round(psnr(constant_a, test_a), 2),
        "input_l1_a_to_b": round(pixel_l1(test_a, test_b), 4),
        "input_psnr_a_to_b": round(psnr(test_a, test_b), 2),
    }
    print(json.dumps(result, indent=2))
    with open(os.path.join(work_dir, "quality.json"), "w") as f:
        json.dump(result, f, indent=2)

    from PIL import Image

    n = min(args.rows, len(test_a))
    rows = [np.concatenate(list(images[:n]), axis=1) for images in
            (test_a, fake_b, test_b, test_b, fake_a, test_a, cycled_a, cycled_b)]
    path = os.path.join(work_dir, "samples.png")
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    print("sample rows (photo, G(photo), true sketch, sketch, F(sketch), true photo, F(G(photo)), G(F(sketch))):",
          path)


if __name__ == "__main__":
    main()
