"""CycleGAN train_step against a hand-written reference: losses, updates, replicas, precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.cyclegan.config import CycleGANConfig
from apps.cyclegan.model import CycleGAN, build_model, make_optimizers
from common.nn.schedules import ConstantThenLinearDecay
from tests.tolerances import NETWORK_RTOL, assert_close_to_scale, assert_update_close, reduction_rtol, scale_of

TINY = dict(image_size=16, base_filters=4, num_residual_blocks=1, discriminator_layers=2, pool_size=3)
LR = 0.05


def _batch(batch_size=2, seed=0):
    rng = np.random.default_rng(seed)
    return {"a": rng.uniform(-1, 1, (batch_size, 16, 16, 3)).astype(np.float32),
            "b": rng.uniform(-1, 1, (batch_size, 16, 16, 3)).astype(np.float32)}


def _compiled(config, optimizer=lambda: keras.optimizers.SGD(LR)):
    model = build_model(config)
    model.compile(g_optimizer=optimizer(), d_optimizer=optimizer())
    return model


def _reference(model, batch, config):
    """Losses and gradients computed by hand from the model's networks before the step."""
    g, f, d_a, d_b = model.generator_ab, model.generator_ba, model.discriminator_a, model.discriminator_b
    a, b = tf.constant(batch["a"]), tf.constant(batch["b"])
    lam, idt = config.cycle_weight, config.identity_weight * config.cycle_weight
    g_weights = g.trainable_weights + f.trainable_weights
    with tf.GradientTape() as tape:
        fake_b, fake_a = g(a), f(b)
        terms = {
            "g_adv_ab": tf.reduce_mean((d_b(fake_b) - 1.0) ** 2),  # MSE against "real"
            "g_adv_ba": tf.reduce_mean((d_a(fake_a) - 1.0) ** 2),
            "cycle_a": lam * tf.reduce_mean(tf.abs(f(fake_b) - a)),
            "cycle_b": lam * tf.reduce_mean(tf.abs(g(fake_a) - b)),
            "identity_a": idt * tf.reduce_mean(tf.abs(f(a) - a)),
            "identity_b": idt * tf.reduce_mean(tf.abs(g(b) - b)),
        }
        g_loss = tf.add_n(list(terms.values()))
    g_grads = tape.gradient(g_loss, g_weights)
    d_weights = d_a.trainable_weights + d_b.trainable_weights
    with tf.GradientTape() as tape:
        # First step: the histories are not full yet, so they return the new fakes.
        d_terms = {
            "d_a_loss": 0.5 * (tf.reduce_mean((d_a(a) - 1.0) ** 2) + tf.reduce_mean(d_a(fake_a) ** 2)),
            "d_b_loss": 0.5 * (tf.reduce_mean((d_b(b) - 1.0) ** 2) + tf.reduce_mean(d_b(fake_b) ** 2)),
        }
        d_loss = d_terms["d_a_loss"] + d_terms["d_b_loss"]
    d_grads = tape.gradient(d_loss, d_weights)
    values = {k: float(v) for k, v in {**terms, **d_terms, "g_loss": g_loss, "d_loss": d_loss}.items()}
    values["d_a_real"], values["d_b_real"] = float(tf.reduce_mean(d_a(a))), float(tf.reduce_mean(d_b(b)))
    values["d_a_fake"], values["d_b_fake"] = float(tf.reduce_mean(d_a(fake_a))), float(tf.reduce_mean(d_b(fake_b)))
    # The mean outputs may cancel towards zero: their error is on the scale of the outputs summed.
    output_scale = scale_of(d_a(a), d_b(b), d_a(fake_a), d_b(fake_b))
    gradients = [gr.numpy() for gr in g_grads + d_grads]
    return values, output_scale, gradients, fake_a.numpy(), fake_b.numpy()


def test_one_step_matches_hand_written_losses_and_updates_every_weight():
    config = CycleGANConfig(**TINY)
    model = _compiled(config)
    batch = _batch()
    expected, output_scale, gradients, fake_a, fake_b = _reference(model, batch, config)
    weights = model.generator_weights + model.discriminator_weights
    before = [w.numpy().copy() for w in weights]
    logs = {k: float(v) for k, v in model.train_step(batch).items()}

    # The reference runs eagerly and the step compiled, with kernels that may sum in another
    # order: values agree to NETWORK_RTOL of their scale, updates to lr * |gradient|.
    for name, value in expected.items():
        assert logs[name] == pytest.approx(value, rel=NETWORK_RTOL, abs=NETWORK_RTOL * output_scale), name
    # g_loss is the float32 sum of the non-negative terms logged beside it.
    assert logs["g_loss"] == pytest.approx(sum(logs[k] for k in CycleGAN.GENERATOR_TERMS),
                                           rel=reduction_rtol(len(CycleGAN.GENERATOR_TERMS)))
    # Instance normalization cancels the gradient of the convolution bias before it to rounding
    # noise: each tensor is compared on the scale of its network's (the generators' or the
    # discriminators') largest gradient.
    generators = len(model.generator_weights)
    scales = [scale_of(*gradients[:generators])] * generators + [scale_of(*gradients[generators:])] * (
        len(gradients) - generators)
    for old, new, gradient, scale in zip(before, weights, gradients, scales):
        assert np.any(np.abs(new.numpy() - old) > 0), new.path
        assert_update_close(new.numpy(), old, LR, gradient, scale=scale, err_msg=new.path)
    # The histories stored this step's fakes (computed before the generator update).
    assert int(model.pool_a.count.numpy()) == 2 and int(model.pool_b.count.numpy()) == 2
    assert_close_to_scale(model.pool_a.images.numpy()[:2], fake_a)
    assert_close_to_scale(model.pool_b.images.numpy()[:2], fake_b)
    assert set(logs) == set(CycleGAN.GENERATOR_TERMS + CycleGAN.DISCRIMINATOR_TERMS) | {
        "g_loss", "d_loss", "g_grad_norm", "d_grad_norm"}


def test_identity_weight_zero_drops_the_identity_terms():
    config = CycleGANConfig(**{**TINY, "identity_weight": 0.0})
    model = _compiled(config)
    logs = model.train_step(_batch(1))
    assert float(logs["identity_a"]) == 0.0 and float(logs["identity_b"]) == 0.0
    images = model.translate(_batch(1)["a"], _batch(1)["b"])
    assert "same_a" not in images and set(images) == {"fake_a", "fake_b", "cycled_a", "cycled_b"}


def test_learning_rate_schedule_and_protocol():
    config = CycleGANConfig(**TINY)
    g_opt, d_opt = make_optimizers(config, total_steps=10)
    assert float(make_optimizers(config)[0].learning_rate) == pytest.approx(2e-4)  # constant without a length
    schedule = g_opt._learning_rate
    assert isinstance(schedule, ConstantThenLinearDecay) and schedule.decay_start == 5
    assert (g_opt.beta_1, g_opt.beta_2, d_opt.beta_1) == (0.5, 0.999, 0.5)
    assert [float(schedule(s)) for s in (0, 5, 6, 10)] == pytest.approx([2e-4, 2e-4, 1.6e-4, 0.0])
    model = build_model(config)
    model.compile(g_optimizer=g_opt, d_optimizer=d_opt)
    assert g_opt.built and d_opt.built
    assert set(model.translators()) == {"a_to_b", "b_to_a"} and model.size_multiple == 4
    assert model.translators()["a_to_b"] is model.generator_ab
    # Pools are model variables (checkpointed with the run) and have the training image shape.
    paths = [v.path for v in model.variables]
    assert "pool_a/images" in paths and "pool_b/draws" in paths
    assert tuple(model.pool_a.images.shape) == (3, 16, 16, 3)
    assert CycleGANConfig().resolved_residual_blocks == 9 and CycleGANConfig(image_size=128).resolved_residual_blocks == 6
    assert CycleGANConfig().resolved_load_size == 286 and CycleGANConfig(image_size=64).resolved_load_size == 72
    with pytest.raises(ValueError, match="multiple of 4"):
        CycleGANConfig(image_size=30)
