"""StyleGAN training model (Karras, Laine & Aila 2019, https://arxiv.org/abs/1812.04948).

Each ``train_step`` at global step s of phase P (resolution R, fade weight
alpha(s), computed inside the traced step from ``global_step``:
`common.models.progressive_model`):

1. Real images are average-pooled to R and, in a fade, faded like the
   generator's output (`ProgressiveAdversarialModel.real_images`).
2. Fakes: two latents z_a, z_b per example -> w_a, w_b (the mapping network);
   the tracked mean of w moves towards the batch mean of w_a (beta 0.995); per
   example, with probability 0.9 (style mixing regularisation, section 3.1) the
   layers from a crossover drawn uniformly in [1, L_R) take w_b instead of w_a,
   L_R = 2 log2(R) - 2 being the layers the phase renders (the reference's
   ``cur_layers``); the synthesis network renders with fresh noise. No truncation
   in training.
3. One discriminator update (``D_logistic_simplegp``):

       L_D = E[softplus(D(G(z)))] + E[softplus(-D(x))] + (gamma / 2) E[||grad_x D(x)||^2],   gamma = 10

   D(x) and its input gradient come from one forward pass
   (`common.nn.losses.outputs_and_r1_penalty`).
4. One generator update on fresh fakes (step 2 again, new latents, noise and
   crossovers), non-saturating: ``L_G = E[softplus(-D(G(z)))]``.
5. The generator's moving average, with the phase's decay 0.5^(batch / 10,000),
   and the step counter.

The tracked mean of w moves at both generator evaluations of a step (the
reference updates it whenever the training graph evaluates G, in D's loss and
in G's). At each phase (`phase_entered`) both Adam optimizers take the phase's
learning rate (`StyleGANConfig.learning_rate_at`) and the moving average its
decay; their states are reset at the start of each fade and of the stable part
after it (`ProgressiveAdversarialModel.enter_phase`).

Reported metrics: ``d_loss`` (the logistic terms), ``g_loss``, ``d_real`` /
``d_fake`` (mean sigmoid of D), the two gradient norms, ``r1`` (unweighted),
``alpha``, ``resolution``.

Deviations from the reference code: its loop recomputes the schedule every 4
mini-batches (``minibatch_repeats``) and draws one mixing crossover per
mini-batch; here alpha follows every step and the crossover is drawn per
example (`common.nn.style_layers.mixing_crossover`: the same distribution for
each example, less variance between batches).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from apps.stylegan.config import StyleGANConfig
from apps.stylegan.networks import build_discriminator, build_generator
from common.models import gan_step
from common.models.progressive_model import ProgressiveAdversarialModel, used_gradients
from common.nn import losses
from common.nn import style_layers as sl

__all__ = ["StyleGAN", "build_model", "make_optimizers"]


class StyleGAN(ProgressiveAdversarialModel):
    """Style-based generator and progressive discriminator; see the module docstring.

    Args:
      generator: `apps.stylegan.networks.StyleGenerator`.
      discriminator: `common.nn.progressive_networks.ProgressiveDiscriminator` with the blur.
      config: `StyleGANConfig`.
      **kwargs: `keras.Model` arguments.
    """

    TRACKED = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm", "alpha", "resolution")

    def phase_entered(self, phase) -> None:
        """The phase's learning rate for both optimizers and its moving-average decay."""
        rate = self.config.learning_rate_at(phase.resolution)
        for optimizer in (self.g_optimizer, self.d_optimizer):
            getattr(optimizer, "inner_optimizer", optimizer).learning_rate.assign(rate)
        if self.ema is not None:
            self.ema.decay = self.config.ema_decay_at(phase.batch_size)

    def mixed_dlatents(self, batch_size, *, update_average: bool, training: bool = True):
        """Per-layer dlatents [B, L, D] of fresh latents with style mixing (module docstring, step 2)."""
        generator = self.generator
        w_a = generator.mapping(self._latents(batch_size), training=training)
        if update_average:
            generator.dlatent_avg.update(w_a)
        dlatents = sl.broadcast_dlatents(w_a, generator.num_layers)
        if self.config.style_mixing_prob > 0:
            w_b = generator.mapping(self._latents(batch_size), training=training)
            crossover = sl.mixing_crossover(self.seed_generator, batch_size,
                                            self.config.layers_at(self.phase.resolution),
                                            self.config.style_mixing_prob)
            dlatents = sl.mix_dlatents(dlatents, sl.broadcast_dlatents(w_b, generator.num_layers), crossover)
        return dlatents

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

        def fakes():
            dlatents = self.mixed_dlatents(batch_size, update_average=True)
            return self.generator.synthesize(dlatents, alpha, noise_mode="random", training=True)

        # Discriminator update.
        fake_images = fakes()
        with tf.GradientTape() as tape:
            if self.r1_gamma > 0:
                real_scores, r1 = losses.outputs_and_r1_penalty(critic, real_images,
                                                                scale=self.d_optimizer.scale_loss(1.0))
            else:
                real_scores = critic(real_images)
            fake_scores = critic(fake_images)
            d_loss = losses.non_saturating_discriminator_loss(real_scores, fake_scores)
            d_total = d_loss + 0.5 * self.r1_gamma * r1 if self.r1_gamma > 0 else d_loss
            d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_total))
        d_weights, d_gradients = used_gradients(tape.gradient(d_scaled, self.discriminator.trainable_weights),
                                                self.discriminator.trainable_weights)
        d_grad_norm = gan_step.unscaled_global_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))

        # Generator update on fresh latents, through the updated discriminator.
        with tf.GradientTape() as tape:
            g_loss = losses.non_saturating_generator_loss(critic(fakes()))
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_loss))
        g_weights, g_gradients = used_gradients(tape.gradient(g_scaled, self.generator.trainable_weights),
                                                self.generator.trainable_weights)
        g_grad_norm = gan_step.unscaled_global_norm(g_gradients, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))
        self.update_ema()
        self.global_step.assign_add(1)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        if self.r1_gamma > 0:
            self.r1_tracker.update_state(r1)
        self.d_real_tracker.update_state(self.output_statistic(real_scores))
        self.d_fake_tracker.update_state(self.output_statistic(fake_scores))
        self.alpha_tracker.update_state(alpha)
        self.resolution_tracker.update_state(float(self.phase.resolution))
        gan_step.update_if_finite(self.d_grad_norm_tracker, d_grad_norm)
        gan_step.update_if_finite(self.g_grad_norm_tracker, g_grad_norm)
        return {tracker.name: tracker.result() for tracker in self.metrics}


def make_optimizers(config: StyleGANConfig):
    """Adam(beta_1 0, beta_2 0.99, epsilon 1e-8) for G and for D, in that order, at the first phase's rate."""

    def adam(name):
        return keras.optimizers.Adam(config.learning_rate_at(config.initial_resolution), beta_1=config.beta_1,
                                     beta_2=config.beta_2, epsilon=config.epsilon, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: StyleGANConfig) -> StyleGAN:
    """An uncompiled `StyleGAN` with freshly built networks (every resolution); compile it with `make_optimizers`."""
    return StyleGAN(build_generator(config), build_discriminator(config), config, name="stylegan")
