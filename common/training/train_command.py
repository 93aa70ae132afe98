"""The train command every app shares: flags, config, and one call of the runtime.

An app's `train.py` declares the flags and calls `main`:

    train_command.define_train_flags(DCGANConfig)

    def main(argv):
        train_command.main(argv, app_name="dcgan", config_class=DCGANConfig,
                       build_model=build_model, make_optimizers=make_optimizers)

Flags: the runtime's (`common.training.flags.define_runtime_flags`), one per field of
the app's config dataclass, and the in-training evaluation flags
(`common.evaluation.periodic_evaluation`). An app whose input or strategy needs more than the
runtime's defaults passes `train_options(run, config) -> dict` of extra
`common.training.runtime.train` keyword arguments (a `dataset_fn`, a `strategy`, ...).
Two keys are merged instead of passed through: `extra_callbacks` (a list of
Keras callbacks run after the evaluation callbacks, e.g. TensorBoard image
rows) and `build_optimizers` (config -> {compile keyword: optimizer}, in place
of the one built from `make_optimizers`, e.g. when a learning-rate schedule
needs the run's number of steps).
"""

from __future__ import annotations

from typing import Callable, Mapping

from common.evaluation import periodic_evaluation
from common.training import flags as runtime_flags
from common.training import runtime


def define_train_flags(config_class: type) -> None:
    """Declares the runtime flags, one flag per field of `config_class`, and the evaluation flags."""
    runtime_flags.define_runtime_flags()
    runtime_flags.define_dataclass_flags(config_class)
    periodic_evaluation.define_eval_flags()


def main(argv, *, app_name: str, config_class: type, build_model: Callable, make_optimizers: Callable,
         train_options: Callable[[object, object], Mapping] | None = None) -> None:
    """Reads the flags, builds the config and trains (or resumes) with `common.training.runtime.train`.

    Args:
      argv: absl's argv (no positional arguments are accepted).
      app_name: stored in the model directory's config.json.
      config_class: the app's frozen config dataclass.
      build_model: config -> uncompiled model following the runtime's protocol.
      make_optimizers: config -> (generator optimizer, discriminator optimizer).
      train_options: (run config, app config) -> more keyword arguments of `runtime.train`;
        its `extra_callbacks` and `build_optimizers` entries are merged as the module docstring says.
    """
    runtime_flags.check_no_positional_args(argv)
    with runtime.exit_on_user_error(end_process_after_signal=True):
        run = runtime_flags.runtime_config_from_flags()
        config = runtime_flags.dataclass_from_flags(config_class)
        options = dict(train_options(run, config)) if train_options is not None else {}
        build_optimizers = options.pop(
            "build_optimizers", lambda c: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c))))
        # A class-conditional app's dataset needs labels: checked before the evaluation's classifier is built.
        runtime.check_dataset_labels(run, config)
        callbacks = periodic_evaluation.callbacks_from_flags(run, config) + list(options.pop("extra_callbacks", []))
        runtime.train(
            app=app_name, config=config, run=run, build_model=build_model,
            build_optimizers=build_optimizers, extra_callbacks=callbacks, **options)


def progressive_train_options(run, config) -> dict:
    """`train_options` of an app trained in phases (ProGAN, StyleGAN): ``config.schedule`` with one dataset per
    phase, of the phase's batch size and shuffled with a seed of its own (``run.seed + phase.index``)."""

    def dataset_fn(phase):
        return runtime.image_dataset_fn(run.replace(batch_size=phase.batch_size, seed=run.seed + phase.index), config)

    return dict(stages=config.schedule(dataset_fn))
