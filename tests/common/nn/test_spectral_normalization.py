"""Spectral normalisation (common/nn/spectral_normalization.py) against a NumPy power step, its gradient
through sigma, its vector's state (non-trainable, checkpointed, updated in training mode only)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.nn.spectral_normalization import SpectralNormalization
from tests.tolerances import NETWORK_RTOL, assert_close_to_scale


def power_step(weights, u):
    """One power step on W [fan_in, units] from u [1, units]: (u', sigma), float64."""
    weights, u = np.asarray(weights, np.float64), np.asarray(u, np.float64)
    v = u @ weights.T
    v /= np.linalg.norm(v)
    u_new = v @ weights
    u_new /= np.linalg.norm(u_new)
    return u_new, float((v @ weights @ u_new.T).item())


def dense_layer(seed=0):
    layer = SpectralNormalization(keras.layers.Dense(3, kernel_initializer=keras.initializers.RandomNormal(seed=seed),
                                                     bias_initializer="random_normal"))
    layer.build((None, 5))
    return layer


X = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)


@pytest.mark.parametrize("training", [True, False])
def test_output_is_the_layer_with_w_over_sigma_and_u_moves_in_training_mode_only(training):
    layer = dense_layer()
    kernel, bias, u = layer.layer.kernel.numpy(), layer.layer.bias.numpy(), layer.vector_u.numpy()
    u_new, sigma = power_step(kernel, u)
    out = layer(X, training=training).numpy()
    assert_close_to_scale(out, X @ (kernel / sigma) + bias)
    np.testing.assert_array_equal(layer.layer.kernel.numpy(), kernel)  # the trainable weight is never rewritten
    if training:
        np.testing.assert_allclose(layer.vector_u.numpy(), u_new, rtol=0, atol=NETWORK_RTOL)
    else:
        np.testing.assert_array_equal(layer.vector_u.numpy(), u)


def test_vector_is_a_non_trainable_weight_that_a_checkpoint_restores(tmp_path):
    layer = dense_layer()
    assert [w.name for w in layer.non_trainable_weights] == ["vector_u"]
    assert all("vector_u" not in w.path for w in layer.trainable_weights)
    layer(X, training=True)
    saved = layer.vector_u.numpy()
    path = tf.train.Checkpoint(layer=layer).save(str(tmp_path / "ckpt"))
    layer(X, training=True)
    assert not np.array_equal(layer.vector_u.numpy(), saved)
    tf.train.Checkpoint(layer=layer).restore(path).assert_consumed()
    np.testing.assert_array_equal(layer.vector_u.numpy(), saved)


def test_gradient_reaches_the_weight_through_sigma():
    # L = sum(c * (x W / sigma)) with u, v constant: dL/dW = G / sigma - <G, W> / sigma^2 * v^T u',
    # G = x^T c (Miyato et al. 2018, eq. 12).
    layer = dense_layer(seed=3)
    kernel, u = layer.layer.kernel.numpy().astype(np.float64), layer.vector_u.numpy()
    c = np.random.default_rng(2).normal(size=(4, 3))
    v = u @ kernel.T
    v /= np.linalg.norm(v)
    u_new, sigma = power_step(kernel, u)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.constant(c, tf.float32) * layer(X, training=True))
    gradient = tape.gradient(loss, layer.layer.kernel).numpy()
    g = X.astype(np.float64).T @ c
    expected = g / sigma - np.sum(g * kernel) / sigma**2 * (v.T @ u_new)
    assert_close_to_scale(gradient, expected)
    assert not np.allclose(expected, g / sigma, atol=1e-3 * np.abs(expected).max())  # the sigma term matters here


def test_sigma_converges_to_the_largest_singular_value():
    layer = SpectralNormalization(keras.layers.Conv2D(4, 3, kernel_initializer=keras.initializers.RandomNormal(seed=5)))
    images = np.zeros((1, 6, 6, 2), np.float32)
    layer.build(images.shape)
    for _ in range(60):
        layer(images, training=True)
    weights = layer.layer.kernel.numpy().reshape(-1, 4)
    _, sigma = power_step(weights, layer.vector_u.numpy())
    assert sigma == pytest.approx(np.linalg.svd(weights, compute_uv=False)[0], rel=1e-4)


def test_refuses_a_layer_without_a_kernel():
    with pytest.raises(TypeError, match="convolution, Dense or Embedding"):
        SpectralNormalization(keras.layers.BatchNormalization())


def test_an_all_zero_kernel_is_used_as_it_is_keeps_its_vector_and_has_a_finite_gradient():
    layer = dense_layer()
    layer.layer.kernel.assign(np.zeros((5, 3), np.float32))
    u = layer.vector_u.numpy()
    with tf.GradientTape() as tape:
        out = layer(X, training=True)
    gradient = tape.gradient(out, layer.layer.kernel)
    # sigma is taken as 1: the output is the bias alone and the gradient is the plain layer's, X^T 1.
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(layer.layer.bias.numpy(), (4, 3)))
    assert_close_to_scale(gradient.numpy(), np.broadcast_to(X.sum(0)[:, None], (5, 3)))
    np.testing.assert_array_equal(layer.vector_u.numpy(), u)
