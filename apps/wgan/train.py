"""Train WGAN: `python -m apps.wgan.train --data=data/faces --model_dir=runs/wgan --image_size=64`.

Flags: the shared runtime flags, one flag per field of `WGANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`. Each
training step is one generator update; its element of the dataset holds one
real batch per critic update (`common.models.critic_training.critic_dataset_fn`).
"""

from absl import app

from apps.wgan.config import WGANConfig
from apps.wgan.model import build_model, make_optimizers
from common.models import critic_training
from common.training import distribute
from common.training import runtime
from common.training import train_command

train_command.define_train_flags(WGANConfig)


def train_options(run, config: WGANConfig) -> dict:
    """Critic batches grouped per generator step; a changing schedule is refused on several replicas."""
    strategy = distribute.make_strategy(run.strategy, run.devices)
    critic_training.check_schedule_for_strategy(config.schedule, strategy)
    return dict(strategy=strategy,
                dataset_fn=critic_training.critic_dataset_fn(runtime.image_dataset_fn(run, config), config.schedule),
                num_examples=critic_training.num_examples_fn(run.data, config.schedule))


def main(argv):
    train_command.main(argv, app_name="wgan", config_class=WGANConfig, build_model=build_model,
                   make_optimizers=make_optimizers, train_options=train_options)


if __name__ == "__main__":
    app.run(main)
