"""Export a trained CoGAN for TF Serving: the pair of images for one z.

`python -m apps.cogan.export --model_dir=runs/cogan --export_dir=exports/cogan`
restores the run's newest checkpoint and writes the coupled generator as the
next version folder of `exports/cogan` with `common.export.pair_export` (TF Serving
layout, parity check in a fresh load before the folder becomes visible):

    serving_default(z float32 [B, latent_dim]) -> images_a uint8, images_b uint8 [B, H, W, C]
    sample(seed int64, count int32) -> images_a, images_b uint8, z float32
    generate_pair_float(z) -> images_a_float, images_b_float float32 in [-1, 1]

--version picks the version number; --overwrite replaces an existing one.
"""

from absl import app, flags

from apps.cogan.config import CoGANConfig
from apps.cogan.model import build_model
from common.training import checkpointing
from common.export import generator_export as export_lib
from common.export import pair_export
from common.training import runtime

flags.DEFINE_string("model_dir", None, "Directory of the CoGAN training run to export.")
flags.DEFINE_string("export_dir", None, "TF Serving model folder; the export becomes its next numbered version.")
flags.DEFINE_integer("version", None, "Version number to write instead of the next free one.")
flags.DEFINE_boolean("overwrite", False, "Replace an existing --version.")

FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {' '.join(argv[1:])!r}.")
    if not FLAGS.model_dir or not FLAGS.export_dir:
        raise app.UsageError("Pass --model_dir (a CoGAN training run) and --export_dir (where to write).")
    with runtime.exit_on_user_error():
        saved = runtime.read_saved_config(FLAGS.model_dir)
        if saved is not None and saved.get("app") != "cogan":
            raise runtime.ConfigError(f"{FLAGS.model_dir} is a run of {saved.get('app')!r}, not of cogan: export it "
                                      f"with python -m apps.{saved.get('app')}.export.")
        model, path = runtime.restore_app_for_inference(FLAGS.model_dir, CoGANConfig, build_model)
        step = checkpointing.checkpoint_step(path)
        try:
            written = pair_export.export_pair_generator(
                model.generator, FLAGS.export_dir, latent_dim=model.latent_dim, version=FLAGS.version,
                overwrite=FLAGS.overwrite,
                metadata={"app": "cogan", "checkpoint": path, "step": step, "pairing": model.config.pairing})
        except export_lib.ExportError as error:
            raise runtime.ConfigError(str(error)) from None
    print(f"Exported step {step} (coupled generator, pairing {model.config.pairing}) to {written}")


if __name__ == "__main__":
    app.run(main)
