"""common/models/gan_step.py: gradient norms by hand, finite-only means, latents per replica."""

import math

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


@pytest.mark.parametrize("batch_size, num_classes", [(25, 10), (10, 10), (7, 3), (3, 10)])
def test_balanced_labels_hold_every_class_floor_or_ceil_times_and_change_between_steps(batch_size, num_classes):
    seed_generator = keras.random.SeedGenerator(5)
    draws = [gan_step.replica_balanced_labels(seed_generator, batch_size, num_classes).numpy() for _ in range(40)]
    totals = np.zeros(num_classes, np.int64)
    for labels in draws:
        assert labels.dtype == np.int32 and labels.shape == (batch_size,)
        counts = np.bincount(labels, minlength=num_classes)
        assert counts.min() >= batch_size // num_classes and counts.max() <= -(-batch_size // num_classes)
        totals += counts
    assert len({labels.tobytes() for labels in draws}) > 1  # a new order (and offset) every step
    if batch_size % num_classes:  # the classes with an extra copy rotate: every class is drawn
        assert totals.min() > (batch_size // num_classes) * len(draws)


def test_balanced_labels_are_balanced_on_each_replica_and_differ_between_replicas():
    strategy = two_cpu_strategy()
    with strategy.scope():
        seed_generator = keras.random.SeedGenerator(7)
    step = tf.function(lambda: gan_step.replica_balanced_labels(seed_generator, 5, 10))
    seen_different = False
    for _ in range(4):
        parts = [t.numpy() for t in strategy.experimental_local_results(strategy.run(step))]
        for labels in parts:
            assert np.bincount(labels, minlength=10).max() == 1  # 5 labels of 10 classes: all different
        seen_different |= not np.array_equal(parts[0], parts[1])
    assert seen_different


def test_uniform_latents_lie_in_the_unit_hypercube_and_are_slices_of_one_global_draw():
    single = gan_step.replica_latents_uniform(keras.random.SeedGenerator(3), 4, 50).numpy()
    assert single.min() >= 0.0 and single.max() < 1.0 and 0.4 < single.mean() < 0.6
    strategy = two_cpu_strategy()
    with strategy.scope():
        seed_generator = keras.random.SeedGenerator(3)
    per_replica = strategy.run(tf.function(lambda: gan_step.replica_latents_uniform(seed_generator, 2, 50)))
    parts = [t.numpy() for t in strategy.experimental_local_results(per_replica)]
    np.testing.assert_array_equal(np.concatenate(parts), single)


def test_global_norm_sums_repeated_rows_of_an_embedding_gradient_before_squaring():
    # Rows 0, 0 and 2 of a [3, 2] table: the dense gradient is [[3, 4], [0, 0], [0, 1]] -> norm sqrt(26).
    slices = tf.IndexedSlices(tf.constant([[1.0, 2.0], [2.0, 2.0], [0.0, 1.0]]), tf.constant([0, 0, 2]),
                              dense_shape=tf.constant([3, 2]))
    assert float(gan_step.global_norm([slices])) == pytest.approx(math.sqrt(26.0), rel=1e-6)
