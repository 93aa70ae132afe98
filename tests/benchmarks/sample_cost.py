"""Cost of the TensorBoard sample grids against the training step, in time and peak memory.

    python tests/benchmarks/sample_cost.py                      # CycleGAN 256x256 and DCGAN-64
    python tests/benchmarks/sample_cost.py --translator_size=128 --rounds=3

One process, two models:

- CycleGAN at `--translator_size` (the paper's networks, batch 1) and the
  callback that writes its `a_to_b` / `b_to_a` rows
  (`common.training.translator_training.TranslationImageWriter`, 4 fixed test
  images per domain, each row real | translated | cycled back), every
  `--sample_every` steps and at the end of a run;
- DCGAN-64 RGB at its default batch (128) and widths, and the runtime's grid of
  `--num_samples` fixed-noise samples (`common.training.runtime._sample_writer`).

Each model's `train_step` (a `tf.function`, as the runtime compiles it) is
timed over `--steps` steps after two warm-up steps, then each way of writing
its grid, interleaved in `--rounds` rounds (the first write of each way is
its warm-up and reported apart). Peak memory is the process's resident set
high-water mark (VmHWM of /proc/self/status, reset through
/proc/self/clear_refs before each measured part), reported as the growth over
the resident set just before the part. A write's cost as a share of training
is its time over the time of `--sample_every` steps; the end-of-run grid is
one write more.

Ways of writing the translators' rows: `eager` (each network called eagerly on
the 4 images, the callback before it compiled its networks) and `callback` (the
callback as it is now). The generators' grid: `callback`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
__import__("apps")  # the commands' environment defaults, set before TensorFlow loads

import keras
import numpy as np
import tensorflow as tf

from common.training import callbacks as callbacks_lib
from common.training import runtime, translator_training
from common.training.runtime_config import RuntimeConfig


def _status(field: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def measure(function) -> tuple[float, float]:
    """(seconds, peak resident growth in MiB) of one call."""
    _reset_peak()
    before = _status("VmRSS")
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    return seconds, max(0.0, _status("VmHWM") - before)


def time_steps(step, batch, steps: int) -> tuple[float, float]:
    """Median seconds per step and the peak resident growth over `steps` steps after two warm-up ones."""
    for _ in range(2):
        step(batch)
    _reset_peak()
    before = _status("VmRSS")
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(0.0, _status("VmHWM") - before)


def eager_translator_write(writer: translator_training.TranslationImageWriter, step: int) -> None:
    """The rows written by calling each network eagerly on all 4 images (the callback before compiling them)."""
    translators = writer.model.translators()
    g, f = translators["a_to_b"], translators["b_to_a"]

    def run(network, images):
        return keras.ops.convert_to_numpy(network(images, training=False))

    fake_b = run(g, writer.images_a)
    fake_a = run(f, writer.images_b)
    rows = translator_training._rows
    with writer._writer.as_default(step=step):
        tf.summary.image("a_to_b", rows([writer.images_a, fake_b, run(f, fake_b)]), step=step)
        tf.summary.image("b_to_a", rows([writer.images_b, fake_a, run(g, fake_a)]), step=step)
    writer._writer.flush()


def report(name: str, step_seconds: float, step_growth: float, writes: dict, sample_every: int) -> None:
    print(f"\n{name}: training step {step_seconds:.3f} s (median), peak resident growth over the steps "
          f"{step_growth:.0f} MiB\n")
    print(f"| way | first write s | write s (median) | share of {sample_every} steps | write = steps | "
          "first write peak growth MiB | write peak growth MiB (max) |")
    print("|---|---|---|---|---|---|---|")
    for way, measured in writes.items():
        (first_s, first_m), rest = measured[0], measured[1:]
        median_s = statistics.median(s for s, _ in rest) if rest else first_s
        peak = max((m for _, m in rest), default=first_m)
        print(f"| {way} | {first_s:.2f} | {median_s:.2f} | {100 * median_s / (sample_every * step_seconds):.2f}% | "
              f"{median_s / step_seconds:.2f} | {first_m:.0f} | {peak:.0f} |")


def translators(args, log_dir: str) -> None:
    from apps.cyclegan.config import CycleGANConfig
    from apps.cyclegan.model import build_model, make_optimizers

    size = args.translator_size
    config = CycleGANConfig(image_size=size, batch_size=1)
    model = build_model(config)
    g_optimizer, d_optimizer = make_optimizers(config)
    model.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
    rng = np.random.default_rng(0)
    batch = {k: tf.constant(rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)) for k in ("a", "b")}
    step_seconds, step_growth = time_steps(tf.function(model.train_step), batch, args.steps)
    images = rng.uniform(-1, 1, (2, translator_training.MAX_SAMPLE_ROWS, size, size, 3)).astype(np.float32)
    writer = translator_training.TranslationImageWriter(log_dir, images[0], images[1], args.sample_every)
    writer.set_model(model)
    writer.on_train_begin()
    ways = {"eager": lambda: eager_translator_write(writer, 1), "callback": lambda: writer.write(1)}
    writes = {way: [] for way in ways}
    for _ in range(args.rounds + 1):
        for way, write in ways.items():
            writes[way].append(measure(write))
    writer._writer.close()
    report(f"CycleGAN {size}x{size}, batch 1, {translator_training.MAX_SAMPLE_ROWS} images per domain",
           step_seconds, step_growth, writes, args.sample_every)


def generators(args, log_dir: str) -> None:
    from apps.dcgan.config import DCGANConfig
    from apps.dcgan.model import build_model, make_optimizers

    config = DCGANConfig(image_size=64, channels=3)
    model = build_model(config)
    g_optimizer, d_optimizer = make_optimizers(config)
    model.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
    batch = {"image": tf.random.stateless_uniform((config.batch_size, 64, 64, 3), seed=(1, 2), minval=-1.0,
                                                  maxval=1.0)}
    step_seconds, step_growth = time_steps(tf.function(model.train_step), batch, args.steps)
    run = RuntimeConfig(model_dir=log_dir, num_samples=args.num_samples, sample_every=args.sample_every)
    summary_writer = tf.summary.create_file_writer(log_dir)
    sampler = runtime._sample_writer(model, run, callbacks_lib.RunProgress(0, 1, config.batch_size), summary_writer)
    writes = {"callback": []}
    for _ in range(args.rounds + 1):
        writes["callback"].append(measure(lambda: sampler.write(1)))
    summary_writer.close()
    report(f"DCGAN-64 RGB, batch {config.batch_size}, {args.num_samples} samples", step_seconds, step_growth,
           writes, args.sample_every)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--translator_size", type=int, default=256)
    parser.add_argument("--num_samples", type=int, default=RuntimeConfig.num_samples)
    parser.add_argument("--sample_every", type=int, default=RuntimeConfig.sample_every)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="translators,generators")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; peak memory reset through /proc/self/clear_refs: "
          f"{_reset_peak()}", flush=True)
    log_dir = tempfile.mkdtemp(prefix="sample-cost-")
    if "translators" in args.only:
        translators(args, os.path.join(log_dir, "translators"))
    if "generators" in args.only:
        generators(args, os.path.join(log_dir, "generators"))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
