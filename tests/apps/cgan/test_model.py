"""CGAN train_step against a hand-written reference computation (apps/cgan/model.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.cgan.config import CGANConfig
from apps.cgan.model import build_model, make_optimizers
from common.models import gan_step
from common.nn import losses
from tests.tolerances import NETWORK_RTOL, assert_close_to_scale, assert_update_close

# The paper's layer plan at a tenth of its widths; no dropout, so the reference sees the same networks.
TINY_MLP = dict(image_size=8, latent_dim=6, g_z_units=5, g_label_units=7, g_joint_units=9, d_x_units=6,
                d_label_units=3, d_joint_units=5, dropout=0.0, num_classes=3)
TINY_CONV = dict(architecture="conv", image_size=16, channels=3, latent_dim=6, base_filters=4, embedding_dim=3,
                 num_classes=3, optimizer="adam", g_learning_rate=2e-4, d_learning_rate=2e-4,
                 latent_distribution="normal")


def batch(config, batch_size=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 1.0, (batch_size,) + config.image_shape).astype(np.float32)
    labels = rng.integers(0, config.num_classes, batch_size).astype(np.int32)
    return {"image": tf.constant(images), "label": tf.constant(labels)}


def compiled(config):
    model = build_model(config)
    model.compile(*make_optimizers(config))
    return model


def copy_of(network):
    clone = keras.models.clone_model(network)
    clone.set_weights(network.get_weights())
    return clone


def norm(gradients):
    return float(np.sqrt(sum(np.sum(np.square(tf.convert_to_tensor(g).numpy())) for g in gradients)))


@pytest.mark.parametrize("settings", [TINY_MLP, TINY_CONV], ids=["mlp", "conv"])
def test_train_step_matches_reference_computation(settings):
    config = CGANConfig(seed=4, **settings)
    model = compiled(config)
    data = batch(config)
    generator_before, discriminator_before = copy_of(model.generator), copy_of(model.discriminator)
    d_before = [w.numpy() for w in model.discriminator.trainable_weights]

    logs = {name: float(value) for name, value in model.train_step(data).items()}

    # The step's draws, in its order: balanced fake labels, then z from the config's prior.
    noise = keras.random.SeedGenerator(config.seed)
    fake_labels = gan_step.replica_balanced_labels(noise, 4, config.num_classes)
    if config.latent_distribution == "uniform":
        z = keras.random.uniform((4, config.latent_dim), seed=noise)
    else:
        z = keras.random.normal((4, config.latent_dim), seed=noise)
    assert np.bincount(fake_labels.numpy(), minlength=3).max() == 2  # 4 labels over 3 classes
    fakes = generator_before([z, fake_labels], training=True)
    with tf.GradientTape() as tape:
        real_logits = discriminator_before([data["image"], data["label"]], training=True)
        fake_logits = discriminator_before([fakes, fake_labels], training=True)
        d_loss = losses.non_saturating_discriminator_loss(real_logits, fake_logits)
    d_gradients = tape.gradient(d_loss, discriminator_before.trainable_weights)
    assert logs["d_loss"] == pytest.approx(float(d_loss), rel=NETWORK_RTOL)
    assert logs["d_real"] == pytest.approx(float(tf.reduce_mean(tf.sigmoid(real_logits))), rel=NETWORK_RTOL)
    assert logs["d_fake"] == pytest.approx(float(tf.reduce_mean(tf.sigmoid(fake_logits))), rel=NETWORK_RTOL)
    assert logs["d_grad_norm"] == pytest.approx(norm(d_gradients), rel=NETWORK_RTOL)
    if config.optimizer == "sgd":  # the first SGD step: velocity -lr * g, whatever the momentum
        for new, old, gradient in zip(model.discriminator.trainable_weights, d_before, d_gradients):
            assert_update_close(new.numpy(), old, config.d_learning_rate, tf.convert_to_tensor(gradient).numpy())

    # The generator step reuses the fakes (same z and labels) through the updated discriminator.
    discriminator_after = copy_of(model.discriminator)
    with tf.GradientTape() as tape:
        g_logits = discriminator_after([generator_before([z, fake_labels], training=True), fake_labels],
                                       training=True)
        g_loss = losses.non_saturating_generator_loss(g_logits)
    g_gradients = tape.gradient(g_loss, generator_before.trainable_weights)
    assert logs["g_loss"] == pytest.approx(float(g_loss), rel=NETWORK_RTOL)
    assert logs["g_grad_norm"] == pytest.approx(norm(g_gradients), rel=NETWORK_RTOL)


@pytest.mark.parametrize("settings", [TINY_MLP, TINY_CONV], ids=["mlp", "conv"])
def test_changing_only_the_label_changes_the_generated_image(settings):
    model = build_model(CGANConfig(**settings))
    z = np.tile(np.random.default_rng(1).uniform(size=(1, 6)).astype(np.float32), (3, 1))
    images = model.sample(z, np.array([0, 1, 2], np.int32)).numpy()
    assert images.shape == (3,) + model.config.image_shape
    assert np.abs(images[0] - images[1]).max() > 0 and np.abs(images[1] - images[2]).max() > 0
    # Another batch size may take another kernel: equal to the network's rounding.
    assert_close_to_scale(model.sample(z[:1], np.array([1], np.int32)).numpy()[0], images[1])


def test_discriminator_output_depends_on_the_label():
    for settings in (TINY_MLP, TINY_CONV):
        config = CGANConfig(**settings)
        model = build_model(config)
        images = batch(config, 1)["image"]
        outputs = [float(model.discriminator([images, tf.constant([k], tf.int32)], training=False)[0, 0])
                   for k in range(3)]
        assert len(set(outputs)) == 3, settings


def test_one_step_per_loss_and_optimizer_is_finite():
    for loss in ("non_saturating", "minimax", "hinge"):
        for optimizer in ("sgd", "adam"):
            config = CGANConfig(loss=loss, optimizer=optimizer, **{**TINY_MLP, "dropout": 0.5})
            logs = compiled(config).train_step(batch(config))
            assert all(np.isfinite(float(v)) for v in logs.values()), (loss, optimizer)


def test_config_refuses_bad_values_with_the_fix():
    with pytest.raises(ValueError, match="power of two"):
        CGANConfig(architecture="conv", image_size=28)
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        CGANConfig(num_classes=1)
    with pytest.raises(ValueError, match="latent_distribution"):
        CGANConfig(latent_distribution="cauchy")
    with pytest.raises(ValueError, match="architecture"):
        CGANConfig(architecture="resnet")
