"""CSGAN: CycleGAN's step plus the cyclic-synthesized terms, against a hand-written reference."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.csgan.config import CSGANConfig
from apps.csgan.model import CSGAN, build_model
from apps.cyclegan.model import CycleGAN
from tests.tolerances import NETWORK_RTOL, assert_update_close, scale_of

TINY = dict(image_size=16, base_filters=4, num_residual_blocks=1, discriminator_layers=2, pool_size=3)
LR = 0.05


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32) for k in ("a", "b")}


def _generator_reference(model, batch, config):
    """Hand-written L_G of CSGAN, its terms and its gradient for both generators."""
    g, f, d_a, d_b = model.generator_ab, model.generator_ba, model.discriminator_a, model.discriminator_b
    a, b = tf.constant(batch["a"]), tf.constant(batch["b"])
    lam, idt, cs = config.cycle_weight, config.identity_weight * config.cycle_weight, config.cs_weight
    weights = g.trainable_weights + f.trainable_weights
    with tf.GradientTape() as tape:
        syn_b, syn_a = g(a), f(b)
        cyc_a, cyc_b = f(syn_b), g(syn_a)
        if config.cs_stop_cycled_gradient:
            cyc_a_cs, cyc_b_cs = tf.stop_gradient(cyc_a), tf.stop_gradient(cyc_b)
        else:
            cyc_a_cs, cyc_b_cs = cyc_a, cyc_b
        terms = {
            "g_adv_ab": tf.reduce_mean((d_b(syn_b) - 1.0) ** 2),
            "g_adv_ba": tf.reduce_mean((d_a(syn_a) - 1.0) ** 2),
            "cycle_a": lam * tf.reduce_mean(tf.abs(cyc_a - a)),
            "cycle_b": lam * tf.reduce_mean(tf.abs(cyc_b - b)),
            "identity_a": idt * tf.reduce_mean(tf.abs(f(a) - a)),
            "identity_b": idt * tf.reduce_mean(tf.abs(g(b) - b)),
            "cs_a": cs * tf.reduce_mean(tf.abs(syn_a - cyc_a_cs)),  # Syn_A = F(b) vs Cyc_A = F(G(a))
            "cs_b": cs * tf.reduce_mean(tf.abs(syn_b - cyc_b_cs)),  # Syn_B = G(a) vs Cyc_B = G(F(b))
        }
        total = tf.add_n(list(terms.values()))
    gradients = tape.gradient(total, weights)
    values = {k: float(v) for k, v in terms.items()}
    values["g_loss"] = float(total)
    return values, [gr.numpy() for gr in gradients]


@pytest.mark.parametrize("stop_gradient", [False, True])
def test_step_matches_hand_written_generator_loss_and_update(stop_gradient):
    config = CSGANConfig(**TINY, cs_weight=30.0, cs_stop_cycled_gradient=stop_gradient)
    model = build_model(config)
    model.compile(g_optimizer=keras.optimizers.SGD(LR), d_optimizer=keras.optimizers.SGD(LR))
    batch = _batch()
    before = [w.numpy().copy() for w in model.generator_weights]
    expected, gradients = _generator_reference(model, batch, config)
    logs = {k: float(v) for k, v in model.train_step(batch).items()}
    # Eager reference, compiled step: every term is a mean of non-negative float32 terms from the
    # networks, equal to NETWORK_RTOL; updates equal to lr * |gradient| (tests/tolerances.py).
    for name, value in expected.items():
        assert logs[name] == pytest.approx(value, rel=NETWORK_RTOL), name
    assert logs["cs_a"] > 0 and logs["cs_b"] > 0
    # Instance normalization cancels the gradient of the convolution bias before it to rounding
    # noise: each tensor is compared on the scale of the generators' largest gradient.
    for weight, old, gradient in zip(model.generator_weights, before, gradients):
        assert_update_close(weight.numpy(), old, LR, gradient, scale=scale_of(*gradients), err_msg=weight.path)


def test_reuses_cyclegan_and_only_adds_its_terms():
    assert issubclass(CSGAN, CycleGAN)
    assert CSGAN.GENERATOR_TERMS == CycleGAN.GENERATOR_TERMS + ("cs_a", "cs_b")
    assert CSGAN.train_step is CycleGAN.train_step and CSGAN.translate is CycleGAN.translate
    config = CSGANConfig(**TINY)
    assert config.cs_weight == 30.0 and config.cycle_weight == 10.0 and config.identity_weight == 0.5
    model = build_model(config)
    assert set(model.trackers) >= {"cs_a", "cs_b", "cycle_a", "g_adv_ab"}
    assert set(model.translators()) == {"a_to_b", "b_to_a"} and model.size_multiple == 4
    with pytest.raises(ValueError, match="cs_weight"):
        CSGANConfig(cs_weight=-1.0)


def test_zero_weight_gives_cyclegan_losses():
    config = CSGANConfig(**TINY, cs_weight=0.0)
    csgan = build_model(config)
    cyclegan = CycleGAN(csgan.generator_ab, csgan.generator_ba, csgan.discriminator_a, csgan.discriminator_b, config)
    batch = _batch(1)
    images = csgan.translate(batch["a"], batch["b"], training=True)
    cs_terms = csgan.generator_loss_terms(batch["a"], batch["b"], images)
    cycle_terms = cyclegan.generator_loss_terms(batch["a"], batch["b"], images)
    assert float(cs_terms["cs_a"]) == 0.0 and float(cs_terms["cs_b"]) == 0.0
    for name, value in cycle_terms.items():
        assert float(cs_terms[name]) == pytest.approx(float(value), rel=1e-6)
