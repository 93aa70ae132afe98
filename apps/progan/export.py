"""Export a trained ProGAN generator for TF Serving.

`python -m apps.progan.export --model_dir=runs/progan --export_dir=exports/progan`
writes the generator of the run's newest checkpoint (its moving average unless
--noema), rendering the phase of that step at its alpha and upsampled to the
run's image size, as the next version folder of `exports/progan`; see
`common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.progan.config import ProGANConfig
from apps.progan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="progan", config_class=ProGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
