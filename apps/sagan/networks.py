"""SAGAN generator and discriminator (Zhang et al. 2019, https://arxiv.org/abs/1805.08318).

Both are `common.nn.biggan_networks`' residual networks with a self-attention
block (`common.nn.attention.SelfAttention`), at the widths and attention sides
of `apps.sagan.config` (its docstring has both architectures):

- G: z -> SN Dense [4x4 x widths[0]] -> up-blocks (conditional BN -> ReLU ->
  nearest 2x upsample -> SN conv 3x3 -> conditional BN -> ReLU -> SN conv 3x3,
  plus an SN 1x1 shortcut), self-attention after the block whose output has
  ``g_attention`` pixels a side -> BN -> ReLU -> SN conv 3x3 -> tanh. The class
  enters through the conditional BN only: per-class gain and bias [K, C].
- D: residual blocks (the first without the leading ReLU, average pooling in
  the first ``discriminator_downsamples``), self-attention after the block
  whose output has ``d_attention`` pixels a side -> ReLU -> sum over H, W: phi
  -> ``SN Dense [1](phi) + <SN Embedding(y), phi>``, the projection
  discriminator (Miyato & Koyama 2018).

Every convolution, linear layer and the class embedding of D is spectrally
normalised, one power step per call. Initialisation is the reference code's
(`ops.py`, `non_local.py`): Glorot-uniform ("Xavier") kernels and embedding,
zero biases, conditional-BN gains 1 and biases 0, spectral-norm vectors u drawn
from a truncated N(0, 1) (TF1's ``truncated_normal_initializer()``), gamma 0.
Each initialiser has its own integer seed counted from ``seed``, so the same
config builds the same weights.
"""

from __future__ import annotations

import keras

from apps.sagan.config import SAGANConfig
from common.nn import biggan_networks

__all__ = ["XavierInitializers", "build_discriminator", "build_generator"]


class XavierInitializers:
    """The reference code's initialisers, in the interface `common.nn.biggan_networks` builders take.

    Each seeded initialiser gets its own integer seed, counted from ``seed * 1000 + offset``.
    """

    def __init__(self, seed: int, offset: int):
        self.next_seed = seed * 1000 + offset

    def _seed(self) -> int:
        self.next_seed += 1
        return self.next_seed

    def weight(self):
        """Glorot uniform: TF1's ``xavier_initializer()`` (uniform, fan average)."""
        return keras.initializers.GlorotUniform(seed=self._seed())

    def bias(self, fan_in: int):
        """Zeros (``tf.zeros_initializer()``) whatever the fan-in."""
        return keras.initializers.Zeros()

    def vector(self):
        """Truncated N(0, 1): the spectral-norm vector u."""
        return keras.initializers.TruncatedNormal(0.0, 1.0, seed=self._seed())

    def class_gain(self):
        """Ones: conditional BN's per-class gain."""
        return keras.initializers.Ones()

    def class_bias(self):
        """Zeros: conditional BN's per-class bias."""
        return keras.initializers.Zeros()


def build_generator(config: SAGANConfig) -> keras.Model:
    """[z [B, latent_dim], labels [B]] -> images [B, size, size, channels] in [-1, 1], float32."""
    return biggan_networks.build_generator(
        image_size=config.image_size, channels=config.channels, latent_dim=config.latent_dim,
        num_classes=config.num_classes, generator_widths=config.generator_widths, bn_momentum=config.bn_momentum,
        bn_epsilon=config.bn_epsilon, sync_batch_norm=config.sync_batch_norm,
        attention_resolution=config.g_attention_resolution, initializers=XavierInitializers(config.seed, 0))


def build_discriminator(config: SAGANConfig) -> keras.Model:
    """[images [B, size, size, channels], labels [B]] -> logits [B, 1], float32."""
    return biggan_networks.build_projection_discriminator(
        image_size=config.image_size, channels=config.channels, num_classes=config.num_classes,
        discriminator_widths=config.discriminator_widths, discriminator_downsamples=config.discriminator_downsamples,
        attention_resolution=config.d_attention_resolution, initializers=XavierInitializers(config.seed, 500))
