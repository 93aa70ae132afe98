"""Evaluate a trained StyleGAN: `python -m apps.stylegan.evaluate --model_dir=runs/stylegan --num_samples=10000`.

Prints FID, KID, Inception Score, precision/recall and density/coverage of the
newest checkpoint (or --checkpoint=best) against the run's dataset and writes
them to runs/stylegan/eval/step-<step>-<feature network>.json. The generator
renders the phase of the checkpoint's step at its alpha, upsampled to the run's
image size. Flags and feature networks: `common.evaluation.evaluate_command`
and `--helpfull`.
"""

from absl import app

from apps.stylegan.config import StyleGANConfig
from apps.stylegan.model import build_model
from common.evaluation import evaluate_command

evaluate_command.define_evaluate_flags()


def main(argv):
    evaluate_command.main(argv, config_class=StyleGANConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
