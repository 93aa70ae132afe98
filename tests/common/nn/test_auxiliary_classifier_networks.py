"""The shared auxiliary-classifier backbone (common/nn/auxiliary_classifier_networks.py)."""

import keras
import numpy as np
import pytest

from common.nn import auxiliary_classifier_networks as backbone

TINY = {"image_size": 16, "channels": 1, "latent_dim": 6, "num_classes": 3, "generator_filters": (8, 4)}
TINY_D = {"image_size": 16, "channels": 1, "discriminator_filters": (4, 8), "discriminator_strides": (2, 1)}


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_cifar10_networks_have_the_appendix_shapes_and_parameter_counts():
    generator = backbone.build_generator()
    assert generator.output.shape == (None, 32, 32, 3)
    assert [generator.get_layer(n).output.shape[1:] for n in ("reshape", "up1", "up2")] == [
        (4, 4, 384), (8, 8, 192), (16, 16, 96)]
    # Dense 110 -> 6144 with bias; 5x5 up-convolutions 384->192, 192->96 without bias (BN follows,
    # gamma and beta trainable), 96->3 with bias.
    expected_g = (110 * 6144 + 6144) + 25 * 384 * 192 + 2 * 192 + 25 * 192 * 96 + 2 * 96 + (25 * 96 * 3 + 3)
    assert trainable_count(generator) == expected_g == 2_993_763

    discriminator = backbone.build_discriminator(class_outputs=10)
    source, classes = discriminator.outputs
    assert source.shape == (None, 1) and classes.shape == (None, 10)
    widths = (3, 16, 32, 64, 128, 256, 512)
    convs = (9 * 3 * 16 + 16) + sum(9 * widths[i] * widths[i + 1] + 2 * widths[i + 1] for i in range(1, 6))
    heads = (4 * 4 * 512 + 1) + (4 * 4 * 512 * 10 + 10)
    assert trainable_count(discriminator) == convs + heads
    spatial = [discriminator.get_layer(f"conv{i}").output.shape[1] for i in range(1, 7)]
    assert spatial == [16, 16, 8, 8, 4, 4]
    assert sum(isinstance(layer, keras.layers.Dropout) and layer.rate == 0.5 for layer in discriminator.layers) == 6
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in discriminator.layers) == 5


def test_28x28_variant_starts_at_7x7():
    generator = backbone.build_generator(image_size=28, channels=1, generator_filters=(384, 192))
    assert generator.get_layer("reshape").output.shape[1:] == (7, 7, 384)
    assert generator.output.shape == (None, 28, 28, 1)
    discriminator = backbone.build_discriminator(image_size=28, channels=1, class_outputs=20)
    assert [o.shape for o in discriminator.outputs] == [(None, 1), (None, 20)]
    assert discriminator.get_layer("conv6").output.shape[1:3] == (4, 4)  # 28 -> 14 -> 7 -> 4


def test_generator_concatenates_z_with_the_one_hot_label():
    generator = backbone.build_generator(**TINY)
    joined = keras.Model(generator.inputs, generator.get_layer("z_and_label").output)
    z = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    labels = np.array([2, 0, 1], np.int32)
    np.testing.assert_array_equal(joined([z, labels]), np.concatenate([z, np.eye(3, dtype=np.float32)[labels]], 1))
    images = generator([z, labels], training=False).numpy()
    assert images.shape == (3, 16, 16, 1) and np.all(np.abs(images) <= 1)
    other = generator([z, np.array([1, 0, 1], np.int32)], training=False).numpy()
    assert not np.allclose(images[0], other[0])  # only the label of example 0 changed
    np.testing.assert_array_equal(images[1:], other[1:])


def test_same_seed_same_weights_other_seed_other_weights():
    a, b = backbone.build_discriminator(**TINY_D, seed=1), backbone.build_discriminator(**TINY_D, seed=1)
    c = backbone.build_discriminator(**TINY_D, seed=2)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, y) for x, y in zip(a.get_weights(), c.get_weights()))


def test_dropout_acts_in_training_only():
    discriminator = backbone.build_discriminator(**TINY_D, dropout=0.5)
    images = np.random.default_rng(1).uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32)
    first, second = discriminator(images, training=True)[1], discriminator(images, training=True)[1]
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(discriminator(images, training=False)[1], discriminator(images, training=False)[1])
    plain = backbone.build_discriminator(**TINY_D, dropout=0.0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)


OPTIONS = {"image_size": 32, "channels": 3, "latent_dim": 100, "num_classes": 10, "generator_filters": (384, 192, 96),
               "discriminator_filters": (16, 32), "discriminator_strides": (2, 1), "dropout": 0.5, "leaky_relu_slope": 0.2,
               "init_stddev": 0.02, "bn_momentum": 0.9, "bn_epsilon": 1e-5}


@pytest.mark.parametrize("change,message", [
    ({"image_size": 28}, "MNIST: image_size=28 with 2 widths"),
    ({"image_size": 36, "generator_filters": (8, 4, 2, 1)}, "not a start size >= 2"),
    ({"channels": 2}, "channels must be 1"),
    ({"num_classes": 1}, "num_classes must be at least 2"),
    ({"discriminator_strides": (2,)}, "one stride per entry"),
    ({"generator_filters": ()}, "generator_filters must be a non-empty list"),
    ({"dropout": 1.0}, "dropout must be in [0, 1)"),
])
def test_options_are_checked_with_clear_errors(change, message):
    backbone.check_backbone_options(**OPTIONS)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        backbone.check_backbone_options(**{**OPTIONS, **change})
