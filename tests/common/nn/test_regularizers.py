"""Orthogonal regularisation against values computed by hand (common/nn/regularizers.py)."""

import numpy as np
import pytest
import tensorflow as tf

from common.nn import biggan_networks, regularizers
from tests.tolerances import EPS, assert_close_to_scale


def test_dense_kernel_penalty_by_hand():
    # Filters (rows of W [out, in]) w1 = (1, 2, 2), w2 = (2, 0, 1); a Keras Dense kernel is W^T [in, out].
    # W W^T = [[9, 4], [4, 5]]; off-diagonal squares 4^2 + 4^2 = 32; beta 0.5 -> 16.
    kernel = tf.constant([[1.0, 2.0], [2.0, 0.0], [2.0, 1.0]])
    assert float(regularizers.orthogonal_penalty(kernel)) == 32.0
    assert float(regularizers.orthogonal_regularization([kernel], beta=0.5)) == 16.0
    # The Gram matrix of the input axis instead (W^T W, 3x3: off-diagonal 2, 4, 4) would give 2 * 36 = 72.
    assert float(regularizers.orthogonal_penalty(tf.transpose(kernel))) == 72.0


def test_conv_kernel_rows_are_filters_by_hand():
    # Conv2D kernel [kh=1, kw=2, in=1, out=2]: filter 0 = (1, 2), filter 1 = (3, 4); dot 11 -> 2 * 121 = 242.
    kernel = np.zeros((1, 2, 1, 2), np.float32)
    kernel[0, :, 0, 0] = [1.0, 2.0]
    kernel[0, :, 0, 1] = [3.0, 4.0]
    matrix = regularizers.filter_matrix(tf.constant(kernel)).numpy()
    np.testing.assert_array_equal(matrix, [[1.0, 2.0], [3.0, 4.0]])
    assert float(regularizers.orthogonal_penalty(tf.constant(kernel))) == 242.0
    # Several kernels add: 242 + 32, times beta 1e-4.
    dense = tf.constant([[1.0, 2.0], [2.0, 0.0], [2.0, 1.0]])
    total = regularizers.orthogonal_regularization([tf.constant(kernel), dense])
    assert float(total) == pytest.approx(1e-4 * 274.0, rel=1e-6)


def test_orthogonal_filters_give_zero_whatever_their_norms():
    # Signed, scaled permutation rows: every dot product is exactly 0.
    w = np.array([[0.0, 3.0, 0.0, 0.0], [-0.5, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]], np.float32)
    assert float(regularizers.orthogonal_penalty(tf.constant(w.T))) == 0.0
    # Orthonormal rows from a QR decomposition: 0 up to the rounding of each 16-term dot product.
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(16, 8)))
    penalty = float(regularizers.orthogonal_penalty(tf.constant(q.astype(np.float32))))  # kernel [16, 8]: 8 rows
    assert 0.0 <= penalty <= 8 * 7 * (16 * EPS) ** 2
    # The same rows with the first added to each are no longer orthogonal, and are penalised.
    correlated = q + q[:, :1]
    gram_off = correlated.T @ correlated - np.diag(np.diag(correlated.T @ correlated))
    value = float(regularizers.orthogonal_penalty(tf.constant(correlated.astype(np.float32))))
    assert value == pytest.approx(np.sum(gram_off ** 2), rel=1e-4)
    assert value > 1.0


def test_gradient_is_twice_the_reference_update():
    # d/dW ||W W^T ⊙ (1 - I)||_F^2 = 4 (W W^T ⊙ (1 - I)) W; BigGAN-PyTorch's ortho adds
    # strength * 2 (W W^T ⊙ (1 - I)) W, the gradient of this loss at beta = strength / 2.
    rng = np.random.default_rng(1)
    w = rng.normal(size=(5, 7)).astype(np.float32)  # [out, in]
    kernel = tf.Variable(w.T)  # Keras layout [in, out]
    strength = 1e-4
    with tf.GradientTape() as tape:
        loss = regularizers.orthogonal_regularization([kernel], beta=strength / 2)
    gradient = tape.gradient(loss, kernel).numpy().T  # back to [out, in]
    w64 = w.astype(np.float64)
    gram = w64 @ w64.T
    reference = strength * 2 * (gram * (1 - np.eye(5))) @ w64
    assert_close_to_scale(gradient, reference)
    assert not np.allclose(gradient, 2 * reference, rtol=0.1)


def test_refuses_one_axis_and_negative_beta():
    with pytest.raises(ValueError, match="at least 2 axes"):
        regularizers.orthogonal_penalty(tf.ones((4,)))
    with pytest.raises(ValueError, match="beta"):
        regularizers.orthogonal_regularization([tf.ones((2, 2))], beta=-1.0)
    assert float(regularizers.orthogonal_regularization([])) == 0.0


def test_generator_weights_are_its_conv_and_dense_kernels():
    generator = biggan_networks.build_generator(image_size=8, channels=3, latent_dim=4, num_classes=3,
                                                generator_widths=(8, 8), attention_resolution=8)
    kernels = regularizers.orthogonal_regularization_weights(generator)
    names = sorted(k.path for k in kernels)
    assert names == sorted([
        "project_sn/project/kernel",
        "gblock1_conv1_sn/gblock1_conv1/kernel", "gblock1_conv2_sn/gblock1_conv2/kernel",
        "gblock1_shortcut_sn/gblock1_shortcut/kernel",
        "attention/theta_sn/theta/kernel", "attention/phi_sn/phi/kernel",
        "attention/g_sn/g/kernel", "attention/o_sn/o/kernel",
        "output_conv_sn/output_conv/kernel",
    ])
    # Left out: biases, batch-norm gains and biases, the per-class CBN tables, attention's scalar gamma.
    selected = {id(k) for k in kernels}
    left_out = [w.path for w in generator.trainable_weights if id(w) not in selected]
    assert all(len(w.shape) < 2 or "cbn" in w.path for w in generator.trainable_weights if id(w) not in selected)
    assert "gblock1_cbn1/gamma" in left_out
