"""AC-GAN generator and discriminator (Odena et al. 2017, https://arxiv.org/abs/1610.09585, appendix).

The networks are the shared auxiliary-classifier backbone
(`common.nn.auxiliary_classifier_networks`, architecture in its docstring),
with K class logits: the discriminator returns ``[source logits [B, 1], class
logits [B, K]]``, the paper's 1 + K output units. ADC-GAN builds the same
networks with 2K class logits.
"""

from __future__ import annotations

import keras

from apps.acgan.config import ACGANConfig
from common.nn import auxiliary_classifier_networks as backbone

__all__ = ["build_discriminator", "build_generator"]


def build_generator(config: ACGANConfig) -> keras.Model:
    """[z [B, latent_dim], labels [B]] -> images [B, size, size, channels] in [-1, 1]."""
    return backbone.build_generator(
        image_size=config.image_size, channels=config.channels, latent_dim=config.latent_dim,
        num_classes=config.num_classes, generator_filters=config.generator_filters,
        init_stddev=config.init_stddev, bn_momentum=config.bn_momentum, bn_epsilon=config.bn_epsilon,
        sync_batch_norm=config.sync_batch_norm, seed=config.seed)


def build_discriminator(config: ACGANConfig) -> keras.Model:
    """images -> [source logits [B, 1], class logits [B, num_classes]]."""
    return backbone.build_discriminator(
        image_size=config.image_size, channels=config.channels, class_outputs=config.num_classes,
        discriminator_filters=config.discriminator_filters, discriminator_strides=config.discriminator_strides,
        dropout=config.dropout, leaky_relu_slope=config.leaky_relu_slope, init_stddev=config.init_stddev,
        bn_momentum=config.bn_momentum, bn_epsilon=config.bn_epsilon, sync_batch_norm=config.sync_batch_norm,
        seed=config.seed)
