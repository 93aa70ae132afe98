"""Learning-rate schedules shared by the apps.

`ConstantThenLinearDecay`: the schedule of CycleGAN (Zhu et al. 2017,
https://arxiv.org/abs/1703.10593, section 7.1: "We keep the same learning rate
for the first 100 epochs and linearly decay the rate to zero over the next 100
epochs"), expressed in optimizer steps instead of epochs:

    lr(step) = initial                                        step <= decay_start
    lr(step) = initial * (total - step) / (total - decay_start)   decay_start < step < total
    lr(step) = 0                                              step >= total

`step` is the optimizer's iteration count (the number of updates already
applied), so the first update uses `initial` and the update at step
`total - 1` uses `initial / (total - decay_start)` (the last non-zero value).

Deviation from the reference code (junyanz/pytorch-CycleGAN-and-pix2pix), which
changes the rate once per epoch as `1 - max(0, epoch - n_epochs) / (n_epochs_decay + 1)`
and so never reaches exactly zero: here the rate changes every step and is 0 at `total`.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ConstantThenLinearDecay"]


@keras.saving.register_keras_serializable(package="gansuite")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant `initial_learning_rate` until `decay_start`, then linear to 0 at `total_steps`.

    Args:
      initial_learning_rate: The rate of the constant phase.
      total_steps: The step at which the rate reaches 0 (the length of training).
      decay_start: The step after which the decay begins; default `total_steps // 2`.
    """

    def __init__(self, initial_learning_rate: float, total_steps: int, decay_start: int | None = None):
        if not initial_learning_rate > 0:
            raise ValueError(f"initial_learning_rate must be > 0; got {initial_learning_rate!r}.")
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer; got {total_steps!r}.")
        if decay_start is None:
            decay_start = total_steps // 2
        if not 0 <= decay_start < total_steps:
            raise ValueError(f"decay_start must be in [0, total_steps={total_steps}); got {decay_start!r}.")
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.decay_start = int(decay_start)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decay_length = float(self.total_steps - self.decay_start)
        fraction = ops.clip((self.total_steps - step) / decay_length, 0.0, 1.0)  # 1 until decay_start
        return self.initial_learning_rate * fraction

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "total_steps": self.total_steps,
                "decay_start": self.decay_start}
