"""DCGAN quality on MNIST: do the samples look like digits, and all ten of them?

Run on purpose (not collected by pytest), from the repository root:

    python tests/benchmarks/dcgan_mnist_quality.py \
        --mnist_dir=../shared/data/mnist --work_dir=/tmp/dcgan_mnist --steps=3000

What it does, with the suite's own commands:
1. builds MNIST (the four idx.gz files) into TFRecords with `tfrecords.build`
   at 32x32 (`--resize_policy=pad` fits the square 28x28 digits inside 32x32,
   which for a square image is a plain upscale with no border);
2. trains DCGAN-32 (grayscale) with `python -m apps.dcgan.train`;
3. exports it with `python -m apps.dcgan.export` and draws 1,000 samples from
   the exported `sample` signature (so the numbers are those of the artefact a
   server would load);
4. classifies the samples (as exported, 32x32) with the suite's dataset classifier,
   the one `python -m apps.dcgan.evaluate` scores this build with
   (`common.evaluation.evaluate_command.build_feature_extractor` with the feature
   network "classifier": `common.evaluation.classifier`'s recommended settings, trained
   on the build's train split on first use with a printed time estimate and cached
   under ~/.cache/gansuite/classifiers/, or --classifier_path), and reports its test
   accuracy;
5. as the reference for the confidence criterion, classifies the 10,000 MNIST
   test digits of the build through the same classifier: the share a perfect
   generator would reach with it.

Numbers published before this script used the dataset classifier came from a
separate 28x28 CNN trained here for 8 epochs (test accuracy 0.9918) on the
samples resized back to 28x28; they are labelled so where they are quoted.

Pass criteria (from the reference-app requirements): at least 90% of the samples
classified with confidence >= 0.9, and every class between 5% and 15%.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_idx(path: str) -> np.ndarray:
    """An idx(.gz) file as a uint8 array (big-endian header: magic, dims)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


CONFIDENCE = 0.9


def classifier_probabilities(extractor, images, batch_size: int = 500) -> np.ndarray:
    """Class probabilities of images in [-1, 1] ([N, H, W, C]) through a FeatureExtractor with a class head."""
    return np.concatenate([extractor(images[start:start + batch_size])["probabilities"]
                           for start in range(0, len(images), batch_size)])


def dataset_classifier(data_dir: str, image_size: int, classifier_path: str | None = None):
    """(FeatureExtractor, facts) of the dataset classifier `evaluate` uses for `data_dir` at image_size x 1."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from common.evaluation import evaluate_command

    return evaluate_command.build_feature_extractor("classifier", data=data_dir, image_size=image_size, channels=1,
                                                    classifier_path=classifier_path)


def real_confident_share(extractor, data_dir: str, image_size: int) -> float:
    """Share of the build's test digits the classifier assigns a class with probability >= CONFIDENCE."""
    import tensorflow as tf

    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from common.data import reader

    dataset = reader.load_dataset(data_dir, split="test", image_size=image_size, channels=1, batch_size=None,
                                  shuffle=False, repeat=False, cache=False)
    images = tf.concat([batch["image"] for batch in dataset.batch(1000)], axis=0).numpy()
    return float(np.mean(classifier_probabilities(extractor, images).max(axis=1) >= CONFIDENCE))


def run(command: list[str]) -> float:
    print("+", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist_dir", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    parser.add_argument("--work_dir", default="/tmp/dcgan_mnist")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--num_samples", type=int, default=1000)
    parser.add_argument("--classifier_path", default=None,
                        help="Dataset classifier .keras file (default: the one evaluate caches for this build).")
    parser.add_argument("--extra_train_flags", default="", help="More flags for apps.dcgan.train, space separated.")
    parser.add_argument("--skip_train", action="store_true",
                        help="Only export and measure the newest checkpoint of an existing run.")
    args = parser.parse_args()

    data_dir = os.path.join(args.work_dir, "mnist32")
    model_dir = os.path.join(args.work_dir, "run")
    export_dir = os.path.join(args.work_dir, "export")
    python = sys.executable
    if not os.path.exists(os.path.join(data_dir, "manifest.json")):
        run([python, "-m", "tfrecords.build", f"--source={args.mnist_dir}", f"--output={data_dir}",
             "--image_size=32", "--resize_policy=pad", "--channels=1"])
    train_seconds = 0.0 if args.skip_train else run(
        [python, "-m", "apps.dcgan.train", f"--data={data_dir}", f"--model_dir={model_dir}",
         "--image_size=32", "--channels=1", f"--batch_size={args.batch_size}", f"--steps={args.steps}"]
        + args.extra_train_flags.split()
    )
    run([python, "-m", "apps.dcgan.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}",
         "--overwrite"])

    import tensorflow as tf

    versions = sorted(int(v) for v in os.listdir(export_dir) if v.isdigit())
    exported = tf.saved_model.load(os.path.join(export_dir, str(versions[-1])))
    outputs = exported.signatures["sample"](seed=tf.constant(1234, tf.int64), count=tf.constant(args.num_samples, tf.int32))
    images = outputs["images"][..., :1].numpy().astype(np.float32) / 127.5 - 1.0

    extractor, facts = dataset_classifier(data_dir, 32, args.classifier_path)
    test_accuracy = facts["classifier_test_accuracy"]
    probabilities = classifier_probabilities(extractor, images)
    real_share = real_confident_share(extractor, data_dir, 32)
    confident = float(np.mean(probabilities.max(axis=1) >= CONFIDENCE))
    histogram = np.bincount(probabilities.argmax(axis=1), minlength=10) / len(images)
    with open(os.path.join(model_dir, "config.json")) as f:
        trained_batch_size = json.load(f)["runtime"]["batch_size"]
    with open(os.path.join(export_dir, str(versions[-1]), "assets.extra", "export_info.json")) as f:
        info = json.load(f)  # the exported checkpoint's step and whether it is the EMA generator
    result = {
        "steps": info["metadata"]["step"],
        "ema": info["metadata"]["ema"],
        "batch_size": trained_batch_size,
        "train_seconds": round(train_seconds, 1),
        "classifier_path": facts["classifier_path"],
        "classifier_fingerprint": facts["classifier_fingerprint"],
        "classifier_test_accuracy": round(test_accuracy, 4),
        "num_samples": int(len(images)),
        "confident_share": round(confident, 4),
        "mnist_test_confident_share": round(real_share, 4),
        "class_shares": [round(float(s), 4) for s in histogram],
        "pass": bool(confident >= CONFIDENCE and histogram.min() >= 0.05 and histogram.max() <= 0.15),
    }
    print(json.dumps(result, indent=2))
    grid = outputs["images"].numpy()[:64, :, :, 0]
    rows = np.concatenate([np.concatenate(list(grid[r * 8 : (r + 1) * 8]), axis=1) for r in range(8)], axis=0)
    from PIL import Image

    Image.fromarray(rows).save(os.path.join(args.work_dir, "samples.png"))
    print("sample grid:", os.path.join(args.work_dir, "samples.png"))


if __name__ == "__main__":
    main()
