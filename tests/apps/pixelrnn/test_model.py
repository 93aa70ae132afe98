"""PixelRNN's likelihood against hand-computed cross-entropies, its inverse-CDF draws against known
distributions, its sampler against its own one-pass redraw, and one training step."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.pixelrnn.config import PixelRNNConfig
from apps.pixelrnn.model import build_model, draw_from_logits, make_optimizers, pixel_values
from tests.tolerances import ELEMENTWISE_RTOL, reduction_rtol

SOFTMAX = PixelRNNConfig(model="pixelcnn", image_size=3, channels=3, hidden=3, num_layers=2, output_features=0,
                         seed=1)
BERNOULLI = PixelRNNConfig(model="pixelcnn", image_size=3, channels=1, output="bernoulli", hidden=2, num_layers=2,
                           output_features=0, seed=1)


def _model(config):
    keras.utils.set_random_seed(config.seed)
    return build_model(config)


def _uint8_images(rng, count, config):
    return rng.integers(0, 256, (count, config.image_size, config.image_size, config.channels))


def test_softmax_likelihood_is_the_sum_of_the_subpixels_cross_entropies():
    model = _model(SOFTMAX)
    values = _uint8_images(np.random.default_rng(0), 2, SOFTMAX)
    images = (values / 127.5 - 1.0).astype(np.float32)
    np.testing.assert_array_equal(pixel_values(images).numpy(), values)
    logits = model.network(images).numpy().astype(np.float64)  # [2, 3, 3, 3, 256]
    log_z = np.log(np.sum(np.exp(logits - logits.max(-1, keepdims=True)), -1)) + logits.max(-1)
    terms = log_z - np.take_along_axis(logits, values[..., None], -1)[..., 0]  # -log p(x_k | x_<k), all >= 0
    expected = terms.reshape(2, -1).sum(-1)
    nll = model.negative_log_likelihood(images).numpy()
    # A float32 log-softmax over 256 logits per term, then a sum of 27 terms per image.
    np.testing.assert_allclose(nll, expected, rtol=reduction_rtol(27 * 256))
    assert model.dims == 27 and model.latent_dim == 27 and model.latent_distribution == "uniform"


def test_bernoulli_likelihood_binarises_at_one_half_and_feeds_the_binary_image():
    model = _model(BERNOULLI)
    # Pixel values 127 and below are 0, 128 and above 1 (x > 0 in [-1, 1]).
    values = np.array([[0, 127, 128], [255, 64, 200], [130, 10, 128]])[None, ..., None]
    images = (values / 127.5 - 1.0).astype(np.float32)
    bits = (values >= 128).astype(np.float64)
    logits = model.network(np.where(bits > 0, 1.0, -1.0).astype(np.float32)).numpy().astype(np.float64)
    # -log sigmoid(l) = softplus(-l) for a 1, softplus(l) for a 0.
    expected = np.sum(np.where(bits > 0, np.logaddexp(0, -logits), np.logaddexp(0, logits)))
    nll = model.negative_log_likelihood(images).numpy()
    np.testing.assert_allclose(nll, [expected], rtol=reduction_rtol(9))
    # The raw grey levels do not reach the network: only their binarisation does.
    np.testing.assert_array_equal(model.network_inputs(images).numpy(), np.where(bits > 0, 1.0, -1.0))


def test_inverse_cdf_draws_and_margins():
    probabilities = np.full(256, 1e-12)
    probabilities[:4] = [0.1, 0.2, 0.3, 0.4]
    logits = np.log(probabilities / probabilities.sum()).astype(np.float32)
    u = np.array([0.05, 0.1001, 0.25, 0.95, 0.0, 0.5999], np.float32)
    values, margins = draw_from_logits(np.tile(logits, (6, 1)), u, bernoulli=False)
    # CDF 0.1, 0.3, 0.6, 1.0: the smallest v with CDF(v) > u.
    np.testing.assert_array_equal(values.numpy(), [0, 1, 1, 3, 0, 2])
    np.testing.assert_allclose(margins.numpy(), [0.05, 0.0001, 0.05, 0.05, 0.0, 0.0001], atol=1e-6)
    values, margins = draw_from_logits(np.array([0.0, 0.0, math.log(3.0)], np.float32),
                                       np.array([0.3, 0.7, 0.7], np.float32), bernoulli=True)
    np.testing.assert_array_equal(values.numpy(), [1, 0, 1])  # p = 0.5, 0.5, 0.75
    np.testing.assert_allclose(margins.numpy(), [0.2, 0.2, 0.05], rtol=ELEMENTWISE_RTOL * 10)


@pytest.mark.parametrize("config", [SOFTMAX, BERNOULLI], ids=["softmax256", "bernoulli"])
def test_sampler_draws_every_subpixel_from_its_own_prefix(config):
    model = _model(config)
    rng = np.random.default_rng(3)
    z = rng.uniform(size=(4, model.dims)).astype(np.float32)
    images = model.sample(z).numpy()
    levels = (images + 1.0) * (0.5 if config.output == "bernoulli" else 127.5)
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)  # on the value grid
    levels = np.round(levels).astype(np.int64)
    redrawn, margins = model.redraw(images, z)
    redrawn_levels = np.round((redrawn.numpy() + 1.0) * (0.5 if config.output == "bernoulli" else 127.5))
    decided = margins.numpy() > 1e-5  # draws that float rounding of the logits cannot flip
    assert decided.mean() > 0.9
    np.testing.assert_array_equal(redrawn_levels[decided], levels[decided])
    # Sub-pixel k depends on u_0..u_k only: new uniforms from position k on leave the prefix unchanged.
    k = model.dims // 2
    z2 = z.copy()
    z2[:, k:] = rng.uniform(size=(4, model.dims - k))
    changed = model.sample(z2).numpy().reshape(4, -1)
    np.testing.assert_array_equal(changed[:, :k], images.reshape(4, -1)[:, :k])


def test_first_pixel_frequency_follows_its_probability():
    model = _model(BERNOULLI)
    # The first pixel's logit sees no pixel at all (mask A): the same for every input.
    logits = model.network(np.stack([np.full((3, 3, 1), -1.0), np.ones((3, 3, 1))]).astype(np.float32)).numpy()
    # Both images' first logits are sums of the same bias-only terms (masked weights multiply to exact zeros).
    assert logits[0, 0, 0, 0] == pytest.approx(logits[1, 0, 0, 0], rel=1e-5, abs=1e-6)
    p = 1.0 / (1.0 + math.exp(-float(logits[0, 0, 0, 0])))
    n = 3000
    z = np.random.default_rng(4).uniform(size=(n, model.dims)).astype(np.float32)
    first = model.sample(z).numpy()[:, 0, 0, 0] > 0
    assert abs(first.mean() - p) < 4.5 * math.sqrt(p * (1 - p) / n), (first.mean(), p)


def test_training_step_reports_nats_and_bits_and_lowers_the_loss():
    config = PixelRNNConfig(model="pixelcnn", image_size=4, channels=3, hidden=3, num_layers=2, output_features=0,
                            learning_rate=3e-3, seed=2)
    model = _model(config)
    model.compile(optimizer=make_optimizers(config))
    values = _uint8_images(np.random.default_rng(5), 4, config)
    batch = {"image": tf.constant(values / 127.5 - 1.0, tf.float32)}
    before = float(np.mean(model.negative_log_likelihood(batch["image"]).numpy()))
    logs = None
    for _ in range(5):
        logs = model.train_on_batch(batch, return_dict=True)
    assert set(logs) == {"loss", "bits_per_dim", "nll", "grad_norm"}
    assert logs["bits_per_dim"] == pytest.approx(logs["loss"] / math.log(2.0), rel=ELEMENTWISE_RTOL)
    assert logs["nll"] == pytest.approx(logs["loss"] * model.dims, rel=ELEMENTWISE_RTOL * 10)
    assert logs["grad_norm"] > 0
    after = float(np.mean(model.negative_log_likelihood(batch["image"]).numpy()))
    assert after < before
    # An untrained 256-way softmax starts near log 256 nats per sub-pixel.
    assert abs(before / model.dims - math.log(256.0)) < 0.5


@pytest.mark.parametrize("fields, message", [
    (dict(output="bernoulli", channels=3), "--channels=1"),
    (dict(num_layers=1), "num_layers"),
    (dict(model="pixelrnn"), "model must be one of"),
    (dict(channels=3, hidden=2), "hidden must be at least 3"),
    (dict(channels=3, output_features=2), "output_features"),
])
def test_config_refuses_what_it_cannot_build(fields, message):
    with pytest.raises(ValueError, match=message):
        PixelRNNConfig(**fields)


def test_paper_depths():
    assert PixelRNNConfig().layers == 12 and PixelRNNConfig(model="row_lstm").layers == 12
    assert PixelRNNConfig(model="pixelcnn").layers == 15 and PixelRNNConfig(num_layers=4).layers == 4
