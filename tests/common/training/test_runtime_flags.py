"""Tests of common.training.flags (flags from dataclasses) and common.training.runtime_config (resume rules)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import pytest
from absl import flags

from common.training import flags as runtime_flags
from common.training.runtime_config import ConfigError, RuntimeConfig, config_differences, field_defaults, resolved_config


@dataclasses.dataclass(frozen=True)
class AppConfig:
    image_size: int = 64
    learning_rate: float = 2e-4
    loss: Literal["hinge", "non_saturating"] = "non_saturating"
    use_ema: bool = False
    widths: tuple[int, ...] = (64, 128)
    note: str | None = None
    batch_size: int = 128  # shared with the runtime flag of the same name
    seed: int = 0

    def __post_init__(self):
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8; got {self.image_size}.")


def _flag_values(*argv):
    values = flags.FlagValues()
    runtime_flags.define_runtime_flags({"steps": 500}, flag_values=values, module_name="app")
    runtime_flags.define_dataclass_flags(AppConfig, flag_values=values, module_name="app")
    values(["prog", *argv])
    return values


def test_defaults_come_from_the_dataclasses_and_shared_flags_are_one_flag():
    values = _flag_values()
    config = runtime_flags.dataclass_from_flags(AppConfig, flag_values=values)
    run = runtime_flags.runtime_config_from_flags(flag_values=values)
    assert config == AppConfig()
    assert run.batch_size == 128  # the app's default wins over the runtime's 64
    assert run.steps == 500 and run.precision == "auto" and run.data is None


def test_flag_values_of_every_type_are_converted():
    values = _flag_values("--image_size=32", "--learning_rate=0.001", "--loss=hinge", "--use_ema",
                          "--widths=8,16,32", "--note=hello", "--batch_size=16", "--seed=3",
                          "--precision=mixed_bfloat16", "--profile_steps=2,4")
    config = runtime_flags.dataclass_from_flags(AppConfig, flag_values=values)
    run = runtime_flags.runtime_config_from_flags(flag_values=values)
    assert config == AppConfig(image_size=32, learning_rate=0.001, loss="hinge", use_ema=True,
                               widths=(8, 16, 32), note="hello", batch_size=16, seed=3)
    assert (run.batch_size, run.seed, run.precision, run.profile_range()) == (16, 3, "mixed_bfloat16", (2, 4))


def test_bad_values_raise_config_errors_naming_the_flag():
    with pytest.raises(flags.IllegalFlagValueError):
        _flag_values("--precision=float8")
    with pytest.raises(ConfigError, match="image_size must be >= 8"):
        runtime_flags.dataclass_from_flags(AppConfig, flag_values=_flag_values("--image_size=4"))
    with pytest.raises(ConfigError, match="--widths"):
        runtime_flags.dataclass_from_flags(AppConfig, flag_values=_flag_values("--widths=a,b"))
    with pytest.raises(ConfigError, match="--steps_per_execution must be a positive number"):
        runtime_flags.runtime_config_from_flags(flag_values=_flag_values("--steps_per_execution=0"))
    with pytest.raises(ConfigError, match="1 <= a <= b"):
        RuntimeConfig(profile_steps="5,2").validate()
    with pytest.raises(SystemExit, match="Unexpected arguments 'steps=5'"):
        runtime_flags.check_no_positional_args(["prog", "steps=5"])


def test_resume_may_change_intervals_but_not_model_or_data_fields():
    saved = resolved_config("app", AppConfig(), RuntimeConfig(model_dir="a", steps=100, precision="float32"))
    longer = resolved_config("app", AppConfig(), RuntimeConfig(model_dir="b", steps=900, log_every=5,
                                                               checkpoint_every=7, steps_per_execution=4,
                                                               jit_compile=True, on_nan="rollback",
                                                               precision="float32"))
    assert config_differences(saved, longer) == []
    changed = resolved_config("app", AppConfig(image_size=32),
                              RuntimeConfig(model_dir="a", precision="mixed_float16", seed=1, data="x"))
    differences = config_differences(saved, changed)
    assert len(differences) == 4
    assert "--image_size: 64 in the model directory, 32 now" in differences
    assert any(d.startswith("--precision: 'float32'") for d in differences)
    assert any(d.startswith("--seed:") for d in differences) and any(d.startswith("--data:") for d in differences)
    assert config_differences(saved, resolved_config("other", AppConfig(), RuntimeConfig()))[0].startswith("app:")


def test_a_field_added_after_a_run_counts_as_its_default():
    current = resolved_config("app", AppConfig(), RuntimeConfig(model_dir="a"))
    saved = {**current, "model": {k: v for k, v in current["model"].items() if k != "use_ema"}}
    defaults = field_defaults(AppConfig)
    assert defaults["use_ema"] is False and defaults["widths"] == [64, 128]
    assert config_differences(saved, current, defaults) == []
    assert config_differences(saved, current) == ["--use_ema: '<absent>' in the model directory, False now"]
    with_ema = resolved_config("app", AppConfig(use_ema=True), RuntimeConfig(model_dir="a"))
    assert config_differences(saved, with_ema, defaults) == ["--use_ema: False in the model directory, True now"]


@dataclasses.dataclass(frozen=True)
class ChangedBehaviourConfig:
    image_size: int = 64
    new_update_rule: bool = True  # added later; earlier runs behaved as False

    VALUES_BEFORE_FIELD: ClassVar[dict] = {"new_update_rule": False}


def test_a_field_added_with_a_new_behaviour_counts_as_the_old_one_for_older_runs():
    current = resolved_config("app", ChangedBehaviourConfig(), RuntimeConfig(model_dir="a"))
    saved = {**current, "model": {"image_size": 64}}  # written before new_update_rule existed
    defaults = field_defaults(ChangedBehaviourConfig)
    assert defaults == {"image_size": 64, "new_update_rule": False}
    assert field_defaults(ChangedBehaviourConfig()) == defaults
    assert config_differences(saved, current, defaults) == [
        "--new_update_rule: False in the model directory, True now"]
    old_behaviour = resolved_config("app", ChangedBehaviourConfig(new_update_rule=False), RuntimeConfig(model_dir="a"))
    assert config_differences(saved, old_behaviour, defaults) == []
    # A run that recorded the field is compared with what it recorded.
    assert config_differences(current, current, defaults) == []


def test_values_before_field_must_name_fields():
    @dataclasses.dataclass(frozen=True)
    class Misspelt:
        image_size: int = 64
        VALUES_BEFORE_FIELD: ClassVar[dict] = {"imagesize": 32}

    with pytest.raises(ValueError, match=r"VALUES_BEFORE_FIELD of Misspelt names no field: \['imagesize'\]"):
        field_defaults(Misspelt)
