"""WGAN-GP training model (Gulrajani et al. 2017, https://arxiv.org/abs/1704.00028, Algorithm 1).

`WGANGP` is a `common.models.critic_training.CriticGAN`: each ``train_step`` runs
``critic_steps`` critic updates, each on its own real batch (``batch["image"]``
is [B, K, H, W, C]) and fresh z, then one generator update. The critic minimises

    E[f(G(z))] - E[f(x)] + lambda * E[(||grad_x_hat f(x_hat)||_2 - 1)^2],
    x_hat = alpha * x + (1 - alpha) * G(z),  alpha ~ U[0, 1], one per example,

(`common.nn.losses.wasserstein_critic_loss` and `common.nn.losses.gradient_penalty`);
the generator minimises ``-E[f(G(z))]``. Under a distribution strategy each
replica takes its rows of one global draw of alpha (and of z), so N replicas
compute what one device computes for the global batch.

Mixed precision: the penalty is computed in float32 from the gradient of the
critic with respect to x_hat. Under float16 that inner gradient has no loss
scaling, so the critic's score is multiplied by 2**8 before differentiating
(and the target norm with it), and the result divided by 2**16: the same value
up to float rounding, with the float16 backward pass 256 times away from
underflow.

Reported metrics: ``d_loss`` (critic loss with the weighted penalty, mean over
the step's critic updates), ``g_loss``, ``wasserstein_estimate`` =
``E[f(x)] - E[f(G(z))]`` (the paper's negative critic loss, figure 5),
``gradient_penalty`` (unweighted), ``critic_steps``.

Deviations: none in the algorithm. Beyond the paper: the one-sided penalty
(``one_sided_penalty``), optional exponential moving average of the generator.
"""

from __future__ import annotations

import keras

from apps.wgan_gp.config import WGANGPConfig
from apps.wgan_gp.networks import build_critic, build_generator
from common.nn import losses
from common.models.critic_training import CriticGAN, interpolated_gradient_penalty

__all__ = ["WGANGP", "build_model", "make_optimizers"]


class WGANGP(CriticGAN):
    """Generator and gradient-penalised critic; see the module docstring.

    Args:
      generator: Model z [B, latent_dim] -> images [B, H, W, C] in [-1, 1].
      critic: Model images -> float32 scores [B, 1]; no batch normalisation.
      config: `WGANGPConfig`.
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    extra_statistics = ("gradient_penalty",)

    def __init__(self, generator: keras.Model, critic: keras.Model, config: WGANGPConfig, **kwargs):
        super().__init__(generator, critic, config, **kwargs)

    def penalty(self, real_images, fake_images):
        """Unweighted gradient penalty on this replica's batch, float32
        (`common.models.critic_training.interpolated_gradient_penalty`)."""
        return interpolated_gradient_penalty(
            lambda x: self.critic(x, training=True), real_images, fake_images, self.seed_generator,
            compute_dtype=self.critic.compute_dtype, one_sided=self.config.one_sided_penalty)

    def critic_objective(self, real_images, fake_images, real_scores, fake_scores):
        """``E[f(G(z))] - E[f(x)] + lambda * penalty``, and the unweighted penalty."""
        penalty = self.penalty(real_images, fake_images)
        loss = losses.wasserstein_critic_loss(real_scores, fake_scores) + self.config.penalty_weight * penalty
        return loss, {"gradient_penalty": penalty}


def make_optimizers(config: WGANGPConfig):
    """The paper's optimizers: Adam(learning_rate, beta_1, beta_2) for G and for the critic, in that order."""

    def adam(name):
        return keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: WGANGPConfig) -> WGANGP:
    """An uncompiled `WGANGP` with freshly built networks; compile it with `make_optimizers(config)`."""
    return WGANGP(build_generator(config), build_critic(config), config, name="wgan_gp")
