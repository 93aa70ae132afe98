"""Training-step speed of SAGAN, BigGAN and BigGAN-deep at their CIFAR-10 networks, and what the parts cost.

    python -m tests.benchmarks.attention_scale_parts --rounds=2 --steps=3

In one process, for each app at its 32x32 CIFAR-10 configuration (the widths
scaled by `--ch`; the paper's is 64 for SAGAN's `cifar32` and BigGAN's), one
compiled `train_step` on random images of one RGB batch:

- `float32` and `mixed_bfloat16`: images per second of the whole step;
- the same float32 step without each part whose share of the step is asked
  for, the difference being that part's cost:
  - `no_attention`: the self-attention blocks removed (SAGAN; BigGAN's CIFAR-10
    networks have none);
  - `no_power_iteration`: every spectrally normalised layer computing with its
    kernel as it is, so the power step, the division by sigma and its
    gradient are gone (`SpectralNormalization.normalized_kernel` patched);
  - `no_ortho`: the orthogonal regularisation off (BigGAN, `ortho_beta=0`).

The machine is shared and noisy, so the variants run in rounds, each variant of
each app once per round in the same order, each reported as the median over
rounds of its median step time. A part's share is 1 - t(without it) / t(full),
from the medians; the rest is convolutions, normalisation, activations and the
optimizer, which this script does not split further.

Images per second count the real images a step reads (BigGAN: `--d_steps` D
updates of `--batch` images each).
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from apps.biggan.config import BigGANConfig
from apps.biggan.model import build_model as build_biggan
from apps.biggan.model import make_optimizers as biggan_optimizers
from apps.sagan.config import SAGANConfig
from apps.sagan.model import build_model as build_sagan
from apps.sagan.model import make_optimizers as sagan_optimizers
from common.nn.spectral_normalization import SpectralNormalization


def configs(ch: int, batch: int, biggan_d_steps: int):
    """(name, config, build_model, make_optimizers, real images per step) of each app at ``ch``."""
    sagan = dict(architecture="cifar32", num_classes=10, channels=3, g_channels=ch, d_channels=ch,
                 batch_size=batch, seed=0)
    biggan = dict(architecture="cifar32", num_classes=10, channels=3, g_channels=ch, d_channels=ch,
                  batch_size=batch * biggan_d_steps, d_steps=biggan_d_steps, accumulate=1, ema_decay=0.9999,
                  ema_start=0, standing_batches=0, seed=0)
    deep = dict(biggan, variant="deep", latent_dim=128)
    return [
        ("sagan", SAGANConfig, sagan, build_sagan, sagan_optimizers, batch),
        ("biggan", BigGANConfig, biggan, build_biggan, biggan_optimizers, batch * biggan_d_steps),
        ("biggan_deep", BigGANConfig, deep, build_biggan, biggan_optimizers, batch * biggan_d_steps),
    ]


@contextlib.contextmanager
def kernels_as_they_are():
    """Spectral norm's power step removed: every wrapped layer computes with its unnormalised kernel."""
    original = SpectralNormalization.normalized_kernel
    SpectralNormalization.normalized_kernel = lambda self, training=False: self.kernel.value
    try:
        yield
    finally:
        SpectralNormalization.normalized_kernel = original


def variants(app: str):
    """(variant name, config overrides, precision policy, patch) for ``app``."""
    found = [("float32", {}, "float32", contextlib.nullcontext),
             ("mixed_bfloat16", {}, "mixed_bfloat16", contextlib.nullcontext)]
    if app == "sagan":
        found.append(("no_attention", {"g_attention": 0, "d_attention": 0}, "float32", contextlib.nullcontext))
    found.append(("no_power_iteration", {}, "float32", kernels_as_they_are))
    if app.startswith("biggan"):
        found.append(("no_ortho", {"ortho_beta": 0.0}, "float32", contextlib.nullcontext))
    return found


def step_seconds(config_class, fields, build_model, make_optimizers, policy, patch, steps, batch_images):
    """Median seconds of ``steps`` compiled train steps after one untimed first step (the trace)."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        with patch():
            config = config_class(**fields)
            model = build_model(config)
            model.compile(*make_optimizers(config))
            rng = np.random.default_rng(0)
            batch = {"image": tf.constant(rng.uniform(-1, 1, (batch_images, 32, 32, 3)).astype(np.float32)),
                     "label": tf.constant(rng.integers(0, 10, batch_images).astype(np.int32))}
            step = tf.function(model.train_step)
            logs = step(batch)  # traces
            assert all(np.isfinite(float(value)) for value in logs.values()), logs
            times = []
            for _ in range(steps):
                start = time.perf_counter()
                logs = step(batch)
                float(logs["d_loss"])  # waits for the step
                times.append(time.perf_counter() - start)
        return statistics.median(times)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ch", type=int, default=32, help="width multiplier ch of G and D (the paper's: 64)")
    parser.add_argument("--batch", type=int, default=32, help="real images per D update")
    parser.add_argument("--biggan_d_steps", type=int, default=4, help="BigGAN's CIFAR-10 D steps per G step")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant and round")
    parser.add_argument("--apps", default="sagan,biggan,biggan_deep")
    args = parser.parse_args()
    wanted = args.apps.split(",")
    apps = [entry for entry in configs(args.ch, args.batch, args.biggan_d_steps) if entry[0] in wanted]
    print(f"TensorFlow {tf.__version__}, {platform.processor() or platform.machine()}; ch={args.ch}, "
          f"batch {args.batch} per D update, BigGAN D steps {args.biggan_d_steps}, {args.rounds} rounds x "
          f"{args.steps} steps", flush=True)
    seconds = {}
    for round_index in range(args.rounds):
        for app, config_class, fields, build_model, make_optimizers, images in apps:
            for name, overrides, policy, patch in variants(app):
                value = step_seconds(config_class, {**fields, **overrides}, build_model, make_optimizers, policy,
                                     patch, args.steps, images)
                seconds.setdefault((app, name), []).append(value)
                print(f"round {round_index + 1} {app:12s} {name:20s} {value:8.3f} s/step  {images / value:7.1f} img/s",
                      flush=True)
    print("\n| app | variant | s/step (median of rounds) | images/s | share of the float32 step |")
    print("|---|---|---|---|---|")
    for app, *_rest in apps:
        full = statistics.median(seconds[(app, "float32")])
        images = next(entry[5] for entry in apps if entry[0] == app)
        for name, *_ in variants(app):
            value = statistics.median(seconds[(app, name)])
            share = "" if name in ("float32", "mixed_bfloat16") else f"{1 - value / full:.1%}"
            print(f"| {app} | {name} | {value:.3f} | {images / value:.1f} | {share} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
