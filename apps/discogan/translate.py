"""Translate a folder of images with a trained DiscoGAN.

`python -m apps.discogan.translate --model_dir=runs/discogan --input_dir=photos --output_dir=out --direction=a_to_b`
(or `--export_dir=exports/discogan` instead of `--model_dir`) writes one PNG of
the input's size per .png/.jpg image. Sides that are not multiples of 16 are
padded by reflection (bottom and right) before translation and cropped after;
`--resize_to=64` first resizes the shorter side to the training size. See
`common.export.translator_commands` and `--helpfull`.
"""

from absl import app

from apps.discogan.config import DiscoGANConfig
from apps.discogan.model import build_model
from common.export import translator_commands

translator_commands.define_translate_flags()


def main(argv):
    translator_commands.translate_main(argv, "discogan", DiscoGANConfig, build_model)


if __name__ == "__main__":
    app.run(main)
