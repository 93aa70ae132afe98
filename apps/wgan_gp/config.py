"""Hyper-parameters of WGAN-GP (Gulrajani et al. 2017, https://arxiv.org/abs/1704.00028).

Defaults are the paper's (Algorithm 1 and section 4) and, where it is silent,
those of the authors' 64x64 image code (github.com/igul222/improved_wgan_training,
`gan_64x64.py`):

- gradient penalty weight lambda = 10 on points interpolated between real and
  generated images with one uniform factor per example (Algorithm 1, line 6);
- n_critic = 5 critic updates per generator update, each on its own real batch;
- Adam, learning rate 1e-4, beta_1 0, beta_2 0.9, for both networks;
- no batch normalisation in the critic; layer normalisation instead (section 4,
  "we recommend layer normalization as a drop-in replacement"), or none;
- mini-batch 64, 64x64 images, z of 128 dimensions (authors' code);
- generator: the DCGAN generator with batch normalisation (`apps.dcgan.networks`).

Options beyond the paper's defaults: the one-sided penalty ``max(0, ||g|| - 1)^2``
(``one_sided_penalty``; mentioned in section 4), other power-of-two image sizes,
1 or 3 channels, an exponential moving average of the generator.
"""

from __future__ import annotations

import dataclasses

from apps.dcgan.config import DCGANConfig
from common.models.critic_training import CriticSchedule

CRITIC_NORMALIZATIONS = ("layer", "none")


@dataclasses.dataclass(frozen=True)
class WGANGPConfig:
    """WGAN-GP hyper-parameters; paper defaults. See the module docstring for sources.

    Attributes:
      image_size: Height and width of generated images; a power of two >= 16.
      channels: 1 (grayscale) or 3 (RGB).
      latent_dim: Size of z.
      base_filters: Filters of the critic's first layer; doubled per halving of the
        resolution (64x64: critic 64-128-256-512, generator 512-256-128-64).
      learning_rate: Adam learning rate of both networks.
      beta_1, beta_2: Adam moment decay rates.
      batch_size: Global mini-batch size of each critic and generator update.
      penalty_weight: lambda, the weight of the gradient penalty.
      one_sided_penalty: Penalise only gradient norms above 1.
      critic_steps: Critic updates per generator update (n_critic).
      critic_normalization: "layer" (normalisation over height, width and
        channels with a scale and offset per channel, as the authors' code) or "none".
      init_stddev: Standard deviation of the N(0, s) weight initialiser.
      leaky_relu_slope: Negative slope of the critic's LeakyReLU.
      ema_decay: Decay of the generator's exponential moving average; 0 turns it off.
      seed: Seed of weight initialisation and of the noise.
      sync_batch_norm: The generator's batch normalisation with global-batch statistics across replicas.
    """

    image_size: int = 64
    channels: int = 3
    latent_dim: int = 128
    base_filters: int = 64
    learning_rate: float = 1e-4
    beta_1: float = 0.0
    beta_2: float = 0.9
    batch_size: int = 64
    penalty_weight: float = 10.0
    one_sided_penalty: bool = False
    critic_steps: int = 5
    critic_normalization: str = "layer"
    init_stddev: float = 0.02
    leaky_relu_slope: float = 0.2
    ema_decay: float = 0.0
    seed: int = 0
    sync_batch_norm: bool = True

    def __post_init__(self):
        self.dcgan_config()  # image_size, channels, latent_dim, base_filters, batch_size, Adam, init, ema_decay
        self.schedule  # critic_steps  # noqa: B018
        if not self.penalty_weight >= 0:
            raise ValueError(f"penalty_weight must be >= 0 (the paper uses 10); got {self.penalty_weight!r}.")
        if self.critic_normalization not in CRITIC_NORMALIZATIONS:
            raise ValueError(f"critic_normalization must be one of {', '.join(CRITIC_NORMALIZATIONS)} (batch "
                             "normalisation would make the penalty of each example depend on the others); "
                             f"got {self.critic_normalization!r}.")

    @property
    def schedule(self) -> CriticSchedule:
        """``critic_steps`` critic updates for every generator update."""
        return CriticSchedule(critic_steps=self.critic_steps, warmup_steps=0, boost_every=0)

    def dcgan_config(self) -> DCGANConfig:
        """The DCGAN config the generator is built from (its validation applies to the shared fields)."""
        return DCGANConfig(image_size=self.image_size, channels=self.channels, latent_dim=self.latent_dim,
                           base_filters=self.base_filters, learning_rate=self.learning_rate,
                           beta_1=self.beta_1, beta_2=self.beta_2, batch_size=self.batch_size,
                           init_stddev=self.init_stddev, leaky_relu_slope=self.leaky_relu_slope,
                           ema_decay=self.ema_decay, seed=self.seed, sync_batch_norm=self.sync_batch_norm)
