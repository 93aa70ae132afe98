"""Numeric precision of a training run through Keras dtype policies.

Follows Micikevicius et al. 2018, "Mixed Precision Training"
(https://arxiv.org/abs/1710.03740): layers compute in float16 or bfloat16 while
variables stay float32; with float16 the loss is multiplied by a dynamic loss
scale before differentiation so small gradients do not underflow, and the
gradients are divided by it again before they are applied.

In Keras 3 that is `keras.mixed_precision.set_dtype_policy(...)` for the layers
and `keras.optimizers.LossScaleOptimizer` for the scaling. A custom
`train_step` calls `optimizer.scale_loss(loss)` before taking gradients
(identity for a plain optimizer) and `apply_gradients` unscales, skips the
update if a gradient is not finite, and adapts the scale. bfloat16 has the
float32 exponent range and needs no loss scaling. Apps keep discriminator
logits and loss math in float32 (final layers with `dtype="float32"`).
"""

from __future__ import annotations

import contextlib

import keras

from common.training.runtime_config import PRECISIONS


@contextlib.contextmanager
def dtype_policy(precision: str):
    """Sets the global Keras dtype policy for the block and restores the previous one after."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def wrap_optimizer(optimizer: keras.optimizers.Optimizer, precision: str) -> keras.optimizers.Optimizer:
    """The optimizer wrapped in a dynamic LossScaleOptimizer under mixed_float16, else unchanged."""
    if precision == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def loss_scale(optimizer) -> float | None:
    """The current dynamic loss scale of a LossScaleOptimizer, None for other optimizers."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return float(keras.ops.convert_to_numpy(optimizer.dynamic_scale))
    return None


def learning_rate(optimizer) -> float:
    """The optimizer's current learning rate (a schedule evaluated at its iteration count)."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
