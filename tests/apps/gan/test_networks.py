"""GAN config validation and networks: shapes, parameter counts, initialisers, dropout (apps/gan)."""

import numpy as np
import pytest

from apps.gan.config import GANConfig
from apps.gan.networks import build_discriminator, build_generator
from common.nn.layers import Maxout

TINY = dict(latent_dim=4, generator_units=6, maxout_units=3, maxout_pieces=2)


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("image_size,channels", [(28, 1), (32, 3)])
def test_output_shapes_and_dtypes(image_size, channels):
    config = GANConfig(image_size=image_size, channels=channels, **TINY)
    generator, discriminator = build_generator(config), build_discriminator(config)
    images = generator(np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32))
    assert images.shape == (2, image_size, image_size, channels)
    assert images.dtype == "float32" and np.all(np.abs(images) <= 1.0)
    logits = discriminator(images)
    assert logits.shape == (2, 1) and logits.dtype == "float32"


def test_parameter_counts_of_the_papers_mnist_networks_by_hand():
    config = GANConfig()  # 28x28x1, z 100, G 1200-1200, D maxout 240x5, 240x5
    generator, discriminator = build_generator(config), build_discriminator(config)
    g_weights = (
        100 * 1200 + 1200  # h0: 121,200
        + 1200 * 1200 + 1200  # h1: 1,441,200
        + 1200 * 784 + 784  # y: 941,584
    )
    assert g_weights == 2_503_984 and trainable_count(generator) == g_weights
    d_weights = (
        784 * 240 * 5 + 240 * 5  # h0, maxout: 942,000
        + 240 * 240 * 5 + 240 * 5  # h1, maxout: 289,200
        + 240 * 1 + 1  # logits: 241
    )
    assert d_weights == 1_231_441 and trainable_count(discriminator) == d_weights
    assert isinstance(discriminator.get_layer("h0"), Maxout) and discriminator.get_layer("h0").pieces == 5
    assert [discriminator.get_layer(n).rate for n in ("h0_dropout", "h1_dropout", "y_dropout")] == pytest.approx(
        [0.2, 0.5, 0.5])
    # pylearn2 irange: U(-0.05, 0.05) in G, U(-0.005, 0.005) in D; biases 0.
    g_kernel, d_kernel = generator.get_layer("h1").kernel.numpy(), discriminator.get_layer("h0").kernel.numpy()
    assert np.abs(g_kernel).max() <= 0.05 and np.abs(g_kernel).max() > 0.049
    assert np.abs(d_kernel).max() <= 0.005 and np.abs(d_kernel).max() > 0.0049
    assert not generator.get_layer("h0").bias.numpy().any()


def test_dropout_only_in_training_and_seeded():
    config = GANConfig(image_size=8, **TINY)
    discriminator = build_discriminator(config)
    images = np.random.default_rng(1).uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(discriminator(images), discriminator(images))  # inference: no dropout
    assert not np.allclose(discriminator(images, training=True), discriminator(images, training=False))
    no_dropout = build_discriminator(GANConfig(image_size=8, input_keep_prob=1.0, hidden_keep_prob=1.0, **TINY))
    no_dropout.set_weights(discriminator.get_weights())
    np.testing.assert_allclose(no_dropout(images, training=True), discriminator(images), rtol=1e-6)
    first, second = build_generator(config), build_generator(config)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(channels=2), "channels must be 1 .grayscale. or 3"),
        (dict(generator_loss="hinge"), "generator_loss must be one of non_saturating, minimax"),
        (dict(d_steps=3), r"batch_size \(100\) must be a multiple of d_steps \(3\).*--batch_size=99"),
        (dict(d_steps=0), "d_steps must be a positive integer"),
        (dict(input_keep_prob=0.0), r"input_keep_prob must be in \(0, 1\]"),
        (dict(learning_rate_decay=0.9), "learning_rate_decay must be >= 1"),
        (dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
        (dict(image_size=2), "image_size must be >= 4"),
    ],
)
def test_config_errors_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GANConfig(**kwargs)


def test_config_defaults_are_the_papers_code():
    config = GANConfig()
    assert (config.image_size, config.channels, config.latent_dim, config.batch_size) == (28, 1, 100, 100)
    assert (config.generator_units, config.maxout_units, config.maxout_pieces) == (1200, 240, 5)
    assert (config.input_keep_prob, config.hidden_keep_prob, config.d_steps) == (0.8, 0.5, 1)
    assert (config.g_learning_rate, config.d_learning_rate, config.momentum) == (0.1, 0.05, 0.5)
    assert config.learning_rate_decay == 1.000004 and config.generator_loss == "non_saturating"
    with pytest.raises(Exception):
        config.image_size = 32  # frozen


def test_mixed_precision_keeps_images_and_logits_float32():
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        config = GANConfig(image_size=8, **TINY)
        generator, discriminator = build_generator(config), build_discriminator(config)
    finally:
        keras.config.set_dtype_policy(previous)
    images = generator(np.zeros((2, 4), np.float32))
    assert generator.get_layer("h0").compute_dtype == "float16"
    assert discriminator.get_layer("h0").compute_dtype == "float16"  # Maxout
    assert images.dtype == "float32" and discriminator(images, training=True).dtype == "float32"
