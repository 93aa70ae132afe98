"""SubPixelConv2DTranspose computes exactly Conv2DTranspose (common/nn/layers.py)."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.nn.layers import MaximumLeakyReLU, SubPixelConv2DTranspose
from tests.tolerances import assert_close_to_scale

RNG = np.random.default_rng(0)


def twin_layers(filters, kernel_size, strides, padding, input_shape, use_bias=True, activation=None):
    """A Conv2DTranspose and a SubPixelConv2DTranspose with the same random weights."""
    reference = keras.layers.Conv2DTranspose(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, activation=activation
    )
    layer = SubPixelConv2DTranspose(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, activation=activation
    )
    reference.build(input_shape)
    layer.build(input_shape)
    weights = [RNG.standard_normal(w.shape).astype(np.float32) for w in reference.get_weights()]
    reference.set_weights(weights)
    layer.set_weights(weights)
    return reference, layer


def assert_close(actual, expected):
    # The two layers sum the same products in different orders (a convolution over space-to-depth
    # blocks against a transposed convolution): equal to NETWORK_RTOL of the outputs' scale.
    assert_close_to_scale(actual, expected)


CASES = [
    (kernel, padding, size)
    for kernel, padding, size in itertools.product((3, 4, 5), ("same", "valid"), ((5, 4), (4, 7)))
]


@pytest.mark.parametrize("kernel,padding,size", CASES)
def test_matches_conv2d_transpose_stride_2(kernel, padding, size):
    shape = (3,) + size + (3,)
    reference, layer = twin_layers(4, kernel, 2, padding, shape)
    x = tf.constant(RNG.standard_normal(shape), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        expected = reference(x)
        actual = layer(x)
        # A non-uniform upstream gradient so that every output position matters.
        weights = tf.constant(RNG.standard_normal(expected.shape), tf.float32)
        expected_total = tf.reduce_sum(expected * weights)
        actual_total = tf.reduce_sum(actual * weights)
    assert actual.shape == expected.shape == layer.compute_output_shape(shape)
    assert_close(actual, expected)
    assert_close(tape.gradient(actual_total, x), tape.gradient(expected_total, x))
    assert_close(tape.gradient(actual_total, layer.kernel.value), tape.gradient(expected_total, reference.kernel.value))


@pytest.mark.parametrize(
    "kernel,strides,padding",
    [(3, 3, "same"), (5, 3, "valid"), (2, 3, "valid"), (1, 2, "same"), ((4, 3), (2, 1), "same"), (3, 1, "valid")],
)
def test_matches_conv2d_transpose_other_strides(kernel, strides, padding):
    shape = (2, 5, 6, 2)
    reference, layer = twin_layers(3, kernel, strides, padding, shape, activation="tanh")
    x = tf.constant(RNG.standard_normal(shape), tf.float32)
    expected = reference(x)
    assert layer.compute_output_shape(shape) == expected.shape
    assert_close(layer(x), expected)


def test_without_bias_weights_copy_both_ways():
    shape = (2, 4, 4, 3)
    reference = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same", use_bias=False)
    layer = SubPixelConv2DTranspose(2, 4, strides=2, padding="same", use_bias=False)
    layer.build(shape)
    reference.build(shape)
    assert [w.shape for w in layer.weights] == [w.shape for w in reference.weights] == [(4, 4, 2, 3)]
    reference.set_weights(layer.get_weights())  # sub-pixel -> transpose this time
    x = RNG.standard_normal(shape).astype(np.float32)
    assert_close(layer(x), reference(x))


def test_phase_kernel_layout_by_hand():
    # One input channel, one filter, kernel 4, stride 2: taps t = 0..3 on each axis.
    # Phase p uses taps p + d*2 (d = 0, 1) in reversed order: p=0 -> (K[2], K[0]), p=1 -> (K[3], K[1]).
    layer = SubPixelConv2DTranspose(1, 4, strides=2, use_bias=False)
    layer.build((1, 2, 2, 1))
    kernel = np.arange(16, dtype=np.float32).reshape(4, 4, 1, 1)  # K[i, j] = 4i + j
    phases = np.asarray(layer.phase_kernel(tf.constant(kernel)))  # [2, 2, 1, 4]
    assert phases.shape == (2, 2, 1, 4)
    # channel (p_h * 2 + p_w): entry [u_h, u_w] = K[p_h + (1-u_h)*2, p_w + (1-u_w)*2]
    np.testing.assert_array_equal(phases[..., 0, 0], [[10, 8], [2, 0]])  # p = (0, 0)
    np.testing.assert_array_equal(phases[..., 0, 1], [[11, 9], [3, 1]])  # p = (0, 1)
    np.testing.assert_array_equal(phases[..., 0, 3], [[15, 13], [7, 5]])  # p = (1, 1)


def test_config_round_trip_and_keras_file(tmp_path):
    layer = SubPixelConv2DTranspose(
        5, (4, 3), strides=2, padding="valid", activation="relu", use_bias=False, name="up", dtype="float32"
    )
    config = layer.get_config()
    assert {"filters": 5, "kernel_size": (4, 3), "strides": (2, 2), "padding": "valid", "use_bias": False}.items() <= (
        config.items()
    )
    assert config["name"] == "up"  # base config is chained
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, SubPixelConv2DTranspose)
    assert restored.get_config() == config

    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, SubPixelConv2DTranspose(3, 4, strides=2, name="up")(inputs))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("up"), SubPixelConv2DTranspose)
    x = RNG.standard_normal((2, 4, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_mixed_precision_policy():
    shape = (2, 4, 4, 3)
    layer = SubPixelConv2DTranspose(2, 4, strides=2, dtype="mixed_float16")
    reference = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same")
    layer.build(shape)
    reference.build(shape)
    reference.set_weights(layer.get_weights())
    x = RNG.standard_normal(shape).astype(np.float32)
    outputs = layer(x)
    assert outputs.dtype == tf.float16 and layer.kernel.dtype == "float32"
    # float16 keeps 11 significant bits: inputs, kernel and output are each rounded to float16 (2**-11 of
    # their magnitude), so outputs of magnitude up to ~10 differ from float32 by up to ~1e-2.
    np.testing.assert_allclose(np.asarray(outputs, np.float32), reference(x), atol=2e-2)


def test_clear_errors():
    with pytest.raises(ValueError, match="does not support dilation_rate"):
        SubPixelConv2DTranspose(2, 3, dilation_rate=2)
    with pytest.raises(ValueError, match="does not support data_format"):
        SubPixelConv2DTranspose(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="padding"):
        SubPixelConv2DTranspose(2, 3, padding="full")
    layer = SubPixelConv2DTranspose(2, 3)
    layer.build((None, None, None, 2))
    unknown_size = tf.function(layer.call, input_signature=[tf.TensorSpec((None, None, None, 2), tf.float32)])
    with pytest.raises(ValueError, match="static height and width"):
        unknown_size.get_concrete_function()


# --- Maxout --------------------------------------------------------------------------

from common.nn.layers import Maxout  # noqa: E402


def test_maxout_by_hand():
    layer = Maxout(2, 3)
    layer.build((None, 2))
    # z = x W + b has 6 columns; unit 0 = max of columns 0-2, unit 1 = max of columns 3-5.
    kernel = np.array([[1.0, -1.0, 0.0, 2.0, 0.0, -3.0],
                       [0.0, 1.0, 2.0, 0.0, -1.0, 1.0]], np.float32)
    bias = np.array([0.0, 0.0, 0.5, 0.0, 1.0, 0.0], np.float32)
    layer.set_weights([kernel, bias])
    x = np.array([[1.0, 2.0], [-1.0, 0.0]], np.float32)
    # row 0: z = [1, 1, 4.5, 2, -1, -1] -> [4.5, 2];  row 1: z = [-1, 1, 0.5, -2, 1, 3] -> [1, 3]
    np.testing.assert_allclose(layer(x), [[4.5, 2.0], [1.0, 3.0]])
    assert layer.compute_output_shape((None, 2)) == (None, 2)


def test_maxout_config_round_trip_and_keras_file(tmp_path):
    inputs = keras.Input((5,))
    model = keras.Model(inputs, Maxout(3, 2, use_bias=False, name="maxout")(inputs))
    assert [w.shape for w in model.weights] == [(5, 6)]
    layer = Maxout.from_config(model.get_layer("maxout").get_config())
    assert (layer.units, layer.pieces, layer.use_bias) == (3, 2, False)
    path = str(tmp_path / "maxout.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = RNG.standard_normal((2, 5)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_maxout_clear_errors():
    with pytest.raises(ValueError, match="pieces must be a positive integer"):
        Maxout(3, 0)
    with pytest.raises(ValueError, match="units must be a positive integer"):
        Maxout(2.5, 2)


# --- MaximumLeakyReLU ----------------------------------------------------------------


def _values_and_input_gradients(layer, x, upstream):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        total = tf.reduce_sum(y * upstream)
    return y.numpy(), tape.gradient(total, x).numpy()


@pytest.mark.parametrize("slope", [0.0, 0.2, 0.01, 1.0, 3.0])
def test_maximum_leaky_relu_equals_keras_values_and_gradients(slope):
    # Both sides are x or the float32 product slope * x per element, and the gradient is the upstream value
    # or its product with slope: exact, except at x == 0, where the two derivatives differ (next test).
    x = RNG.standard_normal((4, 5, 6, 3)).astype(np.float32) * np.float32(10.0) ** RNG.integers(-3, 4, (4, 5, 6, 3))
    x[x == 0] = 1.0
    upstream = tf.constant(RNG.standard_normal(x.shape).astype(np.float32))
    expected = _values_and_input_gradients(keras.layers.LeakyReLU(negative_slope=slope), x, upstream)
    actual = _values_and_input_gradients(MaximumLeakyReLU(negative_slope=slope), x, upstream)
    np.testing.assert_array_equal(actual[0], expected[0])
    np.testing.assert_array_equal(actual[1], expected[1])


def test_maximum_leaky_relu_at_zero_has_derivative_one():
    upstream = tf.constant([2.0, 2.0], tf.float32)
    for slope in (0.2, 3.0):
        y, gradient = _values_and_input_gradients(MaximumLeakyReLU(slope), np.array([0.0, -0.0], np.float32),
                                                  upstream)
        np.testing.assert_array_equal(y, [0.0, 0.0])
        np.testing.assert_array_equal(gradient, [2.0, 2.0])  # keras.layers.LeakyReLU: 2 * slope


def test_maximum_leaky_relu_second_derivative_through_a_convolution():
    # A gradient penalty differentiates the input gradient again; the path through the activation is
    # piecewise linear, so both layers give the same weight gradient up to the order of the sums.
    def penalty_gradient(activation):
        conv = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=keras.initializers.RandomNormal(seed=1),
                                   bias_initializer=keras.initializers.RandomNormal(seed=2))
        x = tf.constant(np.random.default_rng(3).standard_normal((2, 5, 5, 2)).astype(np.float32))
        conv.build(x.shape)
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                score = tf.reduce_sum(tf.square(activation(conv(x))))
            penalty = tf.reduce_sum(tf.square(inner.gradient(score, x)))
        return outer.gradient(penalty, conv.kernel.value)

    assert_close_to_scale(penalty_gradient(MaximumLeakyReLU(0.2)), penalty_gradient(keras.layers.LeakyReLU(0.2)))


def test_maximum_leaky_relu_config_and_keras_file(tmp_path):
    inputs = keras.Input((3, 3, 2))
    model = keras.Model(inputs, MaximumLeakyReLU(0.2, name="conv1_lrelu")(inputs))
    assert model.weights == []
    layer = MaximumLeakyReLU.from_config(model.get_layer("conv1_lrelu").get_config())
    assert layer.negative_slope == 0.2 and layer.name == "conv1_lrelu"
    path = str(tmp_path / "lrelu.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("conv1_lrelu"), MaximumLeakyReLU)
    x = RNG.standard_normal((2, 3, 3, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_maximum_leaky_relu_refuses_bad_slopes():
    for slope in (-0.1, float("nan"), float("inf"), "0.2", True):
        with pytest.raises(ValueError, match="negative_slope must be a finite number >= 0"):
            MaximumLeakyReLU(slope)


def test_maximum_leaky_relu_after_a_biased_convolution_keeps_the_remapper_quiet(capfd):
    """The remapper fuses Conv2D + BiasAdd + LeakyRelu although LeakyReluGrad reads the BiasAdd, and logs
    "remapper failed" (TensorFlow's C++ log on file descriptor 2); the maximum leaves nothing to misfuse."""

    def first_step_log(activation):
        inputs = keras.Input((8, 8, 3))
        x = activation(keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs))
        model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(x)))

        @tf.function
        def gradients(images):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model(images, training=True))
            return tape.gradient(loss, model.trainable_variables)

        capfd.readouterr()
        gradients(tf.zeros((2, 8, 8, 3)))
        return capfd.readouterr().err

    if "remapper failed" not in first_step_log(keras.layers.LeakyReLU(0.2)):
        pytest.skip("this TensorFlow does not log the remapper failure of Conv2D + BiasAdd + LeakyRelu here")
    assert "remapper failed" not in first_step_log(MaximumLeakyReLU(0.2))
