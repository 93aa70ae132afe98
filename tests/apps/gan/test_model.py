"""GAN train_step (Algorithm 1 with k discriminator steps) against a hand-written reference; export parity."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.gan.config import GANConfig
from apps.gan.model import GAN, build_model, make_optimizers
from common.export import generator_export
from common.nn import losses
from tests.tolerances import NETWORK_RTOL, assert_steps_close
from common.export.generator_export import DEFAULT_PARITY_ATOL

TINY = dict(image_size=8, latent_dim=4, generator_units=6, maxout_units=3, maxout_pieces=2)


def real_batch(batch_size=2, seed=0):
    images = np.random.default_rng(seed).uniform(-1.0, 1.0, (batch_size, 8, 8, 1)).astype(np.float32)
    return {"image": tf.constant(images)}


def copy_of(network):
    clone = keras.models.clone_model(network)
    clone.set_weights(network.get_weights())
    return clone


def values(variables):
    return [np.array(v.numpy()) for v in variables]


def sgd_step(network, loss_fn, learning_rate):
    """Loss and gradient of `loss_fn(network)`; returns the loss and a copy of the network after w -= lr * g."""
    with tf.GradientTape() as tape:
        loss = loss_fn(network)
    gradients = tape.gradient(loss, network.trainable_weights)
    updated = copy_of(network)
    for weight, gradient in zip(updated.trainable_weights, gradients):
        weight.assign(weight - learning_rate * gradient)
    return float(loss), updated


@pytest.mark.parametrize("generator_loss", ["non_saturating", "minimax"])
def test_k_discriminator_steps_then_one_generator_step_by_hand(generator_loss):
    # k = 2, batch 4 -> m = 2: D steps on real[:2] and real[2:], each with fresh z, then G with fresh z.
    # Dropout off and plain SGD(lr) so that the reference is a few lines of arithmetic.
    config = GANConfig(d_steps=2, batch_size=4, generator_loss=generator_loss, input_keep_prob=1.0,
                       hidden_keep_prob=1.0, seed=3, **TINY)
    lr = 0.5
    model = build_model(config)
    model.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr))
    batch = real_batch(batch_size=4)
    generator, discriminator = copy_of(model.generator), copy_of(model.discriminator)
    initial = values(model.generator.weights + model.discriminator.weights)

    logs = {name: float(value) for name, value in model.train_step(batch).items()}

    noise = keras.random.SeedGenerator(config.seed)
    z1, z2, z3 = (keras.random.normal((2, 4), seed=noise) for _ in range(3))
    real = batch["image"]
    d_loss_1, discriminator = sgd_step(
        discriminator, lambda d: losses.non_saturating_discriminator_loss(d(real[:2]), d(generator(z1))), lr)
    d_loss_2, discriminator = sgd_step(
        discriminator, lambda d: losses.non_saturating_discriminator_loss(d(real[2:]), d(generator(z2))), lr)
    generator_loss_fn = losses.GENERATOR_LOSSES[generator_loss]
    g_loss, generator = sgd_step(generator, lambda g: generator_loss_fn(discriminator(g(z3))), lr)

    # The eager reference and the compiled step may sum in different orders: losses agree to
    # NETWORK_RTOL, weights to NETWORK_RTOL of the three steps they took (tests/tolerances.py).
    assert logs["d_loss"] == pytest.approx((d_loss_1 + d_loss_2) / 2, rel=NETWORK_RTOL)  # mean over the k steps
    assert logs["g_loss"] == pytest.approx(g_loss, rel=NETWORK_RTOL)
    for expected, actual, old in zip(values(generator.weights + discriminator.weights),
                                     values(model.generator.weights + model.discriminator.weights), initial):
        assert_steps_close(actual, expected, old)


def test_minimax_and_non_saturating_losses_at_the_same_logits():
    # Same weights, same z, learning rate 0: only the generator's loss differs. With l = D(G(z)):
    # non-saturating -log(sigmoid(l)) = softplus(-l); minimax log(1 - sigmoid(l)) = -softplus(l).
    logs = {}
    for name in ("non_saturating", "minimax"):
        config = GANConfig(generator_loss=name, seed=1, input_keep_prob=1.0, hidden_keep_prob=1.0,
                           generator_init_range=1.0, discriminator_init_range=1.0, **TINY)
        model = build_model(config)
        model.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))
        logs[name] = {k: float(v) for k, v in model.train_step(real_batch()).items()}
    noise = keras.random.SeedGenerator(1)
    keras.random.normal((2, 4), seed=noise)  # the discriminator step's z
    z = keras.random.normal((2, 4), seed=noise)
    logits = model.discriminator(model.generator(z)).numpy().ravel()
    assert np.abs(logits).max() > 0.01  # the two losses differ at these logits
    # Logits from the eager networks, losses from the compiled step: NETWORK_RTOL apart.
    assert logs["non_saturating"]["g_loss"] == pytest.approx(np.mean(np.log1p(np.exp(-logits))), rel=NETWORK_RTOL)
    assert logs["minimax"]["g_loss"] == pytest.approx(-np.mean(np.log1p(np.exp(logits))), rel=NETWORK_RTOL)
    # The same discriminator step in both models: the same ops on the same inputs.
    assert logs["minimax"]["d_loss"] == pytest.approx(logs["non_saturating"]["d_loss"], rel=1e-6)


def test_one_step_with_the_papers_optimizers_and_dropout_changes_every_weight():
    # Wider initial weights than the paper's U(-0.005, 0.005) in D, so that the generator's first
    # step is above float32 resolution in every weight.
    config = GANConfig(batch_size=2, ema_decay=0.5, discriminator_init_range=0.5, **TINY)
    model = build_model(config)
    model.compile(*make_optimizers(config))
    before = values(model.generator.trainable_weights + model.discriminator.trainable_weights)
    logs = model.train_step(real_batch())
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    after = values(model.generator.trainable_weights + model.discriminator.trainable_weights)
    for old, new in zip(before, after):
        assert not np.array_equal(old, new)
    z = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.sample(z), model.ema.shadow(z, training=False))


def test_make_optimizers_sgd_momentum_and_decay():
    config = GANConfig(**TINY)
    g_optimizer, d_optimizer = make_optimizers(config)
    assert isinstance(g_optimizer, keras.optimizers.SGD) and g_optimizer.momentum == 0.5
    assert float(g_optimizer.learning_rate) == pytest.approx(0.1)
    assert float(d_optimizer.learning_rate) == pytest.approx(0.05)
    g_optimizer.iterations.assign(100_000)  # lr / 1.000004 ** step
    assert float(g_optimizer.learning_rate) == pytest.approx(0.1 / 1.000004**100_000, rel=1e-5)
    model = GAN(*(lambda m: (m.generator, m.discriminator))(build_model(config)), config)
    model.compile(g_optimizer, d_optimizer)
    assert g_optimizer.built and d_optimizer.built and model.latent_dim == 4


def test_export_parity_of_the_ema_generator(tmp_path):
    model = build_model(GANConfig(batch_size=2, ema_decay=0.9, **TINY))
    model.compile(*make_optimizers(model.config))
    model.train_step(real_batch())
    written = generator_export.export_generator(model.ema.shadow, str(tmp_path / "export"), latent_dim=4,
                                      metadata={"app": "gan"})
    info = json.load(open(os.path.join(written, "assets.extra", "export_info.json")))
    assert info["metadata"]["app"] == "gan"
    loaded = tf.saved_model.load(written)
    z = generator_export.sample_latents(7, 3, 4)
    np.testing.assert_allclose(loaded.signatures["generate_float"](z=z)["images_float"],
                               model.sample(z), atol=DEFAULT_PARITY_ATOL["float32"])  # the export's own parity bound


def test_checkpoint_restores_the_dropout_noise_for_an_exact_resume(tmp_path):
    from common.training import checkpointing

    config = GANConfig(batch_size=2, **TINY)
    model = build_model(config)
    optimizers = dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(config)))
    model.compile(**optimizers)
    checkpoint = checkpointing.training_checkpoint(model, optimizers, None)
    model.train_step(real_batch(seed=1))
    path = checkpoint.save(str(tmp_path / "ckpt"))
    for tracker in model.metrics:
        tracker.reset_state()
    first = {name: float(value) for name, value in model.train_step(real_batch(seed=2)).items()}
    checkpoint.restore(path)
    for tracker in model.metrics:
        tracker.reset_state()
    again = {name: float(value) for name, value in model.train_step(real_batch(seed=2)).items()}
    assert again == first  # same z and the same dropout masks after the restore


def test_two_replicas_split_their_own_rows_into_the_k_parts():
    # Global batch 4, k = 2, two replicas: replica r holds rows 2r, 2r+1 and uses one row per
    # discriminator step, so step 1 sees rows {0, 2} and step 2 rows {1, 3}; the latents are one
    # global draw per step. That is one device's step on the batch ordered 0, 2, 1, 3.
    from tests.strategies import two_cpu_strategy

    config = GANConfig(d_steps=2, batch_size=4, input_keep_prob=1.0, hidden_keep_prob=1.0, seed=6,
                       generator_init_range=0.5, discriminator_init_range=0.5, **TINY)
    batch = real_batch(batch_size=4)
    single_model = build_model(config)
    single_model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    initial = values(single_model.generator.weights + single_model.discriminator.weights)
    reordered = {"image": tf.gather(batch["image"], [0, 2, 1, 3])}
    single = {name: float(value) for name, value in single_model.train_step(reordered).items()}
    with two_cpu_strategy().scope():
        mirrored_model = build_model(config)
        mirrored_model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    history = mirrored_model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0, shuffle=False).history
    # Reductions split over two replicas: values to NETWORK_RTOL, weights to NETWORK_RTOL of their step.
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert history[name][0] == pytest.approx(single[name], rel=NETWORK_RTOL), name
    for a, b, old in zip(values(single_model.generator.weights + single_model.discriminator.weights),
                         values(mirrored_model.generator.weights + mirrored_model.discriminator.weights), initial):
        assert_steps_close(b, a, old)
