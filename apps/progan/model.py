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
from apps.progan.networks import blend, build_discriminator, build_generator
from common.models import gan_step
from common.models.adversarial_model import AdversarialModel
from common.models.critic_training import interpolated_gradient_penalty
from common.nn import losses
from common.nn import progressive_layers as pl

__all__ = ["ProGAN", "build_model", "make_optimizers"]


class ProGAN(AdversarialModel):
    """Progressive generator and critic; see the module docstring.

    Args:
      generator: `apps.progan.networks.ProgressiveGenerator`.
      discriminator: `apps.progan.networks.ProgressiveDiscriminator`.
      config: `ProGANConfig`.
      **kwargs: `keras.Model` arguments.
    """

    TRACKED = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm", "wasserstein_estimate",
               "gradient_penalty", "drift", "alpha", "resolution")

    def __init__(self, generator, discriminator, config: ProGANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        # Global steps taken; the phase and alpha are functions of it (checkpointed with the model).
        self.global_step = self.add_weight(shape=(), initializer="zeros", dtype="int64", trainable=False,
                                           aggregation="only_first_replica", name="global_step")
        self.schedule = config.schedule()
        self.phase = None

    def output_statistic(self, outputs):
        """d_real / d_fake: the mean critic score."""
        return ops.mean(ops.cast(outputs, "float32"))

    # --- Phases ---------------------------------------------------------------------------

    def _set_resolution(self, resolution: int) -> None:
        self.generator.set_resolution(resolution)
        if self.ema is not None:
            self.ema.shadow.set_resolution(resolution)

    def enter_phase(self, phase) -> None:
        """Switches the networks to ``phase`` (`common.training.progressive.Phase`) before its step is traced.

        The runtime calls it before every part of the phase. At the first step of a fade and at the
        first step of the stable part that follows it, both optimizers' states are reset (Adam's
        moments and step count), as the authors' ``reset_opt_for_new_lod`` (which resets whenever
        floor(lod) or ceil(lod) changes): the new layers start with fresh moments and bias correction
        instead of a first step of about lr / sqrt(1 - beta_2) under a long-running step count.
        Entered at any other step (a resume part-way into a part) the restored state is kept.
        """
        self.phase = phase
        self._set_resolution(phase.resolution)
        step = int(self.global_step.numpy())
        if phase.fade_steps and step in (phase.start_step, phase.start_step + phase.fade_steps):
            for optimizer in (self.g_optimizer, self.d_optimizer):
                reset_optimizer_state(optimizer)

    def prepare_sampling(self, generator=None) -> None:
        """Puts the generators in the phase of the restored step, at its alpha (`conditional_protocol`)."""
        step = int(self.global_step.numpy())
        phase = self.schedule.phase_at(step)
        self._set_resolution(phase.resolution)
        # The alpha of the last step taken (the live weights were trained with it).
        alpha = phase.alpha(max(step - 1, phase.start_step))
        for g in {id(g): g for g in (generator, self.generator, self.ema and self.ema.shadow) if g is not None}.values():
            g.alpha.assign(alpha)

    def _alpha(self):
        """This step's fade weight, float32: clip((step - start) / fade_steps, 0, 1) of the current phase."""
        phase = self.phase
        if phase.fade_steps == 0:
            return tf.constant(1.0, tf.float32)
        done = ops.cast(self.global_step - phase.start_step, "float32")
        return ops.clip(done / float(phase.fade_steps), 0.0, 1.0)

    def real_images(self, images, alpha):
        """The real batch at the phase's resolution, faded like the generator's output in a fade."""
        resolution = self.phase.resolution
        factor = self.config.image_size // resolution
        images = ops.cast(images, "float32")
        if factor > 1:
            images = pl.downsample_average(images, factor)
        if self.phase.index > 0:
            images = blend(pl.upsample_nearest(pl.downsample_average(images)), images, alpha)
        return images

    # --- Training -------------------------------------------------------------------------

    def train_step(self, batch):
        if self.phase is None:
            raise RuntimeError("ProGAN trains in phases: call enter_phase(phase) before the first step "
                               "(common.training.runtime.train(stages=config.schedule(...)) does).")
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        alpha = self._alpha()
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
        d_weights, d_gradients = _used(tape.gradient(d_scaled, self.discriminator.trainable_weights),
                                       self.discriminator.trainable_weights)
        d_grad_norm = gan_step.unscaled_global_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))

        # Generator update on fresh z, through the updated critic.
        with tf.GradientTape() as tape:
            generated = self.generator.synthesize(self._latents(batch_size), alpha, training=True)
            g_loss = losses.wasserstein_generator_loss(critic(generated))
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_loss))
        g_weights, g_gradients = _used(tape.gradient(g_scaled, self.generator.trainable_weights),
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


def _used(gradients, weights):
    """(weights, gradients) of the layers the phase uses: the others' gradients are None, and stay untouched."""
    pairs = [(w, g) for g, w in zip(gradients, weights) if g is not None]
    return [w for w, _ in pairs], [g for _, g in pairs]


def reset_optimizer_state(optimizer) -> None:
    """Zeros an optimizer's step count and slots (Adam's moments), keeping its learning rate; for a
    `LossScaleOptimizer`, those of the optimizer it wraps (the loss scale is kept)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    keep = {id(inner.iterations)}
    keep.update(id(v) for v in inner.variables if v.path.endswith("learning_rate"))
    for variable in inner.variables:
        if id(variable) == id(inner.iterations) or id(variable) not in keep:
            variable.assign(ops.zeros(variable.shape, variable.dtype))


def make_optimizers(config: ProGANConfig):
    """The paper's Adam(1e-3, beta_1 0, beta_2 0.99, epsilon 1e-8) for G and for D, in that order."""

    def adam(name):
        return keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2,
                                     epsilon=config.epsilon, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: ProGANConfig) -> ProGAN:
    """An uncompiled `ProGAN` with freshly built networks (every resolution); compile it with `make_optimizers`."""
    return ProGAN(build_generator(config), build_discriminator(config), config, name="progan")
