"""Export a trained LSGAN generator for TF Serving.

`python -m apps.lsgan.export --model_dir=runs/lsgan --export_dir=exports/lsgan`
writes the generator of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/lsgan`;
see `common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.lsgan.config import LSGANConfig
from apps.lsgan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="lsgan", config_class=LSGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
