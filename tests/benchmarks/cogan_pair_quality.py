"""CoGAN pair quality on MNIST: does one z give the same digit in both domains?

Run on purpose (not collected by pytest), from the repository root:

    python tests/benchmarks/cogan_pair_quality.py \
        --mnist_dir=../shared/data/mnist --work_dir=/tmp/cogan_mnist --pairing=edge --steps=3000

or, for a run that is already trained, `--model_dir=<run>` (training is skipped).

What it does, with the suite's own commands:
1. builds MNIST (the four idx.gz files) into TFRecords with `tfrecords.build`
   at its native 28x28 (the paper's geometry, `--image_size=28` of the app);
2. trains CoGAN with `python -m apps.cogan.train` (domain a: the digits at
   even positions of the training split, domain b: the edge maps or negatives
   of the digits at odd positions, `apps.cogan.data`);
3. exports it with `python -m apps.cogan.export` and draws 1,000 pairs from
   the exported `sample` signature (the numbers are those of the artefact a
   server would load);
4. classifies both images of each pair with digit classifiers and reports the
   share of pairs whose two images get the same digit (the paper's claim is
   that the shared layers make the pair correspond; an untrained or uncoupled
   pair agrees about 10% of the time).

Classifiers: domain a uses the digit classifier of dcgan_mnist_quality.py
(trained on MNIST train, its function imported). Domain b:
- pairing "invert": the transform is undone (255 - pixel) and the same
  classifier is used;
- pairing "edge": the edge map cannot be undone, so a classifier of the same
  architecture is trained on the edge maps of MNIST train, computed with the
  app's own `apps.cogan.data.edge_map` (the transform the model was trained
  on); its accuracy on the edge maps of MNIST test is reported too.

Also reported: the agreement independent images with the same class shares
would reach by chance (sum over digits of share_a * share_b), the share of
confident predictions (max probability >= 0.9) per domain and the class
histograms of both domains. A grid of 32 pairs (a left, b right) is saved as
pairs.png in the work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.benchmarks.dcgan_mnist_quality import read_idx, run, train_digit_classifier  # noqa: E402


def edge_maps(images_uint8: np.ndarray) -> np.ndarray:
    """The app's edge transform of uint8 [N, H, W, 1] digits, as floats in [0, 1]."""
    from apps.cogan.data import edge_map

    signed = images_uint8.astype(np.float32) / 127.5 - 1.0
    return (edge_map(signed).numpy() + 1.0) / 2.0


def train_edge_classifier(mnist_dir: str, epochs: int):
    """The dcgan_mnist_quality classifier architecture trained on edge maps of MNIST train."""
    import keras

    x_train = edge_maps(read_idx(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"))[..., None])
    y_train = read_idx(os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"))
    x_test = edge_maps(read_idx(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz"))[..., None])
    y_test = read_idx(os.path.join(mnist_dir, "t10k-labels-idx1-ubyte.gz"))
    keras.utils.set_random_seed(0)
    classifier = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    classifier.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    classifier.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=2)
    _, accuracy = classifier.evaluate(x_test, y_test, verbose=0)
    return classifier, float(accuracy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist_dir", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    parser.add_argument("--work_dir", default="/tmp/cogan_mnist")
    parser.add_argument("--model_dir", default=None,
                        help="A trained CoGAN run to measure (skips building and training).")
    parser.add_argument("--pairing", choices=("edge", "invert"), default="edge")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--num_samples", type=int, default=1000)
    parser.add_argument("--classifier_epochs", type=int, default=2)
    parser.add_argument("--extra_train_flags", default="", help="More flags for apps.cogan.train, space separated.")
    args = parser.parse_args()

    python = sys.executable
    export_dir = os.path.join(args.work_dir, "export")
    train_seconds = None
    model_dir = args.model_dir
    if model_dir is None:
        data_dir = os.path.join(args.work_dir, "mnist28")
        model_dir = os.path.join(args.work_dir, f"run-{args.pairing}")
        if not os.path.exists(os.path.join(data_dir, "manifest.json")):
            run([python, "-m", "tfrecords.build", f"--source={args.mnist_dir}", f"--output={data_dir}",
                 "--channels=1", "--num_workers=2"])
        train_seconds = run(
            [python, "-m", "apps.cogan.train", f"--data={data_dir}", f"--model_dir={model_dir}", "--image_size=28",
             "--channels=1", f"--pairing={args.pairing}", f"--batch_size={args.batch_size}", f"--steps={args.steps}"]
            + args.extra_train_flags.split())
    with open(os.path.join(model_dir, "config.json")) as f:
        model_config = json.load(f)["model"]
    pairing = model_config["pairing"]
    run([python, "-m", "apps.cogan.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}"])

    import tensorflow as tf

    versions = sorted(int(v) for v in os.listdir(export_dir) if v.isdigit())
    exported = tf.saved_model.load(os.path.join(export_dir, str(versions[-1])))
    pairs = exported.signatures["sample"](seed=tf.constant(1234, tf.int64),
                                          count=tf.constant(args.num_samples, tf.int32))
    images_a, images_b = pairs["images_a"].numpy(), pairs["images_b"].numpy()

    def to_classifier_input(images):  # uint8 [N, H, W, 1] -> float [N, 28, 28, 1] in [0, 1]
        images = tf.convert_to_tensor(images[..., :1], tf.float32)
        if images.shape[1] != 28:
            images = tf.image.resize(images, (28, 28), method="area")
        return images.numpy() / 255.0

    classifier_a, accuracy_a = train_digit_classifier(args.mnist_dir, args.classifier_epochs)
    if pairing == "invert":
        classifier_b, accuracy_b = classifier_a, accuracy_a
        inputs_b = to_classifier_input(255 - images_b)  # undo the inversion
        how_b = "inversion undone, digit classifier"
    else:
        classifier_b, accuracy_b = train_edge_classifier(args.mnist_dir, args.classifier_epochs)
        inputs_b = to_classifier_input(images_b)
        how_b = "classifier trained on edge maps of MNIST train (apps.cogan.data.edge_map)"
    probabilities_a = classifier_a.predict(to_classifier_input(images_a), verbose=0)
    probabilities_b = classifier_b.predict(inputs_b, verbose=0)
    digits_a, digits_b = probabilities_a.argmax(axis=1), probabilities_b.argmax(axis=1)
    shares_a = np.bincount(digits_a, minlength=10) / len(digits_a)
    shares_b = np.bincount(digits_b, minlength=10) / len(digits_b)
    result = {
        "model_dir": model_dir,
        "pairing": pairing,
        "image_size": model_config["image_size"],
        "steps": args.steps if train_seconds is not None else None,
        "batch_size": model_config["batch_size"],
        "train_seconds": None if train_seconds is None else round(train_seconds, 1),
        "num_pairs": int(len(digits_a)),
        "same_digit_share": round(float(np.mean(digits_a == digits_b)), 4),
        # What independent (uncoupled) images with these class shares would reach.
        "chance_same_digit_share": round(float(np.sum(shares_a * shares_b)), 4),
        "confident_share_a": round(float(np.mean(probabilities_a.max(axis=1) >= 0.9)), 4),
        "confident_share_b": round(float(np.mean(probabilities_b.max(axis=1) >= 0.9)), 4),
        "class_shares_a": [round(float(s), 4) for s in shares_a],
        "class_shares_b": [round(float(s), 4) for s in shares_b],
        "classifier_a_test_accuracy": round(accuracy_a, 4),
        "classifier_b_test_accuracy": round(accuracy_b, 4),
        "classifier_b": how_b,
    }
    print(json.dumps(result, indent=2))
    count = min(32, len(images_a))
    side_by_side = np.concatenate([images_a[:count, ..., 0], images_b[:count, ..., 0]], axis=2)
    rows = [np.concatenate(list(side_by_side[r:r + 4]), axis=1) for r in range(0, count - count % 4, 4)]
    from PIL import Image

    Image.fromarray(np.concatenate(rows, axis=0)).save(os.path.join(args.work_dir, "pairs.png"))
    print("pair grid:", os.path.join(args.work_dir, "pairs.png"))


if __name__ == "__main__":
    main()
