"""WGAN train_step (apps/wgan/model.py): critic schedule, clipping, own real batch per critic update."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.wgan.config import WGANConfig
from apps.wgan.model import build_model, make_optimizers
from apps.wgan.networks import build_critic
from common.export import generator_export
from common.nn import losses
from common.models.critic_training import group_critic_batches
from tests.strategies import two_cpu_strategy
from tests.tolerances import NETWORK_RTOL, assert_steps_close, scale_of
from common.export.generator_export import DEFAULT_PARITY_ATOL

TINY = dict(image_size=16, channels=1, base_filters=4, latent_dim=8, batch_size=2)
CONSTANT = dict(warmup_steps=0, boost_every=0)


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


def max_abs(variables):
    return max(float(np.max(np.abs(v.numpy()))) for v in variables)


def test_one_step_runs_five_critic_updates_and_clips_every_critic_weight():
    config = WGANConfig(critic_steps=5, **CONSTANT, **TINY)
    assert max_abs(build_critic(config).trainable_variables) > 0.01  # N(0, 0.02) and N(1, 0.02) exceed c
    model = compiled_model(config, (keras.optimizers.SGD(1.0), keras.optimizers.SGD(1.0)))
    assert max_abs(model.critic.trainable_variables) <= 0.01 + 1e-9  # clipped from the start
    before = [v.numpy() for v in model.critic.trainable_variables]
    logs = {name: float(value) for name, value in model.train_step(critic_batch()).items()}
    assert int(model.d_optimizer.iterations) == 5 and int(model.g_optimizer.iterations) == 1
    after = [v.numpy() for v in model.critic.trainable_variables]
    assert max_abs(model.critic.trainable_variables) <= 0.01 + 1e-9
    # Large steps pushed weights out of the box that the clipping brought back to its edge.
    moved_to_edge = sum(int(np.sum((np.abs(a) == np.float32(0.01)) & (np.abs(b) < 0.01)))
                        for a, b in zip(after, before))
    assert moved_to_edge > 0
    assert logs["critic_steps"] == 5.0
    assert logs["wasserstein_estimate"] == pytest.approx(-logs["d_loss"], rel=1e-6)
    assert all(np.isfinite(v) for v in logs.values())


def test_warm_up_and_boosted_steps_follow_the_schedule_through_the_dataset():
    # Critic updates per generator step 0..4: 3, 3 (warm-up), 1, 3 (step 3 % 3 == 0), 1.
    config = WGANConfig(critic_steps=1, warmup_steps=2, warmup_critic_steps=3, boost_every=3, **TINY)
    model = compiled_model(config)
    images = np.random.default_rng(1).uniform(-1, 1, (40, 16, 16, 1)).astype(np.float32)
    dataset = group_critic_batches(tf.data.Dataset.from_tensor_slices({"image": images}).batch(2),
                                   config.schedule)
    history = model.fit(dataset, steps_per_epoch=5, epochs=1, verbose=0, shuffle=False).history
    assert int(model.d_optimizer.iterations) == 11 and int(model.g_optimizer.iterations) == 5
    assert history["critic_steps"][0] == pytest.approx(11 / 5)
    assert max_abs(model.critic.trainable_variables) <= 0.01 + 1e-9


def test_each_critic_update_uses_its_own_real_batch():
    # Recompute a step with K=2 by hand: z1 with real batch 0, z2 with real batch 1, z3 for G.
    config = WGANConfig(critic_steps=2, seed=3, **CONSTANT, **TINY)
    model = compiled_model(config, (keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5)))
    batch = critic_batch(critic_steps=2, seed=4)
    generator, critic = copy_of(model.generator), copy_of(model.critic)
    logs = {name: float(value) for name, value in model.train_step(batch).items()}

    def reference(real_slots):
        noise = keras.random.SeedGenerator(config.seed)
        reference_critic = copy_of(critic)
        estimates, scores = [], []
        for slot in real_slots:
            fake = generator(keras.random.normal((2, 8), seed=noise), training=True)
            with tf.GradientTape() as tape:
                real_scores = reference_critic(batch["image"][:, slot], training=True)
                fake_scores = reference_critic(fake, training=True)
                loss = losses.wasserstein_critic_loss(real_scores, fake_scores)
            weights = reference_critic.trainable_variables
            for weight, gradient in zip(weights, tape.gradient(loss, weights)):
                weight.assign(tf.clip_by_value(weight - 0.5 * gradient, -0.01, 0.01))
            estimates.append(float(tf.reduce_mean(real_scores) - tf.reduce_mean(fake_scores)))
            scores += [real_scores, fake_scores]
        return reference_critic, float(np.mean(estimates)), scale_of(*scores)

    def steps_match(reference_critic):
        try:
            for expected, actual, old in zip(reference_critic.trainable_variables, model.critic.trainable_variables,
                                             critic.trainable_variables):
                assert_steps_close(actual.numpy(), expected.numpy(), old.numpy(), err_msg=actual.path)
        except AssertionError:
            return False
        return True

    # Eager reference, compiled step (tests/tolerances.py): the estimate is a difference of means of
    # scores, so it is compared on the scores' scale; clipping (1-Lipschitz) cannot widen a
    # difference between the weights, which are compared on the scale of the steps they took.
    expected_critic, expected_estimate, score_scale = reference([0, 1])
    assert logs["wasserstein_estimate"] == pytest.approx(expected_estimate, rel=NETWORK_RTOL,
                                                         abs=NETWORK_RTOL * score_scale)
    assert steps_match(expected_critic)
    same_batch_critic, _, _ = reference([0, 0])  # would match if both updates had read batch 0
    assert not steps_match(same_batch_critic)


def test_mixed_precision_step_is_finite_and_clipped():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        config = WGANConfig(critic_steps=2, **CONSTANT, **TINY)
        model = compiled_model(config, [keras.optimizers.LossScaleOptimizer(o) for o in make_optimizers(config)])
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.critic.compute_dtype == "float16"
    logs = model.train_step(critic_batch(critic_steps=2))
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert max_abs(model.critic.trainable_variables) <= 0.01 + 1e-6


def test_two_replicas_take_the_same_step_as_one_device():
    config = WGANConfig(critic_steps=2, seed=6, **CONSTANT, **TINY)
    batch = critic_batch(batch_size=4, critic_steps=2, seed=7)
    single_model = compiled_model(config, (keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5)))
    initial = [v.numpy() for v in single_model.critic.weights + single_model.generator.weights]
    score_scale = scale_of(copy_of(single_model.critic)(batch["image"][:, 0], training=True))
    single = {name: float(value) for name, value in single_model.train_step(batch).items()}
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored_model = compiled_model(config, (keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5)))
    history = mirrored_model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0, shuffle=False).history
    # Reductions split over two replicas: the losses are means of scores of either sign, compared
    # on the scores' scale; weights on the scale of their steps (tests/tolerances.py).
    for name in ("d_loss", "g_loss", "wasserstein_estimate"):
        assert history[name][0] == pytest.approx(single[name], rel=NETWORK_RTOL, abs=NETWORK_RTOL * score_scale), name
    assert history["critic_steps"][0] == single["critic_steps"] == 2.0
    assert int(mirrored_model.d_optimizer.iterations.numpy()) == 2
    for a, b, old in zip(single_model.critic.weights + single_model.generator.weights,
                         mirrored_model.critic.weights + mirrored_model.generator.weights, initial):
        assert_steps_close(b.numpy(), a.numpy(), old, err_msg=a.path)
    assert max_abs(mirrored_model.critic.trainable_variables) <= 0.01 + 1e-9


def test_export_matches_the_generator(tmp_path):
    model = build_model(WGANConfig(**TINY))
    path = generator_export.export_generator(model.generator, str(tmp_path / "export"), metadata={"app": "wgan"})
    loaded = tf.saved_model.load(path)
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    served = loaded.signatures["generate_float"](z=tf.constant(z))["images_float"]
    np.testing.assert_allclose(served.numpy(), model.generator(z, training=False).numpy(), atol=DEFAULT_PARITY_ATOL["float32"])  # the export's own parity bound
    assert os.path.exists(os.path.join(path, "assets.extra", "export_info.json"))


def test_make_optimizers_are_the_papers_rmsprop():
    g_optimizer, d_optimizer = make_optimizers(WGANConfig())
    for optimizer in (g_optimizer, d_optimizer):
        assert isinstance(optimizer, keras.optimizers.RMSprop)
        assert float(optimizer.learning_rate) == pytest.approx(5e-5)
    assert (g_optimizer.name, d_optimizer.name) == ("g_optimizer", "d_optimizer")
