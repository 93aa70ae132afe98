"""ADC-GAN generator and discriminator: a backbone with a 2K-way classifier head.

The networks are the shared auxiliary-classifier backbone
(`common.nn.auxiliary_classifier_networks`, AC-GAN's CIFAR-10 networks) with
``backbone="acgan"``, or BigGAN-PyTorch's CIFAR-10 ResNets
(`common.nn.biggan_networks`, the reference code's) with ``backbone="biggan"``;
each module's docstring has its architecture. The discriminator returns ``[source logits
[B, 1], classifier logits [B, 2K]]``: output k is "real image of class k",
output K + k "generated image of class k" (Hou et al. 2022, section 3). The
reference code orders them 2k and 2k + 1; a fixed permutation of the head's
units, the same function.
"""

from __future__ import annotations

import keras

from apps.adcgan.config import ADCGANConfig
from common.nn import auxiliary_classifier_networks as backbone
from common.nn import biggan_networks

__all__ = ["build_discriminator", "build_generator"]


def build_generator(config: ADCGANConfig) -> keras.Model:
    """[z [B, latent_dim], labels [B]] -> images [B, size, size, channels] in [-1, 1]."""
    if config.backbone == "biggan":
        return biggan_networks.build_generator(
            image_size=config.image_size, channels=config.channels, latent_dim=config.latent_dim,
            num_classes=config.num_classes, generator_widths=config.biggan_generator_widths,
            init_stddev=config.init_stddev, bn_momentum=config.bn_momentum, bn_epsilon=config.bn_epsilon,
            sync_batch_norm=config.sync_batch_norm, seed=config.seed)
    return backbone.build_generator(
        image_size=config.image_size, channels=config.channels, latent_dim=config.latent_dim,
        num_classes=config.num_classes, generator_filters=config.generator_filters,
        init_stddev=config.init_stddev, bn_momentum=config.bn_momentum, bn_epsilon=config.bn_epsilon,
        sync_batch_norm=config.sync_batch_norm, seed=config.seed)


def build_discriminator(config: ADCGANConfig) -> keras.Model:
    """images -> [source logits [B, 1], classifier logits [B, 2 * num_classes]]."""
    if config.backbone == "biggan":
        return biggan_networks.build_discriminator(
            image_size=config.image_size, channels=config.channels, class_outputs=2 * config.num_classes,
            discriminator_widths=config.biggan_discriminator_widths,
            discriminator_downsamples=config.biggan_discriminator_downsamples, init_stddev=config.init_stddev,
            seed=config.seed)
    return backbone.build_discriminator(
        image_size=config.image_size, channels=config.channels, class_outputs=2 * config.num_classes,
        discriminator_filters=config.discriminator_filters, discriminator_strides=config.discriminator_strides,
        dropout=config.dropout, leaky_relu_slope=config.leaky_relu_slope, init_stddev=config.init_stddev,
        bn_momentum=config.bn_momentum, bn_epsilon=config.bn_epsilon, sync_batch_norm=config.sync_batch_norm,
        seed=config.seed)
