"""Evaluate a trained LSGAN: `python -m apps.lsgan.evaluate --model_dir=runs/lsgan --num_samples=10000`.

Prints FID, KID, Inception Score, precision/recall and density/coverage of the
newest checkpoint (or --checkpoint=best) against the run's dataset and writes
them to runs/lsgan/eval/step-<step>-<feature network>.json. Flags and feature
networks: `common.evaluation.evaluate_command` and `--helpfull`.
"""

from absl import app

from apps.lsgan.config import LSGANConfig
from apps.lsgan.model import build_model
from common.evaluation import evaluate_command

evaluate_command.define_evaluate_flags()


def main(argv):
    evaluate_command.main(argv, config_class=LSGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
