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

Two backbones (``backbone``):

- "acgan" (the default): AC-GAN's CIFAR-10 configuration (`apps.acgan.config`),
  so the two apps compare on one backbone: z of 100 dimensions plus the one-hot
  class, the appendix's generator and discriminator
  (`common.nn.auxiliary_classifier_networks`), Adam 2e-4 / 0.5 / 0.999, batch
  100, one D update per G update.
- "biggan": the reference code's, BigGAN-PyTorch's CIFAR-10 ResNets
  (`common.nn.biggan_networks`: spectral normalisation in G and D,
  class-conditional batch normalisation in G, global sum pooling in D; widths
  ``biggan_generator_widths``, ``biggan_discriminator_widths`` and
  ``biggan_discriminator_downsamples``, the script's ``G_ch = D_ch = 64``
  defaults). The AC-GAN-only fields (``generator_filters``,
  ``discriminator_filters``, ``discriminator_strides``, ``dropout``,
  ``leaky_relu_slope``) are not read. The script's optimisation settings are
  flags, not defaults (README: the command line that reproduces them):
  ``latent_dim=128`` (``--dim_z``), ``d_steps=4`` (``--num_D_steps 4``),
  ``batch_size=200`` (50 real images per D step: BigGAN-PyTorch's loader
  serves ``batch_size * num_D_steps`` images per iteration), ``beta_1=0``,
  ``adam_epsilon=1e-8``, ``ema_decay=0.9999``, ``reuse_fakes=False``.

``d_steps`` (k) applies to both backbones: k discriminator updates on
``batch_size / k`` real images each, then one generator update on
``batch_size / k`` fresh samples (`common.models.conditional_model`).

Options beyond the paper: the other adversarial losses of `LOSSES`, other
``adc_lambda``, the generator EMA (``ema_decay``), fresh z for the generator
update (``reuse_fakes=False``), widths, grayscale and the 28x28 variant
(``image_size=28, channels=1, generator_filters=(384, 192)``).
"""

from __future__ import annotations

import dataclasses

from common.nn import biggan_networks
from common.nn.auxiliary_classifier_networks import (
    MNIST28,
    AuxiliaryClassifierGANConfig,
    check_shared_options,
)

__all__ = ["BACKBONES", "LOSSES", "MNIST28", "ADCGANConfig"]

LOSSES = ("hinge", "non_saturating", "minimax", "least_squares")
BACKBONES = ("acgan", "biggan")


@dataclasses.dataclass(frozen=True)
class ADCGANConfig(AuxiliaryClassifierGANConfig):
    """ADC-GAN hyper-parameters (module docstring for sources).

    Fields shared with the other auxiliary-classifier app: `AuxiliaryClassifierGANConfig`.

    Attributes:
      loss: Adversarial loss, one of `LOSSES` ("hinge": the reference code's).
      adc_lambda: lambda, the weight of the classifier terms of D and of G (1: the reference code's).
      backbone: "acgan" (AC-GAN's networks) or "biggan" (BigGAN-PyTorch's CIFAR ResNets, the reference code's).
      d_steps: Discriminator updates per generator update (k); ``batch_size`` must be a multiple of it.
      biggan_generator_widths: With backbone "biggan": the width of G's first map, then each up-block's
        output width; ``image_size / 2**(len - 1)`` is the first map's side.
      biggan_discriminator_widths: With backbone "biggan": each D block's output width.
      biggan_discriminator_downsamples: With backbone "biggan": how many of the first D blocks average-pool.
      adam_epsilon: Adam's epsilon, both networks (Keras' 1e-7 by default; the reference code's is 1e-8).
    """

    loss: str = "hinge"
    adc_lambda: float = 1.0
    backbone: str = "acgan"
    d_steps: int = 1
    biggan_generator_widths: tuple[int, ...] = (256, 256, 256, 256)
    biggan_discriminator_widths: tuple[int, ...] = (256, 256, 256, 256)
    biggan_discriminator_downsamples: int = 2
    adam_epsilon: float = 1e-7

    def __post_init__(self):
        for name in ("biggan_generator_widths", "biggan_discriminator_widths"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # config.json stores lists
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}; got {self.backbone!r}.")
        super().__post_init__()
        self.check_loss_and_weight(LOSSES, "adc_lambda", "1 is the reference code's")
        if not isinstance(self.d_steps, int) or isinstance(self.d_steps, bool) or self.d_steps < 1:
            raise ValueError(f"d_steps must be a positive integer; got {self.d_steps!r}.")
        if self.batch_size % self.d_steps:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of d_steps ({self.d_steps}): each of the "
                f"k discriminator updates uses batch_size / k real images. Use e.g. --batch_size="
                f"{self.d_steps * max(1, self.batch_size // self.d_steps)}.")
        if self.d_steps > 1 and self.reuse_fakes:
            raise ValueError(f"d_steps={self.d_steps} draws fresh z and labels for the generator update "
                             "(as the reference code does); pass --reuse_fakes=false.")
        if not self.adam_epsilon > 0:
            raise ValueError(f"adam_epsilon must be > 0; got {self.adam_epsilon!r}.")

    def check_networks(self) -> None:
        """The chosen backbone's fields; the AC-GAN fields are checked only for backbone "acgan"."""
        if self.backbone == "acgan":
            super().check_networks()
            return
        check_shared_options(image_size=self.image_size, channels=self.channels, latent_dim=self.latent_dim,
                             num_classes=self.num_classes, init_stddev=self.init_stddev,
                             bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        try:
            biggan_networks.check_generator_options(image_size=self.image_size,
                                                    generator_widths=self.biggan_generator_widths)
            biggan_networks.check_discriminator_options(
                image_size=self.image_size, discriminator_widths=self.biggan_discriminator_widths,
                discriminator_downsamples=self.biggan_discriminator_downsamples)
        except ValueError as error:
            raise ValueError(f"backbone=biggan (biggan_generator_widths, biggan_discriminator_widths, "
                             f"biggan_discriminator_downsamples): {error}") from None
