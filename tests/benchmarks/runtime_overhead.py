"""Overhead of the training runtime over a bare compiled DCGAN step.

    python tests/benchmarks/runtime_overhead.py            # about 5 minutes on 2 busy CPU cores

Measures DCGAN-64 (paper configuration: 64x64 RGB, 64 base filters, z of 100)
training steps per second at batch 64, on one fixed batch of random images:

- bare: `tf.function(model.train_step)` called in a Python loop (the result is
  fetched every step, as any training loop must to see its losses);
- runtime: `common.runtime.train` (keras fit, the runtime's step wrapper and
  callbacks, metrics.jsonl, TensorBoard, checkpoints) at the default logging,
  checkpoint and sample intervals, fed the same batch from
  `tf.data.Dataset.from_tensors(batch).repeat()`.

Rates are steady-state: the first compiled call (tracing / XLA compilation)
is excluded. The bare rate is measured before and after the runtime's and
averaged, since other processes share the machine. Deterministic ops are on
for every measurement (the runtime's default). The checkpoint cost is reported
separately, with its share at the default interval. The requirement is an
overhead of at most 5% at steps_per_execution=1 without XLA.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from apps.dcgan.config import DCGANConfig  # noqa: E402
from apps.dcgan.model import build_model, make_optimizers  # noqa: E402
from common import checkpointing, runtime  # noqa: E402
from common.runtime_config import RuntimeConfig  # noqa: E402

BATCH = 64


def fixed_batch():
    return {"image": tf.random.stateless_uniform((BATCH, 64, 64, 3), seed=(1, 2), minval=-1.0, maxval=1.0)}


def build_optimizers(config):
    g_optimizer, d_optimizer = make_optimizers(config)
    return {"g_optimizer": g_optimizer, "d_optimizer": d_optimizer}


def bare_rate(config, steps: int, jit_compile: bool) -> float:
    keras.utils.set_random_seed(0)
    model = build_model(config)
    model.compile(**build_optimizers(config))
    step = tf.function(model.train_step, jit_compile=jit_compile)
    batch = fixed_batch()
    float(step(batch)["g_loss"])  # trace / compile
    start = time.perf_counter()
    for _ in range(steps):
        float(step(batch)["g_loss"])
    return steps / (time.perf_counter() - start)


class _Timer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []  # (step, time) after every compiled call

    def on_train_batch_end(self, batch, logs=None):
        self.times.append((int(logs["_step"]), time.perf_counter()))


def runtime_rate(config, steps: int, steps_per_execution: int, jit_compile: bool, model_dir: str):
    timer = _Timer()
    run = RuntimeConfig(model_dir=model_dir, batch_size=BATCH, steps=steps + steps_per_execution,
                        steps_per_execution=steps_per_execution, jit_compile=jit_compile, strategy="default")
    dataset = tf.data.Dataset.from_tensors(fixed_batch()).repeat()
    start = time.perf_counter()
    result = runtime.train(app="dcgan", config=config, run=run, build_model=build_model,
                           build_optimizers=build_optimizers, dataset_fn=lambda context: dataset,
                           extra_callbacks=[timer], stream=io.StringIO())
    wall = time.perf_counter() - start
    (first_step, first_time), (last_step, last_time) = timer.times[0], timer.times[-1]
    return (last_step - first_step) / (last_time - first_time), wall, result


def checkpoint_seconds(result, model_dir: str) -> float:
    optimizers = {"g_optimizer": result.model.g_optimizer, "d_optimizer": result.model.d_optimizer}
    checkpoint = checkpointing.training_checkpoint(result.model, optimizers, checkpointing.TrainingState())
    checkpointer = checkpointing.Checkpointer(checkpoint, os.path.join(model_dir, "timing"))
    checkpointer.save(1)
    start = time.perf_counter()
    checkpointer.save(2)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="measured steps per configuration")
    parser.add_argument("--spe", default="1,4", help="steps_per_execution values to compare")
    parser.add_argument("--jit", default="off,on", help="jit_compile settings to compare")
    args = parser.parse_args()
    config = DCGANConfig()
    tf.config.experimental.enable_op_determinism()
    print(f"DCGAN-64 train step, batch {BATCH}; TF {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} CPUs ({platform.machine()}), load average {os.getloadavg()[0]:.1f}; "
          f"{args.steps} measured steps per line")
    defaults = RuntimeConfig()
    print(f"runtime defaults: log_every={defaults.log_every}, checkpoint_every={defaults.checkpoint_every}, "
          f"sample_every={defaults.sample_every}")
    with tempfile.TemporaryDirectory() as root:
        for jit in [j.strip() == "on" for j in args.jit.split(",")]:
            before = bare_rate(config, args.steps, jit)
            results = []
            for spe in [int(s) for s in args.spe.split(",")]:
                rate, wall, result = runtime_rate(config, args.steps, spe, jit,
                                                  os.path.join(root, f"run-{spe}-{jit}"))
                results.append((spe, rate, wall, result))
            after = bare_rate(config, args.steps, jit)
            bare = (before + after) / 2
            label = "on " if jit else "off"
            print(f"jit_compile={label} bare step:           {bare:.4f} steps/s "
                  f"(before {before:.4f}, after {after:.4f})")
            for spe, rate, wall, result in results:
                print(f"jit_compile={label} runtime spe={spe:<3d}:     {rate:.4f} steps/s  "
                      f"overhead {100 * (bare / rate - 1):+.1f}%  (whole run incl. startup {wall:.1f} s)")
        seconds = checkpoint_seconds(results[0][3], root)
        step_seconds = 1 / results[0][1]
        print(f"one checkpoint save: {seconds:.3f} s = {100 * seconds / (defaults.checkpoint_every * step_seconds):.3f}% "
              f"of {defaults.checkpoint_every} steps")


if __name__ == "__main__":
    main()
