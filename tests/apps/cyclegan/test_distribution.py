"""CycleGAN train_step under mixed precision and on two replicas."""

import keras
import numpy as np
import tensorflow as tf

from apps.cyclegan.config import CycleGANConfig
from tests.apps.cyclegan.test_model import TINY, _batch, _compiled
from tests.strategies import two_cpu_strategy
from tests.tolerances import assert_steps_close, scale_of


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
    # The replicas sum the gradient in two halves: weights agree to NETWORK_RTOL of the steps
    # the network took (tests/tolerances.py). Instance normalization cancels the gradient of the
    # convolution biases before it to rounding noise, so each tensor is compared on the scale of
    # the network's largest step rather than its own.
    ones = [w.numpy() for w in single.generator_weights + single.discriminator_weights]
    network_step = scale_of(*[one - old for one, old in zip(ones, initial)])
    for one, two, old, variable in zip(ones, mirrored.generator_weights + mirrored.discriminator_weights, initial,
                                       single.generator_weights + single.discriminator_weights):
        assert_steps_close(two.numpy(), one, old, scale=network_step, err_msg=variable.path)
