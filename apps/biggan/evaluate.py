"""Evaluate a trained BigGAN: `python -m apps.biggan.evaluate --model_dir=runs/biggan --num_samples=10000`.

Prints the sample-quality metrics of the newest checkpoint (or --checkpoint=best)
against the run's dataset and writes them to runs/biggan/eval/step-<step>-<feature
network>.json. The moving-average generator is sampled with its standing batch-norm
statistics (`standing_batches` of the run's config), and with the run's
`sample_truncation` when it is > 0. Flags and feature networks:
`common.evaluation.evaluate_command` and `--helpfull`.
"""

from absl import app

from apps.biggan.config import BigGANConfig
from apps.biggan.model import build_model
from common.evaluation import evaluate_command

evaluate_command.define_evaluate_flags()


def main(argv):
    evaluate_command.main(argv, config_class=BigGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
