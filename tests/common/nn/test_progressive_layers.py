"""ProGAN's and StyleGAN's layers and resampling ops (common/nn/progressive_layers.py) against NumPy."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import signal

from common.nn.progressive_layers import (
    EqualizedConv2D,
    EqualizedDense,
    MinibatchStddev,
    PixelNormalization,
    blur_kernel,
    downsample_average,
    upfirdn2d,
    upsample_nearest,
)
from tests.tolerances import (
    ELEMENTWISE_RTOL,
    EPS,
    assert_close_to_scale,
    reduction_rtol,
    scale_of,
)

RNG = np.random.default_rng(0)

# bfloat16 keeps 8 significant bits: spacing 2**-7 in [1, 2), so one rounding errs by at most 2**-8.
BF16_EPS = 2.0 ** -7


def normal(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def assert_sum_close(actual, expected, magnitude, n_terms, eps=EPS):
    """Elementwise ``|actual - expected| <= n_terms * eps * magnitude`` (tests/tolerances.py, rule 3).

    ``magnitude`` is, per element, the sum of the absolute values of the terms it was summed from.
    A float32 sum of ``n`` products, each of a float32 scale times a stored weight, errs by at most
    ``(n + 2) * EPS / 2`` of that (the products and the scaling round once each), which is below
    ``n * EPS`` for ``n >= 2``.
    """
    actual = np.asarray(actual, np.float64)
    bound = n_terms * eps * np.asarray(magnitude, np.float64)
    error = np.abs(actual - expected)
    worst = np.unravel_index(np.argmax(error - bound), error.shape)
    assert np.all(error <= bound), (f"error {error[worst]:.3g} > bound {bound[worst]:.3g} at {worst}: "
                                    f"{actual[worst]!r} vs {expected[worst]!r}")


# ---------------------------------------------------------------- equalized learning rate


def effective(layer):
    """The layer's used kernel and bias in float64, computed in NumPy from its variables."""
    scale = layer.gain / math.sqrt(layer.fan_in) * layer.lr_multiplier
    kernel = layer.kernel.numpy().astype(np.float64) * scale
    bias = None if layer.bias is None else layer.bias.numpy().astype(np.float64) * layer.lr_multiplier
    return kernel, bias


def numpy_dense(x, kernel, bias):
    x = np.asarray(x, np.float64)
    out, magnitude = x @ kernel, np.abs(x) @ np.abs(kernel)
    if bias is not None:
        out, magnitude = out + bias, magnitude + np.abs(bias)
    return out, magnitude


def numpy_conv_same(x, kernel, bias):
    """Stride-1 "same" correlation, TensorFlow's padding: (k - 1) // 2 before, k // 2 after."""
    x = np.asarray(x, np.float64)
    k = kernel.shape[0]
    padded = np.pad(x, ((0, 0), ((k - 1) // 2, k // 2), ((k - 1) // 2, k // 2), (0, 0)))
    height, width = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    magnitude = np.zeros_like(out)
    for dy in range(k):
        for dx in range(k):
            window = padded[:, dy:dy + height, dx:dx + width, :]
            out += window @ kernel[dy, dx]
            magnitude += np.abs(window) @ np.abs(kernel[dy, dx])
    if bias is not None:
        out, magnitude = out + bias, magnitude + np.abs(bias)
    return out, magnitude


@pytest.mark.parametrize("gain,lr_multiplier,use_bias,shape", [
    (math.sqrt(2.0), 1.0, True, (4, 6)),
    (1.0, 0.01, True, (3, 5, 6)),  # rank 3, StyleGAN's mapping multiplier
    (math.sqrt(2.0), 0.1, False, (2, 6)),
])
def test_dense_computes_with_the_runtime_scaled_weights(gain, lr_multiplier, use_bias, shape):
    layer = EqualizedDense(5, gain=gain, lr_multiplier=lr_multiplier, use_bias=use_bias, seed=1)
    layer.build(shape)
    if use_bias:
        layer.bias.assign(normal(5) / lr_multiplier)
    x = normal(*shape)
    expected, magnitude = numpy_dense(x, *effective(layer))
    actual = layer(x)
    assert actual.shape == expected.shape == layer.compute_output_shape(shape)
    assert_sum_close(actual, expected, magnitude, n_terms=shape[-1] + 1)


@pytest.mark.parametrize("kernel_size,gain,lr_multiplier", [(3, math.sqrt(2.0), 1.0), (1, 1.0, 0.5), (2, 1.0, 1.0)])
def test_conv_computes_with_the_runtime_scaled_weights(kernel_size, gain, lr_multiplier):
    shape = (2, 5, 6, 3)
    layer = EqualizedConv2D(4, kernel_size, gain=gain, lr_multiplier=lr_multiplier, seed=2)
    layer.build(shape)
    assert layer.fan_in == kernel_size ** 2 * 3
    layer.bias.assign(normal(4))
    x = normal(*shape)
    expected, magnitude = numpy_conv_same(x, *effective(layer))
    actual = layer(x)
    assert actual.shape == expected.shape == layer.compute_output_shape(shape)
    assert_sum_close(actual, expected, magnitude, n_terms=layer.fan_in + 1)


def test_initial_weights_and_bias():
    layer = EqualizedDense(256, lr_multiplier=0.01, bias_initializer=0.5, seed=5)
    layer.build((None, 256))
    # 65,536 draws of N(0, 1 / lr^2): the sample variance of kernel * lr has relative standard
    # deviation sqrt(2 / 65,536) = 0.0055; 6 of them is 0.033.
    assert abs(np.var(layer.kernel.numpy().astype(np.float64) * 0.01) - 1.0) < 0.033
    # The stored bias is bias_initializer / lr (50 rounded to float32: exactly 50); the used one is 0.5.
    np.testing.assert_array_equal(layer.bias.numpy(), np.full(256, 50.0, np.float32))
    np.testing.assert_allclose(layer.effective_bias().numpy(), 0.5, rtol=2 * EPS)
    # The seed fixes the kernel.
    twin = EqualizedDense(256, lr_multiplier=0.01, seed=5)
    twin.build((None, 256))
    np.testing.assert_array_equal(twin.kernel.numpy(), layer.kernel.numpy())
    conv = EqualizedConv2D(8, 3, seed=6)
    conv.build((None, 4, 4, 2))
    np.testing.assert_array_equal(conv.bias.numpy(), np.zeros(8, np.float32))


def relative_sigma(samples, units, fan_in):
    """Relative standard deviation of mean(y^2) / gain^2 for y = x W, x ~ N(0, 1), W ~ N(0, gain^2 / fan_in).

    Given W, each output is N(0, |w_j|^2) and two units' outputs of one sample have covariance
    w_j . w_j' (squared: about gain^4 / fan_in), so over ``samples`` independent inputs
    Var(mean y^2) / gain^4 = 2 / (samples * units) * (1 + (units - 1) / fan_in). Over W, |w_j|^2 /
    gain^2 is chi^2(fan_in) / fan_in, of variance 2 / fan_in, averaged over ``units`` units.
    """
    return math.sqrt(2.0 / (samples * units) * (1.0 + (units - 1) / fan_in) + 2.0 / (fan_in * units))


@pytest.mark.parametrize("gain,lr_multiplier", [(math.sqrt(2.0), 1.0), (1.0, 0.01)])
def test_dense_initial_output_variance_is_gain_squared(gain, lr_multiplier):
    samples, fan_in, units = 256, 256, 256
    layer = EqualizedDense(units, gain=gain, lr_multiplier=lr_multiplier, seed=7)
    y = layer(normal(samples, fan_in)).numpy().astype(np.float64)
    ratio = np.mean(y ** 2) / gain ** 2
    # 6 standard deviations (relative_sigma: 0.0096 here): a wrong fan-in or gain moves it by 2x or more.
    assert abs(ratio - 1.0) < 6 * relative_sigma(samples, units, fan_in), ratio


@pytest.mark.parametrize("gain,lr_multiplier", [(math.sqrt(2.0), 1.0), (1.0, 0.01)])
def test_conv_initial_output_variance_is_gain_squared(gain, lr_multiplier):
    batch, size, channels, filters = 16, 16, 32, 64
    layer = EqualizedConv2D(filters, 3, gain=gain, lr_multiplier=lr_multiplier, seed=8)
    y = layer(normal(batch, size, size, channels)).numpy().astype(np.float64)
    # Outputs 3 apart share no input, and rows and columns 1..14 see a whole 3x3 window (no zero
    # padding): 5 x 5 independent positions per image.
    y = y[:, 1:size - 1:3, 1:size - 1:3, :]
    ratio = np.mean(y ** 2) / gain ** 2
    samples = batch * y.shape[1] * y.shape[2]
    # relative_sigma: 0.014 here, 6 of it 0.086; forgetting the 3x3 in fan_in would give 9x.
    assert abs(ratio - 1.0) < 6 * relative_sigma(samples, filters, 9 * channels), ratio


@pytest.mark.parametrize("make,shape", [
    (lambda **kw: EqualizedDense(6, **kw), (4, 10)),
    (lambda **kw: EqualizedConv2D(3, 3, **kw), (2, 5, 5, 4)),
])
def test_lr_multiplier_scales_the_gradient_of_the_stored_weights(make, shape):
    """Same used weights, so the same function; the stored variables' gradients are lr times smaller.

    Adam's step moves a variable by about its learning rate whatever the gradient's scale, so the
    used weights (lr times the stored ones) move lr times as far: a learning rate times lr.
    """
    lr = 0.01
    plain, slow = make(lr_multiplier=1.0, seed=9), make(lr_multiplier=lr, seed=10)
    plain.build(shape)
    slow.build(shape)
    bias = normal(*plain.bias.shape)
    plain.bias.assign(bias)
    slow.kernel.assign(plain.kernel.numpy() / lr)
    slow.bias.assign(bias / lr)
    x = tf.constant(normal(*shape))
    with tf.GradientTape(persistent=True) as tape:
        plain_y, slow_y = plain(x), slow(x)
        upstream = tf.constant(normal(*plain_y.shape))  # every output matters, with its own weight
        plain_loss, slow_loss = tf.reduce_sum(plain_y * upstream), tf.reduce_sum(slow_y * upstream)
    assert_close_to_scale(slow_y, plain_y)
    plain_grads = tape.gradient(plain_loss, [plain.kernel.value, plain.bias.value])
    slow_grads = tape.gradient(slow_loss, [slow.kernel.value, slow.bias.value])
    for name, slow_grad, plain_grad in zip(("kernel", "bias"), slow_grads, plain_grads):
        assert_close_to_scale(slow_grad, lr * plain_grad.numpy(), err_msg=name)


def test_get_config_round_trip():
    layers = [
        (EqualizedDense(7, gain=1.0, lr_multiplier=0.01, bias_initializer=1.0, seed=11, name="dense"), (3, 5)),
        (EqualizedDense(2, use_bias=False, seed=12), (3, 5)),
        (EqualizedConv2D(4, 3, gain=0.5, lr_multiplier=0.1, seed=13), (2, 4, 4, 3)),
        (PixelNormalization(epsilon=1e-6), (2, 3, 3, 5)),
        (MinibatchStddev(group_size=2, num_new_features=3), (4, 3, 3, 6)),
    ]
    for layer, shape in layers:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(restored) is type(layer) and restored.get_config() == config
        x = normal(*shape)
        # The seed is in the config, so the clone starts with the same weights; same computation.
        np.testing.assert_array_equal(clone(x), layer(x), err_msg=type(layer).__name__)


def test_mixed_bfloat16_keeps_float32_variables():
    x = normal(2, 5, 5, 8)
    for layer, reference in [
        (EqualizedDense(6, seed=14, dtype="mixed_bfloat16"), numpy_dense),
        (EqualizedConv2D(6, 3, seed=15, dtype="mixed_bfloat16"), numpy_conv_same),
    ]:
        y = layer(x)
        assert y.dtype == tf.bfloat16
        assert layer.kernel.dtype == layer.bias.dtype == "float32"
        assert layer.kernel.value.dtype == tf.float32
        layer.bias.assign(normal(6))
        expected, magnitude = reference(x, *effective(layer))
        # Inputs, used weights, products, sums and the output round to bfloat16 (u = 2**-8 each):
        # within (n + 4) * 2**-8 <= n * BF16_EPS of the terms' magnitude.
        assert_sum_close(tf.cast(layer(x), tf.float32), expected, magnitude, layer.fan_in + 1, eps=BF16_EPS)


def test_equalized_layers_refuse_bad_arguments():
    for kwargs in ({"gain": 0.0}, {"lr_multiplier": -1.0}, {"bias_initializer": float("nan")}, {"seed": 1.5}):
        with pytest.raises(ValueError):
            EqualizedDense(3, **kwargs)
    with pytest.raises(ValueError, match="units"):
        EqualizedDense(0)
    with pytest.raises(ValueError, match="kernel_size"):
        EqualizedConv2D(3, 0)


# ---------------------------------------------------------------- pixel norm and minibatch stddev


def numpy_pixel_norm(x, epsilon=1e-8):
    x = np.asarray(x, np.float64)
    return x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + epsilon)


@pytest.mark.parametrize("shape,scale", [((2, 3, 4, 16), 1.0), ((5, 32), 1.0), ((2, 2, 2, 8), 1e-4)])
def test_pixel_normalization_matches_numpy(shape, scale):
    # At scale 1e-4 the mean square is about 1e-8, as large as epsilon: epsilon inside the root shows.
    x = normal(*shape, scale=scale)
    actual = PixelNormalization()(x)
    # A mean of C squares (reduction_rtol(C)), then rsqrt and a product, each within a few ulps.
    np.testing.assert_allclose(actual, numpy_pixel_norm(x), rtol=reduction_rtol(shape[-1]) + ELEMENTWISE_RTOL)


def test_pixel_normalization_bfloat16_statistic_in_float32():
    x = tf.cast(normal(2, 3, 3, 64), tf.bfloat16)
    actual = PixelNormalization(dtype="mixed_bfloat16")(x)
    assert actual.dtype == tf.bfloat16
    expected = numpy_pixel_norm(tf.cast(x, tf.float32).numpy())
    # The float32 result (reduction_rtol(64) + ELEMENTWISE_RTOL) rounded once to bfloat16 (2**-8).
    np.testing.assert_allclose(tf.cast(actual, tf.float32), expected,
                               rtol=BF16_EPS / 2 + reduction_rtol(64) + ELEMENTWISE_RTOL)


def numpy_minibatch_stddev(x, group_size, num_new_features):
    """The statistic written per group: group m holds the samples m, m + M, m + 2M, ... (M = N / G)."""
    x = np.asarray(x, np.float64)
    batch, height, width, channels = x.shape
    group = min(group_size, batch)
    groups, split = batch // group, channels // num_new_features
    out = np.zeros((batch, height, width, num_new_features))
    for m in range(groups):
        std = np.sqrt(np.var(x[m::groups], axis=0) + 1e-8)  # biased variance over the group's G samples
        for j in range(num_new_features):
            out[m::groups, :, :, j] = std[:, :, j * split:(j + 1) * split].mean()
    return np.concatenate([x, out], axis=-1)


@pytest.mark.parametrize("batch,group_size,num_new_features,channels", [
    (8, 4, 1, 5),
    (8, 4, 2, 6),
    (8, 2, 3, 6),
    (2, 4, 1, 3),  # a batch smaller than the group: one group of 2
    (3, 4, 1, 3),  # one group of 3
    (1, 4, 1, 3),  # one sample: sqrt(1e-8) = 1e-4
])
def test_minibatch_stddev_matches_numpy(batch, group_size, num_new_features, channels):
    # Samples of very different scales, so that grouping the wrong samples changes the statistic.
    x = normal(batch, 4, 3, channels) * np.geomspace(0.5, 4.0, batch).astype(np.float32)[:, None, None, None]
    layer = MinibatchStddev(group_size, num_new_features)
    actual = layer(x).numpy()
    expected = numpy_minibatch_stddev(x, group_size, num_new_features)
    assert actual.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(actual[..., :channels], x)  # the input channels are copied
    # Each new value is a mean of square roots of group variances: float32 sums of deviations of
    # terms up to max|x| (tests/tolerances.py, rule 4, on the scale of the input).
    assert_close_to_scale(actual[..., channels:], expected[..., channels:], scale=scale_of(x))


def test_minibatch_stddev_with_an_unknown_batch_and_bfloat16():
    x = normal(8, 2, 2, 4) * np.arange(1, 9, dtype=np.float32)[:, None, None, None]
    layer = MinibatchStddev(4)
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, 2, 2, 4), tf.float32)])
    expected = numpy_minibatch_stddev(x, 4, 1)
    assert_close_to_scale(traced(x)[..., 4:], expected[..., 4:], scale=scale_of(x))
    assert_close_to_scale(traced(x[:2])[..., 4:], numpy_minibatch_stddev(x[:2], 4, 1)[..., 4:], scale=scale_of(x))
    half = MinibatchStddev(4, dtype="mixed_bfloat16")(tf.cast(x, tf.bfloat16))
    assert half.dtype == tf.bfloat16
    rounded = tf.cast(tf.cast(x, tf.bfloat16), tf.float32).numpy()
    # The float32 statistic of the rounded inputs, rounded once to bfloat16.
    np.testing.assert_allclose(tf.cast(half[..., 4:], tf.float32), numpy_minibatch_stddev(rounded, 4, 1)[..., 4:],
                               rtol=BF16_EPS / 2 + 1e-4)


@pytest.mark.parametrize("batch,group", [(14, 2), (6, 3), (3, 3), (12, 4)])
def test_minibatch_stddev_smaller_groups_take_the_largest_divisor(batch, group):
    x = normal(batch, 2, 2, 3) * np.geomspace(0.5, 4.0, batch).astype(np.float32)[:, None, None, None]
    layer = MinibatchStddev(4, smaller_groups=True)
    assert layer.group(batch) == group
    assert_close_to_scale(layer(x).numpy()[..., 3:], numpy_minibatch_stddev(x, group, 1)[..., 3:], scale=scale_of(x))
    assert MinibatchStddev.from_config(layer.get_config()).smaller_groups


def test_minibatch_stddev_smaller_groups_refuse_groups_of_one():
    with pytest.raises(ValueError, match="no group size between 2 and 4 divides the batch of 7"):
        MinibatchStddev(4, smaller_groups=True)(normal(7, 2, 2, 3))
    assert MinibatchStddev(1, smaller_groups=True).group(7) == 1  # asked for: per-example groups


def test_minibatch_stddev_refuses_an_indivisible_batch_and_channel_split():
    with pytest.raises(ValueError, match="multiple of 4"):
        MinibatchStddev(4)(normal(6, 2, 2, 3))
    with pytest.raises(ValueError, match="num_new_features=2"):
        MinibatchStddev(4, 2)(normal(4, 2, 2, 3))


# ---------------------------------------------------------------- resampling


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_upsample_nearest_repeats_pixels(factor):
    x = normal(2, 3, 4, 2)
    expected = np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)
    np.testing.assert_array_equal(upsample_nearest(x, factor), expected)  # copies


@pytest.mark.parametrize("factor", [2, 4])
def test_downsample_average_averages_blocks(factor):
    x = normal(2, 8, 4, 3)
    blocks = x.astype(np.float64).reshape(2, 8 // factor, factor, 4 // factor, factor, 3)
    expected, magnitude = blocks.mean(axis=(2, 4)), np.abs(blocks).mean(axis=(2, 4))
    assert_sum_close(downsample_average(x, factor), expected, magnitude, n_terms=factor ** 2)
    with pytest.raises(ValueError, match="multiple"):
        downsample_average(normal(1, 6, 6, 1), 4)


def numpy_upfirdn2d(x, kernel, up, down, padding):
    """Per image and channel: zero insertion, pad or crop, scipy's convolve2d ("valid"), subsample.

    Returns the result and, per output, the sum of the absolute values of its terms.
    """
    pad_left, pad_right, pad_top, pad_bottom = padding
    x = np.asarray(x, np.float64)
    batch, height, width, channels = x.shape
    upsampled = np.zeros((batch, height * up, width * up, channels))
    upsampled[:, ::up, ::up, :] = x
    padded = np.pad(upsampled, ((0, 0), (max(pad_top, 0), max(pad_bottom, 0)),
                                (max(pad_left, 0), max(pad_right, 0)), (0, 0)))
    padded = padded[:, max(-pad_top, 0): padded.shape[1] - max(-pad_bottom, 0),
                    max(-pad_left, 0): padded.shape[2] - max(-pad_right, 0), :]
    outputs, magnitudes = [], []
    for image in padded:
        outputs.append(np.stack([signal.convolve2d(image[..., c], kernel, mode="valid")
                                 for c in range(channels)], axis=-1))
        magnitudes.append(np.stack([signal.convolve2d(np.abs(image[..., c]), np.abs(kernel), mode="valid")
                                    for c in range(channels)], axis=-1))
    return np.stack(outputs)[:, ::down, ::down], np.stack(magnitudes)[:, ::down, ::down]


ASYMMETRIC = np.array([[1.0, -2.0], [0.5, 3.0], [0.25, -1.0]])  # catches a missing flip

UPFIRDN_CASES = [
    # StyleGAN2's upsample_2d and downsample_2d with its [1, 3, 3, 1] filter, factor 2.
    pytest.param(blur_kernel((1, 3, 3, 1), gain=4.0), 2, 1, (2, 1, 2, 1), (10, 12), id="stylegan2-up"),
    pytest.param(blur_kernel((1, 3, 3, 1)), 1, 2, (1, 1, 1, 1), (2, 3), id="stylegan2-down"),
    pytest.param(ASYMMETRIC, 3, 2, (2, -1, -2, 1), None, id="asymmetric-crop"),
    pytest.param(ASYMMETRIC, 1, 1, (0, 3, 1, 0), None, id="asymmetric-pad"),
    pytest.param(blur_kernel((1, 2, 1)), 2, 2, (1, 1, 1, 1), None, id="up-and-down"),
]


@pytest.mark.parametrize("kernel,up,down,padding,out_size", UPFIRDN_CASES)
def test_upfirdn2d_matches_scipy(kernel, up, down, padding, out_size):
    x = normal(2, 5, 6, 3)
    expected, magnitude = numpy_upfirdn2d(x, kernel.astype(np.float64), up, down, padding)
    actual = upfirdn2d(x, kernel, up=up, down=down, padding=padding)
    assert actual.shape == expected.shape
    if out_size is not None:
        assert actual.shape[1:3] == out_size
    # Each output sums kh * kw products of float32 values (the kernels are exact in float32).
    assert_sum_close(actual, expected, magnitude, n_terms=kernel.size)


def test_upfirdn2d_special_cases_are_nearest_and_average():
    x = normal(2, 4, 6, 3)
    # StyleGAN2's upsample_2d with its default [1, 1] filter: every tap 1.0, one non-zero per window.
    nearest = upfirdn2d(x, blur_kernel((1, 1), gain=4.0), up=2, padding=(1, 0, 1, 0))
    np.testing.assert_array_equal(nearest, upsample_nearest(x))
    # downsample_2d with [1, 1]: taps of 0.25, a 2x2 average.
    blocks = x.astype(np.float64).reshape(2, 2, 2, 3, 2, 3)
    average = upfirdn2d(x, blur_kernel((1, 1)), down=2)
    assert_sum_close(average, blocks.mean(axis=(2, 4)), np.abs(blocks).mean(axis=(2, 4)), n_terms=4)
    assert upfirdn2d(tf.cast(x, tf.bfloat16), blur_kernel(), padding=(1, 1, 1, 1)).dtype == tf.bfloat16


def test_upfirdn2d_refuses_bad_arguments():
    x = normal(1, 3, 3, 1)
    with pytest.raises(ValueError, match="2-D kernel"):
        upfirdn2d(x, np.ones(3))
    with pytest.raises(ValueError, match="smaller than"):
        upfirdn2d(x, np.ones((3, 3)), padding=(-1, 0, 0, 0))
    with pytest.raises(ValueError, match="four integers"):
        upfirdn2d(x, np.ones((3, 3)), padding=(1, 1))


def test_blur_kernel():
    np.testing.assert_array_equal(blur_kernel(), np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16)
    kernel = blur_kernel((1, 3, 3, 1), gain=4.0)
    assert kernel.dtype == np.float32 and kernel.shape == (4, 4)
    assert kernel.sum() == 4.0  # sixteenths of 1, 3, 9: exact
    np.testing.assert_array_equal(blur_kernel((1, 3, 3, 1), normalize=False, gain=2.0),
                                  2.0 * np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32))
    # Ninths of 1..9 are not exact in float32: each entry rounds once (EPS / 2), so 9 of them sum
    # to 3 within 9 * EPS / 2 * 3.
    assert abs(float(blur_kernel((1, 2, 3), gain=3.0).astype(np.float64).sum()) - 3.0) <= reduction_rtol(9) * 3.0
    with pytest.raises(ValueError):
        blur_kernel((1, -1))
