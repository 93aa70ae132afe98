"""Conditional batch normalisation and the projection term against closed forms on tiny tensors."""

import keras
import numpy as np
import pytest

from common.nn.conditional_layers import ClassProjection, ConditionalAffine, ConditionalBatchNormalization
from tests.tolerances import ELEMENTWISE_RTOL, reduction_rtol


def test_conditional_batch_norm_normalises_with_batch_statistics_and_applies_the_class_gain_and_bias():
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(6, 3, 2, 4)).astype(np.float32)
    labels = np.array([0, 2, 1, 2, 0, 1], np.int32)
    layer = ConditionalBatchNormalization(3, epsilon=1e-3, momentum=0.9, gamma_initializer="random_normal",
                                          beta_initializer="random_normal")
    out = layer([x, labels], training=True).numpy()
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=(0, 1, 2)), x64.var(axis=(0, 1, 2))
    gamma, beta = layer.gamma.numpy().astype(np.float64), layer.beta.numpy().astype(np.float64)
    expected = (x64 - mean) / np.sqrt(var + 1e-3) * gamma[labels][:, None, None] + beta[labels][:, None, None]
    # A mean and a variance over 36 values per channel, then elementwise float32 arithmetic.
    np.testing.assert_allclose(out, expected, rtol=reduction_rtol(36), atol=reduction_rtol(36) * np.abs(expected).max())
    # The moving statistics are shared by all classes: one update towards the batch's.
    moving_mean = layer.normalize.moving_mean.numpy()
    np.testing.assert_allclose(moving_mean, 0.1 * mean, rtol=reduction_rtol(36))
    # Inference uses them, whatever the label.
    inference = layer([x, labels], training=False).numpy()
    moving_var = layer.normalize.moving_variance.numpy().astype(np.float64)
    expected = ((x64 - moving_mean) / np.sqrt(moving_var + 1e-3) * gamma[labels][:, None, None]
                + beta[labels][:, None, None])
    # A few elementwise float32 operations per value (subtract, rsqrt, multiply, add), against float64:
    # each rounds within an EPS or two, 1e-5 (about 80 EPS) of the value or of the output's scale.
    np.testing.assert_allclose(inference, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_conditional_batch_norm_starts_as_plain_batch_norm_and_only_the_affine_part_depends_on_the_label():
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    layer = ConditionalBatchNormalization(2)
    plain = keras.layers.BatchNormalization()
    a = layer([x, np.array([0, 0, 1, 1])], training=True).numpy()
    b = layer([x, np.array([1, 1, 0, 0])], training=True).numpy()
    np.testing.assert_array_equal(a, b)  # gains 1 and biases 0 for every class
    np.testing.assert_allclose(a, plain(x, training=True).numpy(), rtol=ELEMENTWISE_RTOL * 8, atol=1e-6)
    layer.gamma.assign([[1.0] * 5, [2.0] * 5])
    c = layer([x, np.array([0, 0, 1, 1])], training=True).numpy()
    np.testing.assert_array_equal(c[:2], a[:2])
    np.testing.assert_allclose(c[2:], 2 * a[2:], rtol=ELEMENTWISE_RTOL)
    assert len(layer.trainable_weights) == 2 and layer.gamma.shape == (2, 5)


def test_class_projection_is_the_inner_product_of_the_class_embedding_and_the_features():
    features = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    labels = np.array([2, 0, 1, 2, 3], np.int32)
    layer = ClassProjection(4)
    out = layer([features, labels]).numpy()
    embeddings = layer.embeddings.numpy()
    assert out.shape == (5, 1)
    expected = np.sum(embeddings[labels].astype(np.float64) * features, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=reduction_rtol(3), atol=reduction_rtol(3) * np.abs(expected).max())
    with pytest.raises(ValueError, match="features"):
        ClassProjection(4)([np.zeros((2, 3, 3), np.float32), labels[:2]])
    with pytest.raises(ValueError, match="num_classes"):
        ClassProjection(0)


def test_conditional_affine_is_one_plus_gain_times_x_plus_bias_per_example_and_channel():
    x = np.arange(16, dtype=np.float32).reshape(2, 2, 2, 2) / 4.0
    gain = np.array([[0.0, 1.0], [-0.5, 0.25]], np.float32)
    bias = np.array([[1.0, 0.0], [0.5, -2.0]], np.float32)
    out = ConditionalAffine()([x, gain, bias]).numpy()
    expected = x * (1.0 + gain[:, None, None, :]) + bias[:, None, None, :]  # dyadic values: exact
    np.testing.assert_array_equal(out, expected)
