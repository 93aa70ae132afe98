"""CycleGAN networks (Zhu et al. 2017, https://arxiv.org/abs/1703.10593, appendix 7.2).

Two ResNet generators, G: A -> B and F: B -> A, and two 70x70 PatchGAN
discriminators, D_A (real A vs F(b)) and D_B (real B vs G(a)); the layers,
shapes and parameter counts are in `common.nn.translation_networks`. Each network gets its
own range of weight seeds, so the same config builds the same four networks.

Deviations: none (see `common.nn.translation_networks`).
"""

from __future__ import annotations

import keras

from apps.cyclegan.config import CycleGANConfig
from common.nn.translation_networks import build_patch_discriminator, build_resnet_generator

__all__ = ["build_generator", "build_discriminator"]

_SEED_STRIDE = 1000  # layers per network stay far below this


def build_generator(config: CycleGANConfig, name: str = "generator", index: int = 0) -> keras.Model:
    """A ResNet generator images -> images in [-1, 1], fully convolutional (H, W multiples of 4)."""
    return build_resnet_generator(channels=config.channels, base_filters=config.base_filters,
                                  num_residual_blocks=config.resolved_residual_blocks,
                                  seed=config.seed * 10 * _SEED_STRIDE + index * _SEED_STRIDE, name=name)


def build_discriminator(config: CycleGANConfig, name: str = "discriminator", index: int = 0) -> keras.Model:
    """A PatchGAN discriminator images -> float32 scores [B, H', W', 1] (no sigmoid: least-squares loss)."""
    return build_patch_discriminator(channels=config.channels, base_filters=config.base_filters,
                                     num_layers=config.discriminator_layers,
                                     seed=config.seed * 10 * _SEED_STRIDE + (2 + index) * _SEED_STRIDE, name=name)
