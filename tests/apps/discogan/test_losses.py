"""DiscoGAN reconstruction distances and weight decay against hand-computed values (apps/discogan/losses.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.discogan import losses

# Two 1x1x2 "images" in [-1, 1]; in [0, 1] they are [0.5, 1.0] and [0.0, 0.75] / [1.0, 0.25].
RECONSTRUCTED = np.array([[[[0.0, 1.0]]], [[[-1.0, 0.5]]]], np.float32)
ORIGINAL = np.array([[[[0.0, -1.0]]], [[[1.0, 0.5]]]], np.float32)
# Differences in [0, 1]: [0, 1], [-1, 0].


def test_mean_squared_error_on_unit_range():
    # (0 + 1 + 1 + 0) / 4 = 0.5: a quarter of the MSE on [-1, 1] ((0 + 4 + 4 + 0) / 4 = 2).
    value = losses.reconstruction_distance("mse", RECONSTRUCTED, ORIGINAL)
    assert float(value) == pytest.approx(0.5)
    assert float(losses.mean_squared_error(RECONSTRUCTED, ORIGINAL)) == pytest.approx(2.0)


def test_l1_on_unit_range():
    assert float(losses.reconstruction_distance("l1", RECONSTRUCTED, ORIGINAL)) == pytest.approx(0.5)


def test_huber_quadratic_inside_delta_linear_outside():
    a = np.array([0.0, 0.5, 3.0, -2.0], np.float32)
    b = np.zeros(4, np.float32)
    # |d| = 0, 0.5, 3, 2 -> 0, 0.125, 3 - 0.5 = 2.5, 2 - 0.5 = 1.5; mean 4.125 / 4.
    assert float(losses.huber(a, b)) == pytest.approx(4.125 / 4)
    # delta 2: 0, 0.125, 2 * (3 - 1) = 4, 0.5 * 4 = 2 -> 6.125 / 4.
    assert float(losses.huber(a, b, delta=2.0)) == pytest.approx(6.125 / 4)
    # On [0, 1] every difference is within delta 1, so Huber is half the MSE there.
    assert float(losses.reconstruction_distance("huber", RECONSTRUCTED, ORIGINAL)) == pytest.approx(0.25)


def test_distances_are_float32_from_float16_inputs():
    value = losses.reconstruction_distance("mse", tf.constant(RECONSTRUCTED, tf.float16), ORIGINAL)
    assert value.dtype == tf.float32


def test_l2_penalty_value_and_gradient_add_decay_times_weight():
    weights = [keras.Variable(np.array([1.0, -2.0], np.float32)), keras.Variable(np.array([[3.0]], np.float32))]
    with tf.GradientTape() as tape:
        penalty = losses.l2_penalty(weights, 0.1)
    assert float(penalty) == pytest.approx(0.5 * 0.1 * (1 + 4 + 9))
    gradients = tape.gradient(penalty, weights)
    np.testing.assert_allclose(gradients[0], [0.1, -0.2], rtol=1e-6)
    np.testing.assert_allclose(gradients[1], [[0.3]], rtol=1e-6)
    assert float(losses.l2_penalty(weights, 0.0)) == 0.0
