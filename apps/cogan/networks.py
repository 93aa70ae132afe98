"""CoGAN networks for digits (Liu & Tuzel 2016, https://arxiv.org/abs/1606.07536, digit experiments).

Two generators share their first four layers (the high-level structure of a
digit is decided once for both domains) and keep their last layer per domain
(how the digit is rendered); two discriminators keep their first layer per
domain (low-level features) and share the rest. Shared parts are single Keras
objects (`shared_generator`, `shared_discriminator`) called by both domain
networks, so their variables are literally the same objects.

The paper's table (digit experiments), "shared" per layer:

    Generator                                         shared
    1  FCONV-(N1024, K4x4, S1), BN, PReLU             yes
    2  FCONV-(N512,  K3x3, S2), BN, PReLU             yes
    3  FCONV-(N256,  K3x3, S2), BN, PReLU             yes
    4  FCONV-(N128,  K3x3, S2), BN, PReLU             yes
    5  FCONV-(N1,    K6x6, S1), Sigmoid               no

    Discriminator
    1  CONV-(N20, K5x5, S1), POOL-(MAX, 2)            no
    2  CONV-(N50, K5x5, S1), POOL-(MAX, 2)            yes
    3  FC-(N500), PReLU                               yes
    4  FC-(N1), Sigmoid                               yes

Here (shapes without the batch axis, image_size 32 / 28):

    z [100] -> Dense 4*4*1024 -> reshape [4, 4, 1024] -> BN -> PReLU
    -> up-conv 3x3/2 [8, 8, 512] / [7, 7, 512] -> BN -> PReLU
    -> up-conv 3x3/2 [16, 16, 256] / [13, 13, 256] -> BN -> PReLU
    -> up-conv 3x3/2 [32, 32, 128] / [25, 25, 128] -> BN -> PReLU      (shared up to here)
    -> per domain: up-conv 6x6/1 [32, 32, C] / [28, 28, C] -> tanh

    image -> per domain: conv 5x5 valid [28, 28, 20] / [24, 24, 20] -> max-pool 2
    -> shared: conv 5x5 valid [10, 10, 50] / [8, 8, 50] -> max-pool 2 -> flatten
    -> Dense 500 -> PReLU -> Dense 1 (one logit)

Layer 1 of the generator is a fully connected layer to 4x4x1024 (a 4x4
fractionally-strided convolution of a 1x1 input is the same map; the authors'
Caffe code writes it as an InnerProduct plus Reshape). At image_size 28 the
up-convolutions reproduce the authors' geometry exactly: a "valid" transposed
convolution followed by a one-pixel crop on every side is Caffe's/PyTorch's
``pad=1`` (4 -> 7 -> 13 -> 25 -> 28). At image_size 32 they use "same" padding
(4 -> 8 -> 16 -> 32 -> 32): same kernels, same weights, different border.

Details from the authors' Caffe code: batch normalisation without a scale,
followed by a learned offset (Keras: ``BatchNormalization(scale=False)``);
PReLU with one slope per channel starting at 0.25; no activation between
the discriminator's convolutions and their max-pooling; zero biases.
Weights: Xavier uniform with gain sqrt(2) (variance 2 / fan_avg), the
initialisation of the authors' PyTorch code (`_Seeds.kernel`). The Caffe code's
He ("msra") normal takes a transposed convolution's outputs as its fan-in, so
the last generator layer (6x6, 1 output, 128 inputs) starts 8-11 times too
large and the tanh saturates; trained from it, the discriminators win within a
few hundred steps and every z gives the same texture (README, deviations).

Deviations (also in the README): tanh instead of sigmoid output, because the
suite's images are in [-1, 1] (tanh(x) = 2 sigmoid(2x) - 1, the same family);
one logit and the sigmoid inside the loss instead of a sigmoid output (same
function, numerically stable); the layers followed by batch normalisation
have no bias (the batch norm's offset replaces it; Caffe's code has both,
which is redundant); the Caffe code's dropout (0.5) after FC-500 is left out,
as in the paper's table and the authors' PyTorch code.

`config.width_divisor` > 1 divides every hidden width (small networks for
tests); 1 is the paper's network.

Mixed precision: the logit layers and the tanh outputs run in float32.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from apps.cogan.config import CoGANConfig

__all__ = ["CoupledNetworks", "build_networks", "GENERATOR_WIDTHS"]

GENERATOR_WIDTHS = (1024, 512, 256, 128)  # layers 1-4 of the paper's generator
DISCRIMINATOR_WIDTHS = (20, 50, 500)  # conv 1, conv 2, FC


@dataclasses.dataclass(frozen=True)
class CoupledNetworks:
    """The coupled networks; shared parts are the same objects inside both domain networks.

    Attributes:
      generator: z -> [images_a, images_b], the shared layers run once (training uses it).
      generator_a, generator_b: z -> images of one domain.
      discriminator_a, discriminator_b: images of one domain -> logits [B, 1].
      shared_generator: z -> features, layers 1-4 of both generators.
      shared_discriminator: first-layer features -> logits, layers 2-4 of both discriminators.
    """

    generator: keras.Model
    generator_a: keras.Model
    generator_b: keras.Model
    discriminator_a: keras.Model
    discriminator_b: keras.Model
    shared_generator: keras.Model
    shared_discriminator: keras.Model


class _Seeds:
    """One integer seed per initializer: the same config builds the same weights."""

    def __init__(self, config: CoGANConfig, offset: int):
        self.next_seed = config.seed * 1000 + offset

    def kernel(self):
        """Xavier (Glorot) uniform with gain sqrt(2), the authors' PyTorch initialisation.

        Variance 2 / fan_avg, fan_avg = receptive field * (inputs + outputs) / 2,
        which is symmetric in the two channel axes, so it is the same for a
        convolution's [k, k, in, out] and a transposed convolution's [k, k, out, in]
        kernel. He ("msra") normal counts a transposed convolution's outputs as its
        fan-in (Keras and Caffe alike): the generator's last layer then starts with
        pre-tanh values of standard deviation about 5-9 and most pixels saturated.
        """
        self.next_seed += 1
        return keras.initializers.VarianceScaling(2.0, mode="fan_avg", distribution="uniform", seed=self.next_seed)


def _up_conv(config, filters, kernel_size, strides, seeds, name, use_bias):
    """A fractionally-strided convolution with Caffe's pad=1 at 28x28, "same" padding at 32x32."""
    padding = "valid" if config.image_size == 28 else "same"
    conv = layers.Conv2DTranspose(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                                  kernel_initializer=seeds.kernel(), name=name)
    if config.image_size == 28:
        return [conv, layers.Cropping2D(1, name=f"{name}_crop")]
    return [conv]


def _prelu(config, name):
    return layers.PReLU(alpha_initializer=keras.initializers.Constant(config.prelu_init), shared_axes=[1, 2],
                        name=name)


def _batch_norm(config, name):
    return layers.BatchNormalization(momentum=config.bn_momentum, epsilon=config.bn_epsilon, scale=False,
                                     synchronized=config.sync_batch_norm, name=name)


def _shared_generator(config: CoGANConfig) -> keras.Model:
    seeds = _Seeds(config, offset=0)
    first = config.width(GENERATOR_WIDTHS[0])
    stack = [
        keras.Input((config.latent_dim,), name="z"),
        layers.Dense(4 * 4 * first, use_bias=False, kernel_initializer=seeds.kernel(), name="fc1"),
        layers.Reshape((4, 4, first), name="reshape"),
        _batch_norm(config, "bn1"),
        _prelu(config, "prelu1"),
    ]
    for index, filters in enumerate(GENERATOR_WIDTHS[1:], start=2):
        stack += _up_conv(config, config.width(filters), 3, 2, seeds, f"up{index}", use_bias=False)
        stack += [_batch_norm(config, f"bn{index}"), _prelu(config, f"prelu{index}")]
    return keras.Sequential(stack, name="shared_generator")


def _generator_head(config: CoGANConfig, domain: str, offset: int) -> keras.Model:
    seeds = _Seeds(config, offset=offset)
    stack = [keras.Input(_shared_generator_output_shape(config), name="features")]
    stack += _up_conv(config, config.channels, 6, 1, seeds, f"up5_{domain}", use_bias=True)
    stack.append(layers.Activation("tanh", dtype="float32", name=f"tanh_{domain}"))
    return keras.Sequential(stack, name=f"generator_head_{domain}")


def _shared_generator_output_shape(config: CoGANConfig) -> tuple:
    side = 25 if config.image_size == 28 else 32
    return (side, side, config.width(GENERATOR_WIDTHS[-1]))


def _discriminator_stem(config: CoGANConfig, domain: str, offset: int) -> keras.Model:
    seeds = _Seeds(config, offset=offset)
    return keras.Sequential([
        keras.Input((config.image_size, config.image_size, config.channels), name="images"),
        layers.Conv2D(config.width(DISCRIMINATOR_WIDTHS[0]), 5, kernel_initializer=seeds.kernel(),
                      name=f"conv1_{domain}"),
        layers.MaxPooling2D(2, name=f"pool1_{domain}"),
    ], name=f"discriminator_stem_{domain}")


def _shared_discriminator(config: CoGANConfig) -> keras.Model:
    seeds = _Seeds(config, offset=600)
    side = (config.image_size - 4) // 2
    return keras.Sequential([
        keras.Input((side, side, config.width(DISCRIMINATOR_WIDTHS[0])), name="features"),
        layers.Conv2D(config.width(DISCRIMINATOR_WIDTHS[1]), 5, kernel_initializer=seeds.kernel(), name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(config.width(DISCRIMINATOR_WIDTHS[2]), kernel_initializer=seeds.kernel(), name="fc3"),
        layers.PReLU(alpha_initializer=keras.initializers.Constant(config.prelu_init), name="prelu3"),
        layers.Dense(1, kernel_initializer=seeds.kernel(), dtype="float32", name="logits"),
    ], name="shared_discriminator")


def build_networks(config: CoGANConfig) -> CoupledNetworks:
    """The coupled generators and discriminators of the module docstring."""
    shared_generator = _shared_generator(config)
    head_a = _generator_head(config, "a", offset=300)
    head_b = _generator_head(config, "b", offset=400)
    z = keras.Input((config.latent_dim,), name="z")
    features = shared_generator(z)
    generator = keras.Model(z, [head_a(features), head_b(features)], name="generator")
    z_a = keras.Input((config.latent_dim,), name="z")
    generator_a = keras.Model(z_a, head_a(shared_generator(z_a)), name="generator_a")
    z_b = keras.Input((config.latent_dim,), name="z")
    generator_b = keras.Model(z_b, head_b(shared_generator(z_b)), name="generator_b")

    shared_discriminator = _shared_discriminator(config)
    discriminators = []
    for domain, offset in (("a", 500), ("b", 550)):
        stem = _discriminator_stem(config, domain, offset)
        images = keras.Input((config.image_size, config.image_size, config.channels), name="images")
        discriminators.append(keras.Model(images, shared_discriminator(stem(images)), name=f"discriminator_{domain}"))
    return CoupledNetworks(generator, generator_a, generator_b, *discriminators, shared_generator,
                           shared_discriminator)
