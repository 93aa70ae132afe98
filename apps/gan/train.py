"""Train GAN: `python -m apps.gan.train --data=data/mnist --model_dir=runs/gan`.

Flags: the shared runtime flags, one flag per field of `GANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`. Interrupt
with Ctrl-C (a checkpoint is saved) and run the same command again to resume.
"""

from absl import app

from apps.gan.config import GANConfig
from apps.gan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(GANConfig)


def main(argv):
    train_command.main(argv, app_name="gan", config_class=GANConfig, build_model=build_model,
                   make_optimizers=make_optimizers)


if __name__ == "__main__":
    app.run(main)
