"""LSGAN config validation and networks: Figure 3's layer list, shapes, parameter counts (apps/lsgan)."""

import numpy as np
import pytest

from apps.lsgan.config import LSGANConfig
from apps.lsgan.networks import build_discriminator, build_generator, generator_layers


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_layer_lists_per_image_size():
    figure_3 = [(256, 2), (256, 1), (256, 2), (256, 1), (128, 2), (64, 2)]
    config = LSGANConfig(image_size=112)  # the paper's LSUN network: 7x7 projection
    assert (config.start_size, generator_layers(config)) == (7, figure_3)
    config = LSGANConfig(image_size=64)
    assert (config.start_size, generator_layers(config)) == (4, figure_3)
    config = LSGANConfig(image_size=32)
    assert (config.start_size, generator_layers(config)) == (4, figure_3[2:])
    config = LSGANConfig(image_size=28)
    assert (config.start_size, generator_layers(config)) == (7, figure_3[4:])
    assert generator_layers(LSGANConfig(base_filters=8))[0] == (32, 2)


@pytest.mark.parametrize("image_size,channels", [(28, 1), (32, 3)])
def test_output_shapes_and_dtypes(image_size, channels):
    config = LSGANConfig(image_size=image_size, channels=channels, base_filters=4, latent_dim=8)
    generator, discriminator = build_generator(config), build_discriminator(config)
    images = generator(np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32))
    assert images.shape == (2, image_size, image_size, channels)
    assert images.dtype == "float32" and np.all(np.abs(images) <= 1.0)
    outputs = discriminator(images)
    assert outputs.shape == (2, 1) and outputs.dtype == "float32"
    # four 5x5 stride-2 convolutions, "same" padding: 28 -> 14 -> 7 -> 4 -> 2, 32 -> ... -> 2
    assert discriminator.get_layer("conv4").output.shape == (None, 2, 2, 32)


def test_parameter_counts_of_lsgan_64_by_hand():
    config = LSGANConfig()  # 64x64x3, z 1024, base 64
    generator, discriminator = build_generator(config), build_discriminator(config)
    g_weights = (
        1024 * 4 * 4 * 256  # project, no bias: 4,194,304
        + 4 * 3 * 3 * 256 * 256  # deconv1-4 (stride 2, 1, 2, 1), no bias: 2,359,296
        + 3 * 3 * 256 * 128  # deconv5: 294,912
        + 3 * 3 * 128 * 64  # deconv6: 73,728
        + 3 * 3 * 64 * 3 + 3  # output, with bias: 1,731
    )
    g_bn_channels = 5 * 256 + 128 + 64  # 1,472
    assert g_weights + 2 * g_bn_channels == 6_926_915
    assert trainable_count(generator) == 6_926_915
    d_weights = (
        5 * 5 * 3 * 64 + 64  # conv1, with bias (no batch norm): 4,864
        + 5 * 5 * 64 * 128  # conv2: 204,800
        + 5 * 5 * 128 * 256  # conv3: 819,200
        + 5 * 5 * 256 * 512  # conv4: 3,276,800
        + 4 * 4 * 512 + 1  # logits: 8,193
    )
    d_bn_channels = 128 + 256 + 512
    assert d_weights + 2 * d_bn_channels == 4_315_649
    assert trainable_count(discriminator) == 4_315_649
    assert sum(int(np.prod(w.shape)) for w in discriminator.non_trainable_weights) == 2 * d_bn_channels
    assert generator.get_layer("deconv2").strides == (1, 1) and generator.get_layer("deconv3").strides == (2, 2)
    assert discriminator.get_layer("conv1").kernel.shape == (5, 5, 3, 64)
    kernel = generator.get_layer("project").kernel.numpy()
    assert abs(kernel.mean()) < 1e-3 and kernel.std() == pytest.approx(0.02, rel=0.02)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(image_size=30), "image_size must be start . 2..n with start >= 4 and n >= 2"),
        (dict(image_size=12), "image_size must be start . 2..n"),
        (dict(coding="1-0-1"), "coding must be one of 0-1-1, -1-1-0"),
        (dict(channels=4), "channels must be 1 .grayscale. or 3"),
        (dict(ema_decay=1.0), "ema_decay must be in"),
        (dict(latent_dim=0), "latent_dim must be a positive integer"),
        (dict(learning_rate=0.0), "learning_rate must be > 0"),
        (dict(r1_gamma=-0.5), "r1_gamma must be >= 0 .0 turns the R1 penalty off."),
    ],
)
def test_config_errors_say_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LSGANConfig(**kwargs)


def test_config_defaults_are_the_papers():
    config = LSGANConfig()
    assert (config.latent_dim, config.learning_rate, config.beta_1) == (1024, 2e-4, 0.5)
    assert (config.coding, config.targets) == ("0-1-1", (0.0, 1.0, 1.0))
    assert LSGANConfig(coding="-1-1-0").targets == (-1.0, 1.0, 0.0)
    with pytest.raises(Exception):
        config.coding = "-1-1-0"  # frozen
