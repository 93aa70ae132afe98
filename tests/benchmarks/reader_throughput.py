"""Throughput of the suite's tf.data reader against Keras' folder reader on the same images.

Run on purpose (not collected by pytest), from the repository root:

    python tests/benchmarks/reader_throughput.py --work_dir=/tmp/reader_bench

What it does:
1. builds CelebA 64x64 (`--celeba_dir`, `train/` and `test/` JPEG folders) and
   apple2orange 256x256 (`--apple2orange_dir`, CycleGAN layout) into TFRecords
   with `tfrecords.build.build_dataset`, once per stored format in
   `--formats` (PNG is the builder's default; JPEG is re-encoded at quality 95);
2. measures images per second of `common.data.reader.load_dataset` (batch 64,
   shuffle, repeat, random flip, non-deterministic mode), without and with
   `cache=True` (measured after one full epoch has filled the cache), and of
   `keras.utils.image_dataset_from_directory` on the JPEG folder of the same
   images (batch 64, same size, labels=None, mapped to [-1, 1], repeat,
   prefetch(AUTOTUNE)); apple2orange uses domain A (trainA, 400 apples) on
   both sides, and also reports `load_unpaired` (A and B images per second);
3. each reader runs `--rounds` times, alternating, over `--batches` batches
   after `--warmup` batches; the table shows the median images/s and the CPU
   time per image (all threads of this process), which is steadier than wall
   time on a machine shared with other jobs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from common.data import reader  # noqa: E402
from tfrecords import schema  # noqa: E402
from tfrecords.build import build_dataset  # noqa: E402

BATCH = 64


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work_dir", default="/tmp/gansuite_reader_bench", help="where the TFRecords are built")
    parser.add_argument("--celeba_dir", default=os.path.join(ROOT, "..", "shared", "data", "celeba64"))
    parser.add_argument("--apple2orange_dir", default=os.path.join(ROOT, "..", "shared", "data", "apple2orange"))
    parser.add_argument("--formats", default="png,jpeg", help="comma-separated formats stored in the records")
    parser.add_argument("--batches", type=int, default=100, help="batches measured per round")
    parser.add_argument("--warmup", type=int, default=10, help="batches read before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per reader (median reported)")
    return parser.parse_args(argv)


def build(source: str, output: str, image_format: str) -> str:
    if os.path.exists(os.path.join(output, schema.MANIFEST_NAME)):
        return output
    started = time.perf_counter()
    build_dataset(source=source, output=output, image_format=image_format, progress=False)
    print(f"built {output} in {time.perf_counter() - started:.1f} s", flush=True)
    return output


def measure(dataset: tf.data.Dataset, batches: int, warmup: int, images_per_batch: int) -> tuple[float, float]:
    """(images per second, CPU milliseconds per image) over `batches` after `warmup`."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(iterator)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    images = batches * images_per_batch
    return images / wall, 1000.0 * cpu / images


def keras_folder_reader(folder: str, size: int) -> tf.data.Dataset:
    dataset = keras.utils.image_dataset_from_directory(
        folder, labels=None, image_size=(size, size), batch_size=BATCH, shuffle=True, verbose=False
    )
    dataset = dataset.map(lambda images: images / 127.5 - 1.0, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.repeat().prefetch(tf.data.AUTOTUNE)


def main(argv=None) -> None:
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    readers = {
        ("celeba64 train", "keras image_dataset_from_directory"): (
            lambda: keras_folder_reader(os.path.join(args.celeba_dir, "train"), 64), BATCH, 0),
        ("apple2orange trainA 256", "keras image_dataset_from_directory"): (
            lambda: keras_folder_reader(os.path.join(args.apple2orange_dir, "trainA"), 256), BATCH, 0),
    }
    for image_format in args.formats.split(","):
        celeba = build(args.celeba_dir, os.path.join(args.work_dir, f"celeba64-{image_format}"), image_format)
        apples = build(
            args.apple2orange_dir, os.path.join(args.work_dir, f"apple2orange-{image_format}"), image_format
        )
        celeba_epoch = -(-reader.describe(celeba).num_examples["train"] // BATCH)
        apple_epoch = -(-reader.describe(apples).num_examples["train"] // 2 // BATCH)
        readers.update({
            ("celeba64 train", f"load_dataset {image_format}"): (
                lambda c=celeba: reader.load_dataset(c, batch_size=BATCH, random_flip=True), BATCH, 0),
            ("celeba64 train", f"load_dataset {image_format} cache"): (
                lambda c=celeba: reader.load_dataset(c, batch_size=BATCH, random_flip=True, cache=True), BATCH,
                celeba_epoch),
            ("apple2orange trainA 256", f"load_dataset {image_format}"): (
                lambda a=apples: reader.load_dataset(a, batch_size=BATCH, random_flip=True, domain=0), BATCH, 0),
            ("apple2orange trainA 256", f"load_dataset {image_format} cache"): (
                lambda a=apples: reader.load_dataset(a, batch_size=BATCH, random_flip=True, domain=0, cache=True),
                BATCH, apple_epoch),
            ("apple2orange train A+B 256", f"load_unpaired {image_format}"): (
                lambda a=apples: reader.load_unpaired(a, batch_size=BATCH, random_flip=True), 2 * BATCH, 0),
        })
    readers = dict(sorted(readers.items(), key=lambda item: (item[0][0], not item[0][1].startswith("keras"))))
    results = {key: [] for key in readers}
    for _ in range(args.rounds):
        for key, (make, per_batch, fill_cache) in readers.items():
            results[key].append(measure(make(), args.batches, args.warmup + fill_cache, per_batch))
    print(f"\nbatch {BATCH}, {args.batches} batches after {args.warmup} warm-up, median of {args.rounds} rounds, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    header = (f"{'dataset':<28} {'reader':<34} {'images/s':>10} {'vs keras':>9} {'CPU ms/image':>13} "
              f"{'CPU vs keras':>13}")
    print(header)
    print("-" * len(header))
    baseline = {}
    for (dataset, reader_name), runs in results.items():
        rate = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        if reader_name.startswith("keras"):
            baseline[dataset] = (rate, cpu)
        reference = baseline.get(dataset)
        speed = f"{rate / reference[0]:.2f}x" if reference else "-"
        saving = f"{reference[1] / cpu:.2f}x" if reference else "-"  # > 1: less CPU per image than keras
        print(f"{dataset:<28} {reader_name:<34} {rate:>10.0f} {speed:>9} {cpu:>13.3f} {saving:>13}")


if __name__ == "__main__":
    main()
