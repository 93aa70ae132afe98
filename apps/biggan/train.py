"""Train BigGAN: `python -m apps.biggan.train --data=data/imagenet128 --model_dir=runs/biggan`.

Flags: the shared runtime flags, one flag per field of `BigGANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`.
The default is the paper's 128x128 ImageNet configuration (1,000 classes);
`--variant=deep` is BigGAN-deep, `--architecture=cifar32 --num_classes=10` the
32x32 networks. The dataset must have labels; with no `--data` the offline
default digits (32x32 grayscale, labels 0..9) are used. Interrupt with Ctrl-C (a
checkpoint is saved) and run the same command again to resume.
"""

from absl import app

from apps.biggan.config import BigGANConfig
from apps.biggan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(BigGANConfig)


def main(argv):
    train_command.main(argv, app_name="biggan", config_class=BigGANConfig, build_model=build_model,
                       make_optimizers=make_optimizers)


if __name__ == "__main__":
    app.run(main)
