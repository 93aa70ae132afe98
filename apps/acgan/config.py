"""Hyper-parameters of AC-GAN (Odena, Olah & Shlens 2017, https://arxiv.org/abs/1610.09585).

The defaults are the paper's CIFAR-10 configuration (its appendix: table of
CIFAR-10 hyper-parameters), with the numbers of the appendix as commonly
reproduced (not checked here against the appendix line by line):

- 32x32 RGB images, 10 classes; z of 100 dimensions concatenated with the
  one-hot class (110 generator inputs);
- generator: linear layer to a 4x4x384 map, then 5x5 stride-2 transposed
  convolutions to 192 and 96 channels (batch normalisation, ReLU) and to 3
  (tanh);
- discriminator: 3x3 convolutions to 16 (stride 2), 32, 64 (stride 2), 128,
  256 (stride 2) and 512 channels, LeakyReLU 0.2, dropout 0.5 after each,
  batch normalisation from the second on; then a source logit and K class
  logits;
- Adam, learning rate 2e-4, beta_1 0.5, beta_2 0.999 for both networks (the
  appendix lists 1e-4 to 3e-4 for the discriminator; 2e-4 is used);
- batch 100; weights N(0, 0.02), biases 0; the class term weighted 1 (eq. 2-3
  add L_S and L_C unweighted).

z is drawn from N(0, I) (the paper does not name the prior).

The adversarial loss (``loss``): "non_saturating" by default, where the paper's
eq. 3 has the generator maximise L_C - L_S, i.e. minimise the minimax loss
log(1 - D(G(z))). "minimax" is the paper's equation; the non-saturating form
(minimise -log D(G(z)), Goodfellow et al. 2014, section 3) is what GAN practice
and the DCGAN-era AC-GAN code train with, because the minimax loss has
vanishing gradients while D rejects G's samples confidently. The default is
therefore a named deviation from the paper's equation (README).

Options beyond the paper: ``class_weight`` other than 1, the generator EMA
(``ema_decay``), fresh z for the generator update (``reuse_fakes=False``), the
backbone's widths (``generator_filters``, ``discriminator_filters``), grayscale
and the 28x28 variant (``image_size=28, channels=1, generator_filters=(384, 192)``).
"""

from __future__ import annotations

import dataclasses

from common.nn.auxiliary_classifier_networks import (
    MNIST28,
    AuxiliaryClassifierGANConfig,
)

__all__ = ["LOSSES", "MNIST28", "ACGANConfig"]

LOSSES = ("non_saturating", "minimax")


@dataclasses.dataclass(frozen=True)
class ACGANConfig(AuxiliaryClassifierGANConfig):
    """AC-GAN hyper-parameters; the paper's CIFAR-10 defaults (module docstring).

    Fields shared with the other auxiliary-classifier app: `AuxiliaryClassifierGANConfig`.

    Attributes:
      loss: Adversarial loss, one of `LOSSES` (module docstring for the default).
      class_weight: Weight of the class cross entropies in both losses (1: the paper).
    """

    loss: str = "non_saturating"
    class_weight: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        self.check_loss_and_weight(LOSSES, "class_weight", "1 is the paper's unweighted sum")
