"""Evaluate a trained DCGAN: `python -m apps.dcgan.evaluate --model_dir=runs/dcgan --num_samples=10000`.

Prints FID, KID, Inception Score, precision/recall and density/coverage of the
newest checkpoint (or --checkpoint=best) against the run's dataset and writes
them to runs/dcgan/eval/step-<step>-<feature network>.json. Flags and feature
networks: `common.evaluation.evaluate_command` and `--helpfull`.
"""

from absl import app

from apps.dcgan.config import DCGANConfig
from apps.dcgan.model import build_model
from common.evaluation import evaluate_command

evaluate_command.define_evaluate_flags()


def main(argv):
    evaluate_command.main(argv, config_class=DCGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
