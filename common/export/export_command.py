"""The export command every app shares: restore a training run, write its generator for TF Serving.

An app's `export.py` declares the flags and calls `main` with its name and
config class:

    export_command.define_export_flags()

    def main(argv):
        export_command.main(argv, app_name="dcgan", config_class=DCGANConfig, build_model=build_model)

`main` rebuilds the model from `<model_dir>/config.json`, restores the newest
readable checkpoint, lets the model prepare the generator for sampling
(`common.models.conditional_protocol.prepare_sampling`: BigGAN's standing
statistics), and writes the generator (its exponential moving average
when the run kept one, unless --noema) as the next version folder of
`--export_dir` with `common.export.generator_export.export_generator`, which checks the
SavedModel against the in-process generator before publishing it.

A class-conditional app's model says so with `model.num_classes = K` (its
generator takes [z, labels]); the export then has the labelled signatures and
records K in export_info.json, with the class names of the run's dataset
(config.json's runtime.data, `common.data.reader.describe(data).labels`) when
that dataset can still be read and names exactly K classes. A model without
the attribute, or with None, is exported unconditionally.
"""

from __future__ import annotations

from typing import Callable

from absl import app, flags

from common.data import reader as data_lib
from common.models.conditional_protocol import prepare_sampling
from common.training import checkpointing
from common.export import generator_export as export_lib
from common.training import runtime
from common.training.runtime_config import read_saved_config


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
         flag_values: flags.FlagValues = flags.FLAGS, truncation: bool = False,
         export_fn: Callable | None = None) -> None:
    """Runs the export described in the module docstring from parsed flags.

    ``truncation``: the class-conditional signatures also take the truncation threshold psi
    (`common.export.generator_export`; BigGAN's truncation trick).
    ``export_fn``: an app's own exporter, ``export_fn(generator, export_dir, *, version, overwrite, metadata)
    -> version folder`` raising `ExportError` (StyleGAN's signatures), instead of `export_generator`.
    """
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {' '.join(argv[1:])!r}.")
    model_dir, export_dir = flag_values.model_dir, flag_values.export_dir
    if not model_dir or not export_dir:
        raise app.UsageError("Pass --model_dir (a training run) and --export_dir (where to write).")
    with runtime.exit_on_user_error():
        model, path = runtime.restore_app_for_inference(model_dir, config_class, build_model)
        use_ema = flag_values.ema and model.ema is not None
        generator = model.ema.shadow if use_ema else model.generator
        prepare_sampling(model, generator)  # e.g. BigGAN's standing statistics, exported with the weights
        step = checkpointing.checkpoint_step(path)
        num_classes = getattr(model, "num_classes", None)
        labelled = {}
        if num_classes is not None:
            labelled = {"num_classes": num_classes, "label_names": run_label_names(model_dir, num_classes)}
        metadata = {"app": app_name, "checkpoint": path, "step": step, "ema": use_ema}
        try:
            if export_fn is not None:
                written = export_fn(generator, export_dir, version=flag_values.version,
                                    overwrite=flag_values.overwrite, metadata=metadata)
            else:
                written = export_lib.export_generator(
                    generator, export_dir, latent_dim=model.latent_dim, version=flag_values.version,
                    overwrite=flag_values.overwrite,
                    latent_distribution=getattr(model, "latent_distribution", "normal"),
                    metadata=metadata, truncation=truncation, **labelled)
        except export_lib.ExportError as error:
            raise runtime.ConfigError(str(error)) from None
    print(f"Exported step {step} ({'EMA ' if use_ema else ''}generator) to {written}")


def run_label_names(model_dir: str, num_classes: int) -> list[str] | None:
    """The class names of the training run's dataset, or None when they cannot be had.

    Reads config.json's runtime.data (None is the offline default dataset) and
    `common.data.reader.describe(data).labels`. None when the run has no
    config.json, the dataset cannot be read from here (moved, another
    machine, tfds), it has no label names, or their number is not
    `num_classes`: the names are optional in the export.
    """
    saved = read_saved_config(model_dir) or {}
    data = saved.get("runtime", {}).get("data")
    try:
        labels = data_lib.describe(data).labels
    except (OSError, ValueError):  # DataError is a ValueError
        return None
    if not labels or len(labels) != num_classes:
        return None
    return [str(name) for name in labels]
