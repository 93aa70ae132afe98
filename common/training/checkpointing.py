"""Checkpoints of a whole training run, with a fallback past corrupt files.

A training checkpoint (`tf.train.Checkpoint`, managed by
`tf.train.CheckpointManager`, files `ckpt-<step>.*` in the model directory) holds:

- `model`: every variable of the app's model, `model.variables`, in order:
  generator and discriminator weights, batch-norm statistics, EMA weights and
  every `keras.random.SeedGenerator` state the model tracks (its noise RNG);
- one entry per optimizer (as passed to `model.compile`): `optimizer.variables`,
  which include the iteration count, the moment estimates, and for a
  `LossScaleOptimizer` the dynamic loss scale and its step counter;
- `state`: the runtime's step counter, the data offset (how many batches were
  skipped by rollbacks; the data position is `step + data_offset` batches into
  a deterministic dataset) and the number of rollbacks.

Variables are matched by their position in those lists, not by name: Keras
numbers automatically named layers per process (`dense_3`), so names differ
between two builds of the same model, while the order of `model.variables`
follows the code and does not. Shapes are checked on restore.

Restoring walks the checkpoints from newest to oldest; one that cannot be read
(a truncated `.data` file, a missing index) is moved into `corrupt/` with a
warning, and the previous one is used.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
from typing import Mapping

import keras
import tensorflow as tf

CHECKPOINT_PREFIX = "ckpt"
CORRUPT_DIR = "corrupt"

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """No checkpoint in a model directory could be restored."""


class TrainingState(tf.Module):
    """Counters of the runtime that live in checkpoints.

    `step` counts completed training steps and is incremented inside the
    compiled step; `first_nonfinite_step` is the first step whose losses were
    not finite on this replica (-1: none). Both are per-replica (ON_READ)
    variables, so updating them needs no cross-replica communication; every
    replica counts the same steps, and reads return the first replica's values.
    `data_offset` and `rollbacks` change only between calls of fit.
    """

    def __init__(self):
        super().__init__(name="training_state")

        def counter(name, initial=0, synchronized=True):
            kwargs = {}
            if synchronized:
                kwargs = dict(
                    synchronization=tf.VariableSynchronization.ON_READ,
                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
                )
            return tf.Variable(tf.constant(initial, tf.int64), trainable=False, name=name, **kwargs)

        self.step = counter("step")
        self.first_nonfinite_step = counter("first_nonfinite_step", -1)
        self.data_offset = counter("data_offset", synchronized=False)
        self.rollbacks = counter("rollbacks", synchronized=False)


def training_checkpoint(
    model: keras.Model, optimizers: Mapping[str, keras.optimizers.Optimizer], state: TrainingState | None
) -> tf.train.Checkpoint:
    """The checkpoint object of a training run (see the module docstring for its content).

    Every optimizer must be built (its variables created) before this call.
    """
    for name, optimizer in optimizers.items():
        if not optimizer.built:
            raise ValueError(f"Optimizer {name!r} is not built yet; build it before creating the checkpoint.")
    children = {"model": list(model.variables)}
    for name, optimizer in optimizers.items():
        children[name] = list(optimizer.variables)
    if state is not None:
        children["state"] = {
            "step": state.step,
            "data_offset": state.data_offset,
            "rollbacks": state.rollbacks,
        }
    return tf.train.Checkpoint(**children)


def inference_checkpoint(model: keras.Model) -> tf.train.Checkpoint:
    """The part of a training checkpoint that holds the model's variables only."""
    return tf.train.Checkpoint(model=list(model.variables))


def checkpoint_step(path: str) -> int:
    """The step number in a `.../ckpt-<step>` path."""
    return int(os.path.basename(path).rsplit("-", 1)[1])


def list_checkpoints(directory: str) -> list[str]:
    """Checkpoint prefixes in `directory`, oldest first, as recorded by the manager's state file."""
    state = tf.train.get_checkpoint_state(directory)
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    resolved = []
    for path in paths:
        if not os.path.isabs(path):
            path = os.path.join(directory, path)
        resolved.append(path)
    return sorted(set(resolved), key=checkpoint_step)


def has_checkpoints(directory: str) -> bool:
    return bool(glob.glob(os.path.join(directory, f"{CHECKPOINT_PREFIX}-*.index")))


def _quarantine(path: str, reason: str) -> None:
    directory = os.path.dirname(path)
    target = os.path.join(directory, CORRUPT_DIR)
    os.makedirs(target, exist_ok=True)
    for file in glob.glob(path + ".*"):
        shutil.move(file, os.path.join(target, os.path.basename(file)))
    log.warning("Checkpoint %s could not be read (%s); moved it to %s/ and using the previous one.",
                path, reason.splitlines()[0][:300], target)


def _drop_from_state_file(directory: str, path: str) -> None:
    """Removes `path` from the CheckpointManager state file, keeping the others and their timestamps."""
    from google.protobuf import text_format

    state = tf.train.get_checkpoint_state(directory)
    if state is None:
        return
    name = os.path.basename(path)
    kept = [(p, t) for p, t in zip(state.all_model_checkpoint_paths,
                                    list(state.all_model_checkpoint_timestamps)
                                    or [0.0] * len(state.all_model_checkpoint_paths))
            if os.path.basename(p) != name]
    state_file = os.path.join(directory, "checkpoint")
    if not kept:
        os.remove(state_file)
        return
    del state.all_model_checkpoint_paths[:]
    del state.all_model_checkpoint_timestamps[:]
    for kept_path, timestamp in kept:
        state.all_model_checkpoint_paths.append(kept_path)
        state.all_model_checkpoint_timestamps.append(timestamp)
    state.model_checkpoint_path = kept[-1][0]
    with open(state_file + ".tmp", "w") as f:
        f.write(text_format.MessageToString(state))
    os.replace(state_file + ".tmp", state_file)


def restore_latest(checkpoint: tf.train.Checkpoint, directory: str, *, partial: bool = False,
                   quarantine: bool = True) -> str | None:
    """Restores the newest readable checkpoint in `directory`; returns its path, None if there is none.

    Unreadable checkpoints are skipped with a warning (and, with `quarantine`,
    moved to `corrupt/` and dropped from the state file). `partial=True` allows
    the checkpoint to hold more than `checkpoint` asks for (inference restores).
    Raises CheckpointError when checkpoints exist but none can be restored.
    """
    paths = list_checkpoints(directory)
    if not paths and has_checkpoints(directory):
        paths = sorted(
            (p[: -len(".index")] for p in glob.glob(os.path.join(directory, f"{CHECKPOINT_PREFIX}-*.index"))),
            key=checkpoint_step,
        )
    failures = []
    while paths:
        path = paths[-1]
        try:
            status = checkpoint.restore(path)
            if partial:
                status.expect_partial()
                status.assert_existing_objects_matched()
            else:
                status.assert_consumed()
            return path
        except (tf.errors.OpError, IndexError) as error:  # unreadable: truncated, missing, bad checksum
            failures.append(f"{os.path.basename(path)}: {str(error).splitlines()[0][:300]}")
            paths.pop()
            if quarantine:
                _quarantine(path, str(error))
                _drop_from_state_file(directory, path)
            else:
                log.warning("Checkpoint %s could not be read (%s); trying the previous one.",
                            path, str(error).splitlines()[0][:300])
        except (ValueError, AssertionError) as error:  # readable, but written by a different model
            raise CheckpointError(
                f"Checkpoint {path} does not fit the model built now ({str(error).splitlines()[0][:500]}). "
                "The network code or its configuration changed since it was written: train into a new "
                "--model_dir, or restore the code that wrote it."
            ) from error
    if failures:
        raise CheckpointError(
            f"No checkpoint in {directory} could be restored: {'; '.join(failures)}. "
            "Start a new run with another --model_dir."
        )
    return None


class Checkpointer:
    """Saves training checkpoints every so many steps into one directory and restores the newest."""

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, *, max_to_keep: int = 3,
                 quarantine: bool = True, restore_directory: str | None = None):
        self.checkpoint = checkpoint
        self.directory = directory
        self.restore_directory = restore_directory or directory
        self.max_to_keep = max_to_keep
        self.quarantine = quarantine
        self.last_saved_step: int | None = None
        self._manager = None

    @property
    def manager(self) -> tf.train.CheckpointManager:
        if self._manager is None:
            self._manager = tf.train.CheckpointManager(
                self.checkpoint, self.directory, max_to_keep=self.max_to_keep,
                checkpoint_name=CHECKPOINT_PREFIX,
            )
        return self._manager

    def restore(self) -> str | None:
        """Restores the newest readable checkpoint; returns its path or None (fresh start)."""
        path = restore_latest(self.checkpoint, self.restore_directory, quarantine=self.quarantine)
        self._manager = None  # re-read the state file, which a fallback may have rewritten
        if path is not None:
            self.last_saved_step = checkpoint_step(path)
        return path

    def save(self, step: int) -> str:
        path = self.manager.save(checkpoint_number=step)
        self.last_saved_step = step
        return path
