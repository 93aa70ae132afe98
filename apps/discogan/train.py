"""Train DiscoGAN: `python -m apps.discogan.train --data=data/edges2shoes --model_dir=runs/discogan`.

``--data`` is a dataset with two domains (`python -m tfrecords.build
--domains=a_dir,b_dir --output=...`); without it the run uses the offline
default two-domain dataset (colour photos -> sepia). Flags: the shared runtime
flags, one flag per field of `DiscoGANConfig`, and the evaluation flags
(`common.training.train_command`); see `--helpfull`. Interrupt with Ctrl-C (a checkpoint is
saved) and run the same command again to resume.
"""

from absl import app

from apps.discogan.config import DiscoGANConfig
from apps.discogan.data import train_options
from apps.discogan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(DiscoGANConfig)


def main(argv):
    train_command.main(argv, app_name="discogan", config_class=DiscoGANConfig, build_model=build_model,
                   make_optimizers=make_optimizers, train_options=train_options)


if __name__ == "__main__":
    app.run(main)
