"""ResNet generator, PatchGAN, reflection padding and the cycle / identity terms (common.nn.translation_networks)."""

import numpy as np
import pytest
import tensorflow as tf

from common.nn import translation_networks
from tests.tolerances import reduction_rtol


def test_paper_generator_and_discriminator_parameter_counts():
    """Zhu et al. 2017 / reference code: 9-block generator 11.378 M, 6-block 7.838 M, 70x70 PatchGAN 2.765 M."""
    # c7s1-64: 7*7*3*64+64; d128, d256; 9 x R256 (two 3x3 convs with bias); u128, u64; c7s1-3 (no affine norms).
    expected_9 = (7 * 7 * 3 * 64 + 64) + (9 * 64 * 128 + 128) + (9 * 128 * 256 + 256) \
        + 9 * 2 * (9 * 256 * 256 + 256) + (9 * 256 * 128 + 128) + (9 * 128 * 64 + 64) + (7 * 7 * 64 * 3 + 3)
    assert expected_9 == 11_378_179
    assert translation_networks.build_resnet_generator().count_params() == expected_9
    assert translation_networks.build_resnet_generator(num_residual_blocks=6).count_params() == expected_9 - 3 * 2 * (9 * 256 * 256 + 256)
    expected_d = (16 * 3 * 64 + 64) + (16 * 64 * 128 + 128) + (16 * 128 * 256 + 256) + (16 * 256 * 512 + 512) \
        + (16 * 512 + 1)
    assert expected_d == 2_764_737
    assert translation_networks.build_patch_discriminator().count_params() == expected_d


def test_networks_are_fully_convolutional():
    generator = translation_networks.build_resnet_generator(base_filters=4, num_residual_blocks=1)
    discriminator = translation_networks.build_patch_discriminator(base_filters=4)
    for height, width in ((16, 16), (24, 40), (32, 12)):
        images = tf.random.uniform((2, height, width, 3), -1, 1, seed=1)
        output = generator(images)
        assert output.shape == (2, height, width, 3) and output.dtype == tf.float32
        assert float(tf.reduce_max(tf.abs(output))) <= 1.0
    # 256 -> 128 -> 64 -> 32 -> 31 -> 30 (one score per 70x70 patch), and 64 -> 32 -> 16 -> 8 -> 7 -> 6.
    assert discriminator(tf.zeros((1, 256, 256, 3))).shape == (1, 30, 30, 1)
    assert discriminator(tf.zeros((1, 64, 96, 3))).shape == (1, 6, 10, 1)


def test_reflection_padding_matches_numpy_reflect():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    padded = translation_networks.ReflectionPadding2D(2)(x)
    np.testing.assert_array_equal(padded, np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect"))
    layer = translation_networks.ReflectionPadding2D.from_config(translation_networks.ReflectionPadding2D(3).get_config())
    assert layer.padding == 3 and layer.compute_output_shape((None, 8, None, 3)) == (None, 14, None, 3)


def test_transposed_convolution_matches_pytorch_geometry():
    """u-layer: ConvTranspose2d(k3, s2, p1, output_padding 1): out[o] = sum over i, t with o = 2i + t - 1."""
    generator = translation_networks.build_resnet_generator(channels=1, base_filters=1, num_residual_blocks=0)
    layer = generator.get_layer("u2_conv")
    crop = generator.get_layer("u2_crop")
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype(np.float32)
    layer.set_weights([kernel, np.zeros(2, np.float32)])
    x = np.random.default_rng(1).normal(size=(1, 3, 3, 4)).astype(np.float32)
    ours = crop(layer(x)).numpy()[0]
    expected = np.zeros((6, 6, 2), np.float32)
    magnitude = np.zeros((6, 6, 2))  # sum of |products| in each output
    for i in range(3):
        for j in range(3):
            for ti in range(3):
                for tj in range(3):
                    oi, oj = 2 * i + ti - 1, 2 * j + tj - 1
                    if 0 <= oi < 6 and 0 <= oj < 6:
                        expected[oi, oj] += kernel[ti, tj] @ x[0, i, j]
                        magnitude[oi, oj] += np.abs(kernel[ti, tj]) @ np.abs(x[0, i, j])
    # Each output sums at most 2 x 2 taps of 4 channels, in an order each side chooses.
    assert np.all(np.abs(ours - expected) <= reduction_rtol(16) * magnitude)
    assert np.abs(expected).max() > 1.0


def test_instance_norm_has_no_parameters_and_normalises_each_channel():
    norm = translation_networks.instance_norm()
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(2, 5, 6, 4)).astype(np.float32)
    y = norm(x).numpy()
    assert norm.count_params() == 0
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(1, 2)), x.var(axis=(1, 2)) / (x.var(axis=(1, 2)) + 1e-5), rtol=1e-4)


def test_cycle_and_identity_terms_are_weighted_l1():
    real = np.array([[[[0.5, -1.0]]]], np.float32)
    other = np.array([[[[0.0, 1.0]]]], np.float32)
    assert float(translation_networks.cycle_consistency_loss(real, other, 10.0)) == pytest.approx(10 * (0.5 + 2.0) / 2)
    assert float(translation_networks.identity_loss(real, other, 5.0)) == pytest.approx(5 * 1.25)


def test_generator_is_mixed_precision_safe():
    import keras

    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        generator = translation_networks.build_resnet_generator(base_filters=4, num_residual_blocks=1)
        discriminator = translation_networks.build_patch_discriminator(base_filters=4, num_layers=2)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    assert generator.get_layer("c7s1_conv").compute_dtype == "float16"
    images = generator(tf.zeros((1, 16, 16, 3)))
    assert images.dtype == tf.float32 and discriminator(images).dtype == tf.float32
