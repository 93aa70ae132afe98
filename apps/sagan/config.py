"""Hyper-parameters of SAGAN (Zhang, Goodfellow, Metaxas & Odena 2019, "Self-Attention
Generative Adversarial Networks", ICML, https://arxiv.org/abs/1805.08318).

From the paper (sections 4 and 5): spectral normalisation in G and D;
conditional batch normalisation in G and a projection discriminator; the hinge
loss; Adam with beta_1 = 0 and beta_2 = 0.9, learning rates 1e-4 for G and 4e-4
for D (the two-timescale update rule, TTUR), one D update per G update;
self-attention blocks in both networks with C/8 query and key channels and a
learned scale gamma initialised to 0; 128x128 ImageNet images.

From the authors' reference code (github.com/brain-research/self-attention-gan,
`model.py`, `train_imagenet.py`, `generator.py`, `discriminator.py`, `ops.py`,
`non_local.py`), where the paper is silent: z of 128 dimensions; widths from
``gf_dim = df_dim = 64``; a global batch of 256 (64 on each of 4 GPUs); Adam's
epsilon 1e-8 (TF1's); batch-normalisation epsilon 1e-5 and decay 0.999;
batch statistics per GPU (``sync_batch_norm=False``); fresh z and labels for
each update (TF-GAN's sequential train hooks run the D and the G train ops
separately, ``reuse_fakes=False``); no generator moving average.

Two architectures (``architecture``), both `common.nn.biggan_networks`'
residual networks (the module docstring has the blocks):

- "imagenet128" (the default): the paper's 128x128 networks. G: z -> 4x4x16ch
  -> up-blocks to 16ch, 8ch, 4ch, 2ch, ch (8x8 -> 128x128); D: blocks to ch,
  2ch, 4ch, 8ch, 16ch (each halving, 128 -> 4) and 16ch (4x4). With ch = 64:
  G 1024-1024-512-256-128-64 and D 64-128-256-512-1024-1024, the reference
  code's ``generator_test`` and ``discriminator_test`` and BigGAN-PyTorch's
  ``arch[128]``. Self-attention on the 64x64 feature maps of G and D: the
  paper's final model (Table 1's "feat64" column is the abstract's IS 52.52 and
  FID 18.65; "feat32" scored FID 18.28, IS 51.43) and BigGAN-PyTorch's SAGAN
  script (``--G_attn 64 --D_attn 64``). The reference code puts it on the 32x32
  maps of both (after G's third block, 4ch wide, and D's second, 2ch):
  ``--g_attention=32 --d_attention=32``.
- "cifar32": 32x32 (CIFAR-10) networks, BigGAN-PyTorch's ``arch[32]``: G
  z -> 4x4x4ch -> three up-blocks of 4ch (8 -> 32); D four blocks of 4ch, the
  first two halving (32 -> 16 -> 8 -> 8 -> 8). Self-attention on the 16x16
  maps of G (after its second block) and D (after its first), PyTorch-StudioGAN's
  CIFAR-10 SAGAN configuration (``attn_g_loc: [2]``, ``attn_d_loc: [1]``). The
  optimisation settings stay the paper's.

Options beyond the paper: the non-saturating loss, attention elsewhere or
nowhere (0), other widths, ``d_steps`` > 1, gradient accumulation
(``accumulate`` > 1), a generator moving average,
synchronised batch statistics, grayscale.
"""

from __future__ import annotations

import dataclasses

from common.models.conditional_model import check_batch_split, check_fields
from common.nn import biggan_networks

__all__ = ["ARCHITECTURES", "LOSSES", "Architecture", "SAGANConfig"]

LOSSES = ("hinge", "non_saturating")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One network layout: widths as multiples of the base width ch, and where attention sits.

    Attributes:
      image_size: Height and width of the images.
      generator_multipliers: G's first map, then each up-block's output, in units of ``g_channels``.
      discriminator_multipliers: Each D block's output, in units of ``d_channels``.
      discriminator_downsamples: How many of the first D blocks halve the map.
      g_attention, d_attention: Side of the G and D block output the self-attention block follows.
    """

    image_size: int
    generator_multipliers: tuple[int, ...]
    discriminator_multipliers: tuple[int, ...]
    discriminator_downsamples: int
    g_attention: int
    d_attention: int


ARCHITECTURES = {
    "imagenet128": Architecture(image_size=128, generator_multipliers=(16, 16, 8, 4, 2, 1),
                                discriminator_multipliers=(1, 2, 4, 8, 16, 16), discriminator_downsamples=5,
                                g_attention=64, d_attention=64),
    "cifar32": Architecture(image_size=32, generator_multipliers=(4, 4, 4, 4),
                            discriminator_multipliers=(4, 4, 4, 4), discriminator_downsamples=2,
                            g_attention=16, d_attention=16),
}


@dataclasses.dataclass(frozen=True)
class SAGANConfig:
    """SAGAN hyper-parameters; the paper's 128x128 ImageNet defaults (module docstring for sources).

    Attributes:
      architecture: "imagenet128" (the paper's networks) or "cifar32" (32x32); `ARCHITECTURES`.
      channels: 3 (RGB) or 1 (grayscale).
      num_classes: K, the number of classes of the dataset's labels (ImageNet: 1000).
      latent_dim: Size of z.
      g_channels, d_channels: The base widths ch of G and D (BigGAN-PyTorch's ``G_ch``, ``D_ch``).
      g_attention, d_attention: Side of the G / D block output that a self-attention block follows;
        None: the architecture's (imagenet128: 64, cifar32: 16); 0: no attention.
      loss: Adversarial loss, "hinge" (the paper's) or "non_saturating".
      g_learning_rate, d_learning_rate: Adam learning rates of G and D (TTUR: 1e-4 and 4e-4).
      beta_1, beta_2, adam_epsilon: Adam, both networks.
      batch_size: Global mini-batch of real images per step.
      d_steps: D updates per G update (k); ``batch_size`` must be a multiple of it.
      accumulate: Micro-batches per update (N), whose gradients are averaged before each D and G update
        (`common.models.conditional_model`); ``batch_size`` must be a multiple of k * N.
      bn_momentum, bn_epsilon: G's batch normalisation (Keras momentum = TF1's decay).
      sync_batch_norm: Batch statistics of the global batch across replicas (False: per replica).
      ema_decay: Decay of the generator's moving average; 0 turns it off.
      reuse_fakes: The G update reuses the D update's z and labels (one D step only).
      seed: Seed of weights, latents and labels.
    """

    architecture: str = "imagenet128"
    channels: int = 3
    num_classes: int = 1000
    latent_dim: int = 128
    g_channels: int = 64
    d_channels: int = 64
    g_attention: int | None = None
    d_attention: int | None = None
    loss: str = "hinge"
    g_learning_rate: float = 1e-4
    d_learning_rate: float = 4e-4
    beta_1: float = 0.0
    beta_2: float = 0.9
    adam_epsilon: float = 1e-8
    batch_size: int = 256
    d_steps: int = 1
    accumulate: int = 1
    bn_momentum: float = 0.999
    bn_epsilon: float = 1e-5
    sync_batch_norm: bool = False
    ema_decay: float = 0.0
    reuse_fakes: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {self.architecture!r}.")
        check_fields(self, positive_ints=("num_classes", "latent_dim", "g_channels", "d_channels", "batch_size",
                                          "d_steps", "accumulate"),
                     positive=("g_learning_rate", "d_learning_rate", "adam_epsilon", "bn_epsilon"),
                     unit_interval=("beta_1", "beta_2", "bn_momentum"), losses_allowed=LOSSES)
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off); got {self.ema_decay!r}.")
        check_batch_split(self.batch_size, self.d_steps, self.accumulate, self.reuse_fakes)
        try:
            biggan_networks.check_generator_options(image_size=self.image_size, generator_widths=self.generator_widths,
                                                    attention_resolution=self.g_attention_resolution)
            biggan_networks.check_discriminator_options(
                image_size=self.image_size, discriminator_widths=self.discriminator_widths,
                discriminator_downsamples=self.discriminator_downsamples,
                attention_resolution=self.d_attention_resolution)
        except ValueError as error:
            raise ValueError(f"architecture={self.architecture} (--g_channels, --d_channels, --g_attention, "
                             f"--d_attention): {error}") from None

    @property
    def layout(self) -> Architecture:
        """The `Architecture` named by ``architecture``."""
        return ARCHITECTURES[self.architecture]

    @property
    def image_size(self) -> int:
        """Height and width of the images, set by the architecture."""
        return self.layout.image_size

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(image_size, image_size, channels)."""
        return (self.image_size, self.image_size, self.channels)

    @property
    def generator_widths(self) -> tuple[int, ...]:
        """G's first map width, then each up-block's output width."""
        return tuple(m * self.g_channels for m in self.layout.generator_multipliers)

    @property
    def discriminator_widths(self) -> tuple[int, ...]:
        """Each D block's output width."""
        return tuple(m * self.d_channels for m in self.layout.discriminator_multipliers)

    @property
    def discriminator_downsamples(self) -> int:
        """How many of the first D blocks halve the map."""
        return self.layout.discriminator_downsamples

    @property
    def g_attention_resolution(self) -> int:
        """Side of the G block output the attention block follows (0: none)."""
        return self.layout.g_attention if self.g_attention is None else self.g_attention

    @property
    def d_attention_resolution(self) -> int:
        """Side of the D block output the attention block follows (0: none)."""
        return self.layout.d_attention if self.d_attention is None else self.d_attention
