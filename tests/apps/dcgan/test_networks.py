"""DCGAN config validation and networks: shapes, parameter counts, initialisers (apps/dcgan)."""

import keras
import numpy as np
import pytest

from apps.dcgan.config import DCGANConfig
from apps.dcgan.networks import build_discriminator, build_generator
from common.nn.layers import SubPixelConv2DTranspose
from tests.tolerances import assert_close_to_scale


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shapes_and_dtypes(image_size, channels):
    config = DCGANConfig(image_size=image_size, channels=channels, base_filters=4, latent_dim=8)
    generator, discriminator = build_generator(config), build_discriminator(config)
    images = generator(np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32))
    assert images.shape == (2, image_size, image_size, channels)
    assert images.dtype == "float32" and np.all(np.abs(images) <= 1.0)
    logits = discriminator(images)
    assert logits.shape == (2, 1) and logits.dtype == "float32"
    # one stride-2 block per doubling above 4x4: 3 at 32x32, 4 at 64x64
    blocks = {32: 3, 64: 4}[image_size]
    assert generator.get_layer(f"up{blocks}").output.shape == (None, image_size, image_size, channels)
    assert discriminator.get_layer(f"down{blocks}").output.shape == (None, 4, 4, 4 * 2 ** (blocks - 1))


def test_parameter_counts_of_dcgan_64_by_hand():
    config = DCGANConfig()  # 64x64x3, z 100, base 64
    generator, discriminator = build_generator(config), build_discriminator(config)
    # Generator, no biases; batch norm has 2 trainable (gamma, beta) + 2 moving statistics per channel.
    g_weights = (
        100 * 4 * 4 * 512  # project: 819,200
        + 4 * 4 * 512 * 256  # up1: 2,097,152
        + 4 * 4 * 256 * 128  # up2: 524,288
        + 4 * 4 * 128 * 64  # up3: 131,072
        + 4 * 4 * 64 * 3  # up4: 3,072
    )
    g_bn_channels = 512 + 256 + 128 + 64  # 960
    assert g_weights + 2 * g_bn_channels == 3_576_704
    assert sum(int(np.prod(w.shape)) for w in generator.trainable_weights) == 3_576_704
    assert sum(int(np.prod(w.shape)) for w in generator.non_trainable_weights) == 2 * g_bn_channels
    d_weights = (
        4 * 4 * 3 * 64  # down1: 3,072 (no batch norm)
        + 4 * 4 * 64 * 128  # down2: 131,072
        + 4 * 4 * 128 * 256  # down3: 524,288
        + 4 * 4 * 256 * 512  # down4: 2,097,152
        + 4 * 4 * 512 * 1  # logits: 8,192
    )
    d_bn_channels = 128 + 256 + 512  # 896
    assert d_weights + 2 * d_bn_channels == 2_765_568
    assert sum(int(np.prod(w.shape)) for w in discriminator.trainable_weights) == 2_765_568
    assert sum(int(np.prod(w.shape)) for w in discriminator.non_trainable_weights) == 2 * d_bn_channels
    assert generator.get_layer("project_bn").synchronized and discriminator.get_layer("down2_bn").synchronized
    assert "down1_bn" not in [layer.name for layer in discriminator.layers]
    # Initialisers: weights N(0, 0.02), batch-norm scales N(1, 0.02), offsets 0.
    for layer in (generator.get_layer("up1"), generator.get_layer("project"), discriminator.get_layer("down4")):
        kernel = layer.kernel.numpy()
        assert abs(kernel.mean()) < 1e-3 and kernel.std() == pytest.approx(0.02, rel=0.02)
    gamma = generator.get_layer("project_bn").gamma.numpy()
    assert gamma.mean() == pytest.approx(1.0, abs=0.005) and gamma.std() == pytest.approx(0.02, rel=0.2)
    assert not generator.get_layer("project_bn").beta.numpy().any()


def test_same_seed_same_weights_and_distinct_layer_seeds():
    config = DCGANConfig(image_size=32, base_filters=4, latent_dim=8, seed=3)
    first, second = build_generator(config), build_generator(config)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = build_generator(DCGANConfig(image_size=32, base_filters=4, latent_dim=8, seed=4))
    assert not np.array_equal(first.get_layer("project").kernel.numpy(), other.get_layer("project").kernel.numpy())
    discriminator = build_discriminator(config)
    # each layer draws with its own seed: same-shaped prefixes differ
    down2, down3 = (discriminator.get_layer(n).kernel.numpy().ravel()[:64] for n in ("down2", "down3"))
    assert not np.allclose(down2, down3)


def test_subpixel_and_transpose_generators_compute_the_same_function():
    kwargs = dict(image_size=32, channels=3, base_filters=4, latent_dim=8)
    transpose = build_generator(DCGANConfig(upsample="transpose", **kwargs))
    subpixel = build_generator(DCGANConfig(upsample="subpixel", **kwargs))
    assert isinstance(subpixel.get_layer("up1"), SubPixelConv2DTranspose)
    assert isinstance(transpose.get_layer("up1"), keras.layers.Conv2DTranspose)
    subpixel.set_weights(transpose.get_weights())
    z = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    # Same function, different summation order in the upsampling layers: NETWORK_RTOL of the images' scale.
    assert_close_to_scale(subpixel(z, training=True), transpose(z, training=True))


def test_mixed_precision_keeps_images_and_logits_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        config = DCGANConfig(image_size=16, channels=1, base_filters=4, latent_dim=8)
        generator, discriminator = build_generator(config), build_discriminator(config)
    finally:
        keras.config.set_dtype_policy(previous)
    images = generator(np.zeros((2, 8), np.float32))
    assert generator.get_layer("up1").compute_dtype == "float16"
    assert images.dtype == "float32" and discriminator(images).dtype == "float32"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(image_size=48), "image_size must be a power of two >= 16"),
        (dict(image_size=8), "image_size must be a power of two >= 16"),
        (dict(channels=4), "channels must be 1 .grayscale. or 3"),
        (dict(loss="wgan"), "loss must be one of non_saturating, minimax"),
        (dict(upsample="nearest"), "upsample must be one of transpose, subpixel"),
        (dict(ema_decay=1.0), "ema_decay must be in"),
        (dict(latent_dim=0), "latent_dim must be a positive integer"),
        (dict(learning_rate=0.0), "learning_rate must be > 0"),
        (dict(decay_start_fraction=1.5), "decay_start_fraction must be in .0, 1."),
        (dict(real_label=0.0), "real_label must be in .0, 1."),
        (dict(real_label=0.9, loss="hinge"), "loss 'hinge' has no labels"),
        (dict(r1_gamma=-1.0), "r1_gamma must be >= 0 .0 turns the R1 penalty off."),
        (dict(r1_gamma=float("nan")), "r1_gamma must be >= 0"),
    ],
)
def test_config_errors_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DCGANConfig(**kwargs)


def test_config_defaults_are_the_papers():
    config = DCGANConfig()
    assert (config.latent_dim, config.image_size, config.channels, config.base_filters) == (100, 64, 3, 64)
    assert (config.learning_rate, config.beta_1, config.batch_size, config.init_stddev) == (2e-4, 0.5, 128, 0.02)
    assert (config.leaky_relu_slope, config.loss, config.ema_decay) == (0.2, "non_saturating", 0.0)
    assert (config.decay_start_fraction, config.real_label, config.reuse_fakes) == (1.0, 1.0, True)
    assert config.r1_gamma == 0.0
    with pytest.raises(Exception):
        config.image_size = 32  # frozen
