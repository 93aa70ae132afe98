"""DiscoGAN train_step against a hand-written reference computation (apps/discogan/model.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.discogan.config import DiscoGANConfig
from apps.discogan.model import DiscoGAN, build_model, make_optimizers
from common.training import precision
from tests.tolerances import NETWORK_RTOL, assert_update_close

TINY = dict(image_size=16, base_filters=8)


def unpaired_batch(batch_size=2, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return {domain: tf.constant(rng.uniform(-1.0, 1.0, (batch_size, 16, 16, channels)).astype(np.float32))
            for domain in ("a", "b")}


def compiled_model(config, optimizers=None):
    model = build_model(config)
    model.compile(*(optimizers or make_optimizers(config)))
    return model


def copy_of(network):
    clone = keras.models.clone_model(network)
    clone.set_weights(network.get_weights())
    return clone


def values(variables):
    return [np.array(v.numpy()) for v in variables]


def softplus(x):
    return np.logaddexp(0.0, x)


def norm(gradients):
    return float(np.sqrt(sum(np.sum(np.square(g.numpy())) for g in gradients)))


def test_train_step_matches_reference_computation():
    config = DiscoGANConfig(seed=3, reconstruction_weight=2.0, **TINY)
    model = compiled_model(config)
    batch = unpaired_batch()
    g_ab, g_ba = copy_of(model.generator_ab), copy_of(model.generator_ba)
    d_a, d_b = copy_of(model.discriminator_a), copy_of(model.discriminator_b)
    trainable = model.generator_weights + model.discriminator_weights
    before = values(trainable)

    logs = {name: float(value) for name, value in model.train_step(batch).items()}
    # The compiled step and the eager copies below may pick different kernels: losses of
    # float32 networks agree to NETWORK_RTOL (tests/tolerances.py), not to the last bit.
    close = lambda value: pytest.approx(value, rel=NETWORK_RTOL)  # noqa: E731

    # Generator step, written out with numpy: -log sigmoid(l) = softplus(-l); d on (x + 1) / 2.
    real_a, real_b = batch["a"].numpy(), batch["b"].numpy()
    fake_b, fake_a = g_ab(real_a, training=True), g_ba(real_b, training=True)
    recon_a, recon_b = g_ba(fake_b, training=True), g_ab(fake_a, training=True)
    logits_b, logits_a = d_b(fake_b, training=True), d_a(fake_a, training=True)
    gan_b = np.mean(softplus(-logits_b.numpy()))
    gan_a = np.mean(softplus(-logits_a.numpy()))
    recon_loss_a = np.mean(np.square((recon_a.numpy() + 1) / 2 - (real_a + 1) / 2))  # MSE on [0, 1]
    recon_loss_b = np.mean(np.square((recon_b.numpy() + 1) / 2 - (real_b + 1) / 2))
    assert logs["gan_a"] == close(gan_a)
    assert logs["gan_b"] == close(gan_b)
    assert logs["recon_a"] == close(recon_loss_a)
    assert logs["recon_b"] == close(recon_loss_b)
    assert logs["g_loss"] == close(gan_a + gan_b + 2.0 * (recon_loss_a + recon_loss_b))

    # Discriminator step on the same translations (made before the generator update).
    real_logits_a, fake_logits_a = d_a(real_a, training=True).numpy(), d_a(fake_a, training=True).numpy()
    real_logits_b, fake_logits_b = d_b(real_b, training=True).numpy(), d_b(fake_b, training=True).numpy()
    d_loss_a = np.mean(softplus(-real_logits_a)) + np.mean(softplus(fake_logits_a))
    d_loss_b = np.mean(softplus(-real_logits_b)) + np.mean(softplus(fake_logits_b))
    assert logs["d_loss_a"] == close(d_loss_a)
    assert logs["d_loss_b"] == close(d_loss_b)
    assert logs["d_loss"] == close(d_loss_a + d_loss_b)
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    assert logs["d_real_a"] == close(np.mean(sigmoid(real_logits_a)))
    assert logs["d_fake_b"] == close(np.mean(sigmoid(fake_logits_b)))

    # Every trainable weight of the four networks moved.
    for old, new in zip(before, values(trainable)):
        assert not np.array_equal(old, new)
    assert set(logs) == set(DiscoGAN.TRACKED)


def test_sgd_update_adds_coupled_weight_decay_to_the_gradient():
    # With SGD the update is w - lr * (dL/dw + weight_decay * w), as torch.optim.Adam(weight_decay) feeds Adam.
    config = DiscoGANConfig(seed=1, weight_decay=0.5, **TINY)
    model = compiled_model(config, (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)))
    batch = unpaired_batch(seed=4)
    g_ab, g_ba = copy_of(model.generator_ab), copy_of(model.generator_ba)
    d_a, d_b = copy_of(model.discriminator_a), copy_of(model.discriminator_b)
    g_weights = g_ab.trainable_weights + g_ba.trainable_weights
    g_before = values(g_weights)

    logs = model.train_step(batch)

    with tf.GradientTape() as tape:
        fake_b, fake_a = g_ab(batch["a"], training=True), g_ba(batch["b"], training=True)
        loss = (tf.reduce_mean(tf.nn.softplus(-d_b(fake_b, training=True)))
                + tf.reduce_mean(tf.nn.softplus(-d_a(fake_a, training=True)))
                + tf.reduce_mean(tf.square((g_ba(fake_b, training=True) - batch["a"]) / 2))
                + tf.reduce_mean(tf.square((g_ab(fake_a, training=True) - batch["b"]) / 2)))
    gradients = tape.gradient(loss, g_weights)
    assert float(logs["g_loss"]) == pytest.approx(float(loss), rel=NETWORK_RTOL)  # reported without the penalty
    # The gradient comes from another kernel than the step's: compare the update with lr * |step|, not |w|.
    for old, gradient, new in zip(g_before, gradients, values(model.generator_weights)):
        assert_update_close(new, old, 0.1, gradient.numpy() + 0.5 * old)
    expected_norm = norm([g + 0.5 * w for g, w in zip(gradients, g_before)])
    assert float(logs["g_grad_norm"]) == pytest.approx(expected_norm, rel=NETWORK_RTOL)


@pytest.mark.parametrize("loss", ["least_squares", "hinge"])
def test_one_step_per_loss_is_finite(loss):
    model = compiled_model(DiscoGANConfig(loss=loss, channels=1, reconstruction_distance="huber", **TINY))
    logs = model.train_step(unpaired_batch(channels=1))
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_loss_scale_optimizer_reports_unscaled_values_and_mixed_precision_is_finite():
    config = DiscoGANConfig(seed=2, **TINY)
    plain = compiled_model(config)
    scaled = compiled_model(config, [keras.optimizers.LossScaleOptimizer(o) for o in make_optimizers(config)])
    plain_logs, scaled_logs = plain.train_step(unpaired_batch()), scaled.train_step(unpaired_batch())
    for name in plain_logs:
        assert float(scaled_logs[name]) == pytest.approx(float(plain_logs[name]), rel=NETWORK_RTOL), name
    with precision.dtype_policy("mixed_float16"):
        mixed = build_model(config)
        mixed.compile(*(precision.wrap_optimizer(o, "mixed_float16") for o in make_optimizers(config)))
    logs = mixed.train_step(unpaired_batch())
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert float(logs["g_loss"]) == pytest.approx(float(plain_logs["g_loss"]), rel=0.05)
    assert mixed.generator_ab.get_layer("enc2").compute_dtype == "float16"
    assert all(v.dtype == "float32" for v in mixed.generator_weights)


def test_compile_builds_optimizers_and_translators_protocol():
    config = DiscoGANConfig(learning_rate=1e-3, beta_1=0.4, **TINY)
    g_optimizer, d_optimizer = make_optimizers(config)
    assert isinstance(g_optimizer, keras.optimizers.Adam) and g_optimizer is not d_optimizer
    assert float(g_optimizer.learning_rate) == pytest.approx(1e-3) and g_optimizer.beta_1 == 0.4
    assert g_optimizer.beta_2 == pytest.approx(0.999)
    model = build_model(config)
    model.compile(g_optimizer, d_optimizer)
    assert g_optimizer.built and d_optimizer.built  # slots exist for restore
    # One optimizer for both generators, one for both discriminators.
    assert len(model.generator_weights) == 2 * len(model.generator_ab.trainable_weights)
    assert len(model.discriminator_weights) == 2 * len(model.discriminator_a.trainable_weights)
    translators = model.translators()
    assert list(translators) == ["a_to_b", "b_to_a"]
    assert translators["a_to_b"] is model.generator_ab and translators["b_to_a"] is model.generator_ba
    assert model.size_multiple == 16
    images = np.zeros((1, 32, 48, 3), np.float32)
    assert translators["b_to_a"](images, training=False).shape == (1, 32, 48, 3)
