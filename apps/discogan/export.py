"""Export the two DiscoGAN generators for TF Serving.

`python -m apps.discogan.export --model_dir=runs/discogan --export_dir=exports/discogan`
writes G_AB and G_BA of the run's newest checkpoint as the next version folder
of `exports/discogan`, with signatures `a_to_b` (also `serving_default`) and
`b_to_a`: uint8 images [batch, H, W, C] of any H and W divisible by 16 in,
uint8 images of the same size out (plus `a_to_b_float` and `b_to_a_float` on
[-1, 1] floats). The generators run in inference mode (batch normalisation
with its moving statistics). See `common.export.translator_export` and `--helpfull`.
"""

from absl import app

from apps.discogan.config import DiscoGANConfig
from apps.discogan.model import build_model
from common.export import translator_commands

translator_commands.define_export_flags()


def main(argv):
    translator_commands.export_main(argv, "discogan", DiscoGANConfig, build_model)


if __name__ == "__main__":
    app.run(main)
