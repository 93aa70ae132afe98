"""Quality of an unpaired translation app (CycleGAN, CSGAN, DiscoGAN) on apple2orange.

Run on purpose (not collected by pytest), from the repository root:

    python tests/benchmarks/two_domain_quality.py --app=cyclegan \
        --work_dir=/tmp/a2o_cyclegan --image_size=64 --steps=6000 \
        --extra_train_flags="--base_filters=32"

What it does, with the suite's own commands:
1. builds apple2orange (`trainA/trainB/testA/testB` from `--source`) into
   TFRecords with `tfrecords.build` at `--build_size` (skipped when present);
2. trains `python -m apps.<app>.train` on the train split (skipped when the
   run already has `--steps`; a shorter run is resumed);
3. exports it with `python -m apps.<app>.export` and translates every test
   image through the exported `a_to_b` / `b_to_a` signatures (uint8 in, uint8
   out: the numbers are those of the artefact a server would load);
4. trains a small apple-vs-orange CNN on the train split (random flips and
   crops), reports its accuracy on the real test images, and classifies the
   translations.

Reported (all on the test split, images at `--image_size`, pixels in [0, 1]):
- `a_to_b_success`: share of translated test apples the classifier calls
  oranges; `b_to_a_success`: share of translated oranges it calls apples
  (target: each >= 0.70);
- `cycle_l1_a`, `cycle_l1_b`: mean |x - G_BA(G_AB(x))| (and the reverse);
- `edge_l1_a_to_b`, `edge_l1_b_to_a`: mean |sobel(x) - sobel(G(x))| between
  the grayscale Sobel edge magnitudes of input and output (structure kept: low),
  next to two references: `edge_l1_unrelated` between randomly paired test
  images of the two domains (no structure kept) and `edge_l1_jitter`, between
  each test image and itself shifted by one pixel (a tiny change);
- a PNG of rows: real A, fake B, cycled A, then real B, fake A, cycled B.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(command: list[str]) -> float:
    print("+", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    return time.perf_counter() - start


def domain_images(data_dir: str, split: str, domain: int, image_size: int) -> np.ndarray:
    """Every image of one domain and split as uint8 [N, size, size, 3], in the stored order."""
    sys.path.insert(0, ROOT)
    import tensorflow as tf

    from common.data import reader

    dataset = reader.load_dataset(data_dir, split=split, domain=domain, image_size=image_size, batch_size=None,
                                shuffle=False, repeat=False, cache=False).batch(256)
    batches = [batch["image"] for batch in dataset]
    images = tf.concat(batches, axis=0)
    return tf.cast(tf.round((tf.clip_by_value(images, -1.0, 1.0) + 1.0) * 127.5), tf.uint8).numpy()


def train_domain_classifier(train_a: np.ndarray, train_b: np.ndarray, epochs: int, seed: int = 0):
    """A small CNN calling an image domain A (0) or B (1); trained with random flips and crops."""
    import keras

    keras.utils.set_random_seed(seed)
    x = np.concatenate([train_a, train_b]).astype(np.float32) / 255.0
    y = np.concatenate([np.zeros(len(train_a)), np.ones(len(train_b))]).astype(np.float32)
    size = x.shape[1]
    classifier = keras.Sequential(
        [
            keras.Input((size, size, 3)),
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed),
            keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(128, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(128, 3, strides=2, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    classifier.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy", metrics=["accuracy"])
    classifier.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=2)
    return classifier


def predict_b(classifier, images: np.ndarray) -> np.ndarray:
    """Probability that each uint8 image is of domain B."""
    return classifier.predict(images.astype(np.float32) / 255.0, batch_size=128, verbose=0)[:, 0]


def sobel_magnitude(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grayscale images, float [N, H, W], for uint8 [N, H, W, 3] inputs."""
    import tensorflow as tf

    gray = tf.image.rgb_to_grayscale(tf.convert_to_tensor(images, tf.float32) / 255.0)
    gradients = tf.image.sobel_edges(gray)  # [N, H, W, 1, 2]: dy, dx
    return tf.norm(gradients[..., 0, :], axis=-1).numpy()


def edge_l1(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(sobel_magnitude(x) - sobel_magnitude(y))))


def pixel_l1(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(x.astype(np.float32) - y.astype(np.float32))) / 255.0)


def translate(signature, images: np.ndarray, batch: int = 16) -> np.ndarray:
    import tensorflow as tf

    outputs = [signature(images=tf.constant(images[i : i + batch]))["images"].numpy()
               for i in range(0, len(images), batch)]
    return np.concatenate(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", default="cyclegan", help="cyclegan, csgan or discogan.")
    parser.add_argument("--source", default=os.path.join(ROOT, "..", "shared", "data", "apple2orange"))
    parser.add_argument("--data_dir", default=None, help="Built dataset; default: <work_dir>/../a2o<build_size>.")
    parser.add_argument("--build_size", type=int, default=128)
    parser.add_argument("--work_dir", default="/tmp/a2o_cyclegan")
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--classifier_epochs", type=int, default=30)
    parser.add_argument("--rows", type=int, default=6, help="Test images per direction in the sample PNG.")
    parser.add_argument("--extra_train_flags", default="", help="More flags for apps.<app>.train, space separated.")
    parser.add_argument("--skip_train", action="store_true", help="Only export and measure an existing run.")
    args = parser.parse_args()

    work_dir = os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    data_dir = args.data_dir or os.path.join(os.path.dirname(work_dir), f"a2o{args.build_size}")
    model_dir = os.path.join(work_dir, "run")
    export_dir = os.path.join(work_dir, "export")
    python = sys.executable
    if not os.path.exists(os.path.join(data_dir, "manifest.json")):
        run([python, "-m", "tfrecords.build", f"--source={args.source}", f"--output={data_dir}",
             f"--image_size={args.build_size}", "--resize_policy=resize", "--noprogress"])
    train_seconds = None
    if not args.skip_train:
        train_seconds = run(
            [python, "-m", f"apps.{args.app}.train", f"--data={data_dir}", f"--model_dir={model_dir}",
             f"--image_size={args.image_size}", f"--steps={args.steps}"] + args.extra_train_flags.split())
    run([python, "-m", f"apps.{args.app}.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}",
         "--version=1", "--overwrite"])

    import tensorflow as tf

    exported = tf.saved_model.load(os.path.join(export_dir, "1"))
    a_to_b, b_to_a = exported.signatures["a_to_b"], exported.signatures["b_to_a"]
    test_a = domain_images(data_dir, "test", 0, args.image_size)
    test_b = domain_images(data_dir, "test", 1, args.image_size)
    fake_b, fake_a = translate(a_to_b, test_a), translate(b_to_a, test_b)
    cycled_a, cycled_b = translate(b_to_a, fake_b), translate(a_to_b, fake_a)

    train_a = domain_images(data_dir, "train", 0, args.image_size)
    train_b = domain_images(data_dir, "train", 1, args.image_size)
    classifier = train_domain_classifier(train_a, train_b, args.classifier_epochs)
    real_accuracy = float(np.mean(np.concatenate([predict_b(classifier, test_a) < 0.5,
                                                  predict_b(classifier, test_b) >= 0.5])))
    a_to_b_success = float(np.mean(predict_b(classifier, fake_b) >= 0.5))
    b_to_a_success = float(np.mean(predict_b(classifier, fake_a) < 0.5))

    rng = np.random.default_rng(0)
    count = min(len(test_a), len(test_b))
    unrelated = edge_l1(test_a[rng.permutation(len(test_a))[:count]], test_b[rng.permutation(len(test_b))[:count]])
    both = np.concatenate([test_a, test_b])
    jitter = edge_l1(both, np.roll(both, 1, axis=2))
    result = {
        "app": args.app,
        "image_size": args.image_size,
        "steps": args.steps,
        "extra_train_flags": args.extra_train_flags,
        "train_seconds": None if train_seconds is None else round(train_seconds, 1),
        "test_images": {"a": int(len(test_a)), "b": int(len(test_b))},
        "classifier_test_accuracy_on_real": round(real_accuracy, 4),
        "a_to_b_success": round(a_to_b_success, 4),
        "b_to_a_success": round(b_to_a_success, 4),
        "cycle_l1_a": round(pixel_l1(test_a, cycled_a), 4),
        "cycle_l1_b": round(pixel_l1(test_b, cycled_b), 4),
        "edge_l1_a_to_b": round(edge_l1(test_a, fake_b), 4),
        "edge_l1_b_to_a": round(edge_l1(test_b, fake_a), 4),
        "edge_l1_unrelated": round(unrelated, 4),
        "edge_l1_jitter": round(jitter, 4),
        "pass": bool(a_to_b_success >= 0.7 and b_to_a_success >= 0.7),
    }
    print(json.dumps(result, indent=2))
    with open(os.path.join(work_dir, "quality.json"), "w") as f:
        json.dump(result, f, indent=2)

    from PIL import Image

    n = min(args.rows, count)
    rows = [np.concatenate(list(images[:n]), axis=1) for images in
            (test_a, fake_b, cycled_a, test_b, fake_a, cycled_b)]
    path = os.path.join(work_dir, "samples.png")
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    print("sample rows (real A, fake B, cycled A, real B, fake A, cycled B):", path)


if __name__ == "__main__":
    main()
