"""WGAN generator and critic (Arjovsky et al. 2017, https://arxiv.org/abs/1701.07875, section 4).

The paper's image experiments use the DCGAN architecture for both networks;
the critic is the DCGAN discriminator without the sigmoid. Both are built by
`apps.dcgan.networks` from ``config.dcgan_config()``; see that module for the
layer-by-layer shapes. The DCGAN discriminator already ends in a linear,
float32 score (the losses there take logits), so it is the critic as is.

Deviations from the paper: none in the architecture. The weight clipping is
not part of the network: `apps.wgan.model.WGAN` puts a clipping constraint on
the critic's variables (`common.models.critic_training.clip_weights`).
"""

from __future__ import annotations

import keras

from apps.dcgan import networks as dcgan_networks
from apps.wgan.config import WGANConfig

__all__ = ["build_generator", "build_critic"]


def build_generator(config: WGANConfig) -> keras.Model:
    """The DCGAN generator: z [B, latent_dim] -> images [B, size, size, channels] in [-1, 1], float32."""
    return dcgan_networks.build_generator(config.dcgan_config())


def build_critic(config: WGANConfig) -> keras.Model:
    """The DCGAN discriminator as a critic: images -> unbounded float32 scores [B, 1]."""
    return dcgan_networks.build_discriminator(config.dcgan_config())
