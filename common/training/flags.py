"""absl flags for training scripts: the shared runtime flags and flags made from a config dataclass.

Following the TF Model Garden convention (`official/common/training/flags.py`), flags
are declared inside functions, every flag is optional (its default is the
dataclass default), and flag values are read only in a script's `main()`: the
library code below `main()` receives plain dataclasses and never touches
`absl.flags.FLAGS`.

An app's `train.py` is therefore:

    define_runtime_flags()
    define_dataclass_flags(Config)
    def main(argv):
        check_no_positional_args(argv)
        runtime.run(app="name", config=dataclass_from_flags(Config),
                    run=runtime_config_from_flags(), ...)

A field present in both `RuntimeConfig` and the app's config (for example
`seed` or `batch_size`) becomes ONE flag that sets both; its default is the
app's, so the paper default of the app wins over the runtime's generic default.

Supported field types: bool, int, float, str, their `X | None` forms,
`typing.Literal[...]` (an enum flag) and `tuple[int, ...]` / `tuple[float, ...]` /
`tuple[str, ...]` (a comma-separated list flag).
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any, Iterable, Mapping

from absl import flags

from common.training.runtime_config import ConfigError, RuntimeConfig

FLAGS = flags.FLAGS


def _calling_module_name(depth: int = 2) -> str:
    frame = sys._getframe(depth)
    name = frame.f_globals.get("__name__", "")
    # absl lists the flags of the script being run under sys.argv[0] in --help.
    return sys.argv[0] if name == "__main__" else name


def _unwrap_optional(annotation):
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _element_type(annotation):
    args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    return args[0] if args else str


def _define_field(field: dataclasses.Field, annotation, flag_values, module_name, help_prefix):
    name = field.name
    if field.default is not dataclasses.MISSING:
        default = field.default
    elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        default = field.default_factory()  # type: ignore[misc]
    else:
        raise TypeError(f"Field {name!r} needs a default to become an optional flag.")
    help_text = field.metadata.get("help") or f"{help_prefix}.{name}"
    base, _ = _unwrap_optional(annotation)
    kwargs = dict(flag_values=flag_values, module_name=module_name)
    choices = field.metadata.get("choices")
    if typing.get_origin(base) is typing.Literal:
        choices = tuple(str(c) for c in typing.get_args(base))
    if choices:
        flags.DEFINE_enum(name, None if default is None else str(default), list(choices), help_text, **kwargs)
    elif base is bool:
        flags.DEFINE_boolean(name, default, help_text, **kwargs)
    elif base is int:
        flags.DEFINE_integer(name, default, help_text, **kwargs)
    elif base is float:
        flags.DEFINE_float(name, default, help_text, **kwargs)
    elif base is str:
        flags.DEFINE_string(name, default, help_text, **kwargs)
    elif typing.get_origin(base) in (tuple, list):
        listed = None if default is None else [str(v) for v in default]
        flags.DEFINE_list(name, listed, help_text + " (comma-separated)", **kwargs)
    else:
        raise TypeError(f"Field {name!r} has type {annotation!r}, which has no flag type.")


def define_dataclass_flags(
    config_class: type,
    *,
    flag_values: flags.FlagValues = FLAGS,
    exclude: Iterable[str] = (),
    module_name: str | None = None,
) -> list[str]:
    """Declares one optional flag per field of the frozen dataclass `config_class`.

    A field whose flag already exists (a shared runtime flag such as --seed)
    reuses that flag, and the flag's default becomes this field's default.
    Calling it again for the same class is a no-op. Returns the field names
    that now have flags.
    """
    module_name = module_name or _calling_module_name()
    hints = typing.get_type_hints(config_class)
    names = []
    for field in dataclasses.fields(config_class):
        if field.name in exclude or not field.init:
            continue
        names.append(field.name)
        if field.name in flag_values:
            existing = flag_values[field.name]
            default = field.default if field.default is not dataclasses.MISSING else None
            if default is not None and existing.default != default:
                flag_values.set_default(field.name, default)
            continue
        _define_field(field, hints[field.name], flag_values, module_name, config_class.__name__)
    return names


def define_runtime_flags(
    defaults: Mapping[str, Any] | None = None,
    *,
    flag_values: flags.FlagValues = FLAGS,
    module_name: str | None = None,
) -> None:
    """Declares the flags of `RuntimeConfig`; `defaults` overrides some of their defaults."""
    define_dataclass_flags(
        RuntimeConfig, flag_values=flag_values, module_name=module_name or _calling_module_name()
    )
    for name, value in (defaults or {}).items():
        if name not in flag_values:
            raise KeyError(f"{name!r} is not a runtime flag.")
        flag_values.set_default(name, value)


def _convert(value, annotation):
    base, optional = _unwrap_optional(annotation)
    if value is None:
        return None
    if typing.get_origin(base) in (tuple, list):
        element = _element_type(base)
        return tuple(element(v) for v in value)
    if typing.get_origin(base) is typing.Literal:
        for choice in typing.get_args(base):
            if str(choice) == str(value):
                return choice
    if base is str and optional and value == "":
        return None
    return value


def dataclass_from_flags(config_class: type, *, flag_values: flags.FlagValues = FLAGS, **overrides):
    """An instance of `config_class` with every field that has a flag read from it.

    Only for a script's `main()`. Raises ConfigError when a value does not fit
    the field or the dataclass rejects it in `__post_init__`.
    """
    hints = typing.get_type_hints(config_class)
    values = {}
    for field in dataclasses.fields(config_class):
        if not field.init or field.name in overrides or field.name not in flag_values:
            continue
        raw = flag_values[field.name].value
        try:
            values[field.name] = _convert(raw, hints[field.name])
        except (TypeError, ValueError):
            raise ConfigError(f"--{field.name}={raw!r} does not fit the type {hints[field.name]}.") from None
    values.update(overrides)
    try:
        return config_class(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(str(error)) from None


def runtime_config_from_flags(*, flag_values: flags.FlagValues = FLAGS) -> RuntimeConfig:
    """The validated `RuntimeConfig` of the parsed flags (ConfigError names a bad value)."""
    return dataclass_from_flags(RuntimeConfig, flag_values=flag_values).validate()


def check_no_positional_args(argv: list[str]) -> None:
    """Rejects stray words on the command line (usually a flag missing its `--`)."""
    if len(argv) > 1:
        raise SystemExit(
            f"Unexpected arguments {' '.join(argv[1:])!r}: every option is a flag, "
            "e.g. --model_dir=runs/x. See --helpfull."
        )


__all__ = [
    "define_runtime_flags",
    "define_dataclass_flags",
    "dataclass_from_flags",
    "runtime_config_from_flags",
    "check_no_positional_args",
]
