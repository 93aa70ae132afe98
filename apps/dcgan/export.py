"""Export a trained DCGAN generator for TF Serving.

`python -m apps.dcgan.export --model_dir=runs/dcgan --export_dir=exports/dcgan`
writes the generator of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/dcgan`;
see `common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.dcgan.config import DCGANConfig
from apps.dcgan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="dcgan", config_class=DCGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
