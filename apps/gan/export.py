"""Export a trained GAN generator for TF Serving.

`python -m apps.gan.export --model_dir=runs/gan --export_dir=exports/gan`
writes the generator of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/gan`;
see `common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.gan.config import GANConfig
from apps.gan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="gan", config_class=GANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
