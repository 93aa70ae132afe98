"""Export a trained SAGAN generator for TF Serving.

`python -m apps.sagan.export --model_dir=runs/sagan --export_dir=exports/sagan`
writes the generator of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/sagan`,
with the labelled signatures of a class-conditional generator (`z` and
`labels`); see `common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.sagan.config import SAGANConfig
from apps.sagan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="sagan", config_class=SAGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
