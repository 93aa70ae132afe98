"""How good the evaluation classifier is on a labelled dataset, and the metric range it gives.

Run on purpose (not collected by pytest), from the repository root, on a dataset built
with `tfrecords.build` (or without --data for the offline default digits):

    python -m tfrecords.build --source=../shared/data/mnist --output=/tmp/data/mnist \\
        --image_size=32 --resize_policy=pad
    python tests/benchmarks/classifier_quality.py --data=/tmp/data/mnist --image_size=32 --channels=1 \\
        --work_dir=/tmp/classifier_quality/mnist
    python -m tfrecords.build --source=../shared/data/cifar10 --output=/tmp/data/cifar10
    python tests/benchmarks/classifier_quality.py --data=/tmp/data/cifar10 --image_size=32 --channels=3 \\
        --work_dir=/tmp/classifier_quality/cifar10
    python tests/benchmarks/classifier_quality.py --work_dir=/tmp/classifier_quality/digits
    # a wider network than the recommended one (any of --epochs, --width, --blocks_per_stage, --feature_dim)
    python tests/benchmarks/classifier_quality.py --data=/tmp/data/cifar10 --image_size=32 --channels=3 \
        --width=32 --work_dir=/tmp/classifier_quality/cifar10

What it does, with the suite's own modules:
1. trains the dataset classifier with the settings `evaluate` would use
   (`common.evaluation.evaluate_command.classifier_settings`: the recommended ones, with
   --epochs, --width, --blocks_per_stage and --feature_dim as `evaluate`'s
   --classifier_epochs, --classifier_width, ... change them) through
   `common.evaluation.classifier.get_or_train_classifier`, or reuses the one cached in
   --work_dir as classifier-<fingerprint>.keras when its dataset checksum matches;
2. prints its test accuracy, the held-out validation accuracy per epoch, the epochs
   scheduled and trained, the wall time of training and the estimates printed after
   the first batches and after the first epoch, and the class histogram of the test
   split through the classifier against the true one (largest deviation in percentage
   points);
3. scores the floor and the ceiling of every metric in the classifier's features
   (`common.evaluation.evaluate_command.score_bounds`): --num_samples real test images
   (at most the test split) and as many uniform-noise images, each against
   --num_samples real train images.
--json writes everything to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="Built dataset folder (default: the offline digits).")
    parser.add_argument("--image_size", type=int, default=None)
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--num_samples", type=int, default=10_000)
    parser.add_argument("--batch_size", type=int, default=250, help="Images per batch of the metrics.")
    parser.add_argument("--epochs", type=int, default=None, help="Classifier epochs (default: recommended).")
    parser.add_argument("--width", type=int, default=None, help="Filters of the classifier's first stage "
                        "(default 16).")
    parser.add_argument("--blocks_per_stage", type=int, default=None,
                        help="Residual blocks per stage (default: 1 grayscale, 2 colour).")
    parser.add_argument("--feature_dim", type=int, default=None, help="Width of the features layer (default 128).")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from common.data import reader as data_lib
    from common.evaluation import classifier as classifier_lib
    from common.evaluation import evaluate_command
    from common.evaluation.reference_stats import dataset_checksum

    os.makedirs(args.work_dir, exist_ok=True)
    settings, fingerprint = evaluate_command.classifier_settings(
        args.data, args.image_size, args.channels, epochs=args.epochs, width=args.width,
        blocks_per_stage=args.blocks_per_stage, feature_dim=args.feature_dim)
    path = os.path.join(args.work_dir, f"classifier-{fingerprint}.keras")
    started = time.perf_counter()
    model, info = classifier_lib.get_or_train_classifier(args.data, path, settings, image_size=args.image_size,
                                                         channels=args.channels, verbose=1)
    elapsed = time.perf_counter() - started
    settings = info["settings"]
    print(f"\nclassifier {path} (fingerprint {info['fingerprint']}); this call took {elapsed:.0f} s")
    print(f"settings: {json.dumps(settings, sort_keys=True)}")
    print(f"images {info['image_shape']}, train {info['num_train']} + held-out {info['num_validation']}, "
          f"test {info['num_test']}")
    print(f"epochs scheduled {info['epochs_scheduled']}, trained {info['epochs_trained']}, best (kept) "
          f"{info['best_epoch']}; training wall time {info['train_seconds']:.0f} s "
          f"({info['train_seconds'] / 60:.1f} min), estimate after the first batches "
          f"{info.get('estimated_seconds', float('nan')):.0f} s, after the first epoch "
          f"{info.get('estimated_seconds_after_first_epoch', float('nan')):.0f} s")
    curve = ", ".join(f"{value:.4f}" for value in info["history"].get("val_accuracy", []))
    print(f"held-out accuracy per epoch: {curve}")
    print(f"test accuracy {info['test_accuracy']:.4f}; held-out accuracy {info['validation_accuracy']:.4f}")
    labels = data_lib.describe(args.data).labels or []
    print("class | true % | predicted % | deviation (points)")
    for index, (true, predicted) in enumerate(zip(info["test_histogram_true"], info["test_histogram_predicted"])):
        name = labels[index] if index < len(labels) else str(index)
        print(f"{name} | {100 * true:.2f} | {100 * predicted:.2f} | {100 * (predicted - true):+.2f}")
    print(f"largest deviation {info['test_histogram_max_deviation_points']:.2f} points")

    counts = data_lib.describe(args.data).num_examples or {}
    extractor = classifier_lib.classifier_features(model, info=info)
    key = evaluate_command.real_data_key(dataset_checksum(args.data), args.image_size, args.channels, 0)
    started = time.perf_counter()
    bounds = evaluate_command.score_bounds(
        args.data, split="train", image_size=args.image_size, channels=args.channels, extractor=extractor,
        num_samples=args.num_samples, num_real=min(args.num_samples, counts.get("train") or args.num_samples),
        batch_size=args.batch_size, seed=0, dataset_checksum=key, num_classes=info["num_classes"],
        cache_dir=os.path.join(args.work_dir, "reference_stats"))
    print(f"\nfloor and ceiling against {min(args.num_samples, counts.get('train') or args.num_samples)} real train "
          f"images ({time.perf_counter() - started:.0f} s):")
    print("row | n | FID | KID (mean ± std) | IS | precision | recall | density | coverage")
    for name in ("floor", "ceiling"):
        row = bounds[name]
        print(f"{row['source']} | {row['num_generated']} | {row['fid']:.3f} | {row['kid_mean']:.4f} ± "
              f"{row['kid_std']:.4f} | {row['inception_score_mean']:.2f} | {row['precision']:.4f} | "
              f"{row['recall']:.4f} | {row['density']:.4f} | {row['coverage']:.4f}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(evaluate_command.jsonable({"classifier": info, "bounds": bounds}), file, indent=2)


if __name__ == "__main__":
    main()
