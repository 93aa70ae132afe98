"""DCGAN train_step against a hand-written reference computation (apps/dcgan/model.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.dcgan.config import DCGANConfig
from apps.dcgan.model import DCGAN, build_model, make_optimizers
from common.nn import losses
from tests.strategies import two_cpu_strategy
from tests.tolerances import EPS, NETWORK_RTOL, assert_steps_close, scale_of

TINY = dict(image_size=16, base_filters=4, latent_dim=8)



def real_batch(batch_size=2, channels=3, seed=0):
    images = np.random.default_rng(seed).uniform(-1.0, 1.0, (batch_size, 16, 16, channels)).astype(np.float32)
    return {"image": tf.constant(images)}


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


def norm(gradients):
    return float(np.sqrt(sum(np.sum(np.square(g.numpy())) for g in gradients)))


@pytest.mark.parametrize("channels,reuse_fakes,r1_gamma", [(1, True, 0.0), (3, True, 0.0), (1, False, 0.0),
                                                           (1, True, 3.0)])
def test_train_step_matches_reference_computation(channels, reuse_fakes, r1_gamma):
    config = DCGANConfig(channels=channels, seed=5, reuse_fakes=reuse_fakes, r1_gamma=r1_gamma, **TINY)
    model = compiled_model(config)
    batch = real_batch(channels=channels)
    generator_before, discriminator_before = copy_of(model.generator), copy_of(model.discriminator)
    g_before, d_before = values(model.generator.trainable_weights), values(model.discriminator.trainable_weights)

    logs = {name: float(value) for name, value in model.train_step(batch).items()}

    # (1)-(2) discriminator step, recomputed eagerly with the same noise draws; the compiled
    # step may sum in another order, so values agree to NETWORK_RTOL (tests/tolerances.py).
    noise = keras.random.SeedGenerator(config.seed)
    z1 = keras.random.normal((2, 8), seed=noise)
    fake_images = generator_before(z1, training=True)
    real = batch["image"]
    with tf.GradientTape() as tape:
        # R1: the full Jacobian of the real logits [B, 1] w.r.t. the real batch, summed
        # over the logits (batch norm couples the examples), squared and summed per example.
        with tf.GradientTape() as input_tape:
            input_tape.watch(real)
            real_logits = discriminator_before(real, training=True)
        jacobian = input_tape.jacobian(real_logits, real)  # [B, 1, B, H, W, C]
        input_gradient = tf.reduce_sum(jacobian, axis=[0, 1])  # [B, H, W, C]
        r1 = tf.reduce_mean(tf.reduce_sum(tf.square(input_gradient), axis=[1, 2, 3]))
        fake_logits = discriminator_before(fake_images, training=True)
        d_loss = losses.non_saturating_discriminator_loss(real_logits, fake_logits)
        d_total = d_loss + r1_gamma / 2 * r1
    d_grad_norm = norm(tape.gradient(d_total, discriminator_before.trainable_weights))
    assert logs["d_loss"] == pytest.approx(float(d_loss), rel=NETWORK_RTOL)
    if r1_gamma:
        assert float(r1) > 0 and logs["r1"] == pytest.approx(float(r1), rel=NETWORK_RTOL)
    else:
        assert "r1" not in logs
    assert logs["d_real"] == pytest.approx(float(tf.reduce_mean(tf.sigmoid(real_logits))), rel=NETWORK_RTOL)
    assert logs["d_fake"] == pytest.approx(float(tf.reduce_mean(tf.sigmoid(fake_logits))), rel=NETWORK_RTOL)
    assert logs["d_grad_norm"] == pytest.approx(d_grad_norm, rel=NETWORK_RTOL)

    # (3) generator step through the updated discriminator: on the same z (the
    # reference code's reuse of the fakes), or on a fresh draw.
    if reuse_fakes:
        z2 = z1
    else:
        z2 = keras.random.normal((2, 8), seed=noise)
        assert not np.allclose(z1, z2)
    discriminator_after = copy_of(model.discriminator)
    with tf.GradientTape() as tape:
        generated_logits = discriminator_after(generator_before(z2, training=True), training=True)
        g_loss = losses.non_saturating_generator_loss(generated_logits)
    g_grad_norm = norm(tape.gradient(g_loss, generator_before.trainable_weights))
    assert logs["g_loss"] == pytest.approx(float(g_loss), rel=NETWORK_RTOL)
    assert logs["g_grad_norm"] == pytest.approx(g_grad_norm, rel=NETWORK_RTOL)

    # Every trainable weight of both networks moved.
    after_step = values(model.generator.trainable_weights + model.discriminator.trainable_weights)
    for before, after in zip(g_before + d_before, after_step):
        assert not np.array_equal(before, after)


@pytest.mark.parametrize("loss", ["non_saturating", "minimax", "least_squares", "hinge"])
def test_one_step_per_loss_is_finite(loss):
    model = compiled_model(DCGANConfig(loss=loss, channels=1, **TINY))
    logs = model.train_step(real_batch(channels=1))
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"}
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_step_is_deterministic_with_a_fixed_seed():
    config = DCGANConfig(seed=11, **TINY)
    results = []
    for _ in range(2):
        model = compiled_model(config)
        model.train_step(real_batch())
        logs = {name: float(value) for name, value in model.train_step(real_batch(seed=1)).items()}
        results.append((logs, values(model.generator.weights + model.discriminator.weights)))
    (logs_a, weights_a), (logs_b, weights_b) = results
    assert logs_a == logs_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)


def test_ema_generator_is_averaged_and_used_for_samples():
    model = compiled_model(DCGANConfig(ema_decay=0.5, **TINY))
    before = values(model.generator.weights)
    model.train_step(real_batch())
    after = values(model.generator.weights)
    trainable = {id(v) for v in model.generator.trainable_weights}
    for shadow, live, old, new in zip(model.ema.shadow.weights, model.generator.weights, before, after):
        expected = 0.5 * old + 0.5 * new if id(live) in trainable else new  # statistics copied
        # Elementwise float32 arithmetic on old and new: a few roundings of their size.
        np.testing.assert_allclose(shadow.numpy(), expected, rtol=0, atol=4 * EPS * scale_of(old, new))
    z = np.random.default_rng(2).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_array_equal(model.sample(z), model.ema.shadow(z, training=False))
    assert not np.allclose(model.sample(z), model.generator(z, training=False))
    assert build_model(DCGANConfig(**TINY)).ema is None


@pytest.mark.parametrize("r1_gamma", [0.0, 1.0])
def test_loss_scale_optimizer_reports_unscaled_gradient_norms(r1_gamma):
    config = DCGANConfig(seed=2, r1_gamma=r1_gamma, **TINY)
    plain = compiled_model(config)
    scaled = compiled_model(config, [keras.optimizers.LossScaleOptimizer(o) for o in make_optimizers(config)])
    plain_logs, scaled_logs = plain.train_step(real_batch()), scaled.train_step(real_batch())
    for name in plain_logs:
        assert float(scaled_logs[name]) == pytest.approx(float(plain_logs[name]), rel=NETWORK_RTOL), name


@pytest.mark.parametrize("r1_gamma", [0.0, 10.0])
def test_two_replicas_take_the_same_step_as_one_device(r1_gamma):
    # Global batch 4: one device, or two replicas of 2 with synchronised batch norm,
    # per-replica slices of one noise draw and losses divided by the replica count.
    # With R1, each replica's input gradient flows back through the synchronised
    # batch statistics, so it is the gradient of the global batch's summed logits.
    config = DCGANConfig(seed=4, r1_gamma=r1_gamma, **TINY)
    batch = real_batch(batch_size=4)
    single_model = compiled_model(config, (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)))
    initial = values(single_model.generator.weights + single_model.discriminator.weights)
    single = {name: float(value) for name, value in single_model.train_step(batch).items()}
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored_model = compiled_model(config, (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)))
    history = mirrored_model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0, shuffle=False).history
    # Two replicas sum each reduction in two halves: values agree to NETWORK_RTOL, weights to
    # NETWORK_RTOL of the step they took (both models start from the seed's weights).
    for name in ("d_loss", "g_loss", "d_real", "d_fake") + (("r1",) if r1_gamma else ()):
        assert history[name][0] == pytest.approx(single[name], rel=NETWORK_RTOL), name
    single_weights = values(single_model.generator.weights + single_model.discriminator.weights)
    mirrored_weights = values(mirrored_model.generator.weights + mirrored_model.discriminator.weights)
    for a, b, old in zip(single_weights, mirrored_weights, initial):
        assert_steps_close(b, a, old)


def test_make_optimizers_and_compile():
    config = DCGANConfig(learning_rate=1e-3, beta_1=0.4, **TINY)
    g_optimizer, d_optimizer = make_optimizers(config)
    assert isinstance(g_optimizer, keras.optimizers.Adam) and g_optimizer is not d_optimizer
    assert float(g_optimizer.learning_rate) == pytest.approx(1e-3) and g_optimizer.beta_1 == 0.4
    model = DCGAN(*(lambda m: (m.generator, m.discriminator))(build_model(config)), config)
    model.compile(g_optimizer, d_optimizer)
    assert model.g_optimizer is g_optimizer and g_optimizer.built and d_optimizer.built  # slots exist for restore
    assert model.latent_dim == 8 and isinstance(model.seed_generator, keras.random.SeedGenerator)


def test_learning_rate_decay_spans_the_run():
    # decay_start_fraction 0.5 of 10 steps: 1e-3 up to step 5, then linear to 0 at step 10.
    config = DCGANConfig(learning_rate=1e-3, decay_start_fraction=0.5, **TINY)
    for optimizer in make_optimizers(config, total_steps=10):
        rates = []
        for step in (0, 5, 6, 9, 10):
            optimizer.iterations.assign(step)
            rates.append(float(optimizer.learning_rate))  # the schedule at the optimizer's step
        assert rates == pytest.approx([1e-3, 1e-3, 8e-4, 2e-4, 0.0])
    # The paper's constant rate, with or without a step count.
    for total_steps in (None, 10):
        g_optimizer, _ = make_optimizers(DCGANConfig(learning_rate=1e-3, **TINY), total_steps)
        g_optimizer.iterations.assign(9)
        assert float(g_optimizer.learning_rate) == pytest.approx(1e-3)


def test_real_label_smooths_the_discriminator_loss():
    real_logits, fake_logits = tf.constant([[0.0], [2.0]]), tf.constant([[-1.0], [0.5]])
    smoothed = build_model(DCGANConfig(real_label=0.9, **TINY))
    plain = build_model(DCGANConfig(**TINY))
    expected = losses.non_saturating_discriminator_loss(real_logits, fake_logits, real_label=0.9)
    assert float(smoothed.discriminator_loss(real_logits, fake_logits)) == pytest.approx(float(expected))
    assert float(plain.discriminator_loss(real_logits, fake_logits)) == pytest.approx(
        float(losses.non_saturating_discriminator_loss(real_logits, fake_logits)))
    assert float(expected) != pytest.approx(float(losses.non_saturating_discriminator_loss(real_logits, fake_logits)))
