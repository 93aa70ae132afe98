"""The training-run options every app shares, and which of them a resumed run may change.

`RuntimeConfig` is a frozen dataclass of the options the training runtime
(`common.training.runtime`) reads: where the data and the model directory are, the global
batch size, how long to train, precision, distribution, and the logging,
checkpoint and sample intervals. `common.training.flags` turns its fields into absl flags
(each field's `metadata["help"]` is the flag's help text), so the flags, the
dataclass and the `config.json` written into the model directory always agree.

Resuming: a model directory remembers the configuration that wrote it. A later
run in the same directory may change only the fields in `RESUMABLE_FIELDS`
(how long to train, how often to log or save, how the steps are executed and
distributed). Every other runtime field and every field of the app's own config
shapes the weights, the optimizer state or the data order, so changing it would
silently mix two experiments: such a run is refused with a message naming the
differences (`config_differences`). A field added to an app's config after a
run was written is absent from that run's `config.json`; it counts as the
field's default, the value that keeps the behaviour the run was trained with.

This module imports no TensorFlow, so flag parsing and `--dry_run` stay fast.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

AUTO_PRECISION = "auto"
PRECISIONS = (AUTO_PRECISION, "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
ON_NAN_ACTIONS = ("stop", "rollback")
DEFAULT_STEPS = 10_000

CONFIG_FILENAME = "config.json"


class ConfigError(ValueError):
    """An option a user passed cannot work; the message says which and what to pass instead."""


METRICS_FILENAME = "metrics.jsonl"

# Runtime fields a resumed run may change. Everything else must match the run
# that wrote the model directory.
RESUMABLE_FIELDS = frozenset(
    {
        "model_dir",
        "steps",
        "epochs",
        "strategy",
        "devices",
        "steps_per_execution",
        "jit_compile",
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
        "sample_every",
        "num_samples",
        "on_nan",
        "max_rollbacks",
        "profile_steps",
        "deterministic",
        "dry_run",
    }
)


def _field(default, help_text, choices=None):
    metadata = {"help": help_text}
    if choices is not None:
        metadata["choices"] = choices
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Options of one training run; see the module docstring for resume rules."""

    data: str | None = _field(
        None,
        "Dataset: a folder with manifest.json, a manifest path, a shard glob or tfds:name. "
        "Empty: the offline default dataset.",
    )
    model_dir: str | None = _field(
        None, "Directory for checkpoints, config.json, metrics.jsonl and TensorBoard logs. "
        "Training resumes automatically from the latest checkpoint found here.")
    batch_size: int = _field(64, "Global batch size, split evenly over all replicas.")
    steps: int | None = _field(None, f"Training steps in total (default {DEFAULT_STEPS} when --epochs is unset too).")
    epochs: float | None = _field(None, "Train for this many passes over the training split instead of --steps.")
    seed: int = _field(0, "Seed of weights, noise, data order and augmentation.")
    precision: str = _field(
        AUTO_PRECISION,
        "Numeric precision policy. auto: mixed_float16 on GPUs with tensor cores, mixed_bfloat16 on CPUs with "
        "native bfloat16, float32 otherwise (a resumed run keeps the precision it started with).",
        PRECISIONS,
    )
    strategy: str = _field(
        "auto",
        "Distribution: auto (all local GPUs if any, else the CPU), default (one device), "
        "mirrored (all local GPUs, or --devices), multi_worker (workers from TF_CONFIG).",
        STRATEGIES,
    )
    devices: str | None = _field(None, "Comma-separated devices for --strategy=mirrored, e.g. /gpu:0,/gpu:1.")
    steps_per_execution: int = _field(1, "Training steps run inside one compiled call.")
    jit_compile: bool = _field(False, "Compile the training step with XLA.")
    log_every: int = _field(100, "Print progress and write TensorBoard scalars every N steps.")
    checkpoint_every: int = _field(1000, "Save a checkpoint every N steps (and at the end, and on SIGINT/SIGTERM).")
    keep_checkpoints: int = _field(3, "Number of most recent checkpoints kept.")
    sample_every: int = _field(1000, "Write a grid of fixed-noise samples to TensorBoard every N steps (0: never).")
    num_samples: int = _field(64, "Number of fixed-noise samples in the TensorBoard image grid.")
    on_nan: str = _field(
        "stop",
        "On a NaN or Inf loss: stop (keep the last good checkpoint) or rollback "
        "(restore the last good checkpoint and continue with the next batches).",
        ON_NAN_ACTIONS,
    )
    max_rollbacks: int = _field(3, "Most --on_nan=rollback restores in one run before it stops.")
    profile_steps: str | None = _field(None, "Profile steps a,b (inclusive) into the TensorBoard profile tab.")
    deterministic: bool = _field(True, "Enable deterministic TensorFlow ops (needed for exact resume).")
    dry_run: bool = _field(False, "Print the resolved configuration and exit without writing anything.")

    def validate(self) -> "RuntimeConfig":
        """Raises ConfigError naming the bad option and what to pass instead."""
        problems = []

        def positive(name, allow_none=False):
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if value is None or value <= 0:
                problems.append(f"--{name} must be a positive number, got {value!r}.")

        positive("batch_size")
        positive("steps", allow_none=True)
        positive("epochs", allow_none=True)
        for name in ("steps_per_execution", "log_every", "checkpoint_every", "keep_checkpoints", "num_samples"):
            positive(name)
        if self.sample_every < 0:
            problems.append(f"--sample_every must be 0 (never) or positive, got {self.sample_every}.")
        if self.max_rollbacks < 0:
            problems.append(f"--max_rollbacks must be 0 or positive, got {self.max_rollbacks}.")
        if self.steps is not None and self.epochs is not None:
            problems.append("Pass either --steps or --epochs, not both.")
        for name, choices in (("precision", PRECISIONS), ("strategy", STRATEGIES), ("on_nan", ON_NAN_ACTIONS)):
            if getattr(self, name) not in choices:
                problems.append(f"--{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}.")
        if self.devices and self.strategy != "mirrored":
            problems.append("--devices is only used with --strategy=mirrored.")
        if self.profile_steps:
            try:
                self.profile_range()
            except ConfigError as error:
                problems.append(str(error))
        if problems:
            raise ConfigError(" ".join(problems))
        return self

    def profile_range(self) -> tuple[int, int] | None:
        """(first, last) step to profile, or None."""
        if not self.profile_steps:
            return None
        parts = str(self.profile_steps).split(",")
        try:
            first, last = (int(part) for part in parts)
        except ValueError:
            raise ConfigError(
                f"--profile_steps must be two step numbers 'a,b' with 1 <= a <= b, got {self.profile_steps!r}."
            ) from None
        if not 1 <= first <= last:
            raise ConfigError(f"--profile_steps must satisfy 1 <= a <= b, got {self.profile_steps!r}.")
        return first, last

    def replace(self, **changes) -> "RuntimeConfig":
        return dataclasses.replace(self, **changes)


def normalized_data_path(data: str | None) -> str | None:
    """An existing local path made absolute (so a run started elsewhere matches); else as given."""
    if data and os.path.exists(data):
        return os.path.abspath(data)
    return data or None


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def resolved_config(app: str, model_config: Any, run: RuntimeConfig) -> dict:
    """The JSON document written as `config.json` into the model directory."""
    return {"app": app, "model": _jsonable(model_config), "runtime": _jsonable(run)}


def field_defaults(model_config: Any) -> dict:
    """What a run written before a config field existed used for it, for every field that has a value.

    That is the field's default, unless the config class (dataclass instance or
    class) maps the field to another value in its ``VALUES_BEFORE_FIELD``
    (a ``ClassVar``): a field added with a default that changes what training
    does lists the behaviour runs had before it, so that resuming such a run
    with the new default is refused instead of silently changing the run.
    """
    defaults = {f.name: _jsonable(f.default) for f in dataclasses.fields(model_config)
                if f.default is not dataclasses.MISSING}
    before = dict(getattr(model_config, "VALUES_BEFORE_FIELD", None) or {})
    unknown = sorted(set(before) - {f.name for f in dataclasses.fields(model_config)})
    if unknown:
        name = model_config.__name__ if isinstance(model_config, type) else type(model_config).__name__
        raise ValueError(f"VALUES_BEFORE_FIELD of {name} names no field: {unknown}.")
    return {**defaults, **{name: _jsonable(value) for name, value in before.items()}}


def config_differences(saved: Mapping, current: Mapping, model_defaults: Mapping | None = None) -> list[str]:
    """Human-readable differences that forbid resuming `saved` with `current`.

    `model_defaults` (see `field_defaults`) fills in the model fields `saved`
    lacks, which were added to the config after the saved run was written.
    """
    differences = []
    if saved.get("app") != current.get("app"):
        differences.append(f"app: {saved.get('app')!r} in the model directory, {current.get('app')!r} now")
    saved_model, current_model = saved.get("model", {}), current.get("model", {})
    saved_model = {**{k: v for k, v in (model_defaults or {}).items() if k in current_model}, **saved_model}
    for key in sorted(set(saved_model) | set(current_model)):
        if saved_model.get(key, "<absent>") != current_model.get(key, "<absent>"):
            differences.append(
                f"--{key}: {saved_model.get(key, '<absent>')!r} in the model directory, "
                f"{current_model.get(key, '<absent>')!r} now"
            )
    saved_run, current_run = saved.get("runtime", {}), current.get("runtime", {})
    for key in sorted(set(saved_run) | set(current_run)):
        if key in RESUMABLE_FIELDS:
            continue
        if saved_run.get(key) != current_run.get(key):
            differences.append(
                f"--{key}: {saved_run.get(key)!r} in the model directory, {current_run.get(key)!r} now"
            )
    return differences


def read_saved_config(model_dir: str) -> dict | None:
    path = os.path.join(model_dir, CONFIG_FILENAME)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_config(model_dir: str, document: Mapping) -> str:
    path = os.path.join(model_dir, CONFIG_FILENAME)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(document, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    return path
