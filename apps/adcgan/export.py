"""Export a trained ADCGAN generator for TF Serving.

`python -m apps.adcgan.export --model_dir=runs/adcgan --export_dir=exports/adcgan`
writes the generator of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/adcgan`;
the generator takes class labels (`model.num_classes`); see
`common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.adcgan.config import ADCGANConfig
from apps.adcgan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="adcgan", config_class=ADCGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
