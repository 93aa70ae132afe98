"""Hyper-parameters of the conditional GAN (Mirza & Osindero 2014, https://arxiv.org/abs/1411.1784).

Defaults are the paper's MNIST setting (section 4.1):

- z of 100 dimensions "drawn from a uniform distribution within the unit
  hypercube", U[0, 1)^100 (``latent_distribution="uniform"``);
- generator: z and the one-hot label y mapped to ReLU layers of 200 and 1,000
  units, both mapped to a combined ReLU layer of 1,200 units, then 784 sigmoid
  output units (28x28x1);
- discriminator: x to a maxout layer of 240 units with 5 pieces, y to a maxout
  layer of 50 units with 5 pieces, both to a joint maxout layer of 240 units
  with 4 pieces, then the sigmoid output;
- dropout with probability 0.5 in the generator and the discriminator;
- SGD, mini-batch 100, learning rate 0.1 "exponentially decreased down to
  .000001 with decay factor of 1.00004" (divided by 1.00004 after every update),
  momentum 0.5 "increased up to 0.7".

The paper gives neither the weight initialisation nor the loss the generator
minimised in practice; like the GAN app (whose pylearn2 code this paper's
networks come from) weights are U(-0.05, 0.05) in G and U(-0.005, 0.005) in D,
and the generator minimises the non-saturating loss. The README's "Deviations"
section lists where this app departs from the text (momentum, output layer).

``architecture="conv"`` selects the convolutional variant for colour images:
DCGAN-style networks (Radford et al. 2015) with the label embedded and
concatenated with z in G, and a projection discriminator (Miyato & Koyama 2018)
in D; see `apps.cgan.networks`.
"""

from __future__ import annotations

import dataclasses

from common.models.conditional_model import LATENT_DISTRIBUTIONS

ARCHITECTURES = ("mlp", "conv")
LOSSES = ("non_saturating", "minimax", "hinge")


@dataclasses.dataclass(frozen=True)
class CGANConfig:
    """CGAN hyper-parameters; the paper's MNIST defaults. See the module docstring for sources.

    Attributes:
      architecture: "mlp" (the paper's networks) or "conv" (DCGAN-style networks
        with a projection discriminator).
      image_size: Height and width; any size >= 4 for "mlp", a power of two >= 16 for "conv".
      channels: 1 (grayscale) or 3 (RGB).
      num_classes: K, the number of classes of the dataset's labels.
      latent_dim: Size of z.
      latent_distribution: "uniform" (U[0, 1), the paper) or "normal" (N(0, I)).
      g_z_units, g_label_units, g_joint_units: ReLU units of G's z layer, label layer
        and combined layer ("mlp": 200, 1,000, 1,200).
      d_x_units, d_x_pieces: D's maxout layer on x (240 units, 5 pieces).
      d_label_units, d_label_pieces: D's maxout layer on y (50 units, 5 pieces).
      d_joint_units, d_joint_pieces: D's joint maxout layer (240 units, 4 pieces).
      dropout: Dropout probability of G's combined layer and of D's hidden layers (0.5).
      generator_init_range, discriminator_init_range: weights U(-r, r) of the "mlp" networks.
      base_filters: "conv": filters of D's first layer and G's last hidden layer (DCGAN's).
      embedding_dim: "conv": size of the label embedding concatenated with z in G.
      loss: Adversarial loss: "non_saturating", "minimax" or "hinge" (`common.nn.losses`).
      g_learning_rate, d_learning_rate: Initial learning rates of G and D. The paper's 0.1 for
        both, run through pylearn2's adversarial cost, which halves the discriminator's cross
        entropy (``0.5 * (cost(1, D(x)) + cost(0, D(G(z))))``, as the GAN app's README shows):
        with SGD that is the full cross entropy at half the rate, hence D's 0.05.
      learning_rate_decay: "mlp" (SGD): the rate is divided by this after every update (1 keeps it constant).
      momentum: SGD momentum of both networks ("mlp").
      optimizer: "sgd" (the paper) or "adam" (Adam with beta_1, beta_2; the "conv" networks' usual choice).
      beta_1, beta_2: Adam moment decay rates.
      batch_size: Global mini-batch size.
      ema_decay: Decay of the generator's exponential moving average; 0 turns it off.
      reuse_fakes: The generator update reuses the discriminator update's fakes (same z and labels).
      seed: Seed of weights, dropout, latents and labels.
    """

    architecture: str = "mlp"
    image_size: int = 28
    channels: int = 1
    num_classes: int = 10
    latent_dim: int = 100
    latent_distribution: str = "uniform"
    g_z_units: int = 200
    g_label_units: int = 1000
    g_joint_units: int = 1200
    d_x_units: int = 240
    d_x_pieces: int = 5
    d_label_units: int = 50
    d_label_pieces: int = 5
    d_joint_units: int = 240
    d_joint_pieces: int = 4
    dropout: float = 0.5
    generator_init_range: float = 0.05
    discriminator_init_range: float = 0.005
    base_filters: int = 64
    embedding_dim: int = 50
    loss: str = "non_saturating"
    g_learning_rate: float = 0.1
    d_learning_rate: float = 0.05
    learning_rate_decay: float = 1.00004
    momentum: float = 0.5
    optimizer: str = "sgd"
    beta_1: float = 0.5
    beta_2: float = 0.999
    batch_size: int = 100
    ema_decay: float = 0.0
    reuse_fakes: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {self.architecture!r}.")
        for name in ("image_size", "num_classes", "latent_dim", "g_z_units", "g_label_units", "g_joint_units",
                     "d_x_units", "d_x_pieces", "d_label_units", "d_label_pieces", "d_joint_units",
                     "d_joint_pieces", "base_filters", "embedding_dim", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2 for a class-conditional model; got {self.num_classes}.")
        size = self.image_size
        if self.architecture == "conv" and (size < 16 or size & (size - 1)):
            raise ValueError(f"architecture='conv' needs image_size a power of two >= 16 (e.g. 32); got {size}. "
                             "Pass --image_size=32 (the reader resizes) or --architecture=mlp.")
        if size < 4:
            raise ValueError(f"image_size must be >= 4; got {size}.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {self.channels!r}.")
        if self.latent_distribution not in LATENT_DISTRIBUTIONS:
            raise ValueError(f"latent_distribution must be one of {', '.join(LATENT_DISTRIBUTIONS)}; "
                             f"got {self.latent_distribution!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1) (0 turns it off); got {self.dropout!r}.")
        for name in ("generator_init_range", "discriminator_init_range", "g_learning_rate", "d_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}.")
        if not self.learning_rate_decay >= 1.0:
            raise ValueError(f"learning_rate_decay must be >= 1 (the rate is divided by it after every update; "
                             f"1 keeps it constant); got {self.learning_rate_decay!r}.")
        for name in ("momentum", "beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam'; got {self.optimizer!r}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off); got {self.ema_decay!r}.")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}.")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(image_size, image_size, channels)."""
        return (self.image_size, self.image_size, self.channels)
