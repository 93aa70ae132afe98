"""Evaluate a trained PixelRNN / PixelCNN: `python -m apps.pixelrnn.evaluate --model_dir=runs/pixelrnn`.

Prints and writes the exact negative log-likelihood of the test split in nats
per image and bits per dimension; ``--num_samples=N`` also draws N images, times
them and writes a grid. Flags: `common.evaluation.likelihood_evaluation` and `--helpfull`.
"""

from absl import app

from apps.pixelrnn.config import PixelRNNConfig
from apps.pixelrnn.model import build_model
from common.evaluation import likelihood_evaluation

likelihood_evaluation.define_likelihood_flags()


def main(argv):
    likelihood_evaluation.main(argv, config_class=PixelRNNConfig, build_model=build_model)


if __name__ == "__main__":
    app.run(main)
