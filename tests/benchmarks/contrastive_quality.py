"""How much the contrastive encoder learned on an unlabelled dataset, and the metric range it gives.

Run on purpose (not collected by pytest), from the repository root, on a dataset built
with `tfrecords.build` that has a train and a test split:

    python -m tfrecords.build --source=../shared/data/celeba64 --output=/tmp/data/celeba64
    taskset -c 1 nice -n 10 python tests/benchmarks/contrastive_quality.py --data=/tmp/data/celeba64 \\
        --path=/tmp/contrastive/celeba64.keras --work_dir=/tmp/contrastive_quality/celeba64

What it does, with the suite's own modules:
1. trains the contrastive encoder with the settings `evaluate --feature_network=contrastive`
   would use (`common.evaluation.evaluate_command.contrastive_settings`: the defaults of
   `ContrastiveSettings`, with --epochs and --batch_size as `evaluate`'s
   --contrastive_epochs and --contrastive_batch_size change them) through
   `common.evaluation.contrastive.get_or_train_contrastive`, into --path (default
   --work_dir/contrastive-<fingerprint>.keras), or reuses the file there when its dataset
   checksum and fingerprint match;
2. prints the held-out retrieval accuracy of the trained and the untrained network (top-1
   of the other view among 2N-1 test views), the loss and training accuracy per epoch, the
   wall time of training and the estimates printed after the first batches and after the
   first epoch;
3. scores the floor and the ceiling of every metric (`evaluate_command.score_bounds`):
   --num_samples real test images (at most the test split) and as many uniform-noise
   images, each against --num_samples real train images, in the trained encoder's
   features and, with --untrained (default on), in the untrained network's.
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
    parser.add_argument("--data", required=True, help="Built dataset folder with train and test splits.")
    parser.add_argument("--image_size", type=int, default=None)
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--path", default=None, help="Encoder .keras file (default: in --work_dir).")
    parser.add_argument("--num_samples", type=int, default=10_000)
    parser.add_argument("--batch_size", type=int, default=250, help="Images per batch of the metrics.")
    parser.add_argument("--epochs", type=int, default=None, help="Encoder epochs (default 6).")
    parser.add_argument("--train_batch_size", type=int, default=None, help="Encoder batch (default 256).")
    parser.add_argument("--untrained", action=argparse.BooleanOptionalAction, default=True,
                        help="Also score the floor and ceiling in the untrained network's features.")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import keras

    from common.data import reader as data_lib
    from common.evaluation import contrastive
    from common.evaluation import evaluate_command
    from common.evaluation.reference_stats import dataset_checksum

    os.makedirs(args.work_dir, exist_ok=True)
    settings, fingerprint = evaluate_command.contrastive_settings(
        args.data, args.image_size, args.channels, epochs=args.epochs, batch_size=args.train_batch_size)
    path = args.path or os.path.join(args.work_dir, f"contrastive-{fingerprint}.keras")
    started = time.perf_counter()
    encoder, info = contrastive.get_or_train_contrastive(args.data, path, settings, image_size=args.image_size,
                                                         channels=args.channels, verbose=1)
    elapsed = time.perf_counter() - started
    print(f"\ncontrastive encoder {path} (fingerprint {info['fingerprint']}); this call took {elapsed:.0f} s")
    print(f"settings: {json.dumps(info['settings'], sort_keys=True)}")
    print(f"images {info['image_shape']}, train {info['num_train']}, test {info['num_test']}; "
          f"{info['epochs_trained']} epochs, {info['steps']} steps")
    print(f"training wall time {info['train_seconds']:.0f} s ({info['train_seconds'] / 60:.1f} min), estimate "
          f"after the first batches {info.get('estimated_seconds', float('nan')):.0f} s, after the first epoch "
          f"{info.get('estimated_seconds_after_first_epoch', float('nan')):.0f} s")
    for key in ("loss", "accuracy"):
        print(f"{key} per epoch: {', '.join(f'{value:.4f}' for value in info['history'].get(key, []))}")
    print(f"retrieval accuracy on {info['retrieval_images']} test images (top-1 among "
          f"{info['retrieval_candidates']}): trained {info['retrieval_accuracy']:.4f}, untrained "
          f"{info['retrieval_accuracy_untrained']:.4f}, chance {info['retrieval_chance']:.5f}")

    counts = data_lib.describe(args.data).num_examples or {}
    num_real = min(args.num_samples, counts.get("train") or args.num_samples)
    key = evaluate_command.real_data_key(dataset_checksum(args.data), args.image_size, args.channels, 0)
    networks = [("trained", contrastive.contrastive_features(encoder, info=info))]
    if args.untrained:
        untrained = contrastive.untrained_encoder(contrastive.ContrastiveSettings(**info["settings"]),
                                                  info["image_shape"])
        networks.append(("untrained", contrastive.contrastive_features(
            untrained, name=f"contrastive-encoder-untrained-{info['fingerprint']}")))
    results = {"encoder": info, "bounds": {}}
    for name, extractor in networks:
        started = time.perf_counter()
        keras.utils.set_random_seed(0)  # as `evaluate --seed=0`: tf.data's seeded shuffles depend on it
        bounds = evaluate_command.score_bounds(
            args.data, split="train", image_size=args.image_size, channels=args.channels, extractor=extractor,
            num_samples=args.num_samples, num_real=num_real, batch_size=args.batch_size, seed=0,
            dataset_checksum=key, cache_dir=os.path.join(args.work_dir, "reference_stats"))
        results["bounds"][name] = bounds
        print(f"\n{name} network: floor and ceiling against {num_real} real train images "
              f"({time.perf_counter() - started:.0f} s):")
        print("row | n | FID | KID (mean ± std) | precision | recall | density | coverage")
        for row_name in ("floor", "ceiling"):
            row = bounds[row_name]
            print(f"{row['source']} | {row['num_generated']} | {row['fid']:.3f} | {row['kid_mean']:.4f} ± "
                  f"{row['kid_std']:.4f} | {row['precision']:.4f} | {row['recall']:.4f} | {row['density']:.4f} | "
                  f"{row['coverage']:.4f}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(evaluate_command.jsonable(results), file, indent=2)


if __name__ == "__main__":
    main()
