"""ProGAN training model (Karras et al. 2018, https://arxiv.org/abs/1710.10196).

Each ``train_step`` at global step s of phase P (resolution R, fade weight
alpha(s) = `common.training.progressive.Phase.alpha`, computed inside the traced
step from the model's ``global_step`` variable, so a fade never retraces):

1. Real images (read at the config's ``image_size``) are average-pooled to R
   and, in a phase after the first, faded the way G's output is (Figure 2's
   caption): ``x = (1 - alpha) * upsample(avgpool(x_R)) + alpha * x_R``.
2. One critic update on fresh z (WGAN-GP loss with the drift term, appendix A.1):

       L_D = E[D(G(z))] - E[D(x)] + lambda * E[(||grad_x_hat D(x_hat)||_2 - 1)^2]
             + epsilon_drift * E[D(x)^2],

   lambda = 10, epsilon_drift = 0.001, x_hat between x and G(z) with one
   uniform factor per example (`common.models.critic_training.interpolated_gradient_penalty`).
3. One generator update on fresh z: L_G = -E[D(G(z))].
4. The moving average of G (decay 0.999 per step) and the step counter.

D and G both see the phase's alpha; G's ``alpha`` variable keeps the value of
the last step for sampling (the moving average copies it, as a non-trainable
weight). Reported metrics: ``d_loss`` (with the weighted penalty and drift),
``g_loss``, ``d_real`` / ``d_fake`` (mean scores), ``wasserstein_estimate``
(E[D(x)] - E[D(G(z))]), ``gradient_penalty`` and ``drift`` (unweighted),
``d_grad_norm``, ``g_grad_norm``, and ``alpha`` and ``resolution`` (the phase,
for TensorBoard).

The phase is the runtime's (`common.training.progressive`): `enter_phase` sets
the networks' resolution before the runtime traces the phase's step. After a
restore (evaluate, export) `prepare_sampling` puts the generator in the phase
and at the alpha of the restored step.

Deviations from the authors' code: their loop updates D and the generator's
moving average together before each G update and recomputes the schedule
every 4 mini-batches (``minibatch_repeats``); here every step is D, G, then
the average, and alpha follows every step.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from apps.progan.config import ProGANConfig
from apps.progan.networks import build_discriminator, build_generator
from common.models import gan_step
from common.models.critic_training import interpolated_gradient_penalty
from common.models.progressive_model import ProgressiveAdversarialModel, used_gradients
from common.nn import losses

__all__ = ["ProGAN", "build_model", "make_optimizers"]


class ProGAN(ProgressiveAdversarialModel):
    """Progressive generator and critic; see the module docstring.

    Args:
      generator: `apps.progan.networks.ProgressiveGenerator`.
      discriminator: `common.nn.progressive_networks.ProgressiveDiscriminator` (ProGAN's blocks).
      config: `ProGANConfig`.
      **kwargs: `keras.Model` arguments.
    """

    TRACKED = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm", "wasserstein_estimate",
               "gradient_penalty", "drift", "alpha", "resolution")

    def output_statistic(self, outputs):
        """d_real / d_fake: the mean critic score."""
        return ops.mean(ops.cast(outputs, "float32"))

    # --- Training -------------------------------------------------------------------------

    def train_step(self, batch):
        self.check_phase()
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        alpha = self.alpha()
        self.generator.alpha.assign(alpha)
        real_images = self.real_images(batch["image"], alpha)
        batch_size = ops.shape(real_images)[0]

        def critic(x):
            return self.discriminator(x, alpha=alpha, training=True)

        # Critic update.
        fake_images = self.generator.synthesize(self._latents(batch_size), alpha, training=True)
        with tf.GradientTape() as tape:
            real_scores = critic(real_images)
            fake_scores = critic(fake_images)
            wasserstein = losses.wasserstein_critic_loss(real_scores, fake_scores)
            penalty = interpolated_gradient_penalty(critic, real_images, fake_images, self.seed_generator,
                                                    compute_dtype=self.discriminator.compute_dtype)
            drift = ops.mean(ops.square(ops.cast(real_scores, "float32")))
            d_loss = wasserstein + self.config.penalty_weight * penalty + self.config.drift_weight * drift
            d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_loss))
        d_weights, d_gradients = used_gradients(tape.gradient(d_scaled, self.discriminator.trainable_weights),
                                       self.discriminator.trainable_weights)
        d_grad_norm = gan_step.unscaled_global_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))

        # Generator update on fresh z, through the updated critic.
        with tf.GradientTape() as tape:
            generated = self.generator.synthesize(self._latents(batch_size), alpha, training=True)
            g_loss = losses.wasserstein_generator_loss(critic(generated))
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_loss))
        g_weights, g_gradients = used_gradients(tape.gradient(g_scaled, self.generator.trainable_weights),
                                       self.generator.trainable_weights)
        g_grad_norm = gan_step.unscaled_global_norm(g_gradients, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))
        self.update_ema()
        self.global_step.assign_add(1)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(self.output_statistic(real_scores))
        self.d_fake_tracker.update_state(self.output_statistic(fake_scores))
        self.wasserstein_estimate_tracker.update_state(-wasserstein)
        self.gradient_penalty_tracker.update_state(penalty)
        self.drift_tracker.update_state(drift)
        self.alpha_tracker.update_state(alpha)
        self.resolution_tracker.update_state(float(self.phase.resolution))
        gan_step.update_if_finite(self.d_grad_norm_tracker, d_grad_norm)
        gan_step.update_if_finite(self.g_grad_norm_tracker, g_grad_norm)
        return {tracker.name: tracker.result() for tracker in self.metrics}


def make_optimizers(config: ProGANConfig):
    """The paper's Adam(1e-3, beta_1 0, beta_2 0.99, epsilon 1e-8) for G and for D, in that order."""

    def adam(name):
        return keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2,
                                     epsilon=config.epsilon, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: ProGANConfig) -> ProGAN:
    """An uncompiled `ProGAN` with freshly built networks (every resolution); compile it with `make_optimizers`."""
    return ProGAN(build_generator(config), build_discriminator(config), config, name="progan")
