"""Export a trained BigGAN generator for TF Serving.

`python -m apps.biggan.export --model_dir=runs/biggan --export_dir=exports/biggan`
writes the moving-average generator of the run's newest checkpoint (the live one
with --noema), with batch-norm statistics recomputed for its weights (standing
statistics, `apps.biggan.standing_statistics`), as the next version folder of
`exports/biggan`. Its signatures take `z` (or a `seed`), `labels` and the
truncation threshold `truncation` (psi; <= 0 for none); see
`common.export.generator_export`, `common.export.export_command` and `--helpfull`.
"""

from absl import app

from apps.biggan.config import BigGANConfig
from apps.biggan.model import build_model
from common.export import export_command

export_command.define_export_flags()


def main(argv):
    export_command.main(argv, app_name="biggan", config_class=BigGANConfig, build_model=build_model,
                        truncation=True)


if __name__ == "__main__":
    app.run(main)
