"""Train WGAN-GP: `python -m apps.wgan_gp.train --data=data/faces --model_dir=runs/wgan_gp --image_size=64`.

Flags: the shared runtime flags, one flag per field of `WGANGPConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`. Each
training step is one generator update; its element of the dataset holds one
real batch per critic update (`common.models.critic_training.critic_dataset_fn`).
"""

from absl import app

from apps.wgan_gp.config import WGANGPConfig
from apps.wgan_gp.model import build_model, make_optimizers
from common.models import critic_training
from common.training import runtime
from common.training import train_command

train_command.define_train_flags(WGANGPConfig)


def train_options(run, config: WGANGPConfig) -> dict:
    """One real batch per critic update, grouped per generator step."""
    return dict(dataset_fn=critic_training.critic_dataset_fn(runtime.image_dataset_fn(run, config), config.schedule),
                num_examples=critic_training.num_examples_fn(run.data, config.schedule))


def main(argv):
    train_command.main(argv, app_name="wgan_gp", config_class=WGANGPConfig, build_model=build_model,
                   make_optimizers=make_optimizers, train_options=train_options)


if __name__ == "__main__":
    app.run(main)
