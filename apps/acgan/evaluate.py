"""Evaluate a trained ACGAN: `python -m apps.acgan.evaluate --model_dir=runs/acgan --num_samples=10000`.

Prints the sample-quality metrics of the newest checkpoint (or --checkpoint=best)
against the run's dataset and writes them to runs/acgan/eval/step-<step>-<feature
network>.json; for a class-conditional model (`model.num_classes`) the command
samples every class. Flags and feature networks:
`common.evaluation.evaluate_command` and `--helpfull`.
"""

from absl import app

from apps.acgan.config import ACGANConfig
from apps.acgan.model import build_model
from common.evaluation import evaluate_command

evaluate_command.define_evaluate_flags()


def main(argv):
    evaluate_command.main(argv, config_class=ACGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
