"""Translate a folder of images with a trained CycleGAN.

`python -m apps.cyclegan.translate --model_dir=runs/cyclegan --input_dir=photos --output_dir=out --direction=a_to_b`
(or `--export_dir=exports/cyclegan` instead of `--model_dir`) writes one PNG of
the input's size per .png/.jpg image; see `common.export.translator_commands` and `--helpfull`.
"""

from absl import app

from apps.cyclegan.config import CycleGANConfig
from apps.cyclegan.model import build_model
from common.export import translator_commands

translator_commands.define_translate_flags()


def main(argv):
    translator_commands.translate_main(argv, "cyclegan", CycleGANConfig, build_model)


if __name__ == "__main__":
    app.run(main)
