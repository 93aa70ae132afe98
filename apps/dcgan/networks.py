"""DCGAN generator and discriminator (Radford et al. 2015, https://arxiv.org/abs/1511.06434, fig. 1).

Generator, 64x64 RGB with the defaults (shapes without the batch axis):

    z [100] -> Dense (project) -> reshape [4, 4, 512] -> BN -> ReLU
    -> up-conv 4x4/2 [8, 8, 256] -> BN -> ReLU
    -> up-conv 4x4/2 [16, 16, 128] -> BN -> ReLU
    -> up-conv 4x4/2 [32, 32, 64] -> BN -> ReLU
    -> up-conv 4x4/2 [64, 64, 3] -> tanh

Discriminator, the mirror image:

    image [64, 64, 3] -> conv 4x4/2 [32, 32, 64] -> LeakyReLU(0.2)
    -> conv 4x4/2 [16, 16, 128] -> BN -> LeakyReLU
    -> conv 4x4/2 [8, 8, 256] -> BN -> LeakyReLU
    -> conv 4x4/2 [4, 4, 512] -> BN -> LeakyReLU
    -> flatten -> Dense [1]: one logit (no sigmoid; the losses take logits)

Other sizes add or remove one stride-2 block per factor of two; the widest layer
has ``base_filters * image_size / 8`` channels. "up-conv" is
`common.nn.layers.SubPixelConv2DTranspose` or `keras.layers.Conv2DTranspose`
(``config.upsample``): the same function and weights.

Deviations from the paper: none in the architecture. Details it leaves open
follow the reference code (soumith/dcgan.torch): no biases in convolutions and
in the projection (batch normalisation follows each of them; the output layers
have none either), N(0, 0.02) weights, N(1, 0.02) batch-norm scales. The
projection is a Dense layer plus reshape, as in the paper's text; the reference
code's 4x4 full convolution of a 1x1 input is the same map with the same number
of weights, and so is its last 4x4 valid convolution compared to our
flatten + Dense.

Mixed precision: the discriminator's logit layer and the generator's final tanh
run in float32 (``dtype="float32"``), so logits and images leave the networks
in float32 whatever the policy: the losses need float32 logits, and exported
samples and the discriminator's input do not depend on the policy.

Initialisers get one integer seed each (``config.seed`` plus the layer's
position, generator and discriminator in separate ranges), so the same config
builds the same weights without touching global random state.
"""

from __future__ import annotations

import keras
from keras import layers

from apps.dcgan.config import DCGANConfig
from common.nn.layers import SubPixelConv2DTranspose

__all__ = ["build_generator", "build_discriminator"]


class _Initializers:
    """N(0, s) weights and N(1, s) batch-norm scales, each with its own integer seed."""

    def __init__(self, config: DCGANConfig, offset: int):
        self.config = config
        self.next_seed = config.seed * 1000 + offset

    def _seed(self):
        self.next_seed += 1
        return self.next_seed

    def kernel(self):
        return keras.initializers.RandomNormal(0.0, self.config.init_stddev, seed=self._seed())

    def gamma(self):
        return keras.initializers.RandomNormal(1.0, self.config.bn_gamma_stddev, seed=self._seed())


def _batch_norm(config: DCGANConfig, init: _Initializers, name: str):
    return layers.BatchNormalization(
        momentum=config.bn_momentum,
        epsilon=config.bn_epsilon,
        gamma_initializer=init.gamma(),
        synchronized=config.sync_batch_norm,
        name=name,
    )


def _up_conv(config: DCGANConfig, filters: int, init: _Initializers, name: str):
    layer_class = SubPixelConv2DTranspose if config.upsample == "subpixel" else layers.Conv2DTranspose
    return layer_class(
        filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=init.kernel(), name=name
    )


def build_generator(config: DCGANConfig) -> keras.Model:
    """The DCGAN generator: z [B, latent_dim] -> images [B, size, size, channels] in [-1, 1], float32."""
    init = _Initializers(config, offset=0)
    blocks = config.num_upsamplings
    filters = config.base_filters * 2 ** (blocks - 1)  # 512 at 64x64
    z = keras.Input((config.latent_dim,), name="z")
    x = layers.Dense(4 * 4 * filters, use_bias=False, kernel_initializer=init.kernel(), name="project")(z)
    x = layers.Reshape((4, 4, filters), name="reshape")(x)
    x = _batch_norm(config, init, "project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    for block in range(1, blocks):
        filters //= 2
        x = _up_conv(config, filters, init, f"up{block}")(x)
        x = _batch_norm(config, init, f"up{block}_bn")(x)
        x = layers.ReLU(name=f"up{block}_relu")(x)
    x = _up_conv(config, config.channels, init, f"up{blocks}")(x)
    images = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(z, images, name="generator")


def build_discriminator(config: DCGANConfig) -> keras.Model:
    """The DCGAN discriminator: images [B, size, size, channels] -> logits [B, 1], float32."""
    init = _Initializers(config, offset=500)
    images = keras.Input((config.image_size, config.image_size, config.channels), name="images")
    x = images
    filters = config.base_filters
    for block in range(1, config.num_upsamplings + 1):
        x = layers.Conv2D(
            filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=init.kernel(),
            name=f"down{block}",
        )(x)
        if block > 1:  # no batch normalisation on the input layer (paper, section 3)
            x = _batch_norm(config, init, f"down{block}_bn")(x)
        x = layers.LeakyReLU(negative_slope=config.leaky_relu_slope, name=f"down{block}_lrelu")(x)
        filters *= 2
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(1, use_bias=False, kernel_initializer=init.kernel(), dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name="discriminator")
