"""Evaluate a trained CGAN: `python -m apps.cgan.evaluate --model_dir=runs/cgan --num_samples=10000`.

Prints FID, KID, Inception Score, precision/recall, density/coverage, conditional accuracy and intra-FID of the
newest checkpoint (or --checkpoint=best) against the run's dataset and writes
them to runs/cgan/eval/step-<step>-<feature network>.json. Flags and feature
networks: `common.evaluation.evaluate_command` and `--helpfull`.
"""

from absl import app

from apps.cgan.config import CGANConfig
from apps.cgan.model import build_model
from common.evaluation import evaluate_command

evaluate_command.define_evaluate_flags()


def main(argv):
    evaluate_command.main(argv, config_class=CGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
