"""Keras callbacks of the training runtime: progress, metrics log, NaN guard, checkpoints, samples, profiler.

They run inside `keras.Model.fit` after every compiled call of the training
step (every `steps_per_execution` steps) and share one `RunProgress`. The
logs they receive are already reduced over replicas (Keras averages the
per-replica values of the model's Mean trackers; with equal per-replica
batches that is the global-batch mean) and converted to Python floats once
by Keras. Two entries come from the runtime's step wrapper and are hidden from
users: `_step` (steps done) and `_nonfinite_step` (first step with a NaN/Inf
loss, -1 if none; with several replicas, the share of replicas that saw one).

When `steps_per_execution` is N > 1, the values logged for a call are the means
over its N steps, and a NaN/Inf in any of them is detected at the end of that
call (with the exact step number on one replica, as the call's step range on
several); logging, checkpoint and sample intervals are rounded up to the end of
the call that reaches them.

Order matters and is fixed by `runtime`: the guard runs first so that a
checkpoint is never written from non-finite weights.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from typing import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from common.training import precision as precision_lib

log = logging.getLogger(__name__)

STEP_KEY = "_step"
NONFINITE_KEY = "_nonfinite_step"


class RunProgress:
    """Mutable facts about the run the callbacks share with the runtime."""

    def __init__(self, start_step: int, total_steps: int, global_batch_size: int):
        self.start_step = start_step
        self.step = start_step
        self.total_steps = total_steps
        self.global_batch_size = global_batch_size
        self.nonfinite_step: int | None = None
        self.nonfinite_first_possible_step: int | None = None
        self.nonfinite_logs: dict | None = None
        self.signal: int | None = None
        self.last_logs: dict = {}

    def public(self, logs: Mapping) -> dict:
        return {k: v for k, v in logs.items() if not k.startswith("_")}


def _format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


class StepCounter(keras.callbacks.Callback):
    """Reads the step number out of the logs into `RunProgress` (runs first)."""

    def __init__(self, progress: RunProgress):
        super().__init__()
        self.progress = progress

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.progress.step = int(logs.get(STEP_KEY, self.progress.step))
        self.progress.last_logs = logs


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops fit at the first NaN/Inf loss; the runtime then stops the run or rolls back.

    With one replica the step is found inside the compiled step, so it is exact
    even when one call runs several steps; with several replicas (whose outputs
    Keras averages) the call's steps are reported as a range. The host only
    reads the logs that fit fetches anyway, without an extra device sync.
    """

    def __init__(self, progress: RunProgress, *, replicas: int = 1, steps_per_execution: int = 1):
        super().__init__()
        self.progress = progress
        self.replicas = replicas
        self.steps_per_execution = steps_per_execution

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        flag = logs.get(NONFINITE_KEY, -1)
        values = self.progress.public(logs)
        seen = flag > 0 if self.replicas > 1 else flag >= 0
        if not seen and all(math.isfinite(v) for v in values.values() if isinstance(v, float)):
            return
        step = self.progress.step
        if self.replicas == 1 and flag >= 0:
            self.progress.nonfinite_step = int(flag)
            self.progress.nonfinite_first_possible_step = int(flag)
        else:
            self.progress.nonfinite_step = step
            self.progress.nonfinite_first_possible_step = max(1, step - self.steps_per_execution + 1)
        self.progress.nonfinite_logs = values
        self.model.stop_training = True


class MetricsLogger(keras.callbacks.Callback):
    """Writes every logged step to `metrics.jsonl`, prints progress and TensorBoard scalars.

    `metrics.jsonl` gets one JSON object per compiled call: {"step": s, <loss>: value, ...},
    flushed as it is written.
    Every `log_every` steps a progress line (means over the interval, images per
    second, ETA) is printed and the same values, the optimizers' learning rates
    and loss scales go to TensorBoard.
    """

    def __init__(self, progress: RunProgress, *, log_every: int, metrics_path: str | None,
                 writer=None, optimizers: Mapping | None = None, stream=sys.stdout):
        super().__init__()
        self.progress = progress
        self.log_every = log_every
        self.metrics_path = metrics_path
        self.writer = writer
        self.optimizers = dict(optimizers or {})
        self.stream = stream  # None: no progress lines (workers other than the chief)
        self._file = None
        self._sums: dict[str, float] = {}
        self._count = 0
        self._interval_start_time = None
        self._interval_start_step = None
        self._next_log = None
        self.images_per_second: float | None = None

    def on_train_begin(self, logs=None):
        if self.metrics_path:
            self._file = open(self.metrics_path, "a")
        self._interval_start_time = time.perf_counter()
        self._interval_start_step = self.progress.step
        self._next_log = (self.progress.step // self.log_every + 1) * self.log_every

    def on_train_batch_end(self, batch, logs=None):
        progress = self.progress
        if progress.nonfinite_step is not None:
            return
        values = progress.public(logs or {})
        if self._file is not None:
            record = {"step": progress.step}
            record.update(values)
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()  # each line readable at once, as a run is watched or tailed
        for key, value in values.items():
            self._sums[key] = self._sums.get(key, 0.0) + value
        self._count += 1
        if progress.step >= self._next_log or progress.step >= progress.total_steps:
            self._report()
            self._next_log = (progress.step // self.log_every + 1) * self.log_every

    def _report(self):
        progress = self.progress
        now = time.perf_counter()
        steps = progress.step - self._interval_start_step
        elapsed = now - self._interval_start_time
        if steps <= 0 or self._count == 0:
            return
        means = {key: total / self._count for key, total in self._sums.items()}
        steps_per_second = steps / elapsed if elapsed > 0 else float("inf")
        self.images_per_second = steps_per_second * progress.global_batch_size
        eta = (progress.total_steps - progress.step) / steps_per_second if steps_per_second > 0 else float("nan")
        shown = "  ".join(f"{key} {value:.4f}" for key, value in sorted(means.items()))
        width = len(str(progress.total_steps))
        line = (f"step {progress.step:>{width}}/{progress.total_steps}  {shown}  "
                f"{self.images_per_second:.1f} img/s  ETA {_format_duration(eta)}")
        if self.stream is not None:
            print(line, file=self.stream, flush=True)
        if self.writer is not None:
            with self.writer.as_default(step=progress.step):
                for key, value in means.items():
                    tf.summary.scalar(key, value)
                tf.summary.scalar("images_per_second", self.images_per_second)
                tf.summary.scalar("steps_per_second", steps_per_second)
                for name, optimizer in self.optimizers.items():
                    tf.summary.scalar(f"learning_rate/{name}", precision_lib.learning_rate(optimizer))
                    scale = precision_lib.loss_scale(optimizer)
                    if scale is not None:
                        tf.summary.scalar(f"loss_scale/{name}", scale)
            self.writer.flush()
        self._sums, self._count = {}, 0
        self._interval_start_time, self._interval_start_step = now, progress.step

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves every `every` steps, and saves then stops fit after SIGINT/SIGTERM.

    Never saves when the guard saw a non-finite loss in the current call.
    """

    def __init__(self, progress: RunProgress, save: Callable[[int], None], *, every: int):
        super().__init__()
        self.progress = progress
        self.save = save
        self.every = every
        self._next = None

    def on_train_begin(self, logs=None):
        self._next = (self.progress.step // self.every + 1) * self.every

    def on_train_batch_end(self, batch, logs=None):
        progress = self.progress
        if progress.nonfinite_step is not None:
            return
        if progress.step >= self._next or progress.signal is not None:
            self.save(progress.step)
            self._next = (progress.step // self.every + 1) * self.every
        if progress.signal is not None:
            self.model.stop_training = True


def image_grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Tiles [N, H, W, C] images in [-1, 1] into one [1, rows*H, cols*W, C] image in [0, 1]."""
    images = np.clip((np.asarray(images, np.float32) + 1.0) / 2.0, 0.0, 1.0)
    count, height, width, channels = images.shape
    columns = columns or int(math.ceil(math.sqrt(count)))
    rows = int(math.ceil(count / columns))
    grid = np.zeros((rows * height, columns * width, channels), np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return grid[None]


MAX_GRID_CLASSES = 16


def grid_classes(num_classes: int, max_rows: int = MAX_GRID_CLASSES) -> np.ndarray:
    """The classes shown as rows of a class-conditional sample grid, in increasing order.

    Every class when there are at most `max_rows` (16) of them; otherwise
    `max_rows` classes evenly spaced over [0, num_classes - 1], first and last
    included (for 1000 classes: 0, 67, 133, ..., 999).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1; got {num_classes}.")
    rows = min(int(num_classes), int(max_rows))
    return np.round(np.linspace(0, num_classes - 1, rows)).astype(np.int32)


def prior_noise(seed: int, count: int, latent_dim: int, distribution: str = "normal") -> np.ndarray:
    """[count, latent_dim] float32 latents drawn with NumPy from `seed`: N(0, I), or U[0, 1) for "uniform"."""
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        return rng.uniform(0.0, 1.0, (count, latent_dim)).astype(np.float32)
    if distribution != "normal":
        raise ValueError(f"Unknown latent distribution {distribution!r}; expected 'normal' or 'uniform'.")
    return rng.standard_normal((count, latent_dim)).astype(np.float32)


def class_grid_inputs(seed: int, num_samples: int, latent_dim: int, num_classes: int,
                      max_rows: int = MAX_GRID_CLASSES, distribution: str = "normal",
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """(noise [R*C, latent_dim] float32, labels [R*C] int32, C) of a class-conditional sample grid.

    R rows are classes (`grid_classes`: all K classes when K <= `max_rows`, else
    `max_rows` evenly spaced ones, also when K exceeds `num_samples`), C =
    max(1, num_samples // R) columns. Row-major order: sample r * C + c has the
    label of row r and the noise of column c, so each row shows one class and each
    column one noise vector across the classes. The C noise vectors are the first
    C rows of the draw of `seed` from the model's prior (`prior_noise`, NumPy), the
    same after a resume.
    """
    classes = grid_classes(num_classes, max_rows)
    columns = max(1, int(num_samples) // len(classes))
    column_noise = prior_noise(seed, columns, latent_dim, distribution)
    noise = np.tile(column_noise, (len(classes), 1))
    labels = np.repeat(classes, columns).astype(np.int32)
    return noise, labels, columns


class SampleWriter(keras.callbacks.Callback):
    """Every `every` steps writes samples of fixed noise as an image grid to TensorBoard.

    The fixed noise is drawn from `seed` with NumPy, so it is the same in every
    run and after every resume. Unconditional: ``sample_fn(noise)``, tiled in a
    near-square grid. Class-conditional (`labels` given, see `class_grid_inputs`):
    ``sample_fn(noise, labels)``, tiled with `columns` images per row, so that each
    row shows one class and each column one noise vector.
    """

    def __init__(self, progress: RunProgress, writer, *, every: int, noise: np.ndarray,
                 sample_fn: Callable[..., np.ndarray], labels: np.ndarray | None = None,
                 columns: int | None = None):
        super().__init__()
        if labels is not None and len(labels) != len(noise):
            raise ValueError(f"SampleWriter got {len(noise)} noise vectors but {len(labels)} labels; give one "
                             "label per noise vector.")
        self.progress = progress
        self.writer = writer
        self.every = every
        self.noise = noise
        self.labels = labels
        self.columns = columns
        self.sample_fn = sample_fn
        self._next = None

    def on_train_begin(self, logs=None):
        self._next = (self.progress.step // self.every + 1) * self.every

    def on_train_batch_end(self, batch, logs=None):
        if self.progress.nonfinite_step is not None or self.progress.step < self._next:
            return
        self.write(self.progress.step)
        self._next = (self.progress.step // self.every + 1) * self.every

    def write(self, step: int):
        samples = self.sample_fn(self.noise) if self.labels is None else self.sample_fn(self.noise, self.labels)
        images = keras.ops.convert_to_numpy(samples)
        with self.writer.as_default(step=step):
            tf.summary.image("samples", image_grid(images, self.columns), step=step)
        self.writer.flush()


class StepProfiler(keras.callbacks.Callback):
    """Records a TensorFlow profile of steps first..last (inclusive) into `logdir`."""

    def __init__(self, progress: RunProgress, logdir: str, first: int, last: int):
        super().__init__()
        self.progress = progress
        self.logdir = logdir
        self.first = first
        self.last = last
        self._active = False

    def on_train_batch_begin(self, batch, logs=None):
        next_step = self.progress.step + 1
        if not self._active and self.first <= next_step <= self.last:
            tf.profiler.experimental.start(self.logdir)
            self._active = True

    def on_train_batch_end(self, batch, logs=None):
        if self._active and self.progress.step >= self.last:
            self._stop()

    def on_train_end(self, logs=None):
        if self._active:
            self._stop()

    def _stop(self):
        tf.profiler.experimental.stop()
        self._active = False
        log.info("Profile of steps %d-%d written to %s.", self.first, self.last, self.logdir)
