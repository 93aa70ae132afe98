"""common/models/gan_step.py: gradient norms by hand, finite-only means, latents per replica."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.models import gan_step
from tests.strategies import two_cpu_strategy


def test_global_norm_by_hand_skips_none():
    gradients = [tf.constant([3.0, 0.0]), None, tf.constant([[4.0]], tf.float16)]
    assert float(gan_step.global_norm(gradients)) == pytest.approx(5.0)  # sqrt(9 + 16)


def test_unscaled_global_norm_divides_out_the_loss_scale():
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=8.0)
    optimizer.build([keras.Variable(1.0)])
    assert float(gan_step.unscaled_global_norm([tf.constant([24.0, 32.0])], optimizer)) == pytest.approx(5.0)


def test_update_if_finite_leaves_non_finite_values_out():
    tracker = keras.metrics.Mean()
    for value in (1.0, np.nan, 3.0, np.inf):
        gan_step.update_if_finite(tracker, tf.constant(value))
    assert float(tracker.result()) == 2.0


def test_replica_latents_are_slices_of_one_global_draw():
    single = gan_step.replica_latents(keras.random.SeedGenerator(3), 4, 2).numpy()
    strategy = two_cpu_strategy()
    with strategy.scope():
        seed_generator = keras.random.SeedGenerator(3)
    per_replica = strategy.run(tf.function(lambda: gan_step.replica_latents(seed_generator, 2, 2)))
    parts = [t.numpy() for t in strategy.experimental_local_results(per_replica)]
    np.testing.assert_array_equal(np.concatenate(parts), single)
