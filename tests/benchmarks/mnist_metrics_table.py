"""What the evaluation metrics say on MNIST: the real-vs-real floor, a broken generator, and trained apps.

Run on purpose (not collected by pytest), from the repository root:

    python tests/benchmarks/mnist_metrics_table.py --mnist_dir=../shared/data/mnist \\
        --work_dir=/tmp/mnist_metrics --num_samples=5000 \\
        [--runs=dcgan:runs/dcgan_mnist,gan:runs/gan_mnist,wgan_gp:runs/wgan_gp_mnist]

What it does, with the suite's own modules:
1. builds MNIST (the four idx.gz files) into TFRecords with `tfrecords.build`,
   padded from 28x28 to 32x32, 1 channel (as tests/benchmarks/dcgan_mnist_quality.py);
2. trains the dataset classifier (`common.evaluation.classifier`, at 32x32x1, its recommended
   settings unless --classifier_epochs is given) or reuses the one cached in --work_dir when
   its dataset checksum and fingerprint match, and prints its test accuracy and the largest
   deviation of its test-split class histogram from the true one;
3. scores, with the classifier's features, against `--num_samples` MNIST train images:
   - "MNIST test (floor)": `--num_samples` MNIST test images, i.e. what a perfect
     generator would score at this sample size (FID/KID near 0, precision/recall near 1);
   - "uniform noise": images drawn uniformly from [-1, 1], a broken generator;
   - "<app> <step>": samples of each run in --runs (app:model_dir pairs; any
     unconditional app of the suite trained on this MNIST build at 32x32x1;
     --model_dir=DIR is short for --runs=dcgan:DIR).
Besides FID/KID/IS/precision/recall/density/coverage, each row reports the share of
samples the classifier assigns a digit with probability >= 0.9 ("conf") and the
smallest and largest class share of its histogram ("min/max class"); the whole histogram
follows the table, --json writes every score of every row to a file and --grid_dir an 8x8
sample grid per row. One classifier gives every number: features, Inception Score, the confident
share and the class histogram.
Every row uses `common.evaluation.scoring.evaluate_generator` with the same real statistics,
so the rows differ only in the generated side. FID/KID here are classifier-feature
values: comparable between these rows, not with published Inception FIDs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

IMAGE_SIZE, CHANNELS = 32, 1


def _image_stream(dataset):
    """sample_fn over a dataset of image batches: returns exactly n images per call."""
    iterator = iter(dataset)
    pending = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, CHANNELS), np.float32)

    def sample_fn(count, labels=None):
        nonlocal pending
        while len(pending) < count:
            pending = np.concatenate([pending, next(iterator)["image"].numpy()])
        images, pending = pending[:count], pending[count:]
        return images

    return sample_fn


def _noise_sampler(seed: int):
    rng = np.random.default_rng(seed)
    return lambda count, labels=None: rng.uniform(-1.0, 1.0, (count, IMAGE_SIZE, IMAGE_SIZE, CHANNELS)).astype(
        np.float32)


APP_CONFIGS = {  # app -> its config class, in apps/<app>/config.py
    "dcgan": "DCGANConfig", "gan": "GANConfig", "lsgan": "LSGANConfig", "wgan": "WGANConfig",
    "wgan_gp": "WGANGPConfig",
}


def _app_builder(app_name: str):
    """config.json fields -> the app's uncompiled model, for `evaluate_command.restore_model`."""
    import importlib

    if app_name not in APP_CONFIGS:
        raise SystemExit(f"Unknown app {app_name!r} in --runs; choose from {', '.join(APP_CONFIGS)}.")
    config_class = getattr(importlib.import_module(f"apps.{app_name}.config"), APP_CONFIGS[app_name])
    build_model = importlib.import_module(f"apps.{app_name}.model").build_model
    return lambda fields: build_model(config_class(**fields))


def _stream_maker(model, seed: int):
    """A function making a fresh `evaluate_command.make_sample_fn(model, seed=seed)` stream per call."""
    from common.evaluation import evaluate_command

    return lambda: evaluate_command.make_sample_fn(model, seed=seed)


def _write_grid(images: np.ndarray, path: str) -> None:
    """64 images in [-1, 1] [64, H, W, 1] as one 8x8 grayscale PNG."""
    from PIL import Image

    pixels = np.round((np.clip(np.asarray(images)[:64, ..., 0], -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    rows = [np.concatenate(list(pixels[r * 8:(r + 1) * 8]), axis=1) for r in range(8)]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist_dir", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    parser.add_argument("--work_dir", default="/tmp/mnist_metrics")
    parser.add_argument("--num_samples", type=int, default=5000, help="Images per side of every comparison.")
    parser.add_argument("--model_dir", default=None, help="A DCGAN run (32x32x1) on this MNIST build.")
    parser.add_argument("--runs", default="", help="Comma-separated app:model_dir pairs, e.g. gan:runs/gan.")
    parser.add_argument("--classifier_epochs", type=int, default=None,
                        help="Epochs of the dataset classifier (default: its recommended settings).")
    parser.add_argument("--batch_size", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="Also write every row's scores to this JSON file.")
    parser.add_argument("--grid_dir", default=None,
                        help="Also write an 8x8 grid of the first 64 images of every row, as <row name>.png.")
    parser.add_argument("--all_checkpoints", action="store_true",
                        help="Score every kept checkpoint of each run (not only the newest) and write "
                             "<work_dir>/checkpoint_scores/<app>-<run folder>.jsonl, one line per step.")
    args = parser.parse_args()

    from common.evaluation import classifier as classifier_lib
    from common.data import reader as data_lib
    from common.evaluation import evaluate_command
    from common.evaluation import scoring
    from common.evaluation.reference_stats import dataset_checksum, get_reference_stats
    from tfrecords.build import build_dataset

    import keras

    keras.utils.set_random_seed(args.seed)  # tf.data's seeded shuffles depend on the global seed too
    data_dir = os.path.join(args.work_dir, "mnist32")
    if not os.path.exists(os.path.join(data_dir, "manifest.json")):
        build_dataset(source=args.mnist_dir, output=data_dir, image_size=IMAGE_SIZE, resize_policy="pad",
                      channels=CHANNELS)
    info = data_lib.describe(data_dir)
    checksum = dataset_checksum(data_dir)
    print(f"MNIST: {info.num_examples} at {info.image_shape}", flush=True)

    start = time.perf_counter()
    classifier_path = os.path.join(args.work_dir, "classifier", "mnist32.keras")
    settings = None
    if args.classifier_epochs is not None:
        settings = classifier_lib.ClassifierSettings.for_images(CHANNELS, epochs=args.classifier_epochs)
    model, sidecar = classifier_lib.get_or_train_classifier(
        data_dir, classifier_path, settings, image_size=IMAGE_SIZE, channels=CHANNELS, verbose=1)
    print(f"classifier: test accuracy {sidecar['test_accuracy']:.4f}, test histogram within "
          f"{sidecar['test_histogram_max_deviation_points']:.2f} points of the true one ({classifier_path}, "
          f"fingerprint {sidecar['fingerprint']}, {time.perf_counter() - start:.0f} s)", flush=True)
    extractor = classifier_lib.classifier_features(model, info=sidecar)

    start = time.perf_counter()
    reference, reused = get_reference_stats(
        evaluate_command.real_dataset(data_dir, "train", IMAGE_SIZE, CHANNELS, args.batch_size, args.seed), extractor,
        args.num_samples, dataset_checksum=evaluate_command.real_data_key(checksum, IMAGE_SIZE, CHANNELS, args.seed),
        split="train", cache_dir=os.path.join(args.work_dir, "reference_stats"))
    print(f"real statistics: {reference.count} train images ({'cached' if reused else 'computed'}, "
          f"{time.perf_counter() - start:.0f} s)", flush=True)

    # Each row is (name, prepare): prepare() loads what the row needs and returns a function that makes a
    # fresh sample_fn, so every use of a row (grid, scores) starts the same stream again.
    rows = [("MNIST test (floor)", lambda: lambda: _image_stream(evaluate_command.real_dataset(
                data_dir, "test", IMAGE_SIZE, CHANNELS, args.batch_size, args.seed))),
            ("uniform noise", lambda: lambda: _noise_sampler(args.seed))]
    runs = [item.split(":", 1) for item in args.runs.split(",") if item]
    if args.model_dir:
        runs.insert(0, ["dcgan", args.model_dir])
    from common.training import checkpointing

    series = {}  # row name -> (jsonl path of its run's checkpoint scores, step)
    for app_name, model_dir in runs:
        if not os.path.isdir(model_dir):
            print(f"{model_dir} ({app_name}) does not exist; its row is skipped.", flush=True)
            continue
        build_model = _app_builder(app_name)
        if not args.all_checkpoints:
            model, path = evaluate_command.restore_model(model_dir, build_model)
            rows.append((f"{app_name} {checkpointing.checkpoint_step(path)}",
                         lambda model=model: _stream_maker(model, args.seed)))
            continue
        scores_path = os.path.join(args.work_dir, "checkpoint_scores",
                                   f"{app_name}-{os.path.basename(os.path.normpath(model_dir))}.jsonl")
        os.makedirs(os.path.dirname(scores_path), exist_ok=True)
        open(scores_path, "w").close()
        for path in checkpointing.list_checkpoints(model_dir):
            name = f"{app_name} {checkpointing.checkpoint_step(path)}"
            series[name] = (scores_path, checkpointing.checkpoint_step(path))
            # Restored when its row is scored, so one checkpoint's model is in memory at a time.
            rows.append((name, lambda model_dir=model_dir, build_model=build_model, path=path: _stream_maker(
                evaluate_command.restore_model(model_dir, build_model, path)[0], args.seed)))

    results = []
    for name, prepare in rows:
        make_sample_fn = prepare()
        sample_fn = make_sample_fn()
        if args.grid_dir:
            _write_grid(sample_fn(64), os.path.join(args.grid_dir, name.replace(" ", "_") + ".png"))
            sample_fn = make_sample_fn()  # scored from the first image again
        start = time.perf_counter()
        scores = scoring.evaluate_generator(
            sample_fn, None, extractor, args.num_samples, batch_size=args.batch_size, num_classes=10,
            reference=reference, seed=args.seed,
            metrics_to_compute=["fid", "kid", "precision_recall", "density_coverage", "inception_score",
                                "mode_coverage"])
        results.append((name, scores))
        if name in series:
            scores_path, step = series[name]
            with open(scores_path, "a") as file:
                file.write(json.dumps({"step": step, **{key: evaluate_command.jsonable(scores[key]) for key in (
                    "fid", "kid_mean", "precision", "recall", "density", "coverage")},
                    "confident_share": evaluate_command.jsonable(scores["mode_coverage"]["confident_share"])}) + "\n")
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)

    header = (f"{'':<20} {'FID':>9} {'KID mean +- std':>22} {'IS':>6} {'precision':>9} {'recall':>7} "
              f"{'density':>8} {'coverage':>8} {'conf':>6} {'min/max class':>13}")
    print()
    print(f"Classifier features ({extractor.name}, test accuracy {sidecar['test_accuracy']:.4f}); "
          f"{args.num_samples} generated vs {reference.count} MNIST train images per row.")
    print(header)
    print("-" * len(header))
    for name, s in results:
        kid = f"{s['kid_mean']:.5f} +- {s['kid_std']:.5f}"
        coverage = s["mode_coverage"]
        shares = np.asarray(coverage["histogram"], np.float64) / max(sum(coverage["histogram"]), 1)
        print(f"{name:<20} {s['fid']:>9.3f} {kid:>22} {s['inception_score_mean']:>6.2f} {s['precision']:>9.4f} "
              f"{s['recall']:>7.4f} {s['density']:>8.4f} {s['coverage']:>8.4f} {coverage['confident_share']:>6.3f} "
              f"{shares.min():>6.3f}/{shares.max():.3f}")
    print()
    print("Class histogram (share of samples per digit 0-9):")
    for name, s in results:
        histogram = np.asarray(s["mode_coverage"]["histogram"], np.float64)
        shares = histogram / max(histogram.sum(), 1)
        print(f"{name:<20} " + " ".join(f"{share:.3f}" for share in shares))
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"classifier": extractor.name, "test_accuracy": sidecar["test_accuracy"],
                       "num_samples": args.num_samples,
                       "rows": [{"name": name, **evaluate_command.jsonable(scores)} for name, scores in results]},
                      file, indent=1)
        print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
