"""Train LSGAN: `python -m apps.lsgan.train --data=data/faces --model_dir=runs/lsgan --image_size=64`.

Flags: the shared runtime flags, one flag per field of `LSGANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`. Interrupt
with Ctrl-C (a checkpoint is saved) and run the same command again to resume.
"""

from absl import app

from apps.lsgan.config import LSGANConfig
from apps.lsgan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(LSGANConfig)


def main(argv):
    train_command.main(argv, app_name="lsgan", config_class=LSGANConfig, build_model=build_model,
                   make_optimizers=make_optimizers)


if __name__ == "__main__":
    app.run(main)
