"""WGAN-GP train_step (apps/wgan_gp/model.py): critic updates per step, penalty against a recomputation."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.wgan_gp.config import WGANGPConfig
from apps.wgan_gp.model import build_model, make_optimizers
from common.export import generator_export
from common.nn import losses
from tests.strategies import two_cpu_strategy
from tests.tolerances import NETWORK_RTOL, assert_close_to_scale, assert_steps_close, scale_of
from common.export.generator_export import DEFAULT_PARITY_ATOL

TINY = dict(image_size=16, channels=1, base_filters=4, latent_dim=8, batch_size=2)


def critic_batch(batch_size=2, critic_steps=5, seed=0):
    """{"image": [B, K, 16, 16, 1]}, K different real batches."""
    images = np.random.default_rng(seed).uniform(-1, 1, (batch_size, critic_steps, 16, 16, 1)).astype(np.float32)
    return {"image": tf.constant(images)}


def compiled_model(config, optimizers=None):
    model = build_model(config)
    model.compile(*(optimizers or make_optimizers(config)))
    return model


def copy_of(network):
    clone = keras.models.clone_model(network)
    clone.set_weights(network.get_weights())
    return clone


def test_one_step_runs_five_critic_updates_and_one_generator_update():
    model = compiled_model(WGANGPConfig(**TINY))
    logs = {name: float(value) for name, value in model.train_step(critic_batch()).items()}
    assert int(model.d_optimizer.iterations) == 5 and int(model.g_optimizer.iterations) == 1
    assert logs["critic_steps"] == 5.0
    assert set(logs) == {"d_loss", "g_loss", "wasserstein_estimate", "critic_steps", "gradient_penalty"}
    assert all(np.isfinite(v) for v in logs.values())


@pytest.mark.parametrize("one_sided,init_stddev", [(False, 0.02), (True, 0.3)])  # one-sided: norms above 1
def test_penalty_and_updates_match_a_recomputation(one_sided, init_stddev):
    # K=2 by hand: update k draws z then alpha (one per example), reads real batch k.
    config = WGANGPConfig(critic_steps=2, seed=3, one_sided_penalty=one_sided, init_stddev=init_stddev, **TINY)
    model = compiled_model(config, (keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05)))
    batch = critic_batch(critic_steps=2, seed=4)
    generator, critic = copy_of(model.generator), copy_of(model.critic)
    initial = [v.numpy() for v in critic.trainable_variables]
    logs = {name: float(value) for name, value in model.train_step(batch).items()}

    noise = keras.random.SeedGenerator(config.seed)
    penalties, losses_, loss_scales = [], [], []
    for slot in (0, 1):
        fake = generator(keras.random.normal((2, 8), seed=noise), training=True)
        alpha = keras.random.uniform((2, 1, 1, 1), 0.0, 1.0, seed=noise)
        with tf.GradientTape() as tape:
            real = batch["image"][:, slot]
            penalty = losses.gradient_penalty(lambda x: critic(x, training=True), real, fake, alpha,
                                              one_sided=one_sided)
            real_scores, fake_scores = critic(real, training=True), critic(fake, training=True)
            loss = losses.wasserstein_critic_loss(real_scores, fake_scores)
            loss += 10.0 * penalty
        for weight, gradient in zip(critic.trainable_variables, tape.gradient(loss, critic.trainable_variables)):
            weight.assign_sub(0.05 * gradient)
        penalties.append(float(penalty))
        losses_.append(float(loss))
        loss_scales.append(scale_of(real_scores, fake_scores) + 10.0 * float(penalty))
    assert penalties[0] > 0 and penalties[0] != pytest.approx(penalties[1])
    # Eager reference, compiled step (tests/tolerances.py): the penalty is a mean of non-negative
    # terms; d_loss adds means of scores of either sign, so it is compared on their scale; the
    # weights on the scale of the two updates they took.
    assert logs["gradient_penalty"] == pytest.approx(np.mean(penalties), rel=NETWORK_RTOL)
    assert logs["d_loss"] == pytest.approx(np.mean(losses_), rel=NETWORK_RTOL, abs=NETWORK_RTOL * max(loss_scales))
    for expected, actual, old in zip(critic.trainable_variables, model.critic.trainable_variables, initial):
        assert_steps_close(actual.numpy(), expected.numpy(), old, err_msg=actual.path)


def test_critic_has_no_batch_normalization():
    for normalization, expected in (("layer", 1), ("none", 0)):
        critic = build_model(WGANGPConfig(critic_normalization=normalization, **TINY)).critic
        kinds = [type(layer).__name__ for layer in critic.layers]
        assert "BatchNormalization" not in kinds
        assert kinds.count("GroupNormalization") == expected  # 16x16: one normalised block
    critic = build_model(WGANGPConfig(**TINY)).critic
    x = np.random.default_rng(0).standard_normal((3, 16, 16, 1)).astype(np.float32)
    # Each example's score depends on that example only (no batch statistics); another batch
    # size may pick another kernel blocking, hence the scale-based tolerance.
    assert_close_to_scale(critic(x[:1], training=True), critic(x, training=True)[:1])


def test_mixed_precision_penalty_matches_float32():
    config = WGANGPConfig(critic_steps=1, seed=2, **TINY)
    batch = critic_batch(critic_steps=1, seed=5)
    reference = compiled_model(config, (keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0)))
    expected = {name: float(value) for name, value in reference.train_step(batch).items()}
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = compiled_model(config, [keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.0))
                                        for _ in range(2)])
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.critic.compute_dtype == "float16"
    logs = {name: float(value) for name, value in model.train_step(batch).items()}
    assert all(np.isfinite(v) for v in logs.values())
    assert logs["gradient_penalty"] == pytest.approx(expected["gradient_penalty"], rel=2e-2)
    assert logs["wasserstein_estimate"] == pytest.approx(expected["wasserstein_estimate"], rel=5e-2, abs=1e-3)


def test_two_replicas_take_the_same_step_as_one_device():
    # Global batch 4: per-replica rows of one global draw of z and alpha, losses / replicas.
    config = WGANGPConfig(critic_steps=2, seed=6, **TINY)
    batch = critic_batch(batch_size=4, critic_steps=2, seed=7)
    single_model = compiled_model(config, (keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05)))
    initial = [v.numpy() for v in single_model.critic.weights + single_model.generator.weights]
    score_scale = scale_of(single_model.critic(batch["image"][:, 0], training=True))  # no batch statistics
    single = {name: float(value) for name, value in single_model.train_step(batch).items()}
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored_model = compiled_model(config, (keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05)))
    history = mirrored_model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0, shuffle=False).history
    # Reductions split over two replicas (tests/tolerances.py): losses are means of scores of either
    # sign plus 10 times the penalty, compared on that scale; weights on the scale of their steps.
    loss_scale = score_scale + 10.0 * single["gradient_penalty"]
    for name in ("d_loss", "g_loss", "wasserstein_estimate", "gradient_penalty"):
        assert history[name][0] == pytest.approx(single[name], rel=NETWORK_RTOL, abs=NETWORK_RTOL * loss_scale), name
    assert history["critic_steps"][0] == single["critic_steps"] == 2.0
    assert int(mirrored_model.d_optimizer.iterations.numpy()) == 2
    for a, b, old in zip(single_model.critic.weights + single_model.generator.weights,
                         mirrored_model.critic.weights + mirrored_model.generator.weights, initial):
        assert_steps_close(b.numpy(), a.numpy(), old, err_msg=a.path)


def test_export_matches_the_generator(tmp_path):
    model = build_model(WGANGPConfig(**TINY))
    path = generator_export.export_generator(model.generator, str(tmp_path / "export"), metadata={"app": "wgan_gp"})
    loaded = tf.saved_model.load(path)
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    served = loaded.signatures["generate_float"](z=tf.constant(z))["images_float"]
    np.testing.assert_allclose(served.numpy(), model.generator(z, training=False).numpy(), atol=DEFAULT_PARITY_ATOL["float32"])  # the export's own parity bound
    assert os.path.exists(os.path.join(path, "assets.extra", "export_info.json"))


def test_make_optimizers_are_the_papers_adam():
    g_optimizer, d_optimizer = make_optimizers(WGANGPConfig())
    for optimizer in (g_optimizer, d_optimizer):
        assert isinstance(optimizer, keras.optimizers.Adam)
        assert float(optimizer.learning_rate) == pytest.approx(1e-4)
        assert (optimizer.beta_1, optimizer.beta_2) == (0.0, 0.9)
