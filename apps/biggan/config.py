"""Hyper-parameters of BigGAN (Brock, Donahue & Simonyan 2019, "Large Scale GAN Training for High
Fidelity Natural Image Synthesis", ICLR, https://arxiv.org/abs/1809.11096).

From the paper: SA-GAN's class-conditional residual networks (spectral norm in G
and D, conditional BN in G, a projection D, self-attention at 64x64 in both,
the hinge loss) with a shared class embedding projected to every conditional
BN's gain and bias (section 3), hierarchical latents (z split into one chunk
per resolution plus one for the first linear layer), orthogonal regularisation
of G with beta = 1e-4 (section 3.1, eq. 3), G 1e-4 and D 4e-4 learning rates,
Adam beta_1 = 0 and beta_2 = 0.999, two D steps per G step, a batch of 2048, an
exponential moving average of G's weights (appendix C) sampled with
"standing statistics" for its batch norms (appendix C.1), orthogonal
initialisation, 120-dimensional z split into 6 chunks of 20 at 128x128 and a
128-dimensional shared embedding, ch = 96 (Table 1 and appendix B); and
BigGAN-deep (appendix B.2): bottleneck blocks, two per resolution, ch = 128,
z of 128 not split but concatenated with the embedding for every block.

From the authors' reference code (github.com/ajbrock/BigGAN-PyTorch), where the
paper is silent: ``scripts/launch_BigGAN_bs256x8.sh`` (ImageNet 128: Adam
epsilon 1e-6, BN epsilon 1e-5, EMA decay 0.9999 (the ``--ema_decay`` default)
starting at iteration 20,000, i.e. the average equals the weights before it,
micro-batches of 256 accumulated 8 times) and ``launch_BigGAN_deep.sh``;
``utils.py`` (16 batches of standing statistics, ``--num_standing_accumulations``);
Torch's BN momentum 0.1 (Keras 0.9).

Batch arithmetic: ``batch_size`` counts the real images of one step, all k D
updates together (`common.models.conditional_model`), so the paper's 2048 images
per D update with k = 2 is ``batch_size = 4096``; ``accumulate = 8`` splits each
update into the reference's micro-batches of 256.

``architecture``:
- "imagenet128" (default): 128x128. G widths 16ch (4x4) -> 16ch, 8ch, 4ch, 2ch, ch
  (8 -> 128); D ch, 2ch, 4ch, 8ch, 16ch (each halving, 128 -> 4), 16ch (4x4);
  attention on the 64x64 maps of both (BigGAN-PyTorch's ``arch[128]``,
  ``--G_attn 64 --D_attn 64``); orthogonal initialisation. BigGAN-deep: D's input
  convolution ch, then 2ch, 4ch, 8ch, 16ch, 16ch (BigGANdeep.py's ``D_arch[128]``).
- "cifar32": 32x32, BigGAN-PyTorch's ``arch[32]``: G 4ch (4x4) -> three blocks of
  4ch; D four blocks of 4ch, the first two halving; no attention; N(0, 0.02)
  initialisation (``launch_cifar_ema.sh``: ``--G_attn 0 --D_attn 0 --G_init N02
  --D_init N02``). That script's optimisation differs from the ImageNet one; its
  flags are listed in the app's README (batch 50 per D step, 4 D steps, both
  learning rates 2e-4, Adam epsilon 1e-8, EMA from iteration 1,000, no shared
  embedding, no hierarchical z, no orthogonal regularisation); the defaults
  here stay the paper's ImageNet ones, as SAGAN's ``cifar32`` does.
"""

from __future__ import annotations

import dataclasses

from common.models.conditional_model import check_batch_split, check_fields
from common.nn import biggan_networks

__all__ = ["ARCHITECTURES", "LOSSES", "VARIANTS", "Architecture", "BigGANConfig"]

LOSSES = ("hinge", "non_saturating")
VARIANTS = ("standard", "deep")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One network layout: widths as multiples of the base width ch, where attention sits, initialisation.

    Attributes:
      image_size: Height and width of the images.
      generator_multipliers: G's first map, then each resolution's output, in units of ``g_channels``.
      discriminator_multipliers: Each D block's output (standard) in units of ``d_channels``.
      deep_discriminator_multipliers: BigGAN-deep's D: the input convolution's width, then each resolution's.
      discriminator_downsamples: How many of the first D blocks (resolutions) halve the map.
      attention: Side of the G and D outputs the self-attention blocks follow (0: none).
      initialization: "orthogonal" or "normal" (N(0, 0.02)).
    """

    image_size: int
    generator_multipliers: tuple[int, ...]
    discriminator_multipliers: tuple[int, ...]
    deep_discriminator_multipliers: tuple[int, ...]
    discriminator_downsamples: int
    attention: int
    initialization: str


ARCHITECTURES = {
    "imagenet128": Architecture(image_size=128, generator_multipliers=(16, 16, 8, 4, 2, 1),
                                discriminator_multipliers=(1, 2, 4, 8, 16, 16),
                                deep_discriminator_multipliers=(1, 2, 4, 8, 16, 16), discriminator_downsamples=5,
                                attention=64, initialization="orthogonal"),
    "cifar32": Architecture(image_size=32, generator_multipliers=(4, 4, 4, 4), discriminator_multipliers=(4, 4, 4, 4),
                            deep_discriminator_multipliers=(4, 4, 4, 4), discriminator_downsamples=2,
                            attention=0, initialization="normal"),
}

# Per variant: (latent_dim, ch) where the config leaves them None (the paper's: 120 and 96; deep 128 and 128).
VARIANT_DEFAULTS = {"standard": (120, 96), "deep": (128, 128)}


@dataclasses.dataclass(frozen=True)
class BigGANConfig:
    """BigGAN hyper-parameters; the paper's 128x128 ImageNet defaults (module docstring for sources).

    Attributes:
      architecture: "imagenet128" (default) or "cifar32"; `ARCHITECTURES`.
      variant: "standard" (BigGAN) or "deep" (BigGAN-deep).
      channels: 3 (RGB) or 1 (grayscale).
      num_classes: K (ImageNet: 1000).
      latent_dim: Size of z; None: the variant's (standard 120, deep 128). Hierarchical z needs a
        multiple of the number of G blocks + 1.
      shared_dim: Size of the shared class embedding of G; 0 (standard only): per-class BN tables.
      hierarchical_z: Split z over the first layer and the blocks (standard; deep concatenates all of z).
      g_channels, d_channels: Base widths ch; None: the variant's (standard 96, deep 128).
      g_attention, d_attention: Side of the G / D outputs a self-attention block follows; None: the
        architecture's (imagenet128: 64, cifar32: none); 0: no attention.
      loss: "hinge" (the paper's) or "non_saturating".
      g_learning_rate, d_learning_rate, beta_1, beta_2, adam_epsilon: Adam, per network / shared.
      batch_size: Real images per step, all D updates together.
      d_steps: D updates per G update.
      accumulate: Micro-batches per update whose gradients are summed before the step.
      ortho_beta: beta of G's orthogonal regularisation (off-diagonal form); 0 turns it off.
      bn_momentum, bn_epsilon: G's batch norms (Keras momentum = 1 - Torch momentum).
      sync_batch_norm: Batch statistics of the global batch across replicas.
      ema_decay: Decay of G's moving average (0: none).
      ema_start: G updates before which the average is a copy of the weights (decay 0).
      standing_batches: Batches of fresh z and labels whose BN moments are averaged for sampling (0: the
        moving statistics instead).
      standing_batch_size: Images per standing-statistics batch.
      sample_truncation: psi of the truncation trick for the TensorBoard grids and `evaluate`
        (components of z beyond [-psi, psi] are redrawn); 0: plain N(0, I).
      reuse_fakes: The G update reuses the D update's fakes (one D step, no accumulation only).
      seed: Seed of weights, latents and labels.
    """

    architecture: str = "imagenet128"
    variant: str = "standard"
    channels: int = 3
    num_classes: int = 1000
    latent_dim: int | None = None
    shared_dim: int = 128
    hierarchical_z: bool = True
    g_channels: int | None = None
    d_channels: int | None = None
    g_attention: int | None = None
    d_attention: int | None = None
    loss: str = "hinge"
    g_learning_rate: float = 1e-4
    d_learning_rate: float = 4e-4
    beta_1: float = 0.0
    beta_2: float = 0.999
    adam_epsilon: float = 1e-6
    batch_size: int = 4096
    d_steps: int = 2
    accumulate: int = 8
    ortho_beta: float = 1e-4
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    sync_batch_norm: bool = False
    ema_decay: float = 0.9999
    ema_start: int = 20000
    standing_batches: int = 16
    standing_batch_size: int = 256
    sample_truncation: float = 0.0
    reuse_fakes: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {self.architecture!r}.")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {self.variant!r}.")
        # None picks the variant's paper value; the resolved value is what config.json records.
        latent_dim, width = VARIANT_DEFAULTS[self.variant]
        for name, value in (("latent_dim", latent_dim), ("g_channels", width), ("d_channels", width)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        check_fields(self, positive_ints=("num_classes", "latent_dim", "g_channels", "d_channels", "batch_size",
                                          "d_steps", "accumulate", "standing_batch_size"),
                     positive=("g_learning_rate", "d_learning_rate", "adam_epsilon", "bn_epsilon"),
                     unit_interval=("beta_1", "beta_2", "bn_momentum", "ema_decay"), losses_allowed=LOSSES)
        for name in ("ortho_beta", "sample_truncation"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0 (0 turns it off); got {getattr(self, name)!r}.")
        for name in ("ema_start", "standing_batches"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {getattr(self, name)!r}.")
        if self.variant == "deep" and not self.shared_dim:
            raise ValueError("variant=deep conditions every block on [shared embedding, z]: --shared_dim must be > 0.")
        check_batch_split(self.batch_size, self.d_steps, self.accumulate, self.reuse_fakes)
        try:
            if self.variant == "deep":
                biggan_networks.check_generator_options(
                    image_size=self.image_size, generator_widths=self.generator_widths,
                    attention_resolution=self.g_attention_resolution, shared_dim=self.shared_dim)
                biggan_networks.check_discriminator_options(
                    image_size=self.image_size, discriminator_widths=self.discriminator_widths[1:],
                    discriminator_downsamples=self.discriminator_downsamples,
                    attention_resolution=self.d_attention_resolution)
            else:
                biggan_networks.check_generator_options(
                    image_size=self.image_size, generator_widths=self.generator_widths,
                    attention_resolution=self.g_attention_resolution, latent_dim=self.latent_dim,
                    shared_dim=self.shared_dim, hierarchical=self.hierarchical_z)
                biggan_networks.check_discriminator_options(
                    image_size=self.image_size, discriminator_widths=self.discriminator_widths,
                    discriminator_downsamples=self.discriminator_downsamples,
                    attention_resolution=self.d_attention_resolution)
        except ValueError as error:
            raise ValueError(f"architecture={self.architecture}, variant={self.variant} (--latent_dim, --shared_dim, "
                             f"--hierarchical_z, --g_channels, --d_channels, --g_attention, --d_attention): "
                             f"{error}") from None

    @property
    def layout(self) -> Architecture:
        """The `Architecture` named by ``architecture``."""
        return ARCHITECTURES[self.architecture]

    @property
    def image_size(self) -> int:
        return self.layout.image_size

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)

    @property
    def generator_widths(self) -> tuple[int, ...]:
        """G's first map width, then each resolution's output width."""
        return tuple(m * self.g_channels for m in self.layout.generator_multipliers)

    @property
    def discriminator_widths(self) -> tuple[int, ...]:
        """Standard: each D block's output width. Deep: the input convolution's, then each resolution's."""
        multipliers = (self.layout.deep_discriminator_multipliers if self.variant == "deep"
                       else self.layout.discriminator_multipliers)
        return tuple(m * self.d_channels for m in multipliers)

    @property
    def discriminator_downsamples(self) -> int:
        return self.layout.discriminator_downsamples

    @property
    def g_attention_resolution(self) -> int:
        return self.layout.attention if self.g_attention is None else self.g_attention

    @property
    def d_attention_resolution(self) -> int:
        return self.layout.attention if self.d_attention is None else self.d_attention
