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

from common.nn.auxiliary_classifier_networks import (
    MNIST28,
    AuxiliaryClassifierGANConfig,
)

__all__ = ["LOSSES", "MNIST28", "ADCGANConfig"]

LOSSES = ("hinge", "non_saturating", "minimax", "least_squares")


@dataclasses.dataclass(frozen=True)
class ADCGANConfig(AuxiliaryClassifierGANConfig):
    """ADC-GAN hyper-parameters (module docstring for sources).

    Fields shared with the other auxiliary-classifier app: `AuxiliaryClassifierGANConfig`.

    Attributes:
      loss: Adversarial loss, one of `LOSSES` ("hinge": the reference code's).
      adc_lambda: lambda, the weight of the classifier terms of D and of G (1: the reference code's).
    """

    loss: str = "hinge"
    adc_lambda: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        self.check_loss_and_weight(LOSSES, "adc_lambda", "1 is the reference code's")
