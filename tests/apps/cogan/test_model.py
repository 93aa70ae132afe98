"""CoGAN train_step against a hand-written reference computation (apps/cogan/model.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.cogan.config import CoGANConfig
from apps.cogan.model import build_model, make_optimizers
from apps.cogan.networks import build_networks
from tests.tolerances import NETWORK_RTOL, assert_update_close

TINY = dict(width_divisor=16, latent_dim=8, image_size=28)


def real_batch(batch_size=2, seed=0, size=28):
    rng = np.random.default_rng(seed)
    return {key: tf.constant(rng.uniform(-1.0, 1.0, (batch_size, size, size, 1)).astype(np.float32))
            for key in ("image_a", "image_b")}


def compiled_model(config, optimizers=None):
    model = build_model(config)
    model.compile(*(optimizers or make_optimizers(config)))
    return model


def values(variables):
    return [np.array(v.numpy()) for v in variables]


def norm(gradients):
    return float(np.sqrt(sum(np.sum(np.square(g.numpy())) for g in gradients)))


def softplus(x):
    return tf.math.softplus(tf.cast(x, tf.float32))


def test_train_step_matches_reference_computation_and_updates_each_variable_once():
    # SGD makes every update visible: new = old - lr * gradient. A shared variable updated
    # once per domain would move by twice its gradient.
    config = CoGANConfig(seed=5, weight_decay=0.01, **TINY)
    lr = 0.1
    model = compiled_model(config, (keras.optimizers.SGD(lr), keras.optimizers.SGD(lr)))
    reference = build_networks(config)  # the same config builds the same initial weights
    batch = real_batch()
    g_before, d_before = values(model.generator_weights), values(model.discriminator_weights)

    logs = {name: float(value) for name, value in model.train_step(batch).items()}

    # Variables of the reference networks in the model's order, each shared one once.
    d_vars = list({id(v): v for v in reference.discriminator_a.trainable_weights
                   + reference.discriminator_b.trainable_weights}.values())
    g_vars = list({id(v): v for v in reference.generator_a.trainable_weights
                   + reference.generator_b.trainable_weights}.values())
    assert [v.path for v in d_vars] == [v.path for v in model.discriminator_weights]
    assert len(g_vars) == len(model.generator_weights) == 12 + 2 + 2  # shared, head a, head b

    def l2(variables):  # Caffe's weight decay on kernels only: 0.5 * wd * sum(w^2)
        return 0.5 * config.weight_decay * sum(tf.reduce_sum(tf.square(v)) for v in variables if v.name == "kernel")

    # (1)-(2) discriminator step with the model's noise draws. The reference runs eagerly and
    # the step compiled, with kernels that may sum in another order: losses and norms agree to
    # NETWORK_RTOL, updates to lr * |gradient| (tests/tolerances.py).
    noise = keras.random.SeedGenerator(config.seed)
    z1 = keras.random.normal((2, 8), seed=noise)
    fake_a, fake_b = reference.generator(z1, training=True)
    with tf.GradientTape(persistent=True) as tape:
        real_la = reference.discriminator_a(batch["image_a"])
        fake_la = reference.discriminator_a(fake_a)
        real_lb = reference.discriminator_b(batch["image_b"])
        fake_lb = reference.discriminator_b(fake_b)
        # -log sigmoid(real) - log(1 - sigmoid(fake)) per domain, summed over domains.
        d_loss_a = tf.reduce_mean(softplus(-real_la)) + tf.reduce_mean(softplus(fake_la))
        d_loss_b = tf.reduce_mean(softplus(-real_lb)) + tf.reduce_mean(softplus(fake_lb))
        d_total = d_loss_a + d_loss_b + l2(d_vars)
    d_gradients = tape.gradient(d_total, d_vars)
    assert logs["d_loss_a"] == pytest.approx(float(d_loss_a), rel=NETWORK_RTOL)
    assert logs["d_loss_b"] == pytest.approx(float(d_loss_b), rel=NETWORK_RTOL)
    assert logs["d_loss"] == pytest.approx(float(d_loss_a + d_loss_b), rel=NETWORK_RTOL)
    assert logs["d_real_a"] == pytest.approx(float(tf.reduce_mean(tf.sigmoid(real_la))), rel=NETWORK_RTOL)
    assert logs["d_fake_b"] == pytest.approx(float(tf.reduce_mean(tf.sigmoid(fake_lb))), rel=NETWORK_RTOL)
    assert logs["d_grad_norm"] == pytest.approx(norm(d_gradients), rel=NETWORK_RTOL)
    # Both domains pull on the shared discriminator layers: neither domain alone gives the gradient.
    conv2 = reference.shared_discriminator.get_layer("conv2").kernel
    only_a = tape.gradient(d_loss_a, conv2)
    assert np.abs(only_a.numpy()).max() > 0 and np.abs(tape.gradient(d_loss_b, conv2).numpy()).max() > 0
    for before, after, gradient in zip(d_before, values(model.discriminator_weights), d_gradients):
        assert_update_close(after, before, lr, gradient.numpy())

    # (3) generator step: fresh z, through the updated discriminators (the model's, after step 2).
    z2 = keras.random.normal((2, 8), seed=noise)
    assert not np.allclose(z1, z2)
    with tf.GradientTape() as tape:
        generated_a, generated_b = reference.generator(z2, training=True)
        g_loss_a = tf.reduce_mean(softplus(-model.discriminator_a(generated_a)))  # -log D_a(G_a(z))
        g_loss_b = tf.reduce_mean(softplus(-model.discriminator_b(generated_b)))
        g_total = g_loss_a + g_loss_b + l2(g_vars)
    g_gradients = tape.gradient(g_total, g_vars)
    assert logs["g_loss_a"] == pytest.approx(float(g_loss_a), rel=NETWORK_RTOL)
    assert logs["g_loss"] == pytest.approx(float(g_loss_a + g_loss_b), rel=NETWORK_RTOL)
    assert logs["g_grad_norm"] == pytest.approx(norm(g_gradients), rel=NETWORK_RTOL)
    for before, after, gradient in zip(g_before, values(model.generator_weights), g_gradients):
        assert_update_close(after, before, lr, gradient.numpy())


def test_one_step_with_the_papers_optimizers_changes_every_weight():
    config = CoGANConfig(seed=1, **TINY)
    model = compiled_model(config)
    trainable = model.generator_weights + model.discriminator_weights
    before = values(trainable)
    statistics = [v for v in model.generator.weights if "moving" in v.path]
    statistics_before = values(statistics)
    logs = model.train_step(real_batch())
    assert set(logs) == set(model.TRACKED) and all(np.isfinite(float(v)) for v in logs.values())
    for variable, old in zip(trainable, before):
        assert not np.array_equal(variable.numpy(), old), variable.path
    for variable, old in zip(statistics, statistics_before):
        assert not np.array_equal(variable.numpy(), old), variable.path
    assert int(model.g_optimizer.iterations) == int(model.d_optimizer.iterations) == 1
    # One Adam slot pair per variable: shared variables are not registered twice.
    assert len(model.g_optimizer.variables) == 2 + 2 * len(model.generator_weights)


def test_sample_puts_the_pair_side_by_side():
    model = build_model(CoGANConfig(**TINY))
    z = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)
    pair = model.sample(z)
    assert pair.shape == (3, 28, 56, 1)
    np.testing.assert_allclose(pair[:, :, :28], model.networks.generator_a(z, training=False), atol=1e-6)
    np.testing.assert_allclose(pair[:, :, 28:], model.networks.generator_b(z, training=False), atol=1e-6)
    assert model.latent_dim == 8


def test_loss_scale_optimizer_reports_unscaled_values():
    config = CoGANConfig(seed=2, **TINY)
    plain = compiled_model(config)
    scaled = compiled_model(config, [keras.optimizers.LossScaleOptimizer(o) for o in make_optimizers(config)])
    plain_logs, scaled_logs = plain.train_step(real_batch()), scaled.train_step(real_batch())
    for name in plain_logs:
        assert float(scaled_logs[name]) == pytest.approx(float(plain_logs[name]), rel=NETWORK_RTOL), name


def test_make_optimizers_are_the_papers_adam():
    config = CoGANConfig(**TINY)
    g_optimizer, d_optimizer = make_optimizers(config)
    assert isinstance(g_optimizer, keras.optimizers.Adam) and g_optimizer is not d_optimizer
    assert float(g_optimizer.learning_rate) == pytest.approx(2e-4)
    assert (g_optimizer.beta_1, g_optimizer.beta_2) == (0.5, 0.999)
    model = build_model(config)
    model.compile(g_optimizer, d_optimizer)
    assert g_optimizer.built and d_optimizer.built


def test_mixed_precision_step_is_finite_and_reports_float32():
    from common.training import precision

    config = CoGANConfig(seed=6, **TINY)
    with precision.dtype_policy("mixed_float16"):
        model = build_model(config)
        model.compile(*(precision.wrap_optimizer(o, "mixed_float16") for o in make_optimizers(config)))
    assert model.networks.shared_generator.get_layer("up2").compute_dtype == "float16"
    assert all(v.dtype == "float32" for v in model.generator_weights + model.discriminator_weights)
    logs = model.train_step(real_batch())
    for name, value in logs.items():
        assert value.dtype == "float32" and np.isfinite(float(value)), name
    assert model.sample(np.zeros((1, 8), np.float32)).dtype == "float32"
