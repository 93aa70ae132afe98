"""Evaluate a trained SAGAN: `python -m apps.sagan.evaluate --model_dir=runs/sagan --num_samples=10000`.

Prints the sample-quality metrics of the newest checkpoint (or --checkpoint=best)
against the run's dataset and writes them to runs/sagan/eval/step-<step>-<feature
network>.json; the class-conditional generator is asked for every class
(conditional accuracy, intra-FID). Flags and feature networks:
`common.evaluation.evaluate_command` and `--helpfull`.
"""

from absl import app

from apps.sagan.config import SAGANConfig
from apps.sagan.model import build_model
from common.evaluation import evaluate_command

evaluate_command.define_evaluate_flags()


def main(argv):
    evaluate_command.main(argv, config_class=SAGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
