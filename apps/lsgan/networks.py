"""LSGAN generator and discriminator (Mao et al. 2017, https://arxiv.org/abs/1611.04076, Figure 3).

Generator, 64x64 RGB with the defaults (z of 1024, ``base_filters=64``; shapes
without the batch axis; "deconv" is a 3x3 transposed convolution):

    z [1024] -> Dense (project) -> reshape [4, 4, 256] -> BN -> ReLU
    -> deconv /2 [8, 8, 256]   -> BN -> ReLU     (pair 1)
    -> deconv /1 [8, 8, 256]   -> BN -> ReLU
    -> deconv /2 [16, 16, 256] -> BN -> ReLU     (pair 2)
    -> deconv /1 [16, 16, 256] -> BN -> ReLU
    -> deconv /2 [32, 32, 128] -> BN -> ReLU
    -> deconv /2 [64, 64, 64]  -> BN -> ReLU
    -> deconv /1 [64, 64, 3]   -> tanh

Figure 3 is this list with a 7x7 projection (112x112 LSUN scenes; ``image_size=112``).
Smaller images drop pairs from the front: 32x32 (4x4 projection) has pair 2
only, 28x28 (7x7 projection) neither.

Discriminator (all sizes):

    image -> conv 5x5/2 [64] -> LeakyReLU(0.2)
    -> conv 5x5/2 [128] -> BN -> LeakyReLU
    -> conv 5x5/2 [256] -> BN -> LeakyReLU
    -> conv 5x5/2 [512] -> BN -> LeakyReLU
    -> flatten -> Dense [1]: the raw output the least-squares losses compare with a, b, c

"same" padding throughout (64x64: 32-16-8-4; 28x28: 14-7-4-2).

Details the paper leaves open follow DCGAN (Radford et al. 2015), which the
paper's networks are derived from: weights N(0, 0.02); no batch normalisation on
the discriminator's input layer nor the generator's output; no biases in layers
followed by batch normalisation (its offset is the bias); biases in the
discriminator's first convolution, the generator's output layer and the logit.

Mixed precision: the discriminator's output layer and the generator's tanh run
in float32. Each initialiser has its own integer seed derived from ``config.seed``.
"""

from __future__ import annotations

import keras
from keras import layers

from apps.lsgan.config import LSGANConfig
from common.nn.layers import MaximumLeakyReLU

__all__ = ["build_generator", "build_discriminator", "generator_layers"]


def generator_layers(config: LSGANConfig) -> list[tuple[int, int]]:
    """(filters, stride) of the generator's hidden transposed convolutions, in order."""
    wide = 4 * config.base_filters  # 256
    pairs = [(wide, 2), (wide, 1)] * 2  # Figure 3: two stride-2 / stride-1 pairs
    drop = 2 * (4 - config.num_upsamplings)
    return pairs[drop:] + [(2 * config.base_filters, 2), (config.base_filters, 2)]


class _Seeds:
    def __init__(self, config: LSGANConfig, offset: int):
        self.config = config
        self.next_seed = config.seed * 1000 + offset

    def kernel(self):
        self.next_seed += 1
        return keras.initializers.RandomNormal(0.0, self.config.init_stddev, seed=self.next_seed)


def _batch_norm(config: LSGANConfig, name: str):
    return layers.BatchNormalization(momentum=config.bn_momentum, epsilon=config.bn_epsilon,
                                     synchronized=config.sync_batch_norm, name=name)


def build_generator(config: LSGANConfig) -> keras.Model:
    """The LSGAN generator: z [B, latent_dim] -> images [B, size, size, channels] in [-1, 1], float32."""
    seeds = _Seeds(config, offset=0)
    start, wide = config.start_size, 4 * config.base_filters
    z = keras.Input((config.latent_dim,), name="z")
    x = layers.Dense(start * start * wide, use_bias=False, kernel_initializer=seeds.kernel(), name="project")(z)
    x = layers.Reshape((start, start, wide), name="reshape")(x)
    x = _batch_norm(config, "project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    for index, (filters, stride) in enumerate(generator_layers(config), start=1):
        x = layers.Conv2DTranspose(filters, 3, strides=stride, padding="same", use_bias=False,
                                   kernel_initializer=seeds.kernel(), name=f"deconv{index}")(x)
        x = _batch_norm(config, f"deconv{index}_bn")(x)
        x = layers.ReLU(name=f"deconv{index}_relu")(x)
    x = layers.Conv2DTranspose(config.channels, 3, strides=1, padding="same", kernel_initializer=seeds.kernel(),
                               name="output")(x)
    images = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(z, images, name="generator")


def build_discriminator(config: LSGANConfig) -> keras.Model:
    """The LSGAN discriminator: images [B, size, size, channels] -> outputs [B, 1], float32."""
    seeds = _Seeds(config, offset=500)
    images = keras.Input((config.image_size, config.image_size, config.channels), name="images")
    x = images
    for block in range(1, 5):
        first = block == 1  # no batch normalisation on the input layer (DCGAN)
        x = layers.Conv2D(config.base_filters * 2 ** (block - 1), 5, strides=2, padding="same", use_bias=first,
                          kernel_initializer=seeds.kernel(), name=f"conv{block}")(x)
        if not first:
            x = _batch_norm(config, f"conv{block}_bn")(x)
        leaky_relu = MaximumLeakyReLU if first else layers.LeakyReLU  # after the biased conv: see its docstring
        x = leaky_relu(negative_slope=config.leaky_relu_slope, name=f"conv{block}_lrelu")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(1, kernel_initializer=seeds.kernel(), dtype="float32", name="logits")(x)
    return keras.Model(images, outputs, name="discriminator")
