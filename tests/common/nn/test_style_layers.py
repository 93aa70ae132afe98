"""StyleGAN's mapping network, AdaIN, noise, dlatent average and style mixing (common/nn/style_layers.py)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.nn.style_layers import (
    AdaptiveInstanceNormalization,
    DlatentAverage,
    MappingNetwork,
    NoiseInjection,
    broadcast_dlatents,
    mix_dlatents,
    mixing_crossover,
)
from tests.tolerances import EPS, NETWORK_RTOL, assert_close_to_scale, reduction_rtol

RNG = np.random.default_rng(0)

# bfloat16 keeps 8 significant bits: spacing 2**-7 in [1, 2), so one rounding errs by at most 2**-8.
BF16_EPS = 2.0 ** -7


def normal(*shape, scale=1.0, loc=0.0):
    return (loc + RNG.standard_normal(shape) * scale).astype(np.float32)


def assert_within(actual, expected, bound):
    """Elementwise ``|actual - expected| <= bound`` for a per-element ``bound`` (float64)."""
    error = np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64))
    bound = np.broadcast_to(np.asarray(bound, np.float64), error.shape)
    worst = np.unravel_index(np.argmax(error - bound), error.shape)
    assert np.all(error <= bound), f"error {error[worst]:.3g} > bound {bound[worst]:.3g} at {worst}"


def dyadic(*shape, denominator=8, high=16):
    """Random multiples of 1 / denominator in [-high, high] / denominator: sums and products of a few are exact."""
    return (RNG.integers(-high, high + 1, size=shape) / denominator).astype(np.float32)


@pytest.fixture
def mixed_bfloat16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    yield
    keras.config.set_dtype_policy(previous)


# ---------------------------------------------------------------- mapping network


def mapping_reference(network, z):
    """The mapping network in float64 NumPy from its stored variables (module docstring)."""
    x = np.asarray(z, np.float64)
    if network.normalize_latents:
        x = x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + 1e-8)
    for dense in network.dense_layers:
        kernel = np.asarray(dense.kernel, np.float64) * math.sqrt(2.0) / math.sqrt(dense.fan_in) * dense.lr_multiplier
        bias = np.asarray(dense.bias, np.float64) * dense.lr_multiplier
        x = x @ kernel + bias
        x = np.where(x > 0, x, 0.2 * x)
    return x


def test_mapping_network_shapes_and_reference():
    network = MappingNetwork(16, 12, num_layers=3, hidden_dim=24, seed=3)
    z = normal(5, 16)
    w = network(z)
    assert tuple(w.shape) == (5, 12)
    assert [tuple(d.kernel.shape) for d in network.dense_layers] == [(16, 24), (24, 24), (24, 12)]
    assert all(d.lr_multiplier == 0.01 and d.gain == pytest.approx(math.sqrt(2.0)) for d in network.dense_layers)
    # Non-zero biases so that the reference checks them too (stored bias = used bias / 0.01).
    for dense in network.dense_layers:
        dense.bias.assign(normal(dense.units, scale=10.0))
    assert_close_to_scale(network(z), mapping_reference(network, z))
    # Seeded: the same seed gives the same kernels; every layer has its own seed.
    again = MappingNetwork(16, 12, num_layers=3, hidden_dim=24, seed=3)
    again.build((None, 16))
    np.testing.assert_array_equal(again.dense_layers[1].kernel, network.dense_layers[1].kernel)
    with pytest.raises(ValueError, match="16"):
        MappingNetwork(16, 12, num_layers=2)(normal(2, 8))


def test_mapping_network_normalises_its_input():
    network = MappingNetwork(8, 8, num_layers=2, hidden_dim=8, seed=0)
    z = normal(4, 8)
    # Pixel norm makes the output independent of the scale of z (up to eps = 1e-8 next to mean(z^2) ~ 1).
    assert_close_to_scale(network(z * 37.0), network(z))
    raw = MappingNetwork(8, 8, num_layers=2, hidden_dim=8, normalize_latents=False, seed=0)
    raw.build((None, 8))
    raw.set_weights(network.get_weights())
    assert_close_to_scale(raw(z), mapping_reference(raw, z))
    # Without the normalisation the leaky ReLU network is positively homogeneous: scaling z by 4 (exact)
    # scales w by 4 (the biases are 0 at the start), which the normalised network undoes.
    assert_close_to_scale(raw(z * 4.0), 4.0 * raw(z).numpy())
    assert_close_to_scale(network(z), mapping_reference(network, z))


def test_mapping_network_lr_multiplier_scales_stored_gradients():
    slow = MappingNetwork(6, 5, num_layers=3, hidden_dim=7, lr_multiplier=0.01, seed=1)
    fast = MappingNetwork(6, 5, num_layers=3, hidden_dim=7, lr_multiplier=1.0, seed=2)
    slow.build((None, 6))
    fast.build((None, 6))
    # Same used weights: stored kernel and bias of the lr_multiplier=1 layers are 0.01 times the others'.
    for s, f in zip(slow.dense_layers, fast.dense_layers):
        s.bias.assign(normal(s.units, scale=10.0))
        f.kernel.assign(s.kernel.numpy() * np.float32(0.01))
        f.bias.assign(s.bias.numpy() * np.float32(0.01))
        assert_close_to_scale(s.effective_kernel(), f.effective_kernel(), rtol=4 * EPS)
    z = normal(4, 6)
    target = normal(4, 5)

    def gradients(network):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum((network(z) - target) ** 2)
        return tape.gradient(loss, network.trainable_variables), loss

    slow_grads, slow_loss = gradients(slow)
    fast_grads, fast_loss = gradients(fast)
    assert float(slow_loss) == pytest.approx(float(fast_loss), rel=NETWORK_RTOL)
    assert len(slow_grads) == len(fast_grads) == 6
    for s, f in zip(slow_grads, fast_grads):
        # d loss / d stored = lr_mul * (d loss / d used): 0.01 times the lr_multiplier=1 network's.
        assert_close_to_scale(s, 0.01 * f.numpy(), scale=0.01 * np.max(np.abs(f)))


def test_mapping_network_config_round_trip():
    network = MappingNetwork(10, 6, num_layers=2, hidden_dim=9, lr_multiplier=0.05, normalize_latents=False,
                             negative_slope=0.1, seed=7, name="mapping")
    config = network.get_config()
    clone = MappingNetwork.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(network))
    assert isinstance(restored, MappingNetwork) and restored.get_config() == config
    z = normal(3, 10)
    network(z)
    restored(z)
    restored.set_weights(network.get_weights())
    np.testing.assert_array_equal(restored(z), network(z))


# ---------------------------------------------------------------- adaptive instance normalisation


def adain_reference(x, w, layer, epsilon=1e-8):
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=(1, 2), keepdims=True)
    centred = x - mean
    x_norm = centred / np.sqrt((centred ** 2).mean(axis=(1, 2), keepdims=True) + epsilon)
    dense = layer.style
    kernel = np.asarray(dense.kernel, np.float64) / math.sqrt(dense.fan_in)  # gain 1, lr_mul 1
    style = np.asarray(w, np.float64) @ kernel + np.asarray(dense.bias, np.float64)
    channels = x.shape[-1]
    scale = style[:, None, None, :channels]
    bias = style[:, None, None, channels:]
    return x_norm * (scale + 1.0) + bias, x_norm


def test_adain_matches_formula():
    layer = AdaptiveInstanceNormalization(seed=4)
    x = normal(2, 5, 6, 3, scale=3.0, loc=2.0)
    w = normal(2, 8)
    out = layer([x, w])
    assert tuple(out.shape) == (2, 5, 6, 3)
    assert tuple(layer.style.kernel.shape) == (8, 6) and layer.style.gain == 1.0
    np.testing.assert_array_equal(layer.style.bias, np.zeros(6, np.float32))  # the official bias init 0
    layer.style.bias.assign(normal(6))
    expected, _ = adain_reference(x, w, layer)
    assert_close_to_scale(layer([x, w]), expected)
    # Zero style weights: the scale is 1 and the bias 0, so the output is the instance-normalised input.
    layer.style.kernel.assign(np.zeros((8, 6), np.float32))
    layer.style.bias.assign(np.zeros(6, np.float32))
    _, x_norm = adain_reference(x, w, layer)
    out = layer([x, w]).numpy()
    assert_close_to_scale(out, x_norm)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0.0, atol=reduction_rtol(30) * np.abs(out).max())
    np.testing.assert_allclose((out.astype(np.float64) ** 2).mean(axis=(1, 2)), 1.0, atol=NETWORK_RTOL)


def test_adain_constant_channel_and_config():
    layer = AdaptiveInstanceNormalization(epsilon=1e-5, seed=0, name="adain")
    x = np.full((1, 4, 4, 2), 3.5, np.float32)
    w = normal(1, 4)
    out = layer([x, w]).numpy()
    # A constant channel centres to exactly 0 (the mean of 16 equal values is exact), so the output is
    # the style's bias half t, the same dense layer on the same w: equal to it exactly.
    bias_half = layer.style(w).numpy()[0, 2:]
    np.testing.assert_array_equal(out, np.broadcast_to(bias_half, out.shape))
    config = layer.get_config()
    assert config["epsilon"] == 1e-5 and config["seed"] == 0
    assert AdaptiveInstanceNormalization.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="NHWC"):
        AdaptiveInstanceNormalization()([normal(2, 3), normal(2, 4)])


def test_adain_float32_statistics_under_mixed_bfloat16(mixed_bfloat16):
    layer = AdaptiveInstanceNormalization(seed=1)
    # A large mean and a small spread: bfloat16 values near 100 are multiples of 0.5, so the mean of
    # these (generally not such a multiple) rounded to bfloat16 would be off by up to 0.25 of a standard
    # deviation of about 1, far beyond the output's own rounding.
    x = (100.0 + RNG.integers(-4, 5, size=(2, 4, 4, 3)) * 0.5).astype(np.float32)
    x_bf16 = tf.cast(x, tf.bfloat16)
    np.testing.assert_array_equal(tf.cast(x_bf16, tf.float32), x)  # the input is exact in bfloat16
    w = normal(2, 5)
    layer([x_bf16, w])
    assert layer.compute_dtype == "bfloat16" and layer.style.kernel.dtype == "float32"
    # Dyadic style (kernel 0, bias in quarters): the style is exact in bfloat16, so only the
    # statistics and the final rounding are left.
    layer.style.kernel.assign(np.zeros((5, 6), np.float32))
    layer.style.bias.assign(np.array([0.5, -0.25, 1.0, 0.25, -1.5, 0.0], np.float32))
    out = layer([x_bf16, w])
    assert out.dtype == tf.bfloat16
    expected, _ = adain_reference(x, w, layer)
    out = tf.cast(out, tf.float32).numpy()
    # One bfloat16 rounding of the output (BF16_EPS / 2 of it) plus the float32 statistics: the mean of
    # 16 values errs by at most reduction_rtol(16) * max|x| (rule 3), divided by the standard deviation
    # in x_norm and multiplied by |s + 1| <= 2 in y (the variance's error is smaller by far).
    std = x.astype(np.float64).std(axis=(1, 2)).min()
    atol = 2 * 2.0 * reduction_rtol(16) * np.abs(x).max() / std
    assert atol < 0.01  # far below the 0.1-0.2 a mean rounded to bfloat16 would cost
    np.testing.assert_allclose(out, expected, rtol=BF16_EPS / 2, atol=atol)


# ---------------------------------------------------------------- noise injection


def test_noise_injection_starts_as_identity_and_adds_given_noise_per_channel():
    layer = NoiseInjection()
    x = dyadic(2, 3, 4, 5)
    np.testing.assert_array_equal(layer(x), x)  # weight 0 at init, drawn noise
    np.testing.assert_array_equal(layer.weight, np.zeros(5, np.float32))
    weight = np.array([0.5, -0.25, 2.0, 0.0, 1.0], np.float32)
    layer.weight.assign(weight)
    noise = dyadic(2, 3, 4, 1)
    # Dyadic values with few bits: every product and sum is exact in float32.
    np.testing.assert_array_equal(layer(x, noise=noise), x + noise * weight)


def test_noise_injection_draws_new_noise_each_call_reproducibly_from_its_seed():
    layer, twin = NoiseInjection(seed=4), NoiseInjection.from_config(NoiseInjection(seed=4).get_config())
    x = np.zeros((2, 8, 8, 3), np.float32)
    for each in (layer, twin):
        each.build(x.shape)
        each.weight.assign(np.ones(3, np.float32))
    first, second = layer(x).numpy(), layer(x).numpy()
    np.testing.assert_array_equal(twin(x).numpy(), first)  # the same seed: the same draws
    np.testing.assert_array_equal(twin(x).numpy(), second)
    assert not np.array_equal(first, second)
    # One noise image per example, shared by the channels; differs between the examples.
    np.testing.assert_array_equal(first[..., 0], first[..., 2])
    assert not np.array_equal(first[0], first[1])
    assert abs(first.mean()) < 0.5 and 0.5 < first.std() < 1.5  # N(0, 1): 128 draws


# ---------------------------------------------------------------- dlatent average and truncation


def lerp_tolerance(w_layer0, previous, beta):
    """Error of beta * average + (1 - beta) * mean(w) in float32: the batch mean of B terms (rule 3)
    scaled by 1 - beta, plus a few roundings (the coefficient, two products, the sum) of the terms."""
    w_layer0 = np.abs(np.asarray(w_layer0, np.float64))
    batch = w_layer0.shape[0]
    return ((1 - beta) * reduction_rtol(batch) * w_layer0.mean(axis=0)
            + 4 * EPS * (beta * np.abs(previous) + (1 - beta) * w_layer0.mean(axis=0)))


def test_dlatent_average_update_is_lerp():
    beta = 0.9
    average = DlatentAverage(6, beta=beta)
    assert average.average.dtype == "float32" and not average.average.trainable
    assert average.trainable_variables == [] and average.non_trainable_variables == [average.average]
    np.testing.assert_array_equal(average.average, np.zeros(6, np.float32))
    for step in range(3):
        w = normal(10, 6, loc=step)
        previous = average.average.numpy().astype(np.float64)
        new = average.update(w)
        mean = w.astype(np.float64).mean(axis=0)
        expected = mean + (previous - mean) * beta  # the reference's lerp(mean, average, beta)
        assert_within(average.average, expected, lerp_tolerance(w, previous, beta))
        np.testing.assert_array_equal(new, average.average)
    # Per-layer dlatents [B, L, D]: layer 0 is averaged (the reference's dlatents[:, 0]).
    previous = average.average.numpy().astype(np.float64)
    w = normal(4, 3, 6)
    average.update(w)
    expected = beta * previous + (1 - beta) * w[:, 0].astype(np.float64).mean(axis=0)
    assert_within(average.average, expected, lerp_tolerance(w[:, 0], previous, beta))


def test_dlatent_average_update_in_traced_step():
    average = DlatentAverage(4, beta=0.5)

    @tf.function
    def step(w):
        return average.update(w)

    w = np.array([[1.0, 2.0, -4.0, 0.5], [3.0, 0.0, 0.0, 0.5]], np.float32)
    step(w)
    step(w)
    # Dyadic: mean (2, 1, -2, 0.5); after two updates 0.75 of it, exact.
    np.testing.assert_array_equal(average.average, [1.5, 0.75, -1.5, 0.375])


def test_truncate_psi_and_cutoff():
    layer = DlatentAverage(5)
    avg = normal(5)
    layer.average.assign(avg)
    w = normal(3, 10, 5)
    cut = layer.truncate(w, 0.0, 8).numpy()
    np.testing.assert_array_equal(cut[:, :8], np.broadcast_to(avg, (3, 8, 5)))
    np.testing.assert_array_equal(cut[:, 8:], w[:, 8:])
    np.testing.assert_array_equal(layer.truncate(w, 1.0, 8), w)
    np.testing.assert_array_equal(layer.truncate(w, tf.constant(1.0), None), w)
    # A scalar tensor psi and a cutoff of 3; in between against lerp(average, w, psi).
    psi = 0.7
    out = layer(w, tf.constant(psi), cutoff=3).numpy()
    expected = avg + psi * (w.astype(np.float64) - avg)
    assert_within(out[:, :3], expected[:, :3], 2 * EPS * (psi * np.abs(w[:, :3]) + (1 - psi) * np.abs(avg)))
    np.testing.assert_array_equal(out[:, 3:], w[:, 3:])
    cut = layer.truncate(w, 0.0, None).numpy()  # every layer
    np.testing.assert_array_equal(cut, np.broadcast_to(avg, w.shape))


def test_dlatent_average_config():
    layer = DlatentAverage(7, beta=0.99, name="avg")
    config = layer.get_config()
    assert config["dlatent_dim"] == 7 and config["beta"] == 0.99
    assert DlatentAverage.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="beta"):
        DlatentAverage(7, beta=1.0)


# ---------------------------------------------------------------- style mixing


def test_broadcast_dlatents():
    w = normal(2, 4)
    out = broadcast_dlatents(w, 5).numpy()
    assert out.shape == (2, 5, 4)
    for i in range(5):
        np.testing.assert_array_equal(out[:, i], w)


def test_mix_dlatents_per_layer():
    num_layers = 6
    w_a = normal(5, num_layers, 3)
    w_b = normal(5, num_layers, 3)
    crossover = np.array([0, 1, 3, 5, 6], np.int32)
    out = mix_dlatents(w_a, w_b, crossover).numpy()
    for b, c in enumerate(crossover):
        for i in range(num_layers):
            np.testing.assert_array_equal(out[b, i], w_a[b, i] if i < c else w_b[b, i])
    # A scalar crossover mixes the whole batch at the same layer (the reference).
    out = mix_dlatents(w_a, w_b, 2).numpy()
    np.testing.assert_array_equal(out[:, :2], w_a[:, :2])
    np.testing.assert_array_equal(out[:, 2:], w_b[:, 2:])


def test_mixing_crossover_range_and_rate():
    generator = keras.random.SeedGenerator(5)
    num_layers = 10
    crossover = mixing_crossover(generator, 16, num_layers).numpy()
    assert crossover.dtype == np.int32 and crossover.shape == (16,)
    assert np.all((crossover >= 1) & (crossover <= num_layers))
    n = 100_000
    crossover = mixing_crossover(generator, n, num_layers, probability=0.9).numpy()
    assert np.all((crossover >= 1) & (crossover <= num_layers))
    assert set(np.unique(crossover)) == set(range(1, num_layers + 1))  # [1, L) and L (no mixing)
    mixed = crossover < num_layers
    # Hoeffding: P(|rate - 0.9| >= t) <= 2 exp(-2 n t^2); t = 0.01 gives 2 exp(-20) = 4e-9 for n = 1e5
    # (the binomial standard deviation is sqrt(0.9 * 0.1 / n) = 0.00095).
    assert abs(mixed.mean() - 0.9) < 0.01
    # Among the mixed examples the crossover is uniform over the 9 values 1..9: each count is
    # Binomial(n_mixed, 1/9), within 0.01 * n_mixed of n_mixed / 9 by the same bound (2 exp(-18)).
    counts = np.bincount(crossover[mixed], minlength=num_layers)[1:]
    assert np.all(np.abs(counts / mixed.sum() - 1 / 9) < 0.01)
    np.testing.assert_array_equal(mixing_crossover(generator, 32, num_layers, probability=0.0),
                                  np.full(32, num_layers))
    assert np.all(mixing_crossover(generator, 32, num_layers, probability=1.0).numpy() < num_layers)
    np.testing.assert_array_equal(mixing_crossover(generator, 4, 1), np.ones(4))


def test_mixing_crossover_in_traced_step_with_dynamic_batch():
    generator = keras.random.SeedGenerator(0)

    @tf.function(input_signature=[tf.TensorSpec([None, 4, 3])])
    def mix(w):
        crossover = mixing_crossover(generator, tf.shape(w)[0], 4)
        return mix_dlatents(w, -w, crossover), crossover

    w = normal(6, 4, 3) + 10.0
    out, crossover = mix(w)
    assert crossover.shape == (6,)
    for b, c in enumerate(crossover.numpy()):
        np.testing.assert_array_equal(out[b, :c], w[b, :c])
        np.testing.assert_array_equal(out[b, c:], -w[b, c:])
