"""Export a trained WGAN-GP generator for TF Serving.

`python -m apps.wgan_gp.export --model_dir=runs/wgan_gp --export_dir=exports/wgan_gp`
writes the generator of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/wgan_gp`;
see `common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.wgan_gp.config import WGANGPConfig
from apps.wgan_gp.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="wgan_gp", config_class=WGANGPConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
