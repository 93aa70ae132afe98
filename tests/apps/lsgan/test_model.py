"""LSGAN train_step: losses against hand-computed values for both codings, a reference step, export parity."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.lsgan.config import LSGANConfig
from apps.lsgan.model import LSGAN, build_model, make_optimizers
from common.export import generator_export
from common.nn import losses
from tests.strategies import two_cpu_strategy
from tests.tolerances import NETWORK_RTOL, assert_steps_close, reduction_rtol, scale_of
from common.export.generator_export import DEFAULT_PARITY_ATOL

TINY = dict(image_size=16, channels=1, base_filters=4, latent_dim=8)


def real_batch(batch_size=2, seed=0):
    images = np.random.default_rng(seed).uniform(-1.0, 1.0, (batch_size, 16, 16, 1)).astype(np.float32)
    return {"image": tf.constant(images)}


def constant_discriminator(value):
    """D(x) = value for every image: a zero kernel and a bias of `value`."""
    images = keras.Input((16, 16, 1))
    outputs = keras.layers.Dense(1, kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant(value))(keras.layers.Flatten()(images))
    return keras.Model(images, outputs)


def copy_of(network):
    clone = keras.models.clone_model(network)
    clone.set_weights(network.get_weights())
    return clone


def values(variables):
    return [np.array(v.numpy()) for v in variables]


@pytest.mark.parametrize(
    "coding,d_loss,g_loss",
    [
        # D = 0.25 on everything. 0-1-1: 0.5 (0.25 - 1)^2 + 0.5 (0.25 - 0)^2 = 0.28125 + 0.03125;
        #                              G: 0.5 (0.25 - 1)^2 = 0.28125
        ("0-1-1", 0.3125, 0.28125),
        # -1-1-0: 0.5 (0.25 - 1)^2 + 0.5 (0.25 + 1)^2 = 0.28125 + 0.78125;  G: 0.5 (0.25 - 0)^2 = 0.03125
        ("-1-1-0", 1.0625, 0.03125),
    ],
)
def test_losses_with_a_fixed_discriminator_output_by_hand(coding, d_loss, g_loss):
    config = LSGANConfig(coding=coding, **TINY)
    model = LSGAN(build_model(config).generator, constant_discriminator(0.25), config)
    model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.0))  # D stays constant
    logs = {name: float(value) for name, value in model.train_step(real_batch()).items()}
    assert logs["d_loss"] == pytest.approx(d_loss, rel=1e-6)
    assert logs["g_loss"] == pytest.approx(g_loss, rel=1e-6)
    assert logs["d_real"] == pytest.approx(0.25) and logs["d_fake"] == pytest.approx(0.25)
    # dL_D/d bias = (D - b) + (D - a); here kernel gradients are (D - b) mean(x_real) + (D - a) mean(x_fake)
    a, b, _ = config.targets
    assert logs["d_grad_norm"] >= abs((0.25 - b) + (0.25 - a)) - 1e-6
    assert logs["g_grad_norm"] == 0.0  # a constant D passes no gradient to G


def linear_discriminator(weight, bias):
    """D(x) = weight * sum(x) + bias: its input gradient is `weight` at every pixel."""
    images = keras.Input((16, 16, 1))
    outputs = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(weight),
                                 bias_initializer=keras.initializers.Constant(bias))(keras.layers.Flatten()(images))
    return keras.Model(images, outputs)


def test_r1_penalty_by_hand():
    """D(x) = w . x + b: grad_x D = w, so R1 = ||w||^2 = 256 * 0.01^2 and it adds gamma * w to D's kernel gradient."""
    kernels, logs = {}, {}
    for gamma in (0.0, 3.0):
        config = LSGANConfig(r1_gamma=gamma, **TINY)
        model = LSGAN(build_model(config).generator, linear_discriminator(0.01, 0.25), config)
        model.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.5))  # G fixed: same fakes both times
        logs[gamma] = {name: float(value) for name, value in model.train_step(real_batch()).items()}
        kernels[gamma] = model.discriminator.trainable_weights[0].numpy()
    assert "r1" not in logs[0.0]
    assert logs[3.0]["r1"] == pytest.approx(256 * 0.01**2, rel=reduction_rtol(256))  # a float32 sum of 256 squares
    assert logs[3.0]["d_loss"] == pytest.approx(logs[0.0]["d_loss"], rel=1e-6)  # d_loss excludes the penalty
    # Kernel after SGD(0.5): w - 0.5 (dL/dw + gamma w); the loss part is the same in both runs.
    np.testing.assert_allclose(kernels[0.0] - kernels[3.0], 0.5 * 3.0 * 0.01, rtol=1e-4)


@pytest.mark.parametrize("reuse_fakes", [True, False])
def test_train_step_matches_reference_computation(reuse_fakes):
    config = LSGANConfig(coding="-1-1-0", seed=5, reuse_fakes=reuse_fakes, **TINY)
    model = build_model(config)
    model.compile(*make_optimizers(config))
    batch = real_batch()
    generator_before, discriminator_before = copy_of(model.generator), copy_of(model.discriminator)
    before = values(model.generator.trainable_weights + model.discriminator.trainable_weights)

    logs = {name: float(value) for name, value in model.train_step(batch).items()}

    noise = keras.random.SeedGenerator(config.seed)
    z1 = keras.random.normal((2, 8), seed=noise)
    real_outputs = discriminator_before(batch["image"], training=True)
    fake_outputs = discriminator_before(generator_before(z1, training=True), training=True)
    expected_d = losses.least_squares_discriminator_loss(real_outputs, fake_outputs, a=-1.0, b=1.0)
    # Eager reference, compiled step: NETWORK_RTOL of the outputs' scale (tests/tolerances.py);
    # D's outputs have either sign, so their mean is compared on the scale of the outputs.
    assert logs["d_loss"] == pytest.approx(float(expected_d), rel=NETWORK_RTOL)
    assert logs["d_real"] == pytest.approx(float(tf.reduce_mean(real_outputs)),
                                           rel=NETWORK_RTOL, abs=NETWORK_RTOL * scale_of(real_outputs))
    # Generator step: the same z (reused fakes) or a fresh draw, through the updated D.
    z2 = z1 if reuse_fakes else keras.random.normal((2, 8), seed=noise)
    generated = copy_of(model.discriminator)(generator_before(z2, training=True), training=True)
    assert logs["g_loss"] == pytest.approx(float(losses.least_squares_generator_loss(generated, c=0.0)),
                                           rel=NETWORK_RTOL)
    after = values(model.generator.trainable_weights + model.discriminator.trainable_weights)
    for old, new in zip(before, after):
        assert not np.array_equal(old, new)


def test_two_replicas_take_the_same_step_as_one_device():
    # Global batch 4: one device, or two replicas of 2 with synchronised batch norm,
    # per-replica slices of one noise draw and losses divided by the replica count.
    config = LSGANConfig(seed=4, **TINY)
    batch = real_batch(batch_size=4)
    single_model = build_model(config)
    single_model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    initial = values(single_model.generator.weights + single_model.discriminator.weights)
    output_scale = scale_of(copy_of(single_model.discriminator)(batch["image"], training=True))
    single = {name: float(value) for name, value in single_model.train_step(batch).items()}
    with two_cpu_strategy().scope():
        mirrored_model = build_model(config)
        mirrored_model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    history = mirrored_model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0, shuffle=False).history
    # Reductions split over two replicas: values to NETWORK_RTOL of the outputs' scale (d_real and
    # d_fake are means of outputs of either sign), weights to NETWORK_RTOL of the step they took.
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert history[name][0] == pytest.approx(single[name], rel=NETWORK_RTOL,
                                                 abs=NETWORK_RTOL * output_scale), name
    single_weights = values(single_model.generator.weights + single_model.discriminator.weights)
    mirrored_weights = values(mirrored_model.generator.weights + mirrored_model.discriminator.weights)
    for a, b, old in zip(single_weights, mirrored_weights, initial):
        assert_steps_close(b, a, old)


def test_make_optimizers_are_the_papers_adam():
    g_optimizer, d_optimizer = make_optimizers(LSGANConfig(**TINY))
    assert isinstance(g_optimizer, keras.optimizers.Adam) and g_optimizer is not d_optimizer
    assert float(g_optimizer.learning_rate) == pytest.approx(2e-4) and g_optimizer.beta_1 == 0.5


def test_export_parity_of_the_ema_generator(tmp_path):
    model = build_model(LSGANConfig(ema_decay=0.9, **TINY))
    model.compile(*make_optimizers(model.config))
    model.train_step(real_batch())
    written = generator_export.export_generator(model.ema.shadow, str(tmp_path / "export"), latent_dim=8,
                                      metadata={"app": "lsgan"})
    info = json.load(open(os.path.join(written, "assets.extra", "export_info.json")))
    assert info["metadata"]["app"] == "lsgan"
    loaded = tf.saved_model.load(written)
    z = generator_export.sample_latents(7, 3, 8)
    np.testing.assert_allclose(loaded.signatures["generate_float"](z=z)["images_float"],
                               model.sample(z), atol=DEFAULT_PARITY_ATOL["float32"])  # the export's own parity bound
