"""Hyper-parameters of WGAN (Arjovsky et al. 2017, https://arxiv.org/abs/1701.07875).

Defaults are the paper's (Algorithm 1, section 4) and, where it is silent, those
of the authors' code (github.com/martinarjovsky/WassersteinGAN, `main.py`):

- critic: the DCGAN discriminator (with batch normalisation, as in the
  paper's experiments) without the final sigmoid; generator: the DCGAN generator
  (`apps.dcgan.networks`, built from the `DCGANConfig` of `dcgan_config`);
- weight clipping to [-0.01, 0.01] after every critic update (c = 0.01);
- n_critic = 5 critic updates per generator update, 100 during the first 25
  generator updates and at every 500th one (authors' code);
- RMSProp, learning rate 5e-5 (Algorithm 1), decay rate 0.99 and epsilon 1e-8
  (PyTorch's RMSprop defaults, which the authors' code used);
- mini-batch 64, 64x64 images, z of 100 dimensions from N(0, I), weights from N(0, 0.02).

Options beyond the paper: other power-of-two image sizes, 1 or 3 channels, a
constant schedule (``warmup_steps=0``, ``boost_every=0``), an exponential moving
average of the generator (``ema_decay > 0``).
"""

from __future__ import annotations

import dataclasses

from apps.dcgan.config import DCGANConfig
from common.models.critic_training import CriticSchedule


@dataclasses.dataclass(frozen=True)
class WGANConfig:
    """WGAN hyper-parameters; paper defaults. See the module docstring for sources.

    Attributes:
      image_size: Height and width of generated images; a power of two >= 16.
      channels: 1 (grayscale) or 3 (RGB).
      latent_dim: Size of z.
      base_filters: Filters of the critic's first layer (DCGAN layout: 64x64 gives
        G 512-256-128-64, critic 64-128-256-512).
      learning_rate: RMSProp learning rate of both networks.
      rmsprop_rho: RMSProp decay rate of the squared-gradient average.
      rmsprop_epsilon: RMSProp epsilon.
      batch_size: Global mini-batch size of each critic and generator update.
      clip_value: Critic weights are clipped to [-clip_value, clip_value] (c).
      critic_steps: Critic updates per generator update (n_critic).
      warmup_steps: First generator updates that take ``warmup_critic_steps`` critic updates.
      warmup_critic_steps: Critic updates of a warm-up or boosted generator update.
      boost_every: Every this many generator updates, one takes ``warmup_critic_steps``; 0: never.
      init_stddev: Standard deviation of the N(0, s) weight initialiser.
      ema_decay: Decay of the generator's exponential moving average; 0 turns it off.
      seed: Seed of weight initialisation and of the noise.
      sync_batch_norm: Batch normalisation with statistics of the global batch across replicas.
    """

    image_size: int = 64
    channels: int = 3
    latent_dim: int = 100
    base_filters: int = 64
    learning_rate: float = 5e-5
    rmsprop_rho: float = 0.99
    rmsprop_epsilon: float = 1e-8
    batch_size: int = 64
    clip_value: float = 0.01
    critic_steps: int = 5
    warmup_steps: int = 25
    warmup_critic_steps: int = 100
    boost_every: int = 500
    init_stddev: float = 0.02
    ema_decay: float = 0.0
    seed: int = 0
    sync_batch_norm: bool = True

    def __post_init__(self):
        self.dcgan_config()  # image_size, channels, latent_dim, base_filters, batch_size, init_stddev, ema_decay
        self.schedule  # critic_steps, warmup_steps, warmup_critic_steps, boost_every  # noqa: B018
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}.")
        if not 0.0 <= self.rmsprop_rho < 1.0:
            raise ValueError(f"rmsprop_rho must be in [0, 1); got {self.rmsprop_rho!r}.")
        if not self.rmsprop_epsilon > 0:
            raise ValueError(f"rmsprop_epsilon must be > 0; got {self.rmsprop_epsilon!r}.")
        if not self.clip_value > 0:
            raise ValueError(f"clip_value must be > 0 (the paper clips to [-0.01, 0.01]); got {self.clip_value!r}.")

    @property
    def schedule(self) -> CriticSchedule:
        """Critic updates per generator update."""
        return CriticSchedule(critic_steps=self.critic_steps, warmup_steps=self.warmup_steps,
                              warmup_critic_steps=self.warmup_critic_steps, boost_every=self.boost_every)

    def dcgan_config(self) -> DCGANConfig:
        """The DCGAN config the networks are built from (its validation applies to the shared fields)."""
        return DCGANConfig(image_size=self.image_size, channels=self.channels, latent_dim=self.latent_dim,
                           base_filters=self.base_filters, batch_size=self.batch_size,
                           init_stddev=self.init_stddev, ema_decay=self.ema_decay, seed=self.seed,
                           sync_batch_norm=self.sync_batch_norm)
