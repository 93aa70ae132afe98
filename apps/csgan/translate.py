"""Translate a folder of images with a trained CSGAN.

`python -m apps.csgan.translate --model_dir=runs/csgan --input_dir=photos --output_dir=out --direction=a_to_b`
(or `--export_dir=exports/csgan` instead of `--model_dir`) writes one PNG of
the input's size per .png/.jpg image; see `common.export.translator_commands` and `--helpfull`.
"""

from absl import app

from apps.csgan.config import CSGANConfig
from apps.csgan.model import build_model
from common.export import translator_commands

translator_commands.define_translate_flags()


def main(argv):
    translator_commands.translate_main(argv, "csgan", CSGANConfig, build_model)


if __name__ == "__main__":
    app.run(main)
