"""Hyper-parameters of DiscoGAN (Kim et al. 2017, https://arxiv.org/abs/1703.05192).

Defaults are the paper's and, where the paper is silent, those of the authors'
reference code (github.com/SKTBrain/DiscoGAN, `discogan/model.py` and
`discogan/image_translation.py`):

- 64x64 RGB images (the paper's size for every experiment);
- generators: an encoder of four 4x4 stride-2 convolutions with 64-128-256-512
  filters and LeakyReLU 0.2 (batch normalisation after all but the first),
  then a decoder of four 4x4 stride-2 transposed convolutions with 256-128-64-3
  filters (batch normalisation and ReLU after all but the last), tanh output;
- discriminators: the encoder plus a final 4x4 convolution to one logit;
- losses (paper, section 2): the GAN loss of each domain plus the
  reconstruction loss of each domain, L_CONST_A = d(G_BA(G_AB(x_A)), x_A), with
  equal weights. The paper allows "any form of metric function (L1, L2, Huber
  loss)" for d; the reference code uses the mean squared error, our default
  (``reconstruction_distance``);
- Adam, learning rate 2e-4, betas (0.5, 0.999), and an L2 weight decay of 1e-5
  added to the gradient as `torch.optim.Adam(weight_decay=1e-5)` does in the
  reference code;
- mini-batch 64 (reference code default);
- PyTorch's default initialisation, which the reference code keeps: weights
  uniform in +-1/sqrt(fan_in), batch-norm scale 1 and offset 0; no biases;
- batch-normalisation momentum 0.9 and epsilon 1e-5 (PyTorch's 0.1 / 1e-5;
  Keras' momentum is one minus PyTorch's).

Options beyond the paper: other image sizes (any multiple of 16; the
generators are fully convolutional), 1 or 3 channels, the base width, other
adversarial losses from `common.nn.losses`, the reconstruction distance and
weight, and synchronised batch normalisation across replicas
(``sync_batch_norm``, on by default so that N replicas normalise with the
statistics of the global batch, as one device would).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

LOSSES = ("non_saturating", "minimax", "least_squares", "hinge")
RECONSTRUCTION_DISTANCES = ("mse", "l1", "huber")

# Stride-2 levels of the encoder (and of the discriminator); images must be multiples of 2**4.
NUM_LEVELS = 4
SIZE_MULTIPLE = 2**NUM_LEVELS


@dataclasses.dataclass(frozen=True)
class DiscoGANConfig:
    """DiscoGAN hyper-parameters; paper and reference-code defaults (see the module docstring).

    Attributes:
      image_size: Height and width of training images (and of the
        discriminators' input); a multiple of 16. The generators translate any
        size that is a multiple of 16.
      channels: 1 (grayscale) or 3 (RGB), the same in both domains.
      base_filters: Filters of the first encoder layer; the encoder doubles
        them per level (64-128-256-512), the decoder halves them (256-128-64).
      batch_size: Global mini-batch size (all replicas together), per domain.
      learning_rate: Adam learning rate of both optimizers.
      beta_1, beta_2: Adam moment decay rates.
      weight_decay: L2 penalty coefficient: ``weight_decay * w`` is added to the
        gradient of every trainable weight (PyTorch Adam's coupled weight decay,
        as in the reference code); 0 turns it off.
      loss: Adversarial loss, one of `LOSSES` (functions in `common.nn.losses`);
        the paper's is the standard GAN loss with the non-saturating generator term.
      reconstruction_distance: d of L_CONST: "mse" (reference code), "l1" or
        "huber" (delta 1). It is measured on images mapped to [0, 1], the pixel
        range of the reference code, so the weights mean the same as there.
      reconstruction_weight: Weight of L_CONST_A and L_CONST_B against the GAN
        terms (1 in the paper's L_G).
      bn_momentum, bn_epsilon: Batch-normalisation moving-average momentum and epsilon.
      leaky_relu_slope: Negative slope of the encoders' and discriminators' LeakyReLU.
      seed: Seed of weight initialisation.
      sync_batch_norm: Batch normalisation with statistics of the global batch
        across replicas (`BatchNormalization(synchronized=True)`).
    """

    image_size: int = 64
    channels: int = 3
    base_filters: int = 64
    batch_size: int = 64
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    weight_decay: float = 1e-5
    loss: Literal["non_saturating", "minimax", "least_squares", "hinge"] = "non_saturating"
    reconstruction_distance: Literal["mse", "l1", "huber"] = "mse"
    reconstruction_weight: float = 1.0
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    leaky_relu_slope: float = 0.2
    seed: int = 0
    sync_batch_norm: bool = True

    def __post_init__(self):
        size = self.image_size
        if not isinstance(size, int) or size < SIZE_MULTIPLE or size % SIZE_MULTIPLE:
            raise ValueError(
                f"image_size must be a multiple of {SIZE_MULTIPLE} (the networks have {NUM_LEVELS} stride-2 "
                f"levels), at least {SIZE_MULTIPLE}; got {size!r}. The paper uses 64."
            )
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {self.channels!r}.")
        for name in ("base_filters", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        for name in ("learning_rate", "bn_epsilon"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}.")
        for name in ("beta_1", "beta_2", "bn_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        for name in ("weight_decay", "reconstruction_weight", "leaky_relu_slope"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}.")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}.")
        if self.reconstruction_distance not in RECONSTRUCTION_DISTANCES:
            raise ValueError(f"reconstruction_distance must be one of {', '.join(RECONSTRUCTION_DISTANCES)}; "
                             f"got {self.reconstruction_distance!r}.")
