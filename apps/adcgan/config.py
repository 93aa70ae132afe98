"""Hyper-parameters of ADC-GAN (Hou et al. 2022, "Conditional GANs with Auxiliary
Discriminative Classifier", ICML, https://arxiv.org/abs/2107.10060).

From the authors' reference code (github.com/liang-hou/adcgan, BigGAN-PyTorch
fork, `scripts/launch_cifar10_ema_adcgan.sh`, `losses.py`, `train_fns.py`),
CIFAR-10:

- lambda 1.0 for both D and G (``--D_lambda 1.0 --G_lambda 1.0``; ``adc_lambda``);
- the hinge adversarial loss (BigGAN-PyTorch's default loss pair, which the
  ADC-GAN script does not change) and softmax cross entropy for the 2K-way
  classifier (``--hinge`` off);
- 2K classifier outputs on the discriminator's features, real class k and
  generated class k as two different outputs.

The network and optimizer fields are AC-GAN's CIFAR-10 configuration
(`apps.acgan.config`), so the two apps compare on one backbone: z of 100
dimensions plus the one-hot class, the appendix's generator and discriminator
(`common.nn.auxiliary_classifier_networks`), Adam 2e-4 / 0.5 / 0.999, batch 100,
one D update per G update. The reference code trains BigGAN's ResNet backbone
(spectral normalisation, conditional batch normalisation, 4 D steps per G step,
Adam beta_1 0, batch 50, generator EMA); the README names each of these as a
deviation.

Options beyond the paper: the other adversarial losses of `LOSSES`, other
``adc_lambda``, the generator EMA (``ema_decay``), fresh z for the generator
update (``reuse_fakes=False``), widths, grayscale and the 28x28 variant
(``image_size=28, channels=1, generator_filters=(384, 192)``).
"""

from __future__ import annotations

import dataclasses

from common.nn.auxiliary_classifier_networks import check_backbone_options

LOSSES = ("hinge", "non_saturating", "minimax", "least_squares")

# The 28x28 variant (e.g. MNIST), the same as AC-GAN's: a 7x7x384 start map and two up-convolutions.
MNIST28 = {"image_size": 28, "channels": 1, "generator_filters": (384, 192)}


@dataclasses.dataclass(frozen=True)
class ADCGANConfig:
    """ADC-GAN hyper-parameters (module docstring for sources).

    Attributes:
      image_size: Height and width; ``image_size / 2**len(generator_filters)`` must be a whole number >= 2.
      channels: 1 (grayscale) or 3 (RGB).
      num_classes: K; the discriminative classifier has 2K outputs.
      latent_dim: Size of z (the generator's input is z and the one-hot class).
      generator_filters: Width of the projected start map, then of each hidden up-convolution.
      discriminator_filters, discriminator_strides: One convolution per entry.
      dropout: Dropout rate after each discriminator convolution.
      leaky_relu_slope: Negative slope of the discriminator's LeakyReLU.
      init_stddev: Standard deviation of the N(0, s) weight initialiser.
      bn_momentum, bn_epsilon: Batch normalisation (Keras momentum = 1 - Torch's).
      sync_batch_norm: Batch statistics of the global batch across replicas.
      learning_rate, beta_1, beta_2: Adam, both networks.
      batch_size: Global mini-batch size.
      loss: Adversarial loss, one of `LOSSES` ("hinge": the reference code's).
      adc_lambda: lambda, the weight of the classifier terms of D and of G (1: the reference code's).
      ema_decay: Decay of the generator's moving average; 0 turns it off.
      reuse_fakes: The generator update reuses the discriminator update's z and labels.
      seed: Seed of weight initialisation, dropout and noise.
    """

    image_size: int = 32
    channels: int = 3
    num_classes: int = 10
    latent_dim: int = 100
    generator_filters: tuple[int, ...] = (384, 192, 96)
    discriminator_filters: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    discriminator_strides: tuple[int, ...] = (2, 1, 2, 1, 2, 1)
    dropout: float = 0.5
    leaky_relu_slope: float = 0.2
    init_stddev: float = 0.02
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    sync_batch_norm: bool = True
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    batch_size: int = 100
    loss: str = "hinge"
    adc_lambda: float = 1.0
    ema_decay: float = 0.0
    reuse_fakes: bool = True
    seed: int = 0

    def __post_init__(self):
        for name in ("generator_filters", "discriminator_filters", "discriminator_strides"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # config.json stores lists
        check_backbone_options(
            image_size=self.image_size, channels=self.channels, latent_dim=self.latent_dim,
            num_classes=self.num_classes, generator_filters=self.generator_filters,
            discriminator_filters=self.discriminator_filters, discriminator_strides=self.discriminator_strides,
            dropout=self.dropout, leaky_relu_slope=self.leaky_relu_slope, init_stddev=self.init_stddev,
            bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {self.batch_size!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}.")
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}.")
        if not self.adc_lambda >= 0.0:
            raise ValueError(f"adc_lambda must be >= 0 (1 is the reference code's); got {self.adc_lambda!r}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off); got {self.ema_decay!r}.")
