"""Train PixelRNN or PixelCNN: `python -m apps.pixelrnn.train --data=data/cifar10 --model_dir=runs/pixelrnn`.

Flags: the shared runtime flags, one flag per field of `PixelRNNConfig`
(``--model=diagonal_bilstm|row_lstm|pixelcnn``, ``--output=softmax256|bernoulli``,
``--hidden``, ``--num_layers``, ...) and the in-training evaluation flags
(`common.training.train_command`); see `--helpfull`. Logs ``loss`` (nats per
dimension), ``bits_per_dim`` and ``nll`` (nats per image) of the training batches.
Interrupt with Ctrl-C (a checkpoint is saved) and run the same command again to resume.
"""

from absl import app

from apps.pixelrnn.config import PixelRNNConfig
from apps.pixelrnn.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(PixelRNNConfig)


def train_options(run, config):
    """One optimizer, compiled as ``optimizer``."""
    return {"build_optimizers": lambda c: {"optimizer": make_optimizers(c)}}


def main(argv):
    train_command.main(argv, app_name="pixelrnn", config_class=PixelRNNConfig, build_model=build_model,
                       make_optimizers=make_optimizers, train_options=train_options)


if __name__ == "__main__":
    app.run(main)
