"""Train StyleGAN: `python -m apps.stylegan.train --data=data/celeba64 --model_dir=runs/stylegan --image_size=64`.

Flags: the shared runtime flags, one flag per field of `StyleGANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`.
The run grows in phases from `--initial_resolution` (8) like ProGAN's
(`common.training.progressive`): each has its own batch size (`--batch_size`,
`--batch_sizes`), learning rate (`--learning_rate`, `--learning_rates`) and
dataset, read at `--image_size` and pooled down to the phase's resolution inside
the step. Without `--steps` the run trains the whole schedule.
"""

from absl import app

from apps.stylegan.config import StyleGANConfig
from apps.stylegan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(StyleGANConfig)


def main(argv):
    train_command.main(argv, app_name="stylegan", config_class=StyleGANConfig, build_model=build_model,
                       make_optimizers=make_optimizers, train_options=train_command.progressive_train_options)


if __name__ == "__main__":
    app.run(main)
