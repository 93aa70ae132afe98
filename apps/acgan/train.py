"""Train ACGAN: `python -m apps.acgan.train --data=data/cifar10 --model_dir=runs/acgan`.

Flags: the shared runtime flags, one flag per field of `ACGANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`.
The dataset must have labels (checked before training, `common.training.runtime.check_dataset_labels`); with no
`--data` the offline default digits (32x32 grayscale, labels 0..9) are used:
pass `--channels=1`. Interrupt with Ctrl-C (a checkpoint is saved) and run the
same command again to resume.
"""

from absl import app

from apps.acgan.config import ACGANConfig
from apps.acgan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(ACGANConfig)


def main(argv):
    train_command.main(argv, app_name="acgan", config_class=ACGANConfig, build_model=build_model,
                       make_optimizers=make_optimizers)


if __name__ == "__main__":
    app.run(main)
