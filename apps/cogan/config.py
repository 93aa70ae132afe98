"""Hyper-parameters of CoGAN (Liu & Tuzel 2016, "Coupled Generative Adversarial Networks",
https://arxiv.org/abs/1606.07536), digit experiments (section 5, "Digits").

Defaults are the paper's and, where the paper is silent, those of the authors'
Caffe code (github.com/mingyuliutw/CoGAN, `cogan/scripts/run_mnist.edge.cogan.sh`
and the solver it writes):

- z of 100 dimensions (drawn from N(0, I) here; see the README's deviations);
- Adam, learning rate 2e-4, beta_1 0.5, beta_2 0.999, L2 weight decay 5e-4 on
  the convolution and fully connected kernels (Caffe's ``weight_decay`` with
  ``decay_mult: 1`` on weights and 0 on biases, batch-norm and PReLU
  parameters), constant learning rate;
- mini-batch of 128 images per domain;
- zero biases, PReLU slopes starting at 0.25 (Caffe's default), one slope
  per channel; weights Xavier uniform with gain sqrt(2), as in the authors'
  PyTorch code (`apps.cogan.networks`; the Caffe code's He normal saturates
  the generator's output, see the README's deviations);
- the generator's first four layers and the discriminator's last three layers
  shared between the two domains (the paper's table for the digit experiments).

`pairing` picks the second domain: "edge" (the paper's digits -> edges task) or
"invert" (digits -> negative digits, the paper's other digit task); both are
built from one digit dataset in `apps.cogan.data`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

PAIRINGS = ("edge", "invert")
IMAGE_SIZES = (28, 32)


@dataclasses.dataclass(frozen=True)
class CoGANConfig:
    """CoGAN hyper-parameters; paper defaults. See the module docstring for sources.

    Attributes:
      image_size: 28 (the paper's MNIST geometry, exactly) or 32 (the suite's
        digits; same layers with "same" padding, see `apps.cogan.networks`).
      channels: 1 (grayscale) or 3.
      latent_dim: Size of z.
      pairing: Second domain, "edge" or "invert" (`apps.cogan.data`).
      learning_rate, beta_1, beta_2: Adam settings of both optimizers.
      weight_decay: L2 coefficient on kernels (gradient += weight_decay * kernel).
      batch_size: Global mini-batch size per domain (all replicas together).
      prelu_init: Initial PReLU slope.
      bn_momentum, bn_epsilon: Batch normalisation moving-average momentum and epsilon.
      sync_batch_norm: Batch normalisation with the statistics of the global batch
        across replicas (`BatchNormalization(synchronized=True)`), so N replicas
        normalise as one device would.
      width_divisor: Divides every hidden width (generator 1024-512-256-128,
        discriminator 20-50-500; rounded down, at least 1). 1 is the paper's
        network; larger values give small networks for tests and quick runs.
      seed: Seed of weight initialisation and of the latent noise.
    """

    image_size: int = 32
    channels: int = 1
    latent_dim: int = 100
    pairing: Literal["edge", "invert"] = "edge"
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    weight_decay: float = 5e-4
    batch_size: int = 128
    prelu_init: float = 0.25
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    sync_batch_norm: bool = True
    width_divisor: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(
                f"image_size must be 28 (the paper's MNIST geometry) or 32 (the suite's digits); got "
                f"{self.image_size!r}. The dataset is resized to it when it is read.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {self.channels!r}.")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}; got {self.pairing!r}.")
        for name in ("latent_dim", "batch_size", "width_divisor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        for name in ("learning_rate", "bn_epsilon"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}.")
        for name in ("beta_1", "beta_2", "bn_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        if self.weight_decay < 0 or self.prelu_init < 0:
            raise ValueError("weight_decay and prelu_init must be >= 0; got "
                             f"{self.weight_decay!r} and {self.prelu_init!r}.")

    def width(self, paper_width: int) -> int:
        """A hidden width of the paper's network divided by `width_divisor` (at least 1)."""
        return max(1, paper_width // self.width_divisor)
