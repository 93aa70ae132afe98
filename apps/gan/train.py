"""Train GAN: `python -m apps.gan.train --data=data/mnist --model_dir=runs/gan`.

Flags: the shared runtime flags (`common.flags.define_runtime_flags`) and one
flag per field of `GANConfig`; see `--helpfull`. Interrupt with Ctrl-C (a
checkpoint is saved) and run the same command again to resume.
"""

from absl import app

from apps.gan.config import GANConfig
from apps.gan.model import build_model, make_optimizers
from common import eval_callback
from common import flags as runtime_flags
from common import runtime

runtime_flags.define_runtime_flags()
runtime_flags.define_dataclass_flags(GANConfig)
eval_callback.define_eval_flags()


def build_optimizers(config: GANConfig):
    g_optimizer, d_optimizer = make_optimizers(config)
    return {"g_optimizer": g_optimizer, "d_optimizer": d_optimizer}


def main(argv):
    runtime_flags.check_no_positional_args(argv)
    with runtime.exit_on_user_error():
        run = runtime_flags.runtime_config_from_flags()
        config = runtime_flags.dataclass_from_flags(GANConfig)
        runtime.train(app="gan", config=config, run=run, build_model=build_model,
                      build_optimizers=build_optimizers,
                      extra_callbacks=eval_callback.callbacks_from_flags(run, config))


if __name__ == "__main__":
    app.run(main)
