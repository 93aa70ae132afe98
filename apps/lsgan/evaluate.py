"""Evaluate a trained LSGAN: `python -m apps.lsgan.evaluate --model_dir=runs/lsgan --num_samples=10000`.

Prints FID, KID, Inception Score, precision/recall and density/coverage of the
newest checkpoint (or --checkpoint=best) against the run's dataset and writes
them to runs/lsgan/eval/step-<step>-<feature network>.json. Flags and feature
networks: `common.evaluate_app` and `--helpfull`.
"""

from absl import app

from apps.lsgan.config import LSGANConfig
from apps.lsgan.model import build_model
from common import evaluate_app

evaluate_app.define_evaluate_flags()


def main(argv):
    evaluate_app.main(argv, config_class=LSGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
