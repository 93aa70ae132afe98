"""StyleGAN's config, networks and step at tiny widths: the paper's defaults, the synthesis layer against its
formula, the blur, the fade at alpha 0, 0.5 and 1, truncation at psi 0 and 1, style mixing in the step, the
per-phase learning rate and moving-average decay, R1 recomputed by hand, and one step at each of two
resolutions."""

import math

import numpy as np
import pytest
import tensorflow as tf

from apps.stylegan.config import StyleGANConfig
from apps.stylegan.model import build_model, make_optimizers
from common.nn import progressive_layers as pl
from common.nn.progressive_networks import blur
from tests.tolerances import ELEMENTWISE_RTOL, NETWORK_RTOL, assert_close_to_scale

# Phases: 8x8 step 0; 16x16 (batch 2) from step 1, fading over steps 1 and 2.
CONFIG = StyleGANConfig(image_size=16, channels=3, latent_dim=8, dlatent_dim=8, mapping_layers=2, mapping_fmaps=8,
                        fmap_base=32, fmap_max=8, batch_size=4, batch_sizes="16:2", fade_images=4, stable_images=4,
                        learning_rates="16:0.002", minibatch_group_size=2, seed=1)


def _model(config=CONFIG):
    model = build_model(config)
    g, d = make_optimizers(config)
    model.compile(g_optimizer=g, d_optimizer=d)
    return model


def test_defaults_follow_the_paper_and_the_authors_code():
    paper = StyleGANConfig()
    assert paper.num_layers == 18 and paper.resolutions[0] == 8 and paper.resolutions[-1] == 1024
    assert [paper.features(r) for r in (4, 8, 16, 32, 64, 128, 256, 512, 1024)] == [
        512, 512, 512, 512, 256, 128, 64, 32, 16]
    assert paper.batch_size_map[8] == 128 and paper.batch_size_map[64] == 32 and paper.batch_size_map[1024] == 4
    assert [paper.learning_rate_at(r) for r in (64, 128, 256, 512, 1024)] == [0.001, 0.0015, 0.002, 0.003, 0.003]
    assert paper.ema_decay_at(32) == pytest.approx(0.5 ** (32 / 10_000), rel=1e-12)
    assert (paper.r1_gamma, paper.style_mixing_prob, paper.dlatent_avg_beta) == (10.0, 0.9, 0.995)
    assert (paper.truncation_psi, paper.truncation_cutoff, paper.minibatch_group_size) == (0.7, 8, 4)
    assert paper.schedule().phases[1].fade_steps == math.ceil(600_000 / 128)
    assert StyleGANConfig(image_scale=0.01).schedule().phases[1].fade_steps == math.ceil(6_000 / 128)


@pytest.mark.parametrize("fields, message", [
    (dict(learning_rates="128:0"), "learning_rates"),
    (dict(learning_rates="128:fast"), "learning_rates"),
    (dict(batch_sizes="100:4"), "power of two"),
    (dict(channels=2), "channels"),
    (dict(initial_resolution=2), "initial_resolution"),
    (dict(style_mixing_prob=1.5), "style_mixing_prob"),
    (dict(image_scale=float("nan")), "image_scale"),
])
def test_bad_fields_are_refused_with_their_name(fields, message):
    with pytest.raises(ValueError, match=message):
        StyleGANConfig(**fields)


def test_blur_is_the_normalised_1_2_1_filter_with_zero_padding():
    x = np.random.default_rng(0).standard_normal((1, 5, 6, 2)).astype(np.float32)
    taps = np.array([1.0, 2.0, 1.0]) / 4.0
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros_like(x)
    for i in range(3):
        for j in range(3):
            expected += taps[i] * taps[j] * padded[:, i:i + 5, j:j + 6, :]
    np.testing.assert_allclose(blur(tf.constant(x)).numpy(), expected, rtol=0, atol=8 * ELEMENTWISE_RTOL)


def test_a_synthesis_layer_is_adain_of_lrelu_of_conv_plus_scaled_noise_plus_bias():
    generator = build_model(CONFIG).generator
    rng = np.random.default_rng(1)
    for variable in (generator.noises[3].weight, generator.biases[3]):
        variable.assign(rng.standard_normal(variable.shape).astype(np.float32))
    x = tf.constant(rng.standard_normal((2, 8, 8, 8)).astype(np.float32))
    w = tf.constant(rng.standard_normal((2, 8)).astype(np.float32))
    got = generator._layer(3, x, w, "const", training=False).numpy()
    h = generator.convs[3](x).numpy() + generator.noise_const[3].numpy() * generator.noises[3].weight.numpy()
    h = h + generator.biases[3].numpy()
    h = np.where(h >= 0, h, 0.2 * h)
    h = (h - h.mean(axis=(1, 2), keepdims=True)) / np.sqrt(h.var(axis=(1, 2), keepdims=True) + 1e-8)
    style = generator.adains[3].style(w).numpy()
    expected = h * (style[:, None, None, :8] + 1.0) + style[:, None, None, 8:]
    assert_close_to_scale(got, expected, rtol=NETWORK_RTOL)


def test_fade_blends_the_upsampled_previous_resolution_and_truncation_at_psi_0_is_the_mean():
    generator = build_model(CONFIG).generator
    for noise in generator.noises:  # the noise scales start at 0; give the noise a visible effect
        noise.weight.assign(np.full(noise.weight.shape, 0.5, np.float32))
    z = tf.constant(np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32))
    dlatents = generator.dlatents(z)
    generator.set_resolution(8)
    at_8 = generator.synthesize(dlatents, alpha=1.0, noise_mode="const").numpy()
    generator.set_resolution(16)
    new = generator.synthesize(dlatents, alpha=1.0, noise_mode="const").numpy()
    low = pl.upsample_nearest(at_8).numpy()
    np.testing.assert_array_equal(generator.synthesize(dlatents, alpha=0.0, noise_mode="const").numpy(), low)
    assert_close_to_scale(generator.synthesize(dlatents, alpha=0.5, noise_mode="const").numpy(),
                          0.5 * (low + new), rtol=4 * ELEMENTWISE_RTOL)
    # Random noise changes the image; the stored noise does not.
    assert not np.array_equal(generator.synthesize(dlatents, alpha=1.0).numpy(), new)
    # psi = 0 on every layer (the cutoff 8 covers this generator's 6): every z renders the tracked mean.
    generator.dlatent_avg.average.assign(np.linspace(-1, 1, 8).astype(np.float32))
    images = generator.generate(z, psi=0.0, noise_mode="const").numpy()
    np.testing.assert_array_equal(images[0], images[1])
    assert not np.array_equal(*generator.generate(z[:2], psi=1.0, noise_mode="const").numpy())


def test_mixed_dlatents_take_w_b_from_the_crossover_and_move_the_tracked_mean():
    config = CONFIG.__class__(**{**CONFIG.__dict__, "style_mixing_prob": 1.0})
    model = _model(config)
    model.enter_phase(model.schedule.phases[0])  # 8x8: layers 0-3 are rendered, so crossovers are in [1, 4)
    dlatents = model.mixed_dlatents(64, update_average=True).numpy()
    assert not np.allclose(dlatents[:, 0], dlatents[:, 3])  # layer 3 always takes w_b
    same_as_first = np.all(dlatents == dlatents[:, :1], axis=-1)  # [B, L]
    crossovers = same_as_first[:, :4].sum(axis=1)
    assert set(crossovers) == {1, 2, 3}  # uniform in [1, 4): all three seen in 64 draws
    average = model.generator.dlatent_avg.average.numpy()
    assert np.any(average != 0) and np.all(np.isfinite(average))
    no_mixing = _model(CONFIG.__class__(**{**CONFIG.__dict__, "style_mixing_prob": 0.0}))
    no_mixing.enter_phase(no_mixing.schedule.phases[0])
    flat = no_mixing.mixed_dlatents(4, update_average=False).numpy()
    np.testing.assert_array_equal(flat, np.repeat(flat[:, :1], flat.shape[1], axis=1))


def test_one_step_at_each_resolution_with_the_phase_rate_decay_and_r1_by_hand():
    model = _model()
    images = {"image": tf.constant(np.random.default_rng(3).uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32))}
    first, fading = model.schedule.phases
    model.enter_phase(first)
    logs = model.train_step(images)
    assert logs["resolution"] == 8.0 and logs["alpha"] == 1.0 and np.isfinite(float(logs["d_loss"]))
    assert model.ema.decay == CONFIG.ema_decay_at(4)

    model.enter_phase(fading)
    assert float(model.g_optimizer.learning_rate.numpy()) == pytest.approx(0.002)
    assert model.ema.decay == CONFIG.ema_decay_at(2)
    two = {"image": images["image"][:2]}
    # With D frozen (learning rate 0), R1 of the step is recomputed here from D's input gradient.
    model.d_optimizer.learning_rate.assign(0.0)
    model.global_step.assign(fading.start_step + 1)  # alpha = 1 / 2
    for tracker in model.metrics:
        tracker.reset_state()
    logs = model.train_step(two)
    assert logs["resolution"] == 16.0 and logs["alpha"] == 0.5 and int(model.global_step.numpy()) == 3
    reals = model.real_images(two["image"], 0.5)
    with tf.GradientTape() as tape:
        tape.watch(reals)
        scores = model.discriminator(reals, alpha=0.5, training=True)
        total = tf.reduce_sum(scores)
    gradient = tape.gradient(total, reals).numpy()
    r1 = np.mean(np.sum(np.square(gradient), axis=(1, 2, 3)))
    assert float(logs["r1"]) == pytest.approx(r1, rel=2 * NETWORK_RTOL)  # a sum of squared gradients
    assert float(logs["d_real"]) == pytest.approx(float(np.mean(1 / (1 + np.exp(-scores.numpy())))), rel=NETWORK_RTOL)
    assert model.generator(tf.zeros((1, 8))).shape == (1, 16, 16, 3)
