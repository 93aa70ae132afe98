"""Export a trained ACGAN generator for TF Serving.

`python -m apps.acgan.export --model_dir=runs/acgan --export_dir=exports/acgan`
writes the generator of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/acgan`;
the generator takes class labels (`model.num_classes`); see
`common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.acgan.config import ACGANConfig
from apps.acgan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="acgan", config_class=ACGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
