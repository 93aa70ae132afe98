"""Train DCGAN: `python -m apps.dcgan.train --data=data/faces --model_dir=runs/dcgan --image_size=64`.

Flags: the shared runtime flags, one flag per field of `DCGANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`. Interrupt
with Ctrl-C (a checkpoint is saved) and run the same command again to resume.
"""

from absl import app

from apps.dcgan.config import DCGANConfig
from apps.dcgan.model import build_model, make_optimizers
from common.training import runtime
from common.training import train_command

train_command.define_train_flags(DCGANConfig)


def train_options(run, config):
    """Optimizers whose learning-rate decay (``decay_start_fraction < 1``) spans the run's steps."""

    def build_optimizers(c):
        steps = runtime.total_steps(run) if c.decay_start_fraction < 1.0 else None
        return dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c, steps)))

    return {"build_optimizers": build_optimizers}


def main(argv):
    train_command.main(argv, app_name="dcgan", config_class=DCGANConfig, build_model=build_model,
                   make_optimizers=make_optimizers, train_options=train_options)


if __name__ == "__main__":
    app.run(main)
