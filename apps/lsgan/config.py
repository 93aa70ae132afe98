"""Hyper-parameters of LSGAN (Mao et al. 2017, "Least Squares Generative Adversarial Networks",
https://arxiv.org/abs/1611.04076).

Defaults are the paper's where it states them:

- least-squares losses with the a-b-c coding "0-1-1" (a = 0 for fakes, b = 1
  for reals, c = 1 the generator's target; eq. 9, used for the scene
  experiments) or "-1-1-0" (a = -1, b = 1, c = 0; eq. 8, which minimises the
  Pearson chi-square divergence);
- the architecture of Figure 3 (section 4.1.1): z of 1024 dimensions, a dense
  projection to 256 channels, 3x3 transposed convolutions alternating stride 2
  and stride 1 (256 channels), then 128 and 64 channels; a discriminator of four
  5x5 stride-2 convolutions (64-128-256-512) with LeakyReLU and batch
  normalisation, and one linear output;
- Adam, learning rate 2e-4, beta_1 0.5 (section 4.1.1; beta_2 Adam's default).

Where the paper is silent this app follows the DCGAN conventions the paper
builds on (Radford et al. 2015): mini-batch 64, weights N(0, 0.02), batch-norm
momentum 0.9 and epsilon 1e-5, LeakyReLU slope 0.2, tanh output, z ~ N(0, I)
(the suite's export and evaluation draw normal latents).

Image sizes: Figure 3 generates 112x112 (a 7x7 projection and four stride-2
layers); the same layer list serves any ``image_size = start * 2**n`` with
n <= 4 stride-2 layers and a start of at least 4 (n as large as possible):
112 (7 * 16) is the paper's network exactly, 64 (4 * 16) keeps all layers, 32
(4 * 8) drops the first stride-2/stride-1 pair, 28 (7 * 4) the first two pairs.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

CODINGS = {"0-1-1": (0.0, 1.0, 1.0), "-1-1-0": (-1.0, 1.0, 0.0)}
"""Coding name -> (a, b, c): D's target for fakes, D's target for reals, G's target for fakes."""


@dataclasses.dataclass(frozen=True)
class LSGANConfig:
    """LSGAN hyper-parameters; paper defaults. See the module docstring for sources.

    Attributes:
      image_size: Height and width of generated images: ``start * 2**n`` with
        start >= 4 and 2 <= n <= 4 (e.g. 28, 32, 64, 112).
      channels: 1 (grayscale) or 3 (RGB).
      latent_dim: Size of z (1024 in the paper).
      base_filters: Channels of the generator's last hidden layer and the
        discriminator's first layer (64); the generator's wider layers have 2x
        and 4x, the discriminator's 2x, 4x, 8x.
      coding: "0-1-1" or "-1-1-0", the (a, b, c) of the least-squares losses.
      learning_rate: Adam learning rate of both networks.
      beta_1, beta_2: Adam moment decay rates.
      batch_size: Global mini-batch size (all replicas together).
      init_stddev: Standard deviation of the N(0, s) weight initialiser.
      bn_momentum, bn_epsilon: Batch-normalisation moving-average momentum and epsilon.
      leaky_relu_slope: Negative slope of the discriminator's LeakyReLU.
      ema_decay: Decay of the generator's exponential moving average; 0 turns it off.
      reuse_fakes: The generator update reuses the discriminator update's fakes (the
        same z, one generator forward pass per step, as DCGAN's reference code);
        False draws fresh z for it and generates again.
      r1_gamma: Weight gamma of the R1 penalty (gamma / 2) E[||grad_x D(x)||^2] on
        real images, added to the discriminator loss (Mescheder et al. 2018,
        eq. 9, https://arxiv.org/abs/1801.04406); 0 (the paper) for none. Not
        part of LSGAN; `common.models.adversarial_model.AdversarialModel` applies it.
      seed: Seed of weight initialisation and of the latent noise.
      sync_batch_norm: Batch normalisation with statistics of the global batch across replicas.
    """

    image_size: int = 64
    channels: int = 3
    latent_dim: int = 1024
    base_filters: int = 64
    coding: str = "0-1-1"
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    batch_size: int = 64
    init_stddev: float = 0.02
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    leaky_relu_slope: float = 0.2
    ema_decay: float = 0.0
    reuse_fakes: bool = True
    r1_gamma: float = 0.0
    seed: int = 0
    sync_batch_norm: bool = True

    # Runs written before `reuse_fakes` existed drew fresh z for the generator update:
    # resuming one needs --reuse_fakes=false (common.training.runtime_config.field_defaults).
    VALUES_BEFORE_FIELD: ClassVar[dict] = {"reuse_fakes": False}

    def __post_init__(self):
        for name in ("image_size", "latent_dim", "base_filters", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.num_upsamplings < 2:
            raise ValueError(
                f"image_size must be start * 2**n with start >= 4 and n >= 2 stride-2 layers "
                f"(e.g. 28, 32, 64 or 112); got {self.image_size!r}. Resize the dataset or pick such a size."
            )
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {self.channels!r}.")
        if self.coding not in CODINGS:
            raise ValueError(f"coding must be one of {', '.join(CODINGS)} (a-b-c of the least-squares losses); "
                             f"got {self.coding!r}.")
        for name in ("learning_rate", "init_stddev", "bn_epsilon"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}.")
        for name in ("beta_1", "beta_2", "bn_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off); got {self.ema_decay!r}.")
        if self.leaky_relu_slope < 0:
            raise ValueError(f"leaky_relu_slope must be >= 0; got {self.leaky_relu_slope!r}.")
        if not self.r1_gamma >= 0.0:
            raise ValueError(f"r1_gamma must be >= 0 (0 turns the R1 penalty off); got {self.r1_gamma!r}.")

    @property
    def num_upsamplings(self) -> int:
        """Stride-2 layers of the generator: the largest n <= 4 with image_size / 2**n an integer >= 4."""
        for n in (4, 3, 2, 1, 0):
            if self.image_size % 2**n == 0 and self.image_size // 2**n >= 4:
                return n
        return 0

    @property
    def start_size(self) -> int:
        """Height and width of the generator's projection: image_size / 2**num_upsamplings."""
        return self.image_size // 2**self.num_upsamplings

    @property
    def targets(self) -> tuple[float, float, float]:
        """(a, b, c) of ``coding``."""
        return CODINGS[self.coding]
