"""Hyper-parameters of the original GAN (Goodfellow et al. 2014, https://arxiv.org/abs/1406.2661).

Defaults are the paper's MNIST setting as its code runs it
(github.com/goodfeli/adversarial, ``mnist.yaml`` with ``AdversaryCost2``):

- z of 100 dimensions from a standard normal (the code's ``Generator`` default
  noise, ``"gaussian"``);
- 28x28 grayscale images;
- generator: two ReLU layers of 1200 units, then an output layer of
  ``image_size * image_size * channels`` units; weights U(-0.05, 0.05);
- discriminator: two maxout layers of 240 units with 5 pieces each, then one
  logit; weights U(-0.005, 0.005); dropout on the input of every layer, keeping
  80% of the discriminator's inputs and 50% of the hidden units' (pylearn2
  ``input_include_probs``; ``input_scales`` 1.25 and 2 are inverted dropout);
- SGD with momentum 0.5, mini-batch 100, learning rate 0.1 divided by 1.000004
  after every update (``ExponentialDecay``);
- k = 1 discriminator step per generator step (Algorithm 1: "k = 1, the least
  expensive option");
- the non-saturating generator loss (section 3 and the code).

Where the code differs from the text or from this app, the README's "Deviations"
section says so: the code's discriminator objective is HALF the cross entropy
(``0.5 * (cost(1, D(x)) + cost(0, D(G(z))))``), so its discriminator steps are
half as long; with SGD that is the same update as the full cross entropy at half
the learning rate, hence ``d_learning_rate = 0.05``. The code raises momentum
linearly from 0.5 to 0.7 over epochs 1-250 and floors the learning rate at 1e-6;
Keras' SGD has a constant momentum, so this app keeps 0.5 (``momentum``), and the
floor is reached only after 2.7-2.9 million steps.
"""

from __future__ import annotations

import dataclasses

GENERATOR_LOSSES = ("non_saturating", "minimax")


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """GAN hyper-parameters; the paper code's MNIST defaults. See the module docstring for sources.

    Attributes:
      image_size: Height and width of the images (any size >= 4; the
        networks see them flattened).
      channels: 1 (grayscale) or 3 (RGB).
      latent_dim: Size of z.
      generator_units: Units of each ReLU hidden layer of the generator (1200, 1200).
      maxout_units: Maxout units of each hidden layer of the discriminator (240, 240).
      maxout_pieces: Pieces per maxout unit (5).
      input_keep_prob: Share of the discriminator's input pixels kept by dropout (0.8).
      hidden_keep_prob: Share of the discriminator's hidden units kept by dropout (0.5).
      generator_init_range: Generator weights are U(-r, r) (0.05).
      discriminator_init_range: Discriminator weights are U(-r, r) (0.005).
      generator_loss: "non_saturating" (``-log D(G(z))``, the paper's practice) or
        "minimax" (``log(1 - D(G(z)))``, eq. 1).
      d_steps: k of Algorithm 1: discriminator steps per generator step. Each
        training step consumes ``batch_size`` real images, ``batch_size / k``
        (m of Algorithm 1) per discriminator step, and the generator step uses
        ``batch_size / k`` latents.
      g_learning_rate, d_learning_rate: Initial SGD learning rates.
      learning_rate_decay: After every update the learning rate is divided by this (1 = constant).
      momentum: SGD momentum of both networks.
      batch_size: Global mini-batch size (all replicas together), ``k * m``.
      ema_decay: Decay of the generator's exponential moving average; 0 turns it off.
      seed: Seed of weight initialisation, dropout and the latent noise.
    """

    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    generator_units: int = 1200
    maxout_units: int = 240
    maxout_pieces: int = 5
    input_keep_prob: float = 0.8
    hidden_keep_prob: float = 0.5
    generator_init_range: float = 0.05
    discriminator_init_range: float = 0.005
    generator_loss: str = "non_saturating"
    d_steps: int = 1
    g_learning_rate: float = 0.1
    d_learning_rate: float = 0.05
    learning_rate_decay: float = 1.000004
    momentum: float = 0.5
    batch_size: int = 100
    ema_decay: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for name in ("image_size", "latent_dim", "generator_units", "maxout_units", "maxout_pieces",
                     "d_steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if self.image_size < 4:
            raise ValueError(f"image_size must be >= 4; got {self.image_size!r}.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {self.channels!r}.")
        for name in ("input_keep_prob", "hidden_keep_prob"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1] (1 turns dropout off); got {getattr(self, name)!r}.")
        for name in ("generator_init_range", "discriminator_init_range", "g_learning_rate", "d_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}.")
        if not self.learning_rate_decay >= 1.0:
            raise ValueError(f"learning_rate_decay must be >= 1 (the rate is divided by it after every update; "
                             f"1 keeps it constant); got {self.learning_rate_decay!r}.")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {self.momentum!r}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off); got {self.ema_decay!r}.")
        if self.generator_loss not in GENERATOR_LOSSES:
            raise ValueError(f"generator_loss must be one of {', '.join(GENERATOR_LOSSES)}; "
                             f"got {self.generator_loss!r}.")
        if self.batch_size % self.d_steps:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of d_steps ({self.d_steps}): each of the "
                f"k discriminator steps uses batch_size / k real images. Use e.g. --batch_size="
                f"{self.d_steps * max(1, self.batch_size // self.d_steps)}."
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(image_size, image_size, channels)."""
        return (self.image_size, self.image_size, self.channels)
