"""Hyper-parameters of DCGAN (Radford et al. 2015, https://arxiv.org/abs/1511.06434).

Defaults are the paper's (section 4, "Details of adversarial training") and,
where the paper is silent, those of the authors' reference code
(github.com/soumith/dcgan.torch, which the paper's results were reproduced with):

- latent z of 100 dimensions drawn from a standard normal (the paper draws it
  uniformly; the reference code defaults to normal);
- 64x64 RGB images, 64 base filters: generator 512-256-128-64 channels at
  4-8-16-32 pixels, discriminator 64-128-256-512;
- Adam, learning rate 2e-4, beta_1 0.5 (beta_2 0.999 as Adam's default);
- mini-batch 128;
- weights from N(0, 0.02); batch-normalisation scale from N(1, 0.02) and offset 0
  (reference code); no biases in convolutions (batch normalisation follows them);
- LeakyReLU slope 0.2 in the discriminator, ReLU in the generator;
- batch-normalisation momentum 0.9 and epsilon 1e-5 (Torch's 0.1 / 1e-5; Keras'
  momentum is one minus Torch's);
- the generator update reuses the discriminator update's batch of fakes (the
  same z), passed through the updated discriminator (`reuse_fakes`; the
  reference code and PyTorch's DCGAN example do so);
- a constant learning rate.

Options beyond the paper: image sizes 16, 32, 64, 128, ... (any power of two
>= 16; one fractionally-strided layer per doubling above 4x4), 1 or 3 channels,
other adversarial losses from `common.nn.losses`, an exponential moving average of
the generator (`ema_decay > 0`), one-sided label smoothing (`real_label < 1`),
a linear learning-rate decay to 0 over the
last part of the run (`decay_start_fraction < 1`), an R1 penalty on the
discriminator's input gradient at real images (`r1_gamma > 0`, Mescheder et
al. 2018), and synchronised batch normalisation across
replicas (`sync_batch_norm`, on by default so that N replicas normalise with the
statistics of the global batch, as one device would).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

LOSSES = ("non_saturating", "minimax", "least_squares", "hinge")
UPSAMPLE_LAYERS = ("transpose", "subpixel")


@dataclasses.dataclass(frozen=True)
class DCGANConfig:
    """DCGAN hyper-parameters; paper defaults. See the module docstring for sources.

    Attributes:
      image_size: Height and width of generated images; a power of two >= 16.
      channels: 1 (grayscale) or 3 (RGB).
      latent_dim: Size of z.
      base_filters: Filters of the discriminator's first layer and the
        generator's last hidden layer; the other layers double it per halving of
        the resolution (64x64: G 512-256-128-64, D 64-128-256-512).
      learning_rate: Adam learning rate of both networks.
      beta_1, beta_2: Adam moment decay rates.
      batch_size: Global mini-batch size (all replicas together).
      init_stddev: Standard deviation of the N(0, s) weight initialiser.
      bn_gamma_stddev: Standard deviation of the N(1, s) batch-norm scale initialiser.
      bn_momentum, bn_epsilon: Batch-normalisation moving-average momentum and epsilon.
      leaky_relu_slope: Negative slope of the discriminator's LeakyReLU.
      loss: Adversarial loss, one of `LOSSES` (functions in `common.nn.losses`).
      ema_decay: Decay of the generator's exponential moving average; 0 turns it off.
      decay_start_fraction: Fraction of the run's steps after which both learning
        rates decay linearly to 0 at the last step (`common.nn.schedules.ConstantThenLinearDecay`);
        1.0 (the paper) keeps them constant.
      real_label: Discriminator target for real images with the cross-entropy losses
        ("non_saturating", "minimax"); below 1 is one-sided label smoothing
        (Salimans et al. 2016; 0.9 is theirs), 1.0 the paper's loss.
      reuse_fakes: The generator update reuses the discriminator update's fakes
        (one generator forward pass per step, as the reference code); False draws
        fresh z for it and generates again.
      r1_gamma: Weight gamma of the R1 penalty (gamma / 2) E[||grad_x D(x)||^2] on
        real images, added to the discriminator loss (Mescheder et al. 2018,
        eq. 9); 0 (the paper) for none. With batch normalisation in D the
        gradient is that of D on the whole real batch (`common.nn.losses`).
      seed: Seed of weight initialisation and of the latent noise.
      upsample: "transpose" (`keras.layers.Conv2DTranspose`) or "subpixel"
        (`common.nn.layers.SubPixelConv2DTranspose`): the same function and
        weights; the transposed convolution measured faster on CPU
        (tests/benchmarks/upsample_conv.py, numbers in the README).
      sync_batch_norm: Batch normalisation with statistics of the global batch
        across replicas (`BatchNormalization(synchronized=True)`).
    """

    image_size: int = 64
    channels: int = 3
    latent_dim: int = 100
    base_filters: int = 64
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    batch_size: int = 128
    init_stddev: float = 0.02
    bn_gamma_stddev: float = 0.02
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    leaky_relu_slope: float = 0.2
    loss: str = "non_saturating"
    ema_decay: float = 0.0
    decay_start_fraction: float = 1.0
    real_label: float = 1.0
    reuse_fakes: bool = True
    r1_gamma: float = 0.0
    seed: int = 0
    upsample: str = "transpose"
    sync_batch_norm: bool = True

    # Runs written before `reuse_fakes` existed drew fresh z for the generator update:
    # resuming one needs --reuse_fakes=false (common.training.runtime_config.field_defaults).
    VALUES_BEFORE_FIELD: ClassVar[dict] = {"reuse_fakes": False}

    def __post_init__(self):
        size = self.image_size
        if not isinstance(size, int) or size < 16 or size & (size - 1):
            raise ValueError(
                f"image_size must be a power of two >= 16 (e.g. 32 or 64); got {size!r}. "
                "Resize the dataset (load_dataset(image_size=...)) or pick a power of two."
            )
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {self.channels!r}.")
        for name in ("latent_dim", "base_filters", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        for name in ("learning_rate", "init_stddev", "bn_epsilon"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}.")
        for name in ("beta_1", "beta_2", "bn_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off); got {self.ema_decay!r}.")
        if not 0.0 <= self.decay_start_fraction <= 1.0:
            raise ValueError("decay_start_fraction must be in [0, 1] (1 keeps the learning rate constant); "
                             f"got {self.decay_start_fraction!r}.")
        if not 0.0 < self.real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1] (1 is the unsmoothed loss, 0.9 one-sided label "
                             f"smoothing); got {self.real_label!r}.")
        if self.real_label != 1.0 and self.loss not in ("non_saturating", "minimax"):
            raise ValueError(f"real_label smooths the cross-entropy losses (non_saturating, minimax); loss "
                             f"{self.loss!r} has no labels. Drop --real_label or pick one of those losses.")
        if not self.r1_gamma >= 0.0:
            raise ValueError(f"r1_gamma must be >= 0 (0 turns the R1 penalty off); got {self.r1_gamma!r}.")
        if self.bn_gamma_stddev < 0 or self.leaky_relu_slope < 0:
            raise ValueError("bn_gamma_stddev and leaky_relu_slope must be >= 0; got "
                             f"{self.bn_gamma_stddev!r} and {self.leaky_relu_slope!r}.")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}.")
        if self.upsample not in UPSAMPLE_LAYERS:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_LAYERS)}; got {self.upsample!r}.")

    @property
    def num_upsamplings(self) -> int:
        """Fractionally-strided layers of the generator (= strided layers of D): log2(size / 4)."""
        return self.image_size.bit_length() - 3
