"""CycleGAN train_step under mixed precision and on two replicas."""

import keras
import numpy as np
import tensorflow as tf

from apps.cyclegan.config import CycleGANConfig
from tests.apps.cyclegan.test_model import TINY, _batch, _compiled
from tests.strategies import two_cpu_strategy
from tests.tolerances import assert_steps_close


def test_mixed_float16_step_is_finite_with_float32_losses():
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = _compiled(CycleGANConfig(**TINY),
                          lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(2e-4)))
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    logs = model.train_step(_batch(1))
    assert all(v.dtype == tf.float32 and np.isfinite(float(v)) for v in logs.values())
    assert model.generator_ab.get_layer("c7s1_conv").compute_dtype == "float16"
    assert model.pool_a.images.dtype == "float32"


def test_two_replicas_take_the_step_of_one_device():
    """Batch 2 on one device == one image on each of two replicas (instance norm is per image)."""
    config = CycleGANConfig(**TINY)
    batch = _batch(2, seed=3)
    single = _compiled(config)
    initial = [w.numpy() for w in single.generator_weights + single.discriminator_weights]
    single.train_step(batch)
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored = _compiled(config)
    inputs = strategy.experimental_distribute_values_from_function(
        lambda ctx: {k: v[ctx.replica_id_in_sync_group:ctx.replica_id_in_sync_group + 1] for k, v in batch.items()})
    strategy.run(mirrored.train_step, args=(inputs,))
    # The replicas sum the gradient in two halves: weights agree to NETWORK_RTOL of the step
    # they took (tests/tolerances.py).
    for one, two, old in zip(single.generator_weights + single.discriminator_weights,
                             mirrored.generator_weights + mirrored.discriminator_weights, initial):
        assert_steps_close(two.numpy(), one.numpy(), old, err_msg=one.path)
