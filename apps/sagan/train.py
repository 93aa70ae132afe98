"""Train SAGAN: `python -m apps.sagan.train --data=data/imagenet128 --model_dir=runs/sagan`.

Flags: the shared runtime flags, one flag per field of `SAGANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`.
The default is the paper's 128x128 ImageNet configuration (1,000 classes);
`--architecture=cifar32 --num_classes=10` gives the 32x32 networks. The dataset
must have labels (checked before training,
`common.training.runtime.check_dataset_labels`); with no `--data` the offline
default digits (32x32 grayscale, labels 0..9) are used. Interrupt with Ctrl-C (a
checkpoint is saved) and run the same command again to resume.
"""

from absl import app

from apps.sagan.config import SAGANConfig
from apps.sagan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(SAGANConfig)


def main(argv):
    train_command.main(argv, app_name="sagan", config_class=SAGANConfig, build_model=build_model,
                       make_optimizers=make_optimizers)


if __name__ == "__main__":
    app.run(main)
