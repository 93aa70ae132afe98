"""Train ProGAN: `python -m apps.progan.train --data=data/celeba64 --model_dir=runs/progan --image_size=64`.

Flags: the shared runtime flags, one flag per field of `ProGANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`.
The run grows in phases (`common.training.progressive`): each has its own
batch size (`--batch_size`, `--batch_sizes`) and dataset, read at
`--image_size` and pooled down to the phase's resolution inside the step.
Without `--steps` the run trains the whole schedule: every resolution faded in
over `--fade_images` and trained stable for `--stable_images`.
"""

from absl import app

from apps.progan.config import ProGANConfig
from apps.progan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(ProGANConfig)


def main(argv):
    train_command.main(argv, app_name="progan", config_class=ProGANConfig, build_model=build_model,
                       make_optimizers=make_optimizers, train_options=train_command.progressive_train_options)


if __name__ == "__main__":
    app.run(main)
