"""Export a trained WGAN generator for TF Serving.

`python -m apps.wgan.export --model_dir=runs/wgan --export_dir=exports/wgan`
writes the generator of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/wgan`;
see `common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.wgan.config import WGANConfig
from apps.wgan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="wgan", config_class=WGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
