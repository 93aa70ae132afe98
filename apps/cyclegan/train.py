"""Train CycleGAN: `python -m apps.cyclegan.train --data=data/horse2zebra --model_dir=runs/cyclegan`.

`--data` is a dataset with two domains (built by
`python -m tfrecords.build --domains=trainA_dir,trainB_dir --output=...`); A is
its first domain, B its second. Without `--data` the run uses the offline
default two-domain dataset (64x64 colour and sepia crops,
`common.data.default_datasets`), and `--image_size` then defaults to 64, the size of
those images; with `--data` it defaults to the paper's 256.

Flags: the shared runtime flags and one flag per field of `CycleGANConfig`
(`common.training.train_command`); see `--helpfull`. Interrupt with Ctrl-C (a checkpoint is
saved) and run the same command again to resume.
"""

from absl import app

from apps.cyclegan.config import CycleGANConfig
from apps.cyclegan.model import build_model, make_optimizers
from common.training import train_command
from common.training import translator_training

train_command.define_train_flags(CycleGANConfig)


def main(argv):
    translator_training.main(argv, app_name="cyclegan", config_class=CycleGANConfig, build_model=build_model,
                              make_optimizers=make_optimizers)


if __name__ == "__main__":
    app.run(main)
