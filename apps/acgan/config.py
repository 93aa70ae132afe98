"""Hyper-parameters of AC-GAN (Odena, Olah & Shlens 2017, https://arxiv.org/abs/1610.09585).

The defaults are the paper's CIFAR-10 configuration (its appendix: table of
CIFAR-10 hyper-parameters). The appendix could not be checked line by line
where this app was written, so the numbers below are those of the appendix as
commonly reproduced:

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

from common.nn.auxiliary_classifier_networks import check_backbone_options

LOSSES = ("non_saturating", "minimax")

# The 28x28 variant (e.g. MNIST): a 7x7x384 start map and two up-convolutions.
MNIST28 = {"image_size": 28, "channels": 1, "generator_filters": (384, 192)}


@dataclasses.dataclass(frozen=True)
class ACGANConfig:
    """AC-GAN hyper-parameters; the paper's CIFAR-10 defaults (module docstring).

    Attributes:
      image_size: Height and width; ``image_size / 2**len(generator_filters)`` must be a whole number >= 2.
      channels: 1 (grayscale) or 3 (RGB).
      num_classes: K, the number of classes (the dataset's labels are 0..K-1).
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
      loss: Adversarial loss, one of `LOSSES` (module docstring for the default).
      class_weight: Weight of the class cross entropies in both losses (1: the paper).
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
    loss: str = "non_saturating"
    class_weight: float = 1.0
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
        if not self.class_weight >= 0.0:
            raise ValueError(f"class_weight must be >= 0 (1 is the paper's unweighted sum); got {self.class_weight!r}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off); got {self.ema_decay!r}.")
