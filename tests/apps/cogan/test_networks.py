"""CoGAN networks (apps/cogan/networks.py): the paper's table, shapes, and literal weight sharing."""

import numpy as np
import pytest

from apps.cogan.config import CoGANConfig
from apps.cogan.networks import build_networks
from common.training import precision

TINY = dict(width_divisor=16, latent_dim=8)


def trainable_count(variables):
    return int(sum(np.prod(v.shape) for v in variables))


def unique(variables):
    return list({id(v): v for v in variables}.values())


@pytest.fixture(scope="module")
def paper_networks():
    return {size: build_networks(CoGANConfig(image_size=size)) for size in (28, 32)}


@pytest.mark.parametrize("size", [28, 32])
def test_parameter_counts_match_the_papers_table(paper_networks, size):
    networks = paper_networks[size]
    # Generator layers 1-4 (shared): FCONV(1024, 4x4 from 1x1 = FC 100 -> 4*4*1024), then 3x3 up-convolutions
    # 1024 -> 512 -> 256 -> 128; no bias before batch norm, which has an offset (no scale) per channel,
    # and one PReLU slope per channel.
    shared_g = (100 * 4 * 4 * 1024 + 1024 + 1024
                + 3 * 3 * 1024 * 512 + 512 + 512
                + 3 * 3 * 512 * 256 + 256 + 256
                + 3 * 3 * 256 * 128 + 128 + 128)
    head_g = 6 * 6 * 128 * 1 + 1  # layer 5 per domain: FCONV(1, 6x6) with bias
    assert shared_g == 7_835_392
    assert trainable_count(networks.shared_generator.trainable_weights) == shared_g
    assert trainable_count(networks.generator_a.trainable_weights) == shared_g + head_g
    assert trainable_count(networks.generator_b.trainable_weights) == shared_g + head_g
    assert trainable_count(networks.generator.trainable_weights) == shared_g + 2 * head_g
    # Discriminator: layer 1 per domain CONV(20, 5x5) + bias; shared CONV(50, 5x5) + bias, FC(500) + bias,
    # PReLU(500), FC(1) + bias. The FC input is 4x4x50 at 28x28 (the paper's) and 5x5x50 at 32x32.
    stem_d = 5 * 5 * 1 * 20 + 20
    side = {28: 4, 32: 5}[size]
    shared_d = (5 * 5 * 20 * 50 + 50) + (side * side * 50 * 500 + 500) + 500 + (500 + 1)
    assert trainable_count(networks.shared_discriminator.trainable_weights) == shared_d
    assert trainable_count(networks.discriminator_a.trainable_weights) == stem_d + shared_d
    both = unique(networks.discriminator_a.trainable_weights + networks.discriminator_b.trainable_weights)
    assert trainable_count(both) == 2 * stem_d + shared_d


@pytest.mark.parametrize("size", [28, 32])
def test_shapes_follow_the_papers_geometry(paper_networks, size):
    networks = paper_networks[size]
    shapes = [tuple(layer.output.shape[1:]) for layer in networks.shared_generator.layers
              if layer.name.startswith(("prelu",))]
    expected = {28: [(4, 4, 1024), (7, 7, 512), (13, 13, 256), (25, 25, 128)],  # Caffe pad=1: 4-7-13-25
                32: [(4, 4, 1024), (8, 8, 512), (16, 16, 256), (32, 32, 128)]}[size]
    assert shapes == expected
    z = np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32)
    images_a, images_b = networks.generator(z, training=False)
    assert images_a.shape == images_b.shape == (3, size, size, 1)
    assert images_a.dtype == "float32" and np.all(np.abs(images_a) <= 1.0)
    assert networks.discriminator_a(images_a).shape == (3, 1)


def test_shared_layers_are_the_same_objects_in_both_domains():
    networks = build_networks(CoGANConfig(**TINY))
    assert networks.generator_a.get_layer("shared_generator") is networks.generator_b.get_layer("shared_generator")
    assert networks.discriminator_a.get_layer("shared_discriminator") is \
        networks.discriminator_b.get_layer("shared_discriminator")
    shared_g = {id(v) for v in networks.shared_generator.weights}
    g_a, g_b = ({id(v) for v in g.weights} for g in (networks.generator_a, networks.generator_b))
    # fc + 3 up-conv kernels, 4 batch norms x (offset, mean, variance), 4 PReLU slopes
    assert g_a & g_b == shared_g and len(shared_g) == 4 + 4 * 3 + 4
    shared_d = {id(v) for v in networks.shared_discriminator.weights}
    d_a, d_b = ({id(v) for v in d.weights} for d in (networks.discriminator_a, networks.discriminator_b))
    assert d_a & d_b == shared_d and len(d_a - shared_d) == len(d_b - shared_d) == 2  # conv1 kernel, bias
    # The joint generator holds exactly the variables of the two domain generators.
    assert {id(v) for v in networks.generator.weights} == g_a | g_b
    # A change to a shared variable is seen by both domains; a head belongs to one domain.
    z = np.ones((1, 8), np.float32)
    before_a, before_b = networks.generator_a(z), networks.generator_b(z)
    head_b = networks.generator_b.get_layer("generator_head_b").weights[0]
    head_b.assign(head_b * 0.0)
    np.testing.assert_array_equal(networks.generator_a(z), before_a)
    fc1 = networks.shared_generator.get_layer("fc1").kernel
    fc1.assign(fc1 * 2.0)
    assert not np.allclose(networks.generator_a(z), before_a)
    assert not np.allclose(networks.generator_b(z), before_b)


def test_joint_generator_equals_the_domain_generators():
    networks = build_networks(CoGANConfig(image_size=28, **TINY))
    z = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    images_a, images_b = networks.generator(z, training=False)
    np.testing.assert_allclose(images_a, networks.generator_a(z, training=False), atol=1e-6)
    np.testing.assert_allclose(images_b, networks.generator_b(z, training=False), atol=1e-6)
    assert not np.allclose(images_a, images_b)  # separate last layers


def test_same_config_builds_the_same_weights():
    first, second = build_networks(CoGANConfig(seed=3, **TINY)), build_networks(CoGANConfig(seed=3, **TINY))
    for a, b in zip(first.generator.weights + first.discriminator_a.weights,
                    second.generator.weights + second.discriminator_a.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    prelu = first.shared_generator.get_layer("prelu2").alpha
    assert prelu.shape == (1, 1, 512 // 16) and np.all(prelu.numpy() == 0.25)  # per channel, Caffe's 0.25


def test_mixed_precision_outputs_are_float32():
    with precision.dtype_policy("mixed_float16"):
        networks = build_networks(CoGANConfig(**TINY))
    z = np.zeros((2, 8), np.float32)
    images_a, images_b = networks.generator(z)
    assert images_a.dtype == images_b.dtype == "float32"
    assert networks.discriminator_b(images_b).dtype == "float32"
    assert networks.shared_generator.get_layer("up2").compute_dtype == "float16"


@pytest.mark.parametrize("fields, message", [
    (dict(image_size=64), "image_size must be 28"),
    (dict(pairing="rotate"), "pairing must be one of edge, invert"),
    (dict(channels=2), "channels must be 1"),
    (dict(width_divisor=0), "width_divisor must be a positive integer"),
    (dict(beta_1=1.0), "beta_1 must be in"),
])
def test_config_rejects_bad_values(fields, message):
    with pytest.raises(ValueError, match=message):
        CoGANConfig(**fields)


def fan_avg(kernel):
    """Receptive field * (inputs + outputs) / 2; the same for a conv's and a transposed conv's kernel layout."""
    shape = kernel.shape
    return int(np.prod(shape[:-2])) * (shape[-2] + shape[-1]) / 2


def test_kernels_are_xavier_uniform_with_gain_sqrt2(paper_networks):
    # The authors' PyTorch initialisation: uniform in +-sqrt(6 / fan_avg), variance 2 / fan_avg.
    networks = paper_networks[28]
    head = networks.generator.get_layer("generator_head_a").get_layer("up5_a").kernel.numpy()
    assert head.shape == (6, 6, 1, 128)
    assert fan_avg(head) == 6 * 6 * (1 + 128) / 2 == 2322
    assert np.abs(head).max() <= np.sqrt(6 / 2322)
    np.testing.assert_allclose(head.std(), np.sqrt(2 / 2322), rtol=0.05)  # 0.029; He normal gave sqrt(2/36)
    kernels = unique([v for model in (networks.generator, networks.discriminator_a, networks.discriminator_b)
                      for v in model.weights if v.name == "kernel"])
    assert len(kernels) == 4 + 2 + 2 + 3  # fc1, up2-4, two heads, two stems, conv2, fc3, logits
    for kernel in kernels:
        values, fan = kernel.numpy(), fan_avg(kernel)
        assert np.abs(values).max() <= np.sqrt(6 / fan) + 1e-7, kernel.path
        np.testing.assert_allclose(values.std(), np.sqrt(2 / fan), rtol=0.15, err_msg=kernel.path)


@pytest.mark.parametrize("size", [28, 32])
def test_generator_output_is_not_saturated_and_depends_on_z_at_initialisation(paper_networks, size):
    # With He normal counting a transposed convolution's outputs as its fan-in, the last layer's
    # pre-tanh values had a standard deviation of about 9 and 78% of the pixels were beyond |0.95|;
    # training then collapsed to one image for every z.
    networks = paper_networks[size]
    z = np.random.default_rng(0).standard_normal((32, 100)).astype(np.float32)
    features = networks.shared_generator(z, training=True)
    pre_tanh = np.asarray(networks.generator.get_layer("generator_head_a").get_layer("up5_a")(features))
    assert 0.5 < pre_tanh.std() < 2.0
    images_a, images_b = (np.asarray(x) for x in networks.generator(z, training=True))
    for images in (images_a, images_b):
        assert np.mean(np.abs(images) > 0.95) < 0.3
        assert images.std(axis=0).mean() > 0.3  # per pixel, across z
    inference_a, _ = networks.generator(z[:4], training=False)
    inference_a = np.asarray(inference_a)
    for i in range(1, 4):
        assert np.abs(inference_a[i] - inference_a[0]).max() > 1e-2
