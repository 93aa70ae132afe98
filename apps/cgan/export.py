"""Export a trained CGAN generator for TF Serving.

`python -m apps.cgan.export --model_dir=runs/cgan --export_dir=exports/cgan`
writes the generator of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/cgan`;
see `common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.cgan.config import CGANConfig
from apps.cgan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="cgan", config_class=CGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
