"""The training runtime every app uses: `keras.Model.fit` with the app's own `train_step`.

`train(...)` takes an app's config dataclass, a `RuntimeConfig` and two
builders, and runs (or resumes) a training run in `run.model_dir`:

1. Checks the options, the dataset's labels for a class-conditional app
   (`check_dataset_labels`) and the model directory (a directory written by an
   incompatible configuration is refused, naming the differences) before any
   expensive work; `dry_run` prints the resolved configuration and returns.
2. Resolves `--precision=auto` for the hardware (`common.training.precision`),
   creates the tf.distribute strategy and seeds everything
   (`keras.utils.set_random_seed`).
3. Opens the dataset (a `DataError` surfaces here, before the model is built),
   builds the model and its optimizers under the strategy scope and the dtype
   policy (optimizers wrapped in `LossScaleOptimizer` for mixed_float16),
   compiles with `steps_per_execution` and `jit_compile` (XLA), and, by
   default, turns on deterministic ops (`tf.config.experimental.enable_op_determinism`;
   see `_compile` for how XLA and determinism go together).
4. Restores the newest readable checkpoint in the model directory (falling
   back past corrupt ones), or saves step 0 of a fresh run.
5. Calls `fit` with the dataset positioned at the restored step: the data
   pipeline is deterministic for a fixed seed, so `skip(step + data_offset)`
   batches gives exactly the batches an uninterrupted run would see next.
   Together with the restored weights, optimizer state, loss scale and noise
   RNG state this makes a resumed run produce the same losses as an
   uninterrupted one. A run in phases (``stages``, e.g. ProGAN's growth,
   `common.training.progressive`) runs one `fit` per phase, each with its own
   batch size and dataset positioned at the step within the phase; entering a
   phase lets the model switch networks and retraces the step.
6. Callbacks log every call to `metrics.jsonl`, print progress, write
   TensorBoard scalars, hparams and fixed-noise sample grids, checkpoint every
   `checkpoint_every` steps and on SIGINT/SIGTERM (after the step in
   progress; a train command abandons that step instead when no step has
   finished since the last checkpoint, see `_SignalTrap`), stop or roll back
   on a NaN/Inf loss, and optionally profile a step range.

Model protocol (see the team contract): `model.train_step(batch)` returns a
dict of Mean-tracker results; `model.compile(**optimizers, **compile_kwargs)`
builds each optimizer on the variables it trains (so a checkpoint can be
restored before the first step);
`model.metrics` lists the trackers; optional `model.latent_dim` and
`model.sample(z)` give TensorBoard samples (a class-conditional model, with
`num_classes`, samples with `model.sample(z, labels)`, one grid row per class;
see `common.models.conditional_protocol`). The runtime wraps the model's
`train_step` (on the instance, for the duration of `train`) to add three things
inside the compiled step: it resets the trackers at the start of every compiled
call (so logs are per step, or per call when `steps_per_execution` > 1, not
running means), it increments the step counter, and it records the first step
whose losses are not finite. Keras averages the returned values over replicas
(the mean of equal-sized per-replica means is the global-batch mean).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
from typing import Any, Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from common.training import callbacks as callbacks_lib
from common.training import checkpointing
from common.training import distribute
from common.models.conditional_protocol import is_conditional, prepare_sampling
from common.training import precision as precision_lib
from common.training.runtime_config import (
    AUTO_PRECISION,
    CONFIG_FILENAME,
    ConfigError,
    DEFAULT_STEPS,
    METRICS_FILENAME,
    RuntimeConfig,
    config_differences,
    field_defaults,
    normalized_data_path,
    read_saved_config,
    resolved_config,
    write_config,
)

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"
PROFILE_DIR = "profile"


class ConfigMismatchError(ConfigError):
    """The model directory was written by a configuration this run may not resume."""


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or Inf and the run stopped (or ran out of rollbacks)."""

    def __init__(self, message: str, step: int, last_good_step: int | None):
        super().__init__(message)
        self.step = step
        self.last_good_step = last_good_step


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint of the step reached was saved."""

    def __init__(self, signum: int, step: int):
        name = signal.Signals(signum).name
        super().__init__(f"{name} received: saved a checkpoint at step {step}. "
                         "Run the same command again to resume.")
        self.signum = signum
        self.step = step


@dataclasses.dataclass
class TrainResult:
    start_step: int
    step: int
    total_steps: int
    rollbacks: int
    last_logs: dict
    model: keras.Model
    model_dir: str


DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


def image_dataset_fn(run: RuntimeConfig, config: Any) -> DatasetFn:
    """Per-replica batches of `common.data.reader.load_dataset(run.data)`, shuffled with `run.seed`.

    Images are resized to the config's `image_size` and converted to its
    `channels` when the config has such fields.
    """
    from common.data import reader as data_lib

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        return data_lib.load_dataset(
            run.data,
            split="train",
            image_size=getattr(config, "image_size", None),
            channels=getattr(config, "channels", None),
            batch_size=input_context.get_per_replica_batch_size(run.batch_size),
            shuffle=True,
            repeat=True,
            seed=run.seed,
            input_context=input_context,
        )

    return dataset_fn


def _num_train_examples(data: str | None) -> int:
    from common.data import reader as data_lib

    info = data_lib.describe(data)
    counts = getattr(info, "num_examples", None) or {}
    if not counts.get("train"):
        raise ConfigError(f"Cannot use --epochs: the number of training examples of {data!r} is unknown; "
                         "pass --steps instead.")
    return int(counts["train"])


def total_steps(run: RuntimeConfig, num_examples: Callable[[], int] | None = None) -> int:
    """`run.steps`, or `run.epochs` passes over the training split, or DEFAULT_STEPS."""
    if run.steps is not None:
        return int(run.steps)
    if run.epochs is not None:
        examples = num_examples() if num_examples else _num_train_examples(run.data)
        return max(1, math.ceil(run.epochs * examples / run.batch_size))
    return DEFAULT_STEPS


def check_model_dir(model_dir: str, document: Mapping, model_defaults: Mapping | None = None) -> dict | None:
    """Raises ConfigMismatchError if `model_dir` may not be resumed with `document`; returns the saved config.

    `model_defaults`: the app config's field defaults, standing in for fields the saved config predates.
    """
    saved = read_saved_config(model_dir)
    if saved is None:
        if checkpointing.has_checkpoints(model_dir):
            raise ConfigMismatchError(
                f"{model_dir} holds checkpoints but no {CONFIG_FILENAME}, so the configuration that "
                "wrote them is unknown. Train into a new --model_dir."
            )
        return None
    differences = config_differences(saved, document, model_defaults)
    if differences:
        raise ConfigMismatchError(
            f"{model_dir} was written by a different configuration, which this run may not resume:\n  "
            + "\n  ".join(differences)
            + "\nPass the original values to resume, or choose a new --model_dir for a new run. "
            "Only these may change on resume: how long to train, intervals, strategy, "
            "steps_per_execution, jit_compile, on_nan, profiling."
        )
    return saved


def resolve_precision(run: RuntimeConfig, stream=None) -> RuntimeConfig:
    """`run` with `--precision=auto` replaced by a policy, printed with the reason; warns of a slow one.

    A model directory that holds a run keeps that run's precision (a resumed run
    must compute as it started, whatever this machine would pick).
    """
    stream = stream or sys.stdout
    if run.precision == AUTO_PRECISION:
        saved = read_saved_config(run.model_dir) if run.model_dir and os.path.isdir(run.model_dir) else None
        saved_precision = (saved or {}).get("runtime", {}).get("precision")
        if saved_precision and saved_precision != AUTO_PRECISION:
            run = run.replace(precision=saved_precision)
            reason = "the precision the run in --model_dir was started with"
        else:
            precision, reason = precision_lib.choose_precision()
            run = run.replace(precision=precision)
        if not run.dry_run:  # a dry run prints only the JSON document, which holds the choice
            print(f"Precision: {run.precision} (--precision=auto: {reason}).", file=stream, flush=True)
    warning = precision_lib.slow_precision_warning(run.precision)
    if warning:
        logging.warning(warning)
    return run


def _check_jit_compile(run: RuntimeConfig) -> None:
    """Refuses XLA together with deterministic ops on GPUs, where it cannot keep resume exact."""
    if not (run.jit_compile and run.deterministic):
        return
    if tf.config.list_logical_devices("GPU"):
        raise ConfigError(
            "--jit_compile with --deterministic (the default) is refused on GPUs: XLA's GPU autotuning and "
            "atomic reductions are not deterministic, so a resumed run would not reproduce the uninterrupted "
            "one. Pass --nojit_compile to keep exact resume, or --nodeterministic to train with XLA without it.")


def _refuse_nondeterministic_xla(run: RuntimeConfig, error: tf.errors.UnimplementedError) -> None:
    """Raises ConfigError when XLA could not compile the first step because an op has no deterministic kernel.

    Some gradients (max pooling's among them) have no deterministic XLA
    implementation; XLA says so when it compiles the step under op determinism,
    before any step has run.
    """
    message = str(error)
    if run.jit_compile and run.deterministic and "deterministic XLA implementation" in message:
        detail = next((line.strip() for line in message.splitlines() if "deterministic XLA" in line), message)
        raise ConfigError(
            f"--jit_compile with --deterministic (the default): XLA cannot compile this model's step with "
            f"deterministic ops ({detail}). Pass --nojit_compile to keep exact resume, or --nodeterministic "
            "to train with XLA without it.") from None


def _compile(model: keras.Model, optimizers: Mapping, run: RuntimeConfig) -> None:
    """Compiles the model with the run's options, then turns on deterministic ops if asked.

    Keras declines ``jit_compile=True`` (with only a warning) whenever op
    determinism is on, because not every op has a deterministic XLA kernel on
    GPUs. On the CPU an XLA program is compiled once into fixed kernels, so the
    same step on the same inputs gives the same bits, and a resumed run
    reproduces the uninterrupted one (tested). The model is therefore compiled
    with determinism off and it is turned on afterwards (`_check_jit_compile`
    refuses the combination on GPUs). A model that still cannot use XLA (a layer
    without XLA support) is refused rather than silently run without it.
    """
    from tensorflow.python.framework import config as tf_config  # disable_op_determinism has no public alias

    determinism_was_on = tf_config.is_op_determinism_enabled()
    if run.jit_compile and determinism_was_on:
        tf_config.disable_op_determinism()
    try:
        model.compile(**optimizers, steps_per_execution=run.steps_per_execution, jit_compile=run.jit_compile)
    finally:
        if run.deterministic or determinism_was_on:
            tf.config.experimental.enable_op_determinism()
    if run.jit_compile and not model.jit_compile:
        raise ConfigError(
            f"--jit_compile: {type(model).__name__} cannot be compiled with XLA (one of its layers does not "
            "support it). Train without --jit_compile.")


def _wrap_train_step(model: keras.Model, state: checkpointing.TrainingState, steps_per_execution: int):
    """Puts the runtime's bookkeeping around the model's train_step (see module docstring)."""
    inner = model.train_step
    multi_worker = isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy)
    replicas = model.distribute_strategy.num_replicas_in_sync

    def reset_trackers():
        for metric in model.metrics:
            metric.reset_state()
        return tf.constant(True)

    def train_step(batch):
        if steps_per_execution == 1:
            reset_trackers()
        else:
            tf.cond(tf.equal(state.step % steps_per_execution, 0), reset_trackers, lambda: tf.constant(False))
        logs = dict(inner(batch))
        values = [tf.cast(v, tf.float32) for v in tf.nest.flatten(logs) if tf.is_tensor(v) and v.dtype.is_floating]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in values]) if values else tf.constant(True)
        step = state.step.assign_add(1)
        first = state.first_nonfinite_step
        first.assign(tf.where(tf.logical_and(first < 0, tf.logical_not(finite)), step, first))
        logs[callbacks_lib.STEP_KEY] = tf.identity(step)
        if replicas > 1:
            # Keras averages step outputs over replicas: a step number would be averaged
            # too, so report whether this replica saw a non-finite value (mean > 0: some did).
            logs[callbacks_lib.NONFINITE_KEY] = tf.cast(first >= 0, tf.float32)
        else:
            logs[callbacks_lib.NONFINITE_KEY] = first.read_value()
        if multi_worker:
            # Keras reduces step outputs over workers with strategy.reduce(MEAN, axis=0),
            # which needs an axis: give every scalar one (the values are equal anyway).
            logs = {key: tf.reshape(value, [1]) if tf.is_tensor(value) and value.shape.rank == 0 else value
                    for key, value in logs.items()}
        return logs

    object.__setattr__(model, "train_step", train_step)
    # The model and its optimizers are built by now (`_check_built`). Keras'
    # symbolic build before fit would pull a batch from a fresh iterator (wasted work
    # after a long skip) and fails under MultiWorkerMirroredStrategy with dict batches.
    object.__setattr__(model, "_maybe_symbolic_build", lambda *args, **kwargs: None)
    model.train_function = None


def _unwrap_train_step(model: keras.Model):
    model.__dict__.pop("train_step", None)
    model.__dict__.pop("_maybe_symbolic_build", None)
    model.train_function = None


def _check_built(model: keras.Model, optimizers: Mapping[str, keras.optimizers.Optimizer]) -> None:
    """Checkpoints are matched against existing variables: everything must exist before restoring.

    Keras optimizers create their slots on first use, which under a distribution
    strategy happens inside the traced step and cannot be restored into, so the
    protocol asks `compile` to build each optimizer on the variables it trains
    (`optimizer.build(network.trainable_variables)`).
    """
    unbuilt = sorted(name for name, optimizer in optimizers.items() if not optimizer.built)
    if unbuilt:
        raise TypeError(
            f"{type(model).__name__}.compile() left the optimizers {', '.join(unbuilt)} unbuilt. Build each "
            "on the variables it trains inside compile(), e.g. "
            "`self.g_optimizer.build(self.generator.trainable_variables)`, so checkpoints can restore them.")
    if not model.built and all(layer.built for layer in model._flatten_layers(include_self=False)):
        # The networks are built; the wrapper model has no call() to build it with.
        model.built = True


def _fixed_noise(seed: int, count: int, latent_dim: int, distribution: str = "normal") -> np.ndarray:
    """`count` latents of the model's prior, N(0, I) or U[0, 1) ("uniform"), drawn with NumPy from `seed`."""
    return callbacks_lib.prior_noise(seed, count, latent_dim, distribution)


def _sample_writer(model: keras.Model, run: RuntimeConfig, progress: callbacks_lib.RunProgress,
                   writer) -> callbacks_lib.SampleWriter:
    """The TensorBoard sample grid of `model`, from fixed noise drawn with `run.seed`.

    The noise follows the model's prior (`model.latent_distribution`, "normal" when absent).
    Unconditional: `run.num_samples` noise vectors, ``model.sample(z, training=False)``.
    Class-conditional (`is_conditional(model)`): one row per class, all K classes
    when K <= 16, else 16 evenly spaced ones (also when K exceeds
    `run.num_samples`); max(1, run.num_samples // rows) columns, the same noise
    vector down each column; ``model.sample(z, labels, training=False)``
    (`callbacks.class_grid_inputs`).
    """
    latent_dim = int(model.latent_dim)
    distribution = getattr(model, "latent_distribution", "normal")

    def sample(*inputs):
        prepare_sampling(model)  # e.g. BigGAN's standing statistics for the current weights
        return model.sample(*inputs, training=False)

    if not is_conditional(model):
        return callbacks_lib.SampleWriter(
            progress, writer, every=run.sample_every,
            noise=_fixed_noise(run.seed, run.num_samples, latent_dim, distribution), sample_fn=sample)
    noise, labels, columns = callbacks_lib.class_grid_inputs(run.seed, run.num_samples, latent_dim,
                                                             int(model.num_classes), distribution=distribution)
    return callbacks_lib.SampleWriter(
        progress, writer, every=run.sample_every, noise=noise, labels=labels, columns=columns, sample_fn=sample)


LABELLED_DATASET_HELP = (
    "Build a dataset with labels with `python -m tfrecords.build`: a folder with one subfolder of images per "
    "class (--source=path/to/classes, e.g. cat/*.png and dog/*.png; add --kind=class_folders when the folder "
    "also holds images), an .npz with a `labels` array next to `images` (or the Keras layout x_train, y_train, "
    "x_test, y_test), or MNIST idx files with their labels (a folder of the four files, or "
    "--labels=train-labels-idx1-ubyte.gz with an idx --source); --label_names=a,b,c (or --label_names_file) "
    "names the classes of an npz or idx source. Without --data the default digits dataset (10 classes) is "
    "used. See tfrecords/README.md.")


def check_dataset_labels(run: RuntimeConfig, config: Any) -> None:
    """Raises ConfigError when a class-conditional app's dataset cannot give it its classes.

    For a conditional app config (`is_conditional(config)`: it has `num_classes`),
    `common.data.reader.describe(run.data)` must report labels, and when the
    manifest names them, exactly `config.num_classes` of them. Reads only the
    manifest (one record per shard of a glob), so it runs before any network is
    built or any image read. `tfds:` datasets are not described here; their
    loader reports a missing `label` feature.
    """
    if not is_conditional(config):
        return
    from common.data import reader as data_lib

    data = run.data
    if isinstance(data, str) and data.startswith("tfds:"):
        return
    num_classes = int(config.num_classes)
    where = "the default dataset" if data is None else repr(data)
    info = data_lib.describe(data)
    if not info.has_labels:
        raise ConfigError(
            f"This app is class-conditional (--num_classes={num_classes}): it trains on images with class labels, "
            f"but {where} has none. {LABELLED_DATASET_HELP}")
    if info.labels and len(info.labels) != num_classes:
        shown = ", ".join(str(name) for name in info.labels[:10]) + (", ..." if len(info.labels) > 10 else "")
        raise ConfigError(
            f"--num_classes={num_classes}, but {where} has {len(info.labels)} classes ({shown}). Pass "
            f"--num_classes={len(info.labels)} to train on every class of this dataset.")


def _hparams(document: Mapping) -> dict:
    flat = {}
    for section in ("model", "runtime"):
        for key, value in document.get(section, {}).items():
            if value is None:
                continue
            if isinstance(value, (list, tuple, dict)):
                value = json.dumps(value)
            flat[f"{section}.{key}"] = value
    return flat


class _SignalTrap:
    """SIGINT/SIGTERM set `progress.signal`; a second one interrupts immediately.

    With `exit_now` (a train command, which ends its process after a signal),
    a signal that comes while no step has finished since the last checkpoint
    calls `exit_now(signum, step)` at once instead: nothing would be saved, so
    the step in progress is abandoned. The first step after a start or a
    checkpoint is such a step, and the first step of a process is the longest
    one: Keras traces the training step (Python), then TensorFlow optimizes
    and runs the graph (C++, one call). Python runs a signal handler only
    between bytecodes of the main thread, so a signal during that C++ call
    would wait for its end; the signal is therefore also read by a watcher
    thread from Python's wakeup file descriptor (`signal.set_wakeup_fd`),
    which the C-level handler writes to at once whatever the main thread does.

    `allow_exit` (the runtime, before fit; `_UnsavedStepMarker`, at the start
    of a step right after a checkpoint, once the TensorBoard writer is flushed)
    and `forbid_exit` (at the end of every step) say when nothing is unsaved.
    """

    def __init__(self, progress: callbacks_lib.RunProgress, checkpointer=None, *,
                 exit_now: Callable[[int, int], None] | None = None):
        self.progress = progress
        self.checkpointer = checkpointer
        self.exit_now = exit_now
        self.previous = {}
        self._nothing_unsaved = False
        self._lock = threading.RLock()
        self._sockets = None
        self._previous_wakeup_fd = None
        self._watcher = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self._handle)
            if self.exit_now is not None:
                self._start_watcher()
        return self

    def _start_watcher(self):
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        try:
            self._previous_wakeup_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):
            reader.close()
            writer.close()
            return
        self._sockets = (reader, writer)
        self._watcher = threading.Thread(target=self._watch, args=(reader,), name="signal-watcher", daemon=True)
        self._watcher.start()

    def _watch(self, reader):
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:  # the trap was left
                return
            for signum in data:
                if signum in (signal.SIGINT, signal.SIGTERM):
                    self._exit_if_nothing_unsaved(signum)

    def allow_exit(self):
        """Nothing is unsaved: the last checkpoint is at `progress.step` and every log line is written.

        A signal already received ends the process now."""
        if self.exit_now is None:
            return
        with self._lock:
            self._nothing_unsaved = True
            if self.progress.signal is not None:
                self._exit_if_nothing_unsaved(self.progress.signal)

    def forbid_exit(self):
        """A step finished: a signal now saves a checkpoint after the step, as usual."""
        with self._lock:
            self._nothing_unsaved = False

    def _exit_if_nothing_unsaved(self, signum):
        with self._lock:
            if self._nothing_unsaved and self.exit_now is not None:
                self.exit_now(signum, self.progress.step)

    def _handle(self, signum, frame):
        if self.progress.signal is not None:
            signal.signal(signum, self.previous.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        self._exit_if_nothing_unsaved(signum)
        self.progress.signal = signum
        print(f"\n{signal.Signals(signum).name} received: saving a checkpoint after the current step "
              "(send it again to quit without saving).", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        self.forbid_exit()
        if self._sockets is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            reader, writer = self._sockets
            writer.close()  # the watcher's recv returns b"" and the thread ends
            self._watcher.join(timeout=5)
            reader.close()
            self._sockets = None
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False


class _UnsavedStepMarker(keras.callbacks.Callback):
    """Tells the `_SignalTrap` when a step in progress holds the only unsaved work (runs first).

    At the start of a step right after a checkpoint it flushes the TensorBoard
    writer, so that abandoning the step loses nothing, and allows an immediate
    exit; at the end of every step it forbids one until the next checkpoint.
    """

    def __init__(self, trap: _SignalTrap, writer):
        super().__init__()
        self.trap = trap
        self.writer = writer
        self._flushed_step = None

    def on_train_batch_begin(self, batch, logs=None):
        checkpointer = self.trap.checkpointer
        step = self.trap.progress.step
        if self.trap.exit_now is None or checkpointer is None or checkpointer.last_saved_step != step:
            return
        if self.writer is not None and self._flushed_step != step:
            self.writer.flush()
            self._flushed_step = step
        self.trap.allow_exit()

    def on_train_batch_end(self, batch, logs=None):
        self.trap.forbid_exit()


def _exit_unsaved_step(signum: int, step: int) -> None:
    """Ends the process after a signal that came while no step had finished since the checkpoint of `step`."""
    print(f"\n{signal.Signals(signum).name} received during step {step + 1}, before it finished: nothing to save "
          f"(the checkpoint of step {step} holds every finished step). Run the same command again to resume.",
          file=sys.stderr, flush=True)
    _exit_now(128 + signum)


def train(
    *,
    app: str,
    config: Any,
    run: RuntimeConfig,
    build_model: Callable[[Any], keras.Model],
    build_optimizers: Callable[[Any], Mapping[str, keras.optimizers.Optimizer]],
    dataset_fn: DatasetFn | None = None,
    num_examples: Callable[[], int] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
    stages: Any = None,
    stream=None,
) -> TrainResult | None:
    """Trains `build_model(config)` (or resumes it) as described in the module docstring.

    Args:
      app: app name, stored in config.json; a model directory of another app is refused.
      config: the app's frozen config dataclass (all of its fields are incompatible on resume).
      run: runtime options.
      build_model: config -> uncompiled keras.Model following the model protocol.
      build_optimizers: config -> {compile keyword: optimizer}, e.g.
        {"g_optimizer": Adam(...), "d_optimizer": Adam(...)}.
      dataset_fn: InputContext -> deterministic, repeated dataset of per-replica batches.
        Default: `image_dataset_fn(run, config)` (common.data.reader.load_dataset).
      num_examples: size of the training split for --epochs when `dataset_fn` is given.
      strategy: an already created strategy to use instead of `run.strategy`.
      extra_callbacks: more Keras callbacks, run after the runtime's.
      stages: a run in phases (`common.training.progressive.ProgressiveSchedule`: ``phase_at(step)``,
        ``next_boundary(step)``, ``phases``, ``total_steps``, ``dataset_fn(phase)``, ``enter(model, phase)``).
        Each phase has its own batch size and dataset (positioned at the step within the phase) and is run
        as one `fit` per part (its parts end at ``next_boundary``); ``enter`` is called before every `fit`
        (the model switches networks, or acts at the start of a part, e.g. ProGAN's optimizer reset), and a
        new phase retraces the train step. The default number of steps is the
        schedule's `total_steps`; `dataset_fn`, when given, is the first phase's (it is opened first).
      stream: where progress lines go (default stdout).

    Returns:
      A TrainResult, or None for a dry run.

    Raises:
      ConfigError (bad options), ConfigMismatchError, common.data.reader.DataError,
      NonFiniteLossError, TrainingInterrupted (after saving a checkpoint),
      checkpointing.CheckpointError (no checkpoint can be restored),
      checkpointing.CheckpointWriteError (a checkpoint could not be written).
    """
    stream = stream or sys.stdout
    run = run.replace(data=normalized_data_path(run.data)).validate()
    if not run.model_dir and not run.dry_run:
        raise ConfigError("--model_dir is required: the directory for checkpoints, logs and config.json.")
    check_dataset_labels(run, config)
    run = resolve_precision(run, stream)
    document = resolved_config(app, config, run)
    if run.dry_run:
        print(json.dumps(document, indent=2, sort_keys=True), file=stream, flush=True)
        if run.model_dir and os.path.isdir(run.model_dir):
            check_model_dir(run.model_dir, document, field_defaults(config))
            if checkpointing.has_checkpoints(run.model_dir):
                latest = checkpointing.list_checkpoints(run.model_dir)
                if latest:
                    print(f"Would resume {run.model_dir} from step {checkpointing.checkpoint_step(latest[-1])}.",
                          file=stream, flush=True)
        return None
    model_dir = run.model_dir
    if os.path.isdir(model_dir):
        check_model_dir(model_dir, document, field_defaults(config))

    strategy = strategy or distribute.make_strategy(run.strategy, run.devices)
    chief = distribute.is_chief(strategy)
    distribute.per_replica_batch_size(run.batch_size, strategy)
    if stages is not None:
        if run.epochs is not None:
            raise ConfigError("--epochs does not apply to a run in phases of different batch sizes: pass --steps, "
                              "or leave both unset to train the whole schedule.")
        for phase in stages.phases:
            distribute.per_replica_batch_size(phase.batch_size, strategy)
        steps = int(run.steps) if run.steps is not None else int(stages.total_steps)
        dataset_fn = dataset_fn or stages.dataset_fn(stages.phases[0])
    else:
        steps = total_steps(run, num_examples)

    keras.utils.set_random_seed(run.seed)
    _check_jit_compile(run)

    dataset_fn = dataset_fn or image_dataset_fn(run, config)
    # Opening the data first surfaces DataError before any model is built.
    probe_context = tf.distribute.InputContext(
        num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=strategy.num_replicas_in_sync)
    dataset_fn(probe_context)

    progress = callbacks_lib.RunProgress(0, steps, run.batch_size)
    writer = None
    with precision_lib.dtype_policy(run.precision):
        with strategy.scope():
            model = build_model(config)
            optimizers = {name: precision_lib.wrap_optimizer(opt, run.precision)
                          for name, opt in build_optimizers(config).items()}
            _compile(model, optimizers, run)
            state = checkpointing.TrainingState()
        _check_built(model, optimizers)
        if run.jit_compile:
            print("XLA: the training step is compiled with jit_compile=True.", file=stream, flush=True)
        os.makedirs(model_dir, exist_ok=True)
        if chief:
            write_config(model_dir, document)
        checkpointer = checkpointing.Checkpointer(
            lambda: checkpointing.training_checkpoint(model, optimizers, state),
            distribute.checkpoint_dir(model_dir, strategy),
            max_to_keep=run.keep_checkpoints,
            quarantine=chief,
            restore_directory=model_dir,
        )
        restored = checkpointer.restore()
        start_step = int(state.step.numpy())
        if restored is None:
            checkpointer.save(0)
            started = f"Training {app} for {steps} steps into {model_dir}."
        else:
            started = f"Resuming {app} from {os.path.basename(restored)} (step {start_step} of {steps})."
        if start_step >= steps:
            print(started, file=stream, flush=True)
            print(f"Nothing to do: already trained for {start_step} steps (--steps={steps}).",
                  file=stream, flush=True)
            return TrainResult(start_step, start_step, steps, 0, {}, model, model_dir)

        progress.start_step = progress.step = start_step
        if chief:
            writer = tf.summary.create_file_writer(os.path.join(model_dir, TENSORBOARD_DIR))
            if restored is None:
                from tensorboard.plugins.hparams import api as hparams_api

                with writer.as_default():
                    hparams_api.hparams(_hparams(document), trial_id=os.path.basename(os.path.abspath(model_dir)))

        # A command (which ends its process after a signal) also ends it at once when a signal comes
        # while no step has finished since the last checkpoint: there is nothing to save then.
        single_process = distribute.task(strategy)[0] is None
        trap = _SignalTrap(progress, checkpointer,
                           exit_now=_exit_unsaved_step if _END_PROCESS_AFTER_SIGNAL and single_process else None)
        callbacks = [
            _UnsavedStepMarker(trap, writer),
            callbacks_lib.StepCounter(progress),
            callbacks_lib.NonFiniteGuard(progress, replicas=strategy.num_replicas_in_sync,
                                         steps_per_execution=run.steps_per_execution),
            callbacks_lib.MetricsLogger(
                progress, log_every=run.log_every,
                metrics_path=os.path.join(model_dir, METRICS_FILENAME) if chief else None,
                writer=writer, optimizers=optimizers, stream=stream if chief else None),
        ]
        sampler = None
        if chief and run.sample_every and hasattr(model, "sample") and getattr(model, "latent_dim", None):
            sampler = _sample_writer(model, run, progress, writer)
            callbacks.append(sampler)
        if run.profile_range() and chief:
            first, last = run.profile_range()
            callbacks.append(callbacks_lib.StepProfiler(progress, os.path.join(model_dir, PROFILE_DIR), first, last))
        callbacks.extend(extra_callbacks or [])
        # Last, so that a signal arriving during any callback of a step (an evaluation, a
        # sample grid) is still saved at that step rather than after one more.
        callbacks.append(callbacks_lib.PeriodicCheckpoint(progress, checkpointer.save, every=run.checkpoint_every))

        rollbacks = 0
        current_phase = None
        _wrap_train_step(model, state, run.steps_per_execution)
        try:
            with trap:
                print(started, file=stream, flush=True)
                if writer is not None:
                    writer.flush()  # the hparams: nothing written is left in a buffer
                trap.allow_exit()
                while progress.step < steps:
                    fit_start_step = progress.step
                    offset = int(state.data_offset.numpy())
                    fit_end_step, fit_dataset_fn, position = steps, dataset_fn, fit_start_step + offset
                    if stages is not None:  # one fit per phase, its dataset positioned within the phase
                        phase = stages.phase_at(fit_start_step)
                        boundary = stages.next_boundary(fit_start_step)  # a phase's end, or a part's in it
                        if boundary is not None:
                            fit_end_step = min(steps, boundary)
                        fit_dataset_fn = stages.dataset_fn(phase)
                        position = fit_start_step - phase.start_step + offset
                        stages.enter(model, phase)  # before every fit: a part may start here (or a rollback)
                        if phase != current_phase:
                            model.train_function = None  # a new trace for the phase's networks
                            progress.global_batch_size = phase.batch_size
                            current_phase = phase
                    try:
                        model.fit(
                            _distributed_dataset(strategy, fit_dataset_fn, position),
                            epochs=1, steps_per_epoch=fit_end_step - fit_start_step, verbose=0, callbacks=callbacks,
                            shuffle=False,
                        )
                    except tf.errors.UnimplementedError as error:
                        _refuse_nondeterministic_xla(run, error)
                        raise
                    if progress.signal is not None:
                        raise TrainingInterrupted(progress.signal, progress.step)
                    if progress.nonfinite_step is None:
                        if progress.step < fit_end_step:
                            break  # fit stopped early (e.g. a finite dataset ran out)
                        continue  # the run's end (the loop ends) or a phase's (the next one starts)
                    bad_step, bad_logs = progress.nonfinite_step, progress.nonfinite_logs
                    first_possible = progress.nonfinite_first_possible_step
                    where = f"step {bad_step}" if first_possible == bad_step else f"steps {first_possible}-{bad_step}"
                    last_good = checkpointer.last_saved_step
                    shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted((bad_logs or {}).items()))
                    if run.on_nan != "rollback" or rollbacks >= run.max_rollbacks:
                        reason = ("" if run.on_nan != "rollback"
                                  else f" after {rollbacks} rollbacks (--max_rollbacks={run.max_rollbacks})")
                        raise NonFiniteLossError(
                            f"Non-finite loss at {where} ({shown}); stopped{reason}. The last good "
                            f"checkpoint is step {last_good} in {model_dir} (nothing later was saved). "
                            "Lower the learning rate, check the data, try --precision=float32, or pass "
                            "--on_nan=rollback to restore it and continue with the next batches.",
                            bad_step, last_good)
                    # Roll back: restore the last good checkpoint, and skip every batch
                    # already consumed so the retried steps see new data.
                    consumed_until = progress.step + offset
                    checkpointer.restore()
                    restored_step = int(state.step.numpy())
                    rollbacks += 1
                    state.data_offset.assign(consumed_until - restored_step)
                    state.rollbacks.assign_add(1)
                    state.first_nonfinite_step.assign(-1)
                    print(f"Non-finite loss at {where} ({shown}); rolled back to step {restored_step} "
                          f"(rollback {rollbacks} of at most {run.max_rollbacks}).", file=stream, flush=True)
                    if writer is not None:
                        with writer.as_default(step=bad_step):
                            tf.summary.scalar("rollbacks", rollbacks)
                    progress.step = restored_step
                    progress.nonfinite_step = progress.nonfinite_logs = None
                    progress.nonfinite_first_possible_step = None
                if checkpointer.last_saved_step != progress.step:
                    checkpointer.save(progress.step)
                if sampler is not None:
                    sampler.write(progress.step)
        finally:
            _unwrap_train_step(model)
            if writer is not None:
                writer.close()
            if not chief:
                _remove_worker_dir(model_dir, strategy)
    return TrainResult(start_step, progress.step, steps, rollbacks, progress.public(progress.last_logs),
                       model, model_dir)


def _distributed_dataset(strategy, dataset_fn: DatasetFn, position: int):
    """The distributed dataset started `position` global steps in."""

    def replica_dataset(input_context: tf.distribute.InputContext):
        dataset = dataset_fn(input_context)
        per_pipeline = input_context.num_replicas_in_sync // input_context.num_input_pipelines
        if position:
            dataset = dataset.skip(position * per_pipeline)
        return dataset

    return strategy.distribute_datasets_from_function(replica_dataset)


def _remove_worker_dir(model_dir: str, strategy) -> None:
    import shutil

    directory = distribute.checkpoint_dir(model_dir, strategy)
    if os.path.abspath(directory) != os.path.abspath(model_dir):
        shutil.rmtree(directory, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(directory))  # the shared "workers" folder, once empty
        except OSError:
            pass


def restore_for_inference(model_dir: str, build_model: Callable[[Mapping], keras.Model],
                          model_defaults: Mapping | None = None) -> keras.Model:
    """Builds the model from `model_dir/config.json` and loads the newest readable checkpoint.

    Args:
      model_dir: a training run's directory.
      build_model: the "model" section of config.json (a dict of the app's config
        fields) -> uncompiled model. It is built under the float32 policy: the
        variables of a mixed-precision run are float32 too.
      model_defaults: values for the model fields config.json lacks (a run
        written before the field existed), normally
        `runtime_config.field_defaults(config_class)`, so that such a run is
        rebuilt as it was trained (`VALUES_BEFORE_FIELD`) rather than with
        today's default. Fields config.json has always win.

    Raises:
      FileNotFoundError when the directory has no config.json or no checkpoint;
      checkpointing.CheckpointError when no checkpoint can be read or fits the model.
    """
    return restore_for_inference_with_path(model_dir, build_model, model_defaults)[0]


def restore_for_inference_with_path(model_dir: str, build_model: Callable[[Mapping], keras.Model],
                                    model_defaults: Mapping | None = None):
    """`restore_for_inference`, also returning the restored checkpoint's path."""
    saved = read_saved_config(model_dir)
    if saved is None:
        raise FileNotFoundError(f"{model_dir} has no {CONFIG_FILENAME}; pass the --model_dir of a training run.")
    with precision_lib.dtype_policy("float32"):
        model = build_model({**(model_defaults or {}), **saved["model"]})
    path = checkpointing.restore_latest(
        lambda: checkpointing.inference_checkpoint(model), model_dir, partial=True, quarantine=False)
    if path is None:
        raise FileNotFoundError(f"{model_dir} has no checkpoint yet; train first.")
    log.info("Restored %s.", path)
    return model, path


def restore_app_for_inference(model_dir: str, config_class: type, build_model: Callable[[Any], keras.Model]):
    """An app's model and checkpoint path, `restore_for_inference_with_path` built from its config class.

    The model section of config.json becomes ``config_class(**fields)``; fields
    it lacks take the values they had before they existed
    (`runtime_config.field_defaults`, which honours ``VALUES_BEFORE_FIELD``).

    Raises:
      ConfigError when config.json has fields `config_class` does not know (another app's run).
    """
    try:
        return restore_for_inference_with_path(
            model_dir, lambda fields: build_model(config_class(**fields)), field_defaults(config_class))
    except TypeError as error:  # config.json fields unknown to this config class
        raise ConfigError(f"{model_dir}/config.json does not fit {config_class.__name__}: {error}") from None


def _exit_now(status: int) -> None:
    """Ends the process with `status` at once, without the interpreter's teardown.

    Used after SIGINT/SIGTERM, when the checkpoint is saved and `train` has
    closed the metrics log and the TensorBoard writers. The teardown would then
    only free memory, yet it took 30-60 s on a loaded CPU: destroying the
    training iterator waits for tf.data's background threads, and the garbage
    collector finalizes every traced function. Preemptible machines allow about
    30 s from SIGTERM to exit in all.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(status)


# Whether the running command ends its process after SIGINT/SIGTERM (`exit_on_user_error`).
_END_PROCESS_AFTER_SIGNAL = False


@contextlib.contextmanager
def exit_on_user_error(*, end_process_after_signal: bool = False):
    """For a script's main(): errors a user can fix end the process with their message, no traceback.

    Exit codes: 2 for a bad option, data set or model directory (including one
    whose checkpoints cannot be read or do not fit the model); 1 for a
    non-finite loss or a checkpoint that could not be written; 128 + signal
    number after SIGINT/SIGTERM (a checkpoint was saved). With
    `end_process_after_signal` (the train commands) the process then ends at
    once (`_exit_now`) instead of raising SystemExit, which callers in the same
    process (tests, notebooks) can catch; and `train` ends it right when a
    signal comes during a step that follows the last checkpoint (no step
    finished since, so nothing is saved; see `_SignalTrap`), without waiting
    for that step.
    """
    from common.data.reader import DataError, corrupt_file_message

    global _END_PROCESS_AFTER_SIGNAL
    outer = _END_PROCESS_AFTER_SIGNAL
    _END_PROCESS_AFTER_SIGNAL = outer or end_process_after_signal
    try:
        yield
    except TrainingInterrupted as interrupted:
        print(interrupted, file=sys.stderr, flush=True)
        if end_process_after_signal:
            _exit_now(128 + interrupted.signum)
        sys.exit(128 + interrupted.signum)
    except (ConfigError, DataError, FileNotFoundError, checkpointing.CheckpointError) as error:
        print(f"Error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    except tf.errors.InvalidArgumentError as error:
        message = corrupt_file_message(error)  # a dataset file damaged since the run started
        if message is None:
            raise
        print(f"Error: {message}", file=sys.stderr, flush=True)
        sys.exit(2)
    except (NonFiniteLossError, checkpointing.CheckpointWriteError) as error:
        print(f"Error: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
    finally:
        _END_PROCESS_AFTER_SIGNAL = outer
