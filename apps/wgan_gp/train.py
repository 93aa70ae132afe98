"""Train WGAN: `python -m apps.wgan_gp.train --data=data/faces --model_dir=runs/wgan_gp --image_size=64`.

Flags: the shared runtime flags (`common.flags.define_runtime_flags`) and one
flag per field of `WGANGPConfig`; see `--helpfull`. Each training step is one
generator update; its element of the dataset holds one real batch per critic
update (`common.critic_training.critic_dataset_fn`).
"""

from absl import app

from apps.wgan_gp.config import WGANGPConfig
from apps.wgan_gp.model import build_model, make_optimizers
from common import critic_training, eval_callback
from common import flags as runtime_flags
from common import runtime

runtime_flags.define_runtime_flags()
runtime_flags.define_dataclass_flags(WGANGPConfig)
eval_callback.define_eval_flags()


def build_optimizers(config: WGANGPConfig):
    g_optimizer, d_optimizer = make_optimizers(config)
    return {"g_optimizer": g_optimizer, "d_optimizer": d_optimizer}


def main(argv):
    runtime_flags.check_no_positional_args(argv)
    with runtime.exit_on_user_error():
        run = runtime_flags.runtime_config_from_flags()
        config = runtime_flags.dataclass_from_flags(WGANGPConfig)
        runtime.train(app="wgan_gp", config=config, run=run, build_model=build_model,
                      build_optimizers=build_optimizers,
                      dataset_fn=critic_training.critic_dataset_fn(runtime.image_dataset_fn(run, config),
                                                                   config.schedule),
                      num_examples=critic_training.num_examples_fn(run.data, config.schedule),
                      extra_callbacks=eval_callback.callbacks_from_flags(run, config))


if __name__ == "__main__":
    app.run(main)
