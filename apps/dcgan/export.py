"""Export a trained DCGAN generator for TF Serving.

`python -m apps.dcgan.export --model_dir=runs/dcgan --export_dir=exports/dcgan`
rebuilds the model from `runs/dcgan/config.json`, restores the newest readable
checkpoint, and writes the generator (its exponential moving average when the
run kept one, unless --noema) as the next version folder of `exports/dcgan`
with `common.export.export_generator`, which checks the SavedModel against the
in-process generator before publishing it.
"""

from absl import app, flags

from apps.dcgan.config import DCGANConfig
from apps.dcgan.model import build_model
from common import checkpointing
from common import export as export_lib
from common import runtime

flags.DEFINE_string("model_dir", None, "Directory of the training run to export.")
flags.DEFINE_string("export_dir", None, "TF Serving model folder; the export becomes its next numbered version.")
flags.DEFINE_integer("version", None, "Version number to write instead of the next free one.")
flags.DEFINE_boolean("overwrite", False, "Replace an existing --version.")
flags.DEFINE_boolean("ema", True, "Export the generator's moving average when the run kept one.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {' '.join(argv[1:])!r}.")
    if not FLAGS.model_dir or not FLAGS.export_dir:
        raise app.UsageError("Pass --model_dir (a training run) and --export_dir (where to write).")
    with runtime.exit_on_user_error():
        try:
            model, path = runtime.restore_for_inference_with_path(
                FLAGS.model_dir, lambda fields: build_model(DCGANConfig(**fields)))
        except TypeError as error:  # config.json fields unknown to this DCGANConfig
            raise runtime.ConfigError(f"{FLAGS.model_dir}/config.json does not fit DCGANConfig: {error}") from None
        use_ema = FLAGS.ema and model.ema is not None
        generator = model.ema.shadow if use_ema else model.generator
        try:
            written = export_lib.export_generator(
                generator, FLAGS.export_dir, latent_dim=model.latent_dim, version=FLAGS.version,
                overwrite=FLAGS.overwrite,
                metadata={"app": "dcgan", "checkpoint": path, "step": checkpointing.checkpoint_step(path),
                          "ema": use_ema})
        except export_lib.ExportError as error:
            raise runtime.ConfigError(str(error)) from None
    print(f"Exported step {checkpointing.checkpoint_step(path)} ({'EMA ' if use_ema else ''}generator) "
          f"to {written}")


if __name__ == "__main__":
    app.run(main)
