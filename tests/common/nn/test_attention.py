"""SAGAN's self-attention block (common/nn/attention.py) against a NumPy reference: the reference code's
pooled C/8-C/2 form and the paper's unpooled form, gamma = 0 as the identity, gamma's gradient, the
spectral norms' vectors, configuration errors and serialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.nn.attention import SelfAttention
from tests.common.nn.test_spectral_normalization import power_step
from tests.tolerances import assert_close_to_scale

X = np.random.default_rng(0).normal(size=(2, 4, 6, 16)).astype(np.float32)  # B, H, W, C


def built(gamma=0.7, **kwargs):
    layer = SelfAttention(kernel_initializers=[keras.initializers.GlorotUniform(seed=10 + i) for i in range(4)],
                          vector_initializers=[keras.initializers.RandomNormal(seed=20 + i) for i in range(4)],
                          gamma_initializer=keras.initializers.Constant(gamma), **kwargs)
    layer.build(X.shape)
    return layer


def normalized_kernels(layer):
    """W / sigma(W) of theta, phi, g, o as [C_in, C_out] float64 matrices, one power step from the stored u."""
    kernels = []
    for projection in (layer.theta, layer.phi, layer.g, layer.o):
        kernel = projection.layer.kernel.numpy().astype(np.float64)
        matrix = kernel.reshape(-1, kernel.shape[-1])
        _, sigma = power_step(matrix, projection.vector_u.numpy())
        kernels.append(matrix / sigma)
    return kernels


def max_pool(t, size):
    b, h, w, c = t.shape
    return t.reshape(b, h // size, size, w // size, size, c).max(axis=(2, 4))


def numpy_attention(x, kernels, gamma, pool_size):
    """(y, o) in float64: y = x + gamma * W_o(softmax(theta phi^T) g), the module docstring's equations."""
    w_theta, w_phi, w_g, w_o = kernels
    x = x.astype(np.float64)
    b, h, w, _ = x.shape
    queries = (x @ w_theta).reshape(b, h * w, -1)
    keys = max_pool(x @ w_phi, pool_size).reshape(b, -1, w_phi.shape[1])
    values = max_pool(x @ w_g, pool_size).reshape(b, -1, w_g.shape[1])
    logits = queries @ keys.transpose(0, 2, 1)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    o = (weights @ values).reshape(b, h, w, -1) @ w_o
    return x + gamma * o, o


@pytest.mark.parametrize("form", [{}, {"value_divisor": 8, "pool_size": 1}], ids=["reference_code", "paper_text"])
def test_output_matches_numpy(form):
    layer = built(**form)
    pool = form.get("pool_size", 2)
    # Keys and queries of 16 / 8 = 2 channels; values of 8 (C/2) or 2 (C/8); keys at 2x3 or 4x6 positions.
    assert (layer.theta.layer.filters, layer.g.layer.filters, layer.o.layer.filters) == (2, 16 // form.get(
        "value_divisor", 2), 16)
    expected, _ = numpy_attention(X, normalized_kernels(layer), 0.7, pool)
    assert_close_to_scale(layer(X, training=False).numpy(), expected)


def test_gamma_zero_is_the_identity_and_gamma_gets_the_gradient_of_o():
    layer = built(gamma=0.0)
    kernels = normalized_kernels(layer)
    with tf.GradientTape() as tape:
        y = layer(X, training=False)
        c = tf.constant(np.random.default_rng(1).normal(size=X.shape).astype(np.float32))
        loss = tf.reduce_sum(c * y)
    np.testing.assert_array_equal(y.numpy(), X)  # x + 0 * o, exactly
    _, o = numpy_attention(X, kernels, 0.0, 2)
    # d/dgamma sum(c * (x + gamma o)) = sum(c * o): nonzero, so training can turn the block on.
    gradient = float(tape.gradient(loss, layer.gamma))
    expected = float(np.sum(c.numpy() * o))
    assert abs(expected) > 1e-2
    assert gradient == pytest.approx(expected, rel=1e-4, abs=1e-4 * float(np.sum(np.abs(c.numpy() * o))))


def test_training_calls_advance_the_four_power_iterations_inference_calls_do_not():
    layer = built()
    before = [p.vector_u.numpy() for p in (layer.theta, layer.phi, layer.g, layer.o)]
    layer(X, training=False)
    for p, u in zip((layer.theta, layer.phi, layer.g, layer.o), before):
        np.testing.assert_array_equal(p.vector_u.numpy(), u)
    layer(X, training=True)
    for p, u in zip((layer.theta, layer.phi, layer.g, layer.o), before):
        assert not np.allclose(p.vector_u.numpy(), u)
    trainable = sorted(w.path.split("/", 1)[1] for w in layer.trainable_weights)
    assert trainable == ["g_sn/g/kernel", "gamma", "o_sn/o/kernel", "phi_sn/phi/kernel", "theta_sn/theta/kernel"]
    assert sorted(w.name for w in layer.non_trainable_weights) == ["vector_u"] * 4
    assert layer.gamma.shape == () and not any(p.layer.use_bias for p in (layer.theta, layer.phi, layer.g, layer.o))


def test_config_round_trip_rebuilds_the_same_layer():
    layer = built(value_divisor=4)
    clone = SelfAttention.from_config(layer.get_config())
    clone.build(X.shape)
    for a, b in zip(layer.weights, clone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_array_equal(clone(X).numpy(), layer(X).numpy())


def test_mixed_precision_keeps_gamma_float32():
    layer = SelfAttention(dtype="mixed_bfloat16")
    y = layer(X)
    assert y.dtype == "bfloat16" and layer.gamma.dtype == "float32"
    np.testing.assert_array_equal(y.numpy().astype(np.float32), X.astype("bfloat16").astype(np.float32))


def test_errors_name_what_to_change():
    with pytest.raises(ValueError, match="leaves no key or value channel .* at least 8 channels"):
        SelfAttention()(np.zeros((1, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"height and width \(4x5\) must be multiples of 2"):
        SelfAttention()(np.zeros((1, 4, 5, 8), np.float32))
    with pytest.raises(ValueError, match="one initialiser per projection"):
        SelfAttention(kernel_initializers=["zeros"] * 3)
    with pytest.raises(ValueError, match="pool_size must be a positive integer"):
        SelfAttention(pool_size=0)
