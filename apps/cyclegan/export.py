"""Export the two CycleGAN generators for TF Serving.

`python -m apps.cyclegan.export --model_dir=runs/cyclegan --export_dir=exports/cyclegan`
writes the generators of the run's newest checkpoint as the next version
folder of `exports/cyclegan`, with signatures `a_to_b` (also
`serving_default`) and `b_to_a`: uint8 images [batch, H, W, 3] of any H and W
divisible by 4 in, uint8 images of the same size out (plus `a_to_b_float` and
`b_to_a_float`); see `common.export.translator_export` and `--helpfull`.
"""

from absl import app

from apps.cyclegan.config import CycleGANConfig
from apps.cyclegan.model import build_model
from common.export import translator_commands

translator_commands.define_export_flags()


def main(argv):
    translator_commands.export_main(argv, "cyclegan", CycleGANConfig, build_model)


if __name__ == "__main__":
    app.run(main)
