"""CGAN on MNIST: conditional accuracy of 1,000 samples per digit, read by the dataset classifier.

Run on purpose (not collected by pytest), from the repository root:

    python tests/benchmarks/cgan_mnist_quality.py --mnist_dir=../shared/data/mnist --work_dir=/tmp/cgan_mnist \\
        --minutes=40 [--architecture=conv --image_size=32 --optimizer=adam --learning_rate=2e-4 ...]

What it does, with the suite's own modules and commands:
1. builds MNIST (the four idx.gz files) into TFRecords with `tfrecords.build` at --image_size
   (28: as stored; 32: padded), 1 channel, with its labels;
2. unless --skip_training, runs `python -m apps.cgan.train` on it into <work_dir>/<run name> for
   --minutes of wall time, then stops it with SIGTERM (the run saves a checkpoint and exits);
   arguments after `--` are passed to the train command (e.g. -- --architecture=conv);
3. loads the dataset classifier given by --classifier_path (e.g. the MNIST classifier of
   tests/benchmarks/classifier_quality.py, 32x32 padded MNIST, 99.63% test accuracy), or trains
   one (`common.evaluation.classifier`) on the same build for --classifier_epochs, cached in
   <work_dir>/classifier, and prints its test accuracy; 28x28 samples are padded with
   background (-1) to a 32x32 classifier's input, as the padded MNIST build is;
4. samples --per_class images of every digit from the newest checkpoint (EMA generator when
   the run kept one), classifies them, and prints the conditional accuracy (share of samples
   classified as the digit they were generated for), overall and per digit, with the
   classifier's test accuracy beside it, and the intra-FID in the classifier's 128 penultimate
   features (per digit against the same number of real train images of that digit, and its mean;
   real test images against real train images give the floor at this sample size, printed beside);
   writes a 10x10 grid (one row per digit, fixed noise
   per column) as <work_dir>/<run name>.png and every number to <work_dir>/<run name>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def train(data_dir: str, model_dir: str, minutes: float, extra: list[str]) -> None:
    command = [sys.executable, "-m", "apps.cgan.train", f"--data={data_dir}", f"--model_dir={model_dir}",
               "--steps=10000000", "--log_every=500", "--checkpoint_every=2000", *extra]
    print(" ".join(command), flush=True)
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        process.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=600)
    print(f"trained for {(time.monotonic() - start) / 60:.1f} min (exit status {process.returncode})", flush=True)


def grid_png(images: np.ndarray, rows: int, columns: int, path: str) -> None:
    from PIL import Image

    pixels = np.round((np.clip(images[..., 0], -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    height, width = pixels.shape[1:3]
    grid = pixels[:rows * columns].reshape(rows, columns, height, width).transpose(0, 2, 1, 3)
    Image.fromarray(grid.reshape(rows * height, columns * width)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist_dir", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    parser.add_argument("--work_dir", default="/tmp/cgan_mnist")
    parser.add_argument("--run_name", default="cgan")
    parser.add_argument("--image_size", type=int, default=28)
    parser.add_argument("--minutes", type=float, default=40.0)
    parser.add_argument("--skip_training", action="store_true")
    parser.add_argument("--classifier_epochs", type=int, default=3)
    parser.add_argument("--classifier_path", default=None, help="A trained dataset classifier (.keras) to use.")
    parser.add_argument("--per_class", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]

    from tfrecords.build import build_dataset

    data_dir = os.path.join(args.work_dir, f"mnist{args.image_size}")
    if not os.path.exists(os.path.join(data_dir, "manifest.json")):
        build_dataset(source=args.mnist_dir, output=data_dir, image_size=args.image_size, resize_policy="pad",
                      channels=1)
    model_dir = os.path.join(args.work_dir, args.run_name)
    if not args.skip_training:
        train(data_dir, model_dir, args.minutes, [f"--image_size={args.image_size}", *extra])

    import keras
    import tensorflow as tf

    from apps.cgan.config import CGANConfig
    from apps.cgan.model import build_model
    from common.evaluation import classifier as classifier_lib
    from common.evaluation import evaluate_command
    from common.training import checkpointing

    start = time.perf_counter()
    if args.classifier_path:
        classifier, sidecar = classifier_lib.load_classifier(args.classifier_path)
    else:
        settings = classifier_lib.ClassifierSettings.for_images(1, epochs=args.classifier_epochs)
        classifier, sidecar = classifier_lib.get_or_train_classifier(
            data_dir, os.path.join(args.work_dir, "classifier", f"mnist{args.image_size}.keras"), settings,
            image_size=args.image_size, channels=1, verbose=1)
    pad = (classifier.input_shape[1] - args.image_size) // 2
    if pad < 0 or classifier.input_shape[1] != args.image_size + 2 * pad:
        raise SystemExit(f"The classifier takes {classifier.input_shape[1:3]} images; samples are "
                         f"{args.image_size}x{args.image_size} and can only be padded to a larger even size.")
    print(f"classifier: test accuracy {sidecar['test_accuracy']:.4f} ({time.perf_counter() - start:.0f} s)",
          flush=True)

    keras.utils.set_random_seed(args.seed)
    model, path = evaluate_command.restore_model(model_dir, lambda fields: build_model(CGANConfig(**fields)))
    step = checkpointing.checkpoint_step(path)
    config = model.config
    per_class, classes = args.per_class, model.num_classes
    labels = np.repeat(np.arange(classes), per_class).astype(np.int32)
    sample = tf.function(lambda z, y: model.sample(z, y, training=False), reduce_retracing=True)
    features_model = keras.Model(classifier.inputs, classifier.get_layer("features").output)
    predicted, features = [], []
    for start in range(0, len(labels), 500):
        y = labels[start:start + 500]
        shape = (len(y), config.latent_dim)
        z = (tf.random.stateless_uniform(shape, seed=[args.seed, start]) if config.latent_distribution == "uniform"
             else tf.random.stateless_normal(shape, seed=[args.seed, start]))
        images = sample(z, tf.constant(y)).numpy()
        images = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)], constant_values=-1.0)
        predicted.append(classifier.predict(images, verbose=0).argmax(axis=1))
        features.append(features_model.predict(images, verbose=0))
    predicted, features = np.concatenate(predicted), np.concatenate(features)
    per_digit = [float(np.mean(predicted[labels == k] == k)) for k in range(classes)]
    overall = float(np.mean(predicted == labels))
    print(f"{args.run_name} step {step}: conditional accuracy {overall:.4f} (classifier test accuracy "
          f"{sidecar['test_accuracy']:.4f}); per digit " + " ".join(f"{k}:{a:.3f}" for k, a in enumerate(per_digit)),
          flush=True)

    from common.data import reader as data_lib
    from common.evaluation import metrics

    def real_features(split):
        """Classifier features and labels of `per_class` real images of every digit of `split`."""
        dataset = data_lib.load_dataset(data_dir, split=split, image_size=args.image_size, channels=1,
                                        batch_size=None, shuffle=True, repeat=False, seed=args.seed).batch(1000)
        kept_features, kept_labels, counts = [], [], np.zeros(classes, int)
        for element in dataset:
            images = np.pad(element["image"].numpy(), [(0, 0), (pad, pad), (pad, pad), (0, 0)], constant_values=-1.0)
            batch_labels = element["label"].numpy()
            keep = np.zeros(len(batch_labels), bool)
            for i, label in enumerate(batch_labels):
                if counts[label] < per_class:
                    counts[label] += 1
                    keep[i] = True
            if keep.any():
                kept_features.append(features_model.predict(images[keep], verbose=0))
                kept_labels.append(batch_labels[keep])
            if counts.min() >= per_class:
                break
        return np.concatenate(kept_features), np.concatenate(kept_labels)

    train_features, train_labels = real_features("train")
    intra = metrics.intra_fid(train_features, train_labels, features, labels, classes=range(classes))
    floor = None
    if "test" in (data_lib.describe(data_dir).num_examples or {}):
        test_features, test_labels = real_features("test")
        floor = metrics.intra_fid(train_features, train_labels, test_features, test_labels, classes=range(classes))
    print(f"intra-FID (classifier features, {per_class} per digit): mean {intra['mean']:.3f}; per digit "
          + " ".join(f"{k}:{v:.2f}" for k, v in intra["per_class"].items())
          + ("" if floor is None else f"; real test vs train (floor): mean {floor['mean']:.3f}"), flush=True)

    columns = 10
    z = (tf.random.stateless_uniform((columns, config.latent_dim), seed=[args.seed + 1, 0])
         if config.latent_distribution == "uniform" else
         tf.random.stateless_normal((columns, config.latent_dim), seed=[args.seed + 1, 0]))
    grid_labels = np.repeat(np.arange(classes), columns).astype(np.int32)
    images = sample(tf.tile(z, [classes, 1]), tf.constant(grid_labels)).numpy()
    grid_png(images, classes, columns, os.path.join(args.work_dir, f"{args.run_name}.png"))
    result = {"run": args.run_name, "step": step, "checkpoint": path, "conditional_accuracy": overall,
              "per_digit": per_digit, "intra_fid": intra, "intra_fid_real_floor": floor,
              "classifier_test_accuracy": sidecar["test_accuracy"],
              "classifier_epochs": args.classifier_epochs, "classifier_path": args.classifier_path, "per_class": per_class, "config": vars(config) if hasattr(
                  config, "__dict__") else None, "train_arguments": extra, "minutes": args.minutes}
    with open(os.path.join(args.work_dir, f"{args.run_name}.json"), "w") as file:
        json.dump(result, file, indent=2, default=str)


if __name__ == "__main__":
    main()
