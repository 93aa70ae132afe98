"""The export command every app shares: restore a training run, write its generator for TF Serving.

An app's `export.py` declares the flags and calls `main` with its name and
config class:

    export_command.define_export_flags()

    def main(argv):
        export_command.main(argv, app_name="dcgan", config_class=DCGANConfig, build_model=build_model)

`main` rebuilds the model from `<model_dir>/config.json`, restores the newest
readable checkpoint, and writes the generator (its exponential moving average
when the run kept one, unless --noema) as the next version folder of
`--export_dir` with `common.export.generator_export.export_generator`, which checks the
SavedModel against the in-process generator before publishing it.
"""

from __future__ import annotations

from typing import Callable

from absl import app, flags

from common.training import checkpointing
from common.export import generator_export as export_lib
from common.training import runtime


def define_export_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Declares --model_dir, --export_dir, --version, --overwrite and --ema."""
    flags.DEFINE_string("model_dir", None, "Directory of the training run to export.", flag_values=flag_values)
    flags.DEFINE_string("export_dir", None, "TF Serving model folder; the export becomes its next numbered version.",
                        flag_values=flag_values)
    flags.DEFINE_integer("version", None, "Version number to write instead of the next free one.",
                         flag_values=flag_values)
    flags.DEFINE_boolean("overwrite", False, "Replace an existing --version.", flag_values=flag_values)
    flags.DEFINE_boolean("ema", True, "Export the generator's moving average when the run kept one.",
                         flag_values=flag_values)


def main(argv, *, app_name: str, config_class: type, build_model: Callable,
         flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Runs the export described in the module docstring from parsed flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {' '.join(argv[1:])!r}.")
    model_dir, export_dir = flag_values.model_dir, flag_values.export_dir
    if not model_dir or not export_dir:
        raise app.UsageError("Pass --model_dir (a training run) and --export_dir (where to write).")
    with runtime.exit_on_user_error():
        model, path = runtime.restore_app_for_inference(model_dir, config_class, build_model)
        use_ema = flag_values.ema and model.ema is not None
        generator = model.ema.shadow if use_ema else model.generator
        step = checkpointing.checkpoint_step(path)
        try:
            written = export_lib.export_generator(
                generator, export_dir, latent_dim=model.latent_dim, version=flag_values.version,
                overwrite=flag_values.overwrite,
                metadata={"app": app_name, "checkpoint": path, "step": step, "ema": use_ema})
        except export_lib.ExportError as error:
            raise runtime.ConfigError(str(error)) from None
    print(f"Exported step {step} ({'EMA ' if use_ema else ''}generator) to {written}")
