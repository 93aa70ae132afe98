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
4. classifies both images of each pair with the suite's dataset classifier and reports
   the share of pairs whose two images get the same digit (the paper's claim is
   that the shared layers make the pair correspond; an untrained or uncoupled
   pair agrees about 10% of the time).

Classifiers (`common.evaluation.classifier`, its recommended settings and network for
28x28 grayscale images): domain a uses the dataset classifier `evaluate` uses for the
28x28 MNIST build (`dcgan_mnist_quality.dataset_classifier`: trained on the build's
train split on first use and cached under ~/.cache/gansuite/classifiers/, or
--classifier_path). Domain b:
- pairing "invert": the transform is undone (255 - pixel) and the same
  classifier is used;
- pairing "edge": the edge map cannot be undone, so a classifier with the same
  settings is trained (`train_classifier`) on the edge maps of the build's train
  split, computed with the app's own `apps.cogan.data.edge_map` (the transform the
  model was trained on), and cached in the work directory under its fingerprint; its
  accuracy on the edge maps of the test split is reported too.

Numbers published before this script used the dataset classifier came from
separate 28x28 CNNs trained here (two convolutions, 2 epochs); they are labelled so
where they are quoted.

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

from tests.benchmarks.dcgan_mnist_quality import classifier_probabilities, dataset_classifier, run  # noqa: E402


def edge_maps(images_uint8: np.ndarray) -> np.ndarray:
    """The app's edge transform of uint8 [N, H, W, 1] digits, as uint8 (exact: dilated minus original)."""
    from apps.cogan.data import edge_map

    signed = images_uint8.astype(np.float32) / 127.5 - 1.0
    return np.round((edge_map(signed).numpy() + 1.0) * 127.5).clip(0, 255).astype(np.uint8)


def edge_classifier(data_dir: str, work_dir: str, image_size: int):
    """(FeatureExtractor, sidecar) of a dataset classifier trained on the edge maps of `data_dir`'s digits.

    The settings are the ones `evaluate` would use for the digits themselves; the
    file is reused when the build's checksum and the fingerprint match.
    """
    from common.data import reader as data_lib
    from common.evaluation import classifier as classifier_lib
    from common.evaluation.reference_stats import dataset_checksum

    images, labels = classifier_lib.decode_split(data_dir, "train", image_size=image_size, channels=1)
    num_classes = len(data_lib.describe(data_dir).labels)
    settings = classifier_lib.ClassifierSettings.for_images(1, len(images))
    fingerprint = classifier_lib.classifier_fingerprint(settings, images.shape[1:], num_classes)
    checksum = f"{dataset_checksum(data_dir)}+apps.cogan.data.edge_map"
    path = os.path.join(work_dir, f"edge_classifier-{fingerprint}.keras")
    reusable = classifier_lib.find_reusable_classifier(path, dataset_checksum=checksum, fingerprint=fingerprint)
    if reusable is None:
        test_images, test_labels = classifier_lib.decode_split(data_dir, "test", image_size=image_size, channels=1)
        model, report = classifier_lib.train_classifier((edge_maps(images), labels),
                                                        (edge_maps(test_images), test_labels), num_classes,
                                                        settings, verbose=1)
        reusable = model, classifier_lib.save_classifier(
            model, path, dataset_checksum=checksum, fingerprint=fingerprint,
            settings=settings.resolved(1).as_dict(), report=report)
    model, info = reusable
    return classifier_lib.classifier_features(model, info=info), info


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
    parser.add_argument("--classifier_path", default=None,
                        help="Dataset classifier of the 28x28 build (default: the one evaluate caches for it).")
    parser.add_argument("--extra_train_flags", default="", help="More flags for apps.cogan.train, space separated.")
    args = parser.parse_args()

    python = sys.executable
    export_dir = os.path.join(args.work_dir, "export")
    train_seconds = None
    model_dir = args.model_dir
    data_dir = os.path.join(args.work_dir, "mnist28")  # trains the run, and its classifiers in any case
    if not os.path.exists(os.path.join(data_dir, "manifest.json")):
        run([python, "-m", "tfrecords.build", f"--source={args.mnist_dir}", f"--output={data_dir}",
             "--channels=1", "--num_workers=2"])
    if model_dir is None:
        model_dir = os.path.join(args.work_dir, f"run-{args.pairing}")
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

    def to_classifier_input(images):  # uint8 [N, H, W, 1] -> float in [-1, 1] (resized to 28x28 by the classifier)
        return images[..., :1].astype(np.float32) / 127.5 - 1.0

    classifier_a, facts = dataset_classifier(data_dir, 28, args.classifier_path)
    accuracy_a = facts["classifier_test_accuracy"]
    if pairing == "invert":
        classifier_b, accuracy_b = classifier_a, accuracy_a
        inputs_b = to_classifier_input(255 - images_b)  # undo the inversion
        how_b = "inversion undone, the dataset classifier"
    else:
        classifier_b, info_b = edge_classifier(data_dir, args.work_dir, 28)
        accuracy_b = info_b["test_accuracy"]
        inputs_b = to_classifier_input(images_b)
        how_b = ("dataset classifier settings, trained on edge maps of the build's train split "
                 "(apps.cogan.data.edge_map)")
    probabilities_a = classifier_probabilities(classifier_a, to_classifier_input(images_a))
    probabilities_b = classifier_probabilities(classifier_b, inputs_b)
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
        "classifier_a": facts["classifier_path"],
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
