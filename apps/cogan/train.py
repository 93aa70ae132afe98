"""Train CoGAN: `python -m apps.cogan.train --model_dir=runs/cogan --pairing=edge`.

With no --data it trains on the offline default digits (32x32 grayscale,
`common.data.default_datasets.default_dataset("digits")`); pass --data=<an MNIST build>
for the paper's setting. Domain a is the digits at even positions, domain b the
edge maps (--pairing=edge) or negatives (--pairing=invert) of the digits at odd
positions (`apps.cogan.data`).

Flags: the shared runtime flags, one flag per field of `CoGANConfig`, and the
in-training evaluation flags (`common.training.train_command`); see `--helpfull`. Interrupt
with Ctrl-C (a checkpoint is saved) and run the same command again to resume.
"""

from absl import app, flags

from apps.cogan.config import CoGANConfig
from apps.cogan.data import pair_dataset_fn
from apps.cogan.model import build_model, make_optimizers
from common.training import train_command

train_command.define_train_flags(CoGANConfig)


def main(argv):
    if flags.FLAGS.eval_every:
        raise app.UsageError(
            "--eval_every is not available for CoGAN: its samples are pairs, which FID/KID against one domain "
            "would not measure. Measure pair quality with tests/benchmarks/cogan_pair_quality.py.")
    train_command.main(argv, app_name="cogan", config_class=CoGANConfig, build_model=build_model,
                   make_optimizers=make_optimizers,
                   train_options=lambda run, config: {"dataset_fn": pair_dataset_fn(run, config)})


if __name__ == "__main__":
    app.run(main)
