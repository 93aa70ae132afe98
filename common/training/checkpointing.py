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

Restoring walks the checkpoints from newest to oldest (those the manager's
`checkpoint` state file lists and those on disk it does not), each attempt
through a new `tf.train.Checkpoint` object, so one failed attempt cannot change
what the next one reads. A checkpoint whose files do not read back (a truncated
or bit-flipped `.data` file, a damaged or missing index) is skipped with a
warning; once an older one is restored, the skipped ones are moved into
`corrupt/` and the state file is rewritten to list what is left. A missing or
unparsable state file is rebuilt from the checkpoints on disk. When no
checkpoint can be read, nothing is moved and the error lists every file and
what was wrong with it.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
from typing import Callable, Mapping

import keras
import tensorflow as tf

CHECKPOINT_PREFIX = "ckpt"
CORRUPT_DIR = "corrupt"
STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's list of checkpoints

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """The checkpoints of a model directory cannot be used: none can be read, or they do not fit the model."""


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (for example, the disk is full); the earlier ones are intact."""


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


def _read_state_file(directory: str):
    """The manager's `checkpoint` state file as a CheckpointState; None if it is missing or unreadable."""
    if not os.path.exists(os.path.join(directory, STATE_FILE)):
        return None
    try:
        return tf.train.get_checkpoint_state(directory)
    except Exception as error:  # noqa: BLE001  (an empty file raises ValueError, binary garbage UnicodeDecodeError)
        log.warning("The checkpoint state file %s cannot be parsed (%s).",
                    os.path.join(directory, STATE_FILE), str(error).splitlines()[0][:200] if str(error) else
                    type(error).__name__)
        return None


def _checkpoints_on_disk(directory: str) -> list[str]:
    """Prefixes of the `ckpt-<step>.index` files in `directory`, oldest first."""
    prefixes = []
    for index in glob.glob(os.path.join(glob.escape(directory), f"{CHECKPOINT_PREFIX}-*.index")):
        prefix = index[: -len(".index")]
        if os.path.basename(prefix)[len(CHECKPOINT_PREFIX) + 1:].isdigit():
            prefixes.append(prefix)
    return sorted(prefixes, key=checkpoint_step)


def list_checkpoints(directory: str) -> list[str]:
    """Checkpoint prefixes in `directory`, oldest first.

    The manager's state file lists them; checkpoints on disk that it does not
    list (a process killed between writing a checkpoint and updating the state
    file, or a missing or corrupt state file) are included too.
    """
    directory = os.fspath(directory)
    state = _read_state_file(directory)
    resolved = set()
    if state is not None:
        for path in list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]:
            if not os.path.isabs(path):
                path = os.path.join(directory, path)
            if os.path.basename(path)[len(CHECKPOINT_PREFIX) + 1:].isdigit():
                resolved.add(os.path.join(directory, os.path.basename(path)))
    resolved.update(_checkpoints_on_disk(directory))
    return sorted(resolved, key=checkpoint_step)


def has_checkpoints(directory: str) -> bool:
    return bool(_checkpoints_on_disk(os.fspath(directory)))


def _first_line(error: BaseException | str, limit: int = 300) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:limit]


def unreadable_reason(path: str) -> str | None:
    """Why the checkpoint files of `path` cannot be read, or None if every tensor in them reads back.

    This reads the files on their own, independently of any model: the index,
    then every tensor, whose checksum the reader verifies. A restore that failed
    while this succeeds was not the checkpoint's fault.
    """
    if not os.path.exists(path + ".index"):
        return f"{os.path.basename(path)}.index is missing"
    try:
        reader = tf.train.load_checkpoint(path)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except Exception as error:  # noqa: BLE001  (DataLossError, NotFoundError, OutOfRangeError, ...)
        return _first_line(error)
    return None


def _quarantine(path: str, reason: str) -> None:
    """Moves the files of the checkpoint `path` into `corrupt/` (never replacing a file already there)."""
    directory = os.path.dirname(path)
    target = os.path.join(directory, CORRUPT_DIR)
    os.makedirs(target, exist_ok=True)
    for file in glob.glob(glob.escape(path) + ".*"):
        destination = os.path.join(target, os.path.basename(file))
        suffix = 1
        while os.path.exists(destination):
            destination = os.path.join(target, f"{os.path.basename(file)}.{suffix}")
            suffix += 1
        shutil.move(file, destination)
    log.warning("Checkpoint %s could not be read (%s); moved its files to %s/.", path, reason, target)


def _write_state_file(directory: str, paths: list[str]) -> None:
    """Writes the manager's state file listing `paths` (oldest first; the last is the newest)."""
    from google.protobuf import text_format
    from tensorflow.python.checkpoint import checkpoint_management

    state_file = os.path.join(directory, STATE_FILE)
    if not paths:
        if os.path.exists(state_file):
            os.remove(state_file)
        return
    state = checkpoint_management.generate_checkpoint_state_proto(
        directory, paths[-1], all_model_checkpoint_paths=paths,
        all_model_checkpoint_timestamps=[os.path.getmtime(p + ".index") if os.path.exists(p + ".index")
                                         else 0.0 for p in paths])
    with open(state_file + ".tmp", "w") as f:
        f.write(text_format.MessageToString(state))
    os.replace(state_file + ".tmp", state_file)


def _repair_state_file(directory: str, newest: str | None) -> None:
    """Makes the state file list the checkpoints on disk up to `newest`, if it does not already.

    A state file that cannot be parsed is moved to `corrupt/` first; one that
    already lists exactly those checkpoints is left alone.
    """
    state_file = os.path.join(directory, STATE_FILE)
    state = _read_state_file(directory)
    if state is None and os.path.exists(state_file):
        os.makedirs(os.path.join(directory, CORRUPT_DIR), exist_ok=True)
        shutil.move(state_file, os.path.join(directory, CORRUPT_DIR, STATE_FILE))
        log.warning("Moved the unreadable checkpoint state file %s to %s/ and wrote a new one.",
                    state_file, os.path.join(directory, CORRUPT_DIR))
    expected = [p for p in _checkpoints_on_disk(directory)
                if newest is not None and checkpoint_step(p) <= checkpoint_step(newest)]
    if state is not None:
        listed = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
        if (listed == [os.path.basename(p) for p in expected]
                and os.path.basename(state.model_checkpoint_path) == os.path.basename(expected[-1] if expected else "")):
            return
    _write_state_file(directory, expected)


def restore_latest(make_checkpoint: Callable[[], tf.train.Checkpoint], directory: str, *, partial: bool = False,
                   quarantine: bool = True) -> str | None:
    """Restores the newest readable checkpoint in `directory`; returns its path, None if there is none.

    Args:
      make_checkpoint: returns a new `tf.train.Checkpoint` of the objects to
        restore (e.g. `lambda: inference_checkpoint(model)`). Every attempt
        restores through a new one: a failed restore leaves deferred
        restorations in its checkpoint object (for instance of `save_counter`)
        that would make the next attempt read the failed checkpoint again.
      directory: the model directory.
      partial: allow the checkpoint to hold more than the checkpoint object asks
        for (inference restores).
      quarantine: once a readable checkpoint is restored, move the newer
        unreadable ones into `corrupt/` and make the state file list what is left.

    Checkpoints are tried from newest to oldest. One whose restore fails is
    skipped, with a warning, only if its own files fail to read back
    (`unreadable_reason`); a restore that fails for any other reason raises
    CheckpointError without moving anything. Nothing is moved either when no
    checkpoint can be restored.

    Raises:
      CheckpointError: checkpoints exist but none can be restored, a readable
        one does not fit the model, or a restore failed for a reason other than
        its files.
    """
    if isinstance(make_checkpoint, tf.train.Checkpoint):
        raise TypeError("restore_latest takes a function returning a new tf.train.Checkpoint, not a checkpoint "
                        "object: pass e.g. `lambda: inference_checkpoint(model)`.")
    directory = os.fspath(directory)
    paths = list_checkpoints(directory)
    broken: list[tuple[str, str]] = []
    for path in reversed(paths):
        try:
            checkpoint = make_checkpoint()
            checkpoint.save_counter  # created now, so a failed read leaves no deferred restoration behind
            status = checkpoint.restore(path)
            if partial:
                status.expect_partial()
                status.assert_existing_objects_matched()
            else:
                status.assert_consumed()
        except (tf.errors.OpError, IndexError) as error:  # unreadable: truncated, missing, bad checksum
            reason = unreadable_reason(path)
            if reason is None:
                raise CheckpointError(
                    f"Checkpoint {path} could not be restored ({_first_line(error)}), although its files read "
                    "back intact; nothing was moved. Check the disk and memory of this machine and run the "
                    "same command again."
                ) from error
            broken.append((path, reason))
            log.warning("Checkpoint %s could not be read (%s); trying the previous one.", path, reason)
            continue
        except (ValueError, AssertionError) as error:  # readable, but written by a different model
            raise CheckpointError(
                f"Checkpoint {path} does not fit the model built now ({_first_line(error, 500)}). "
                "The network code or its configuration changed since it was written: train into a new "
                "--model_dir, or restore the code that wrote it."
            ) from error
        if quarantine:
            for broken_path, reason in broken:
                _quarantine(broken_path, reason)
            _repair_state_file(directory, path)
        if broken:
            log.warning("Restored %s, the newest readable checkpoint.", path)
        return path
    if broken:
        listing = "\n  ".join(f"{p}: {reason}" for p, reason in broken)
        raise CheckpointError(
            f"None of the {len(broken)} checkpoints in {directory} can be read:\n  {listing}\n"
            "Nothing was moved. Copy intact checkpoint files back (from a backup) to resume, or train into "
            "a new --model_dir."
        )
    if quarantine:
        _repair_state_file(directory, None)
    return None


class Checkpointer:
    """Saves training checkpoints every so many steps into one directory and restores the newest.

    `make_checkpoint` returns a new `tf.train.Checkpoint` of the run's objects
    (e.g. `lambda: training_checkpoint(model, optimizers, state)`); one is kept
    for saving and every restore attempt gets its own.
    """

    def __init__(self, make_checkpoint: Callable[[], tf.train.Checkpoint], directory: str, *, max_to_keep: int = 3,
                 quarantine: bool = True, restore_directory: str | None = None):
        if isinstance(make_checkpoint, tf.train.Checkpoint):
            raise TypeError("Checkpointer takes a function returning a new tf.train.Checkpoint, not a checkpoint "
                            "object.")
        self.make_checkpoint = make_checkpoint
        self.checkpoint = make_checkpoint()
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
        path = restore_latest(self.make_checkpoint, self.restore_directory, quarantine=self.quarantine)
        self._manager = None  # re-read the state file, which a fallback may have rewritten
        if path is not None:
            self.last_saved_step = checkpoint_step(path)
        return path

    def save(self, step: int) -> str:
        """Writes `ckpt-<step>`; raises CheckpointWriteError if it cannot be written.

        The previous checkpoints and the state file stay as they were when the
        write fails: the manager updates the state file only after a complete write.
        """
        try:
            path = self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as error:
            # The writer's own partial files (the shards of its temporary folder) only take space.
            shutil.rmtree(os.path.join(self.directory, f"{CHECKPOINT_PREFIX}-{step}_temp"), ignore_errors=True)
            previous = (f"ckpt-{self.last_saved_step} is the newest checkpoint"
                        if self.last_saved_step is not None else "there is no earlier checkpoint")
            raise CheckpointWriteError(
                f"Could not write the checkpoint of step {step} to {self.directory} ({_first_line(error)}); "
                f"{previous}. Free space on that disk (or move the run to a larger one) and run the same "
                "command again to resume."
            ) from error
        self.last_saved_step = step
        return path
