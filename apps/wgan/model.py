"""WGAN training model (Arjovsky et al. 2017, https://arxiv.org/abs/1701.07875, Algorithm 1).

`WGAN` is a `common.models.critic_training.CriticGAN`: each ``train_step`` runs K
critic updates, each on its own real batch (``batch["image"]`` is
[B, K, H, W, C]) and fresh z, then one generator update. The critic minimises
``E[f(G(z))] - E[f(x)]`` (`common.nn.losses.wasserstein_critic_loss`) and every
critic weight is clipped to [-clip_value, clip_value] when the model is built
and right after each update (a `WeightClip` constraint, applied by the
optimizer inside its update); the generator minimises
``-E[f(G(z))]``. K follows ``config.schedule``: 100 for the first 25 generator
updates and every 500th, else 5; the dataset delivers that many batches
(`common.models.critic_training.critic_dataset_fn`).

Reported metrics (means over the steps of a logging interval, averaged across
replicas): ``d_loss`` (mean over the step's critic updates), ``g_loss``,
``wasserstein_estimate`` = ``E[f(x)] - E[f(G(z))]`` on each critic batch (mean
over the step's critic updates; the paper's figure 3 curve, which the
clipping constant scales), ``critic_steps`` (K).

Deviations: none in the algorithm. Beyond the paper: optional exponential
moving average of the generator (``config.ema_decay > 0``), used by `sample`.
"""

from __future__ import annotations

import keras

from apps.wgan.config import WGANConfig
from apps.wgan.networks import build_critic, build_generator
from common.nn import losses
from common.models.critic_training import CriticGAN, clip_weights

__all__ = ["WGAN", "build_model", "make_optimizers"]


class WGAN(CriticGAN):
    """Generator and weight-clipped critic; see the module docstring.

    Args:
      generator: Model z [B, latent_dim] -> images [B, H, W, C] in [-1, 1].
      critic: Model images -> float32 scores [B, 1]; its trainable variables get
        a clipping constraint to [-config.clip_value, config.clip_value].
      config: `WGANConfig`.
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    def __init__(self, generator: keras.Model, critic: keras.Model, config: WGANConfig, **kwargs):
        super().__init__(generator, clip_weights(critic, config.clip_value), config, **kwargs)

    def critic_objective(self, real_images, fake_images, real_scores, fake_scores):
        """``E[f(G(z))] - E[f(x)]``; the Lipschitz constraint is the weight clipping."""
        return losses.wasserstein_critic_loss(real_scores, fake_scores), {}


def make_optimizers(config: WGANConfig):
    """The paper's optimizers: RMSProp(learning_rate) for G and for the critic, in that order."""

    def rmsprop(name):
        return keras.optimizers.RMSprop(config.learning_rate, rho=config.rmsprop_rho,
                                        epsilon=config.rmsprop_epsilon, name=name)

    return rmsprop("g_optimizer"), rmsprop("d_optimizer")


def build_model(config: WGANConfig) -> WGAN:
    """An uncompiled `WGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return WGAN(build_generator(config), build_critic(config), config, name="wgan")
