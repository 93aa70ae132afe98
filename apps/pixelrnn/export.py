"""Export a trained PixelRNN / PixelCNN for TF Serving: sampling and exact likelihoods.

`python -m apps.pixelrnn.export --model_dir=runs/pixelrnn --export_dir=exports/pixelrnn`
writes the network of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/pixelrnn`
with the signatures `sample(seed, count)` (also `serving_default`), `generate(z)`
and `log_prob(images)`, after the parity check; `apps.pixelrnn.serving`
describes both. Flags: --model_dir, --export_dir, --version, --overwrite, --ema.
"""

from __future__ import annotations

from absl import app, flags

from apps.pixelrnn.config import PixelRNNConfig
from apps.pixelrnn.model import build_model
from apps.pixelrnn.serving import export_pixelrnn
from common.export import export_command
from common.export import generator_export as export_lib
from common.training import checkpointing
from common.training import runtime

FLAGS = flags.FLAGS
export_command.define_export_flags()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {' '.join(argv[1:])!r}.")
    if not FLAGS.model_dir or not FLAGS.export_dir:
        raise app.UsageError("Pass --model_dir (a training run) and --export_dir (where to write).")
    with runtime.exit_on_user_error():
        model, path = runtime.restore_app_for_inference(FLAGS.model_dir, PixelRNNConfig, build_model)
        use_ema = bool(FLAGS.ema and model.ema is not None)
        step = checkpointing.checkpoint_step(path)
        metadata = {"app": "pixelrnn", "checkpoint": path, "step": step, "ema": use_ema}
        try:
            written = export_pixelrnn(model, FLAGS.export_dir, use_ema=use_ema, version=FLAGS.version,
                                      overwrite=FLAGS.overwrite, metadata=metadata)
        except export_lib.ExportError as error:
            raise runtime.ConfigError(str(error)) from None
    print(f"Exported step {step} ({'EMA ' if use_ema else ''}network) to {written}")


if __name__ == "__main__":
    app.run(main)
