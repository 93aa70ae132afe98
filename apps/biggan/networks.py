"""BigGAN and BigGAN-deep generators and projection discriminators (Brock et al. 2019,
https://arxiv.org/abs/1809.11096), built by `common.nn.biggan_networks` at the widths,
attention sides and initialisation of `apps.biggan.config` (its docstring has the layouts).

- standard G: z split into len(widths) chunks (hierarchical z) -> chunk 0 -> SN Dense
  [4x4 x 16ch] -> residual up-blocks whose conditional BNs take gain 1 + W_g c and
  bias W_b c from c = [E(y), chunk i] (E the shared class embedding, not spectrally
  normalised; W_g, W_b SN linear layers without bias) -> self-attention at 64x64
  -> BN -> ReLU -> SN conv 3x3 -> tanh. D: SAGAN's projection discriminator.
- deep G: c = [E(y), z] into the first SN Dense and every conditional BN; two
  bottleneck blocks per resolution (1x1 to a quarter of the width, two 3x3, 1x1
  back), the shortcut keeping the first channels where the width drops. D: an input
  SN conv 3x3, then two bottleneck blocks per resolution, the shortcut concatenating
  an SN 1x1 convolution of the input where the width grows; the projection head.

Initialisation: orthogonal (imagenet128, the reference's ImageNet scripts' ``--G_init
ortho --D_init ortho``) or N(0, 0.02) (cifar32, ``--G_init N02``), biases PyTorch's
default, spectral-norm vectors u ~ N(0, 1); each initialiser has its own seed counted
from ``seed``, so the same config builds the same weights.
"""

from __future__ import annotations

import keras

from apps.biggan.config import BigGANConfig
from common.nn import biggan_networks

__all__ = ["build_discriminator", "build_generator"]


def _initializers(config: BigGANConfig, offset: int):
    if config.layout.initialization == "orthogonal":
        return biggan_networks.OrthogonalInitializers(config.seed, offset)
    return biggan_networks.BigGANInitializers(config.seed, offset, stddev=0.02)


def build_generator(config: BigGANConfig, initializers=None) -> keras.Model:
    """[z [B, latent_dim], labels [B]] -> images [B, size, size, channels] in [-1, 1], float32.

    ``initializers`` replaces the architecture's (`common.nn.biggan_networks` interface), e.g. a cheaper one
    where only the shapes matter.
    """
    common = dict(image_size=config.image_size, channels=config.channels, latent_dim=config.latent_dim,
                  num_classes=config.num_classes, generator_widths=config.generator_widths,
                  bn_momentum=config.bn_momentum, bn_epsilon=config.bn_epsilon,
                  sync_batch_norm=config.sync_batch_norm, attention_resolution=config.g_attention_resolution,
                  initializers=initializers or _initializers(config, 0), shared_dim=config.shared_dim)
    if config.variant == "deep":
        return biggan_networks.build_deep_generator(**common)
    return biggan_networks.build_generator(**common, hierarchical=config.hierarchical_z)


def build_discriminator(config: BigGANConfig, initializers=None) -> keras.Model:
    """[images [B, size, size, channels], labels [B]] -> logits [B, 1], float32; ``initializers`` as in
    `build_generator`."""
    build = (biggan_networks.build_deep_projection_discriminator if config.variant == "deep"
             else biggan_networks.build_projection_discriminator)
    return build(image_size=config.image_size, channels=config.channels, num_classes=config.num_classes,
                 discriminator_widths=config.discriminator_widths,
                 discriminator_downsamples=config.discriminator_downsamples,
                 attention_resolution=config.d_attention_resolution,
                 initializers=initializers or _initializers(config, 500))
