"""Train CGAN: `python -m apps.cgan.train --data=data/mnist --model_dir=runs/cgan`.

The data must have class labels (the offline default digits do; see the README
for building a labelled dataset). Flags: the shared runtime flags, one flag per
field of `CGANConfig`, and the in-training evaluation flags
(`common.training.train_command`); see `--helpfull`. Interrupt with Ctrl-C (a
checkpoint is saved) and run the same command again to resume.
"""

from absl import app

from apps.cgan.config import CGANConfig
from apps.cgan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(CGANConfig)


def main(argv):
    train_command.main(argv, app_name="cgan", config_class=CGANConfig, build_model=build_model,
                       make_optimizers=make_optimizers)


if __name__ == "__main__":
    app.run(main)
