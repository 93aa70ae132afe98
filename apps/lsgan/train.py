"""Train LSGAN: `python -m apps.lsgan.train --data=data/faces --model_dir=runs/lsgan --image_size=64`.

Flags: the shared runtime flags (`common.flags.define_runtime_flags`) and one
flag per field of `LSGANConfig`; see `--helpfull`. Interrupt with Ctrl-C (a
checkpoint is saved) and run the same command again to resume.
"""

from absl import app

from apps.lsgan.config import LSGANConfig
from apps.lsgan.model import build_model, make_optimizers
from common import eval_callback
from common import flags as runtime_flags
from common import runtime

runtime_flags.define_runtime_flags()
runtime_flags.define_dataclass_flags(LSGANConfig)
eval_callback.define_eval_flags()


def build_optimizers(config: LSGANConfig):
    g_optimizer, d_optimizer = make_optimizers(config)
    return {"g_optimizer": g_optimizer, "d_optimizer": d_optimizer}


def main(argv):
    runtime_flags.check_no_positional_args(argv)
    with runtime.exit_on_user_error():
        run = runtime_flags.runtime_config_from_flags()
        config = runtime_flags.dataclass_from_flags(LSGANConfig)
        runtime.train(app="lsgan", config=config, run=run, build_model=build_model,
                      build_optimizers=build_optimizers,
                      extra_callbacks=eval_callback.callbacks_from_flags(run, config))


if __name__ == "__main__":
    app.run(main)
