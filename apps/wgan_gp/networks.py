"""WGAN-GP generator and critic (Gulrajani et al. 2017, https://arxiv.org/abs/1704.00028).

Generator: the DCGAN generator (`apps.dcgan.networks.build_generator`, batch
normalisation included, as in the paper's DCGAN-style experiments).

Critic, 64x64 RGB with the defaults (shapes without the batch axis):

    image [64, 64, 3] -> conv 4x4/2 [32, 32, 64] -> LeakyReLU(0.2)
    -> conv 4x4/2 [16, 16, 128] -> LN -> LeakyReLU
    -> conv 4x4/2 [8, 8, 256] -> LN -> LeakyReLU
    -> conv 4x4/2 [4, 4, 512] -> LN -> LeakyReLU
    -> flatten -> Dense [1]: an unbounded float32 score

LN is layer normalisation over height, width and channels of each example with
a scale and an offset per channel (`keras.layers.GroupNormalization(groups=1)`),
as the authors' `lib.ops.layernorm`; ``critic_normalization="none"`` leaves it
out. No batch normalisation: the penalty is a per-example gradient, which batch
statistics would couple across examples (section 4).

Deviations: 4x4 kernels (the DCGAN layout of `apps.dcgan`) where the authors'
code uses 5x5, and N(0, 0.02) initial weights instead of their He/Glorot
uniform ones. Convolutions followed by layer normalisation have no bias (the
offset replaces it); the others have one.
"""

from __future__ import annotations

import keras
from keras import layers

from apps.dcgan import networks as dcgan_networks
from apps.wgan_gp.config import WGANGPConfig
from common.nn.layers import MaximumLeakyReLU

__all__ = ["build_generator", "build_critic"]


def build_generator(config: WGANGPConfig) -> keras.Model:
    """The DCGAN generator: z [B, latent_dim] -> images [B, size, size, channels] in [-1, 1], float32."""
    return dcgan_networks.build_generator(config.dcgan_config())


def build_critic(config: WGANGPConfig) -> keras.Model:
    """The critic: images [B, size, size, channels] -> scores [B, 1], float32; no batch statistics."""
    next_seed = iter(range(config.seed * 1000 + 700, config.seed * 1000 + 800))

    def kernel():
        return keras.initializers.RandomNormal(0.0, config.init_stddev, seed=next(next_seed))

    images = keras.Input((config.image_size, config.image_size, config.channels), name="images")
    x = images
    filters = config.base_filters
    for block in range(1, config.dcgan_config().num_upsamplings + 1):
        normalize = block > 1 and config.critic_normalization == "layer"
        x = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=not normalize,
                          kernel_initializer=kernel(), name=f"down{block}")(x)
        if normalize:
            x = layers.GroupNormalization(groups=1, epsilon=1e-5, name=f"down{block}_ln")(x)
        leaky_relu = layers.LeakyReLU if normalize else MaximumLeakyReLU  # after a biased conv: see its docstring
        x = leaky_relu(negative_slope=config.leaky_relu_slope, name=f"down{block}_lrelu")(x)
        filters *= 2
    x = layers.Flatten(name="flatten")(x)
    scores = layers.Dense(1, kernel_initializer=kernel(), dtype="float32", name="scores")(x)
    return keras.Model(images, scores, name="critic")
