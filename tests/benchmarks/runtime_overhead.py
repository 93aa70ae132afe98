"""Overhead of the training runtime over a bare compiled DCGAN step.

    python tests/benchmarks/runtime_overhead.py     # about 5 minutes on 2 busy CPU cores

Measures DCGAN-64 (paper configuration: 64x64 RGB, 64 base filters, z of 100)
training steps per second at batch 64 on one fixed batch of random images:

- bare: `tf.function(model.train_step)` (same `jit_compile`) on a second,
  identical model, called in a Python loop; its losses are fetched every step,
  as any training loop must to see them;
- runtime: `common.training.runtime.train` (keras fit with the runtime's step wrapper
  and callbacks, metrics.jsonl, TensorBoard, checkpoints) at the default
  logging, checkpoint and sample intervals, fed the same batch from
  `tf.data.Dataset.from_tensors(batch).repeat()`.

The machine is shared, so the two are interleaved in one process: after every
compiled call of the runtime (`steps_per_execution` steps) a callback runs as
many bare steps and times them; the runtime's time for a call is the wall time
between two consecutive calls' ends minus the bare steps in between. Both thus
see the same load. The first compiled call (tracing / XLA compilation) is not
measured. Deterministic ops are on (the runtime's default). Also reported:
the host time spent in the runtime's callbacks per step (a load-independent
view of the runtime's own cost) and the cost of one checkpoint save with its
share at the default interval.
The requirement: at most 5% overhead at the default intervals.
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
from common.training import callbacks as callbacks_lib  # noqa: E402
from common.training import checkpointing  # noqa: E402
from common.training import runtime
from common.training.runtime_config import RuntimeConfig  # noqa: E402

BATCH = 64


def fixed_batch():
    return {"image": tf.random.stateless_uniform((BATCH, 64, 64, 3), seed=(1, 2), minval=-1.0, maxval=1.0)}


def build_optimizers(config):
    g_optimizer, d_optimizer = make_optimizers(config)
    return {"g_optimizer": g_optimizer, "d_optimizer": d_optimizer}


class InterleavedBareSteps(keras.callbacks.Callback):
    """After each compiled call of fit, runs as many bare steps and times both."""

    def __init__(self, config, jit_compile: bool, steps_per_execution: int):
        super().__init__()
        model = build_model(config)
        model.compile(**build_optimizers(config))
        self.bare_step = tf.function(model.train_step, jit_compile=jit_compile)
        self.batch = fixed_batch()
        float(self.bare_step(self.batch)["g_loss"])  # trace / compile
        self.steps_per_execution = steps_per_execution
        self.bare_seconds = []
        self.runtime_seconds = []
        self._resumed = None  # when fit got control back after the last bare steps

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._resumed is not None:
            self.runtime_seconds.append(now - self._resumed)
        start = time.perf_counter()
        for _ in range(self.steps_per_execution):
            float(self.bare_step(self.batch)["g_loss"])
        self._resumed = time.perf_counter()
        self.bare_seconds.append(self._resumed - start)


CALLBACK_SECONDS = [0.0]


def _timed(method):
    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            CALLBACK_SECONDS[0] += time.perf_counter() - start

    return timed


def time_runtime_callbacks():
    """Accumulates the host time spent in the runtime's own callbacks into CALLBACK_SECONDS."""
    for cls in (callbacks_lib.StepCounter, callbacks_lib.NonFiniteGuard, callbacks_lib.MetricsLogger,
                callbacks_lib.PeriodicCheckpoint, callbacks_lib.SampleWriter):
        for name in ("on_train_batch_begin", "on_train_batch_end"):
            if name in cls.__dict__:
                setattr(cls, name, _timed(cls.__dict__[name]))


def measure(config, calls: int, steps_per_execution: int, jit_compile: bool, model_dir: str):
    bench = InterleavedBareSteps(config, jit_compile, steps_per_execution)
    CALLBACK_SECONDS[0] = 0.0
    run = RuntimeConfig(model_dir=model_dir, batch_size=BATCH, steps=(calls + 1) * steps_per_execution,
                        steps_per_execution=steps_per_execution, jit_compile=jit_compile, strategy="default")
    dataset = tf.data.Dataset.from_tensors(fixed_batch()).repeat()
    result = runtime.train(app="dcgan", config=config, run=run, build_model=build_model,
                           build_optimizers=build_optimizers, dataset_fn=lambda context: dataset,
                           extra_callbacks=[bench], stream=io.StringIO())
    steps = len(bench.runtime_seconds) * steps_per_execution
    runtime_rate = steps / sum(bench.runtime_seconds)
    bare_rate = len(bench.bare_seconds) * steps_per_execution / sum(bench.bare_seconds)
    callback_ms_per_step = 1000 * CALLBACK_SECONDS[0] / result.step
    return runtime_rate, bare_rate, steps, result, callback_ms_per_step


def checkpoint_seconds(result, model_dir: str) -> float:
    optimizers = {"g_optimizer": result.model.g_optimizer, "d_optimizer": result.model.d_optimizer}
    state = checkpointing.TrainingState()
    checkpointer = checkpointing.Checkpointer(
        lambda: checkpointing.training_checkpoint(result.model, optimizers, state), os.path.join(model_dir, "timing"))
    checkpointer.save(1)
    start = time.perf_counter()
    checkpointer.save(2)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="measured steps per configuration")
    parser.add_argument("--configs", default="1:off,4:off,1:on",
                        help="steps_per_execution:jit_compile pairs to measure")
    args = parser.parse_args()
    config = DCGANConfig()
    tf.config.experimental.enable_op_determinism()
    time_runtime_callbacks()
    defaults = RuntimeConfig()
    print(f"DCGAN-64 train step, batch {BATCH}; TF {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} CPUs ({platform.machine()}), load average {os.getloadavg()[0]:.1f}")
    print(f"runtime at its defaults: log_every={defaults.log_every}, checkpoint_every={defaults.checkpoint_every}, "
          f"sample_every={defaults.sample_every}; bare steps interleaved after every compiled call")
    with tempfile.TemporaryDirectory() as root:
        last = None
        for pair in args.configs.split(","):
            spe_text, jit_text = pair.split(":")
            spe, jit = int(spe_text), jit_text == "on"
            calls = max(1, args.steps // spe)
            runtime_rate, bare_rate, steps, result, callback_ms = measure(
                config, calls, spe, jit, os.path.join(root, f"run-{spe}-{jit_text}"))
            print(f"steps_per_execution={spe:<2d} jit_compile={jit_text:<3s}  bare {bare_rate:.4f} steps/s  "
                  f"runtime {runtime_rate:.4f} steps/s  overhead {100 * (bare_rate / runtime_rate - 1):+.2f}%  "
                  f"({steps} steps each); runtime callbacks {callback_ms:.2f} ms/step "
                  f"= {0.1 * callback_ms * runtime_rate:.3f}% of a step")
            if last is None:
                last = (result, runtime_rate)
        seconds = checkpoint_seconds(last[0], root)
        print(f"one checkpoint save: {seconds:.3f} s = "
              f"{100 * seconds * last[1] / defaults.checkpoint_every:.3f}% of {defaults.checkpoint_every} steps")


if __name__ == "__main__":
    main()
