"""DiscoGAN config validation and networks: shapes, parameter counts, initialisers, precision (apps/discogan)."""

import keras
import numpy as np
import pytest

from apps.discogan.config import SIZE_MULTIPLE, DiscoGANConfig
from apps.discogan.networks import build_discriminator, build_generator
from common.training import precision

TINY = dict(base_filters=8)


def count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("image_size", [16, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shapes_and_dtypes(image_size, channels):
    config = DiscoGANConfig(image_size=image_size, channels=channels, **TINY)
    generator, discriminator = build_generator(config, "a_to_b"), build_discriminator(config, "b")
    images = np.random.default_rng(0).uniform(-1, 1, (2, image_size, image_size, channels)).astype(np.float32)
    translated = generator(images)
    assert translated.shape == images.shape
    assert translated.dtype == "float32" and np.all(np.abs(translated) <= 1.0)
    # Encoder: four stride-2 levels, 8-16-32-64 filters; the bottleneck is image_size / 16.
    bottleneck = image_size // 16
    assert generator.get_layer("enc4").output.shape == (None, None, None, 64)
    assert generator.get_layer("dec3").output.shape == (None, None, None, 8)
    assert discriminator.get_layer("down4").output.shape == (None, bottleneck, bottleneck, 64)
    logits = discriminator(translated)
    assert logits.shape == (2, 1) and logits.dtype == "float32"


def test_generators_translate_any_multiple_of_16():
    generator = build_generator(DiscoGANConfig(image_size=16, **TINY))
    images = np.zeros((1, 48, 80, 3), np.float32)
    assert generator(images).shape == (1, 48, 80, 3)
    assert SIZE_MULTIPLE == 16


def test_parameter_counts_of_the_paper_networks_by_hand():
    config = DiscoGANConfig()  # 64x64x3, base 64: the paper's size
    generator, discriminator = build_generator(config), build_discriminator(config)
    # No biases; batch norm has 2 trainable (gamma, beta) + 2 moving statistics per channel.
    encoder = (
        4 * 4 * 3 * 64  # enc1: 3,072 (no batch norm)
        + 4 * 4 * 64 * 128  # enc2: 131,072
        + 4 * 4 * 128 * 256  # enc3: 524,288
        + 4 * 4 * 256 * 512  # enc4: 2,097,152
    )
    decoder = (
        4 * 4 * 512 * 256  # dec1: 2,097,152
        + 4 * 4 * 256 * 128  # dec2: 524,288
        + 4 * 4 * 128 * 64  # dec3: 131,072
        + 4 * 4 * 64 * 3  # dec4: 3,072 (tanh, no batch norm)
    )
    g_bn_channels = (128 + 256 + 512) + (256 + 128 + 64)  # 1,344
    assert encoder + decoder + 2 * g_bn_channels == 5_513_856
    assert count(generator.trainable_weights) == 5_513_856
    assert count(generator.non_trainable_weights) == 2 * g_bn_channels
    d_weights = encoder + 4 * 4 * 512 * 1  # + the final 4x4 valid convolution to one logit: 8,192
    d_bn_channels = 128 + 256 + 512
    assert d_weights + 2 * d_bn_channels == 2_765_568
    assert count(discriminator.trainable_weights) == 2_765_568
    assert count(discriminator.non_trainable_weights) == 2 * d_bn_channels
    assert discriminator.get_layer("logits").kernel.shape == (4, 4, 512, 1)
    assert "enc1_bn" not in [layer.name for layer in generator.layers]
    assert "dec4_bn" not in [layer.name for layer in generator.layers]
    assert "down1_bn" not in [layer.name for layer in discriminator.layers]
    assert generator.get_layer("enc2_bn").synchronized and discriminator.get_layer("down2_bn").synchronized
    assert generator.get_layer("enc2_lrelu").negative_slope == pytest.approx(0.2)
    assert generator.get_layer("enc2_bn").momentum == pytest.approx(0.9)


def test_pytorch_default_initialisation():
    config = DiscoGANConfig()
    generator = build_generator(config)
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)); PyTorch's fan_in of a transposed convolution is
    # out_channels * k * k, which Keras' (k, k, out, in) kernel layout gives too.
    for name, fan_in in (("enc3", 128 * 16), ("dec1", 256 * 16), ("dec4", 3 * 16)):
        kernel = generator.get_layer(name).kernel.numpy()
        bound = 1.0 / np.sqrt(fan_in)
        assert np.abs(kernel).max() <= bound
        assert np.abs(kernel).max() > 0.99 * bound
        assert kernel.std() == pytest.approx(bound / np.sqrt(3.0), rel=0.05)  # std of U(-b, b)
    np.testing.assert_array_equal(generator.get_layer("dec1_bn").gamma.numpy(), 1.0)
    np.testing.assert_array_equal(generator.get_layer("dec1_bn").beta.numpy(), 0.0)


def test_same_seed_same_weights_and_four_different_networks():
    config = DiscoGANConfig(image_size=16, **TINY)
    first, again = build_generator(config, "a_to_b"), build_generator(config, "a_to_b")
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = build_generator(config, "b_to_a")
    assert not np.allclose(first.get_layer("enc1").kernel.numpy(), other.get_layer("enc1").kernel.numpy())
    d_a, d_b = build_discriminator(config, "a"), build_discriminator(config, "b")
    assert not np.allclose(d_a.get_layer("down1").kernel.numpy(), d_b.get_layer("down1").kernel.numpy())
    assert not np.allclose(first.get_layer("enc1").kernel.numpy(), d_a.get_layer("down1").kernel.numpy())


def test_mixed_precision_outputs_float32():
    config = DiscoGANConfig(image_size=16, **TINY)
    with precision.dtype_policy("mixed_float16"):
        generator, discriminator = build_generator(config), build_discriminator(config)
    assert generator.get_layer("enc2").compute_dtype == "float16"
    images = np.zeros((2, 16, 16, 3), np.float32)
    assert generator(images).dtype == "float32"
    assert discriminator(images).dtype == "float32"


@pytest.mark.parametrize("fields, message", [
    (dict(image_size=40), "multiple of 16"),
    (dict(image_size=8), "multiple of 16"),
    (dict(channels=2), "channels"),
    (dict(base_filters=0), "base_filters"),
    (dict(loss="wasserstein"), "loss must be one of"),
    (dict(reconstruction_distance="cosine"), "reconstruction_distance must be one of"),
    (dict(weight_decay=-1.0), "weight_decay"),
    (dict(beta_1=1.0), "beta_1"),
])
def test_config_rejects_bad_values(fields, message):
    with pytest.raises(ValueError, match=message):
        DiscoGANConfig(**fields)


def test_builders_reject_unknown_direction_and_domain():
    config = DiscoGANConfig(image_size=16, **TINY)
    with pytest.raises(ValueError, match="direction"):
        build_generator(config, "a_to_c")
    with pytest.raises(ValueError, match="domain"):
        build_discriminator(config, "c")
    assert isinstance(build_generator(config), keras.Model)
