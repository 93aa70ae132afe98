"""DCGAN training model (Radford et al. 2015, https://arxiv.org/abs/1511.06434).

`DCGAN` is a `keras.Model` whose `train_step` alternates one discriminator and
one generator update per batch, as in the paper (section 4) and its reference
code: the discriminator sees a batch of real images and a batch of generated
ones in two separate forward passes (separate batch-normalisation statistics),
then the generator is updated on a fresh draw of z through the updated
discriminator. Losses are looked up by name in `common.losses`
(``config.loss``; the paper uses the non-saturating generator loss).

Deviations: none. Beyond the paper: optional exponential moving average of the
generator (``config.ema_decay > 0``, `common.ema`), used by `sample`.

Reported metrics (means over the steps of an epoch, averaged across replicas):
``d_loss``, ``g_loss``; ``d_real`` and ``d_fake``, the mean of sigmoid(logit) on
real and generated images in the discriminator step (D(x) and D(G(z)) of the
sigmoid cross-entropy losses, 0.5 when D cannot tell); ``d_grad_norm`` and ``g_grad_norm``, the global L2 norm of each
network's gradient of its (unscaled) loss on this replica's batch (steps whose
gradients are not finite, which a `LossScaleOptimizer` skips, are left out).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from apps.dcgan.config import DCGANConfig
from apps.dcgan.networks import build_discriminator, build_generator
from common import gan_step, losses
from common.gan_model import AdversarialModel

__all__ = ["DCGAN", "build_model", "make_optimizers"]


class DCGAN(AdversarialModel):
    """Generator and discriminator trained adversarially; see the module docstring.

    Args:
      generator: Model z [B, latent_dim] -> images [B, H, W, C] in [-1, 1].
      discriminator: Model images -> logits [B, 1].
      config: `DCGANConfig` (latent_dim, loss, ema_decay and seed are read here).
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: DCGANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.generator_loss = losses.GENERATOR_LOSSES[config.loss]
        self.discriminator_loss = losses.DISCRIMINATOR_LOSSES[config.loss]

    def train_step(self, batch):
        """One alternating update on a batch.

        1. Sample z and generate one batch of fakes (the generator in training mode).
        2. Discriminator step: logits on the real and on the fake batch (two forward
           passes), discriminator loss, gradient, update.
        3. Generator step: fresh z, logits of the updated discriminator on the new
           fakes, generator loss, gradient, update; then the generator's EMA.
        4. Update the metric trackers with the unscaled losses and return them.

        The loss each replica differentiates is divided by the number of replicas
        (optimizers sum gradients across replicas) and scaled by the optimizer's
        loss scale (identity unless it is a `LossScaleOptimizer`).
        """
        if isinstance(batch, (tuple, list)):  # train_on_batch / fit(x=...) pack the dict as (x,)
            batch = batch[0]
        real_images = batch["image"]
        batch_size = ops.shape(real_images)[0]

        # 1. z -> G(z), no gradient needed for the discriminator step.
        fake_images = self.generator(self._latents(batch_size), training=True)

        # 2. Discriminator step.
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(fake_images, training=True)
            d_loss = self.discriminator_loss(real_logits, fake_logits)
            d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_loss))
        d_weights = self.discriminator.trainable_weights
        d_gradients = tape.gradient(d_scaled, d_weights)
        d_grad_norm = self._unscaled_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))

        # 3. Generator step with fresh z.
        with tf.GradientTape() as tape:
            generated_images = self.generator(self._latents(batch_size), training=True)
            generated_logits = self.discriminator(generated_images, training=True)
            g_loss = self.generator_loss(generated_logits)
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_loss))
        g_weights = self.generator.trainable_weights
        g_gradients = tape.gradient(g_scaled, g_weights)
        g_grad_norm = self._unscaled_norm(g_gradients, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))
        if self.ema is not None:
            self.ema.update(self.generator)

        # 4. Metrics.
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(ops.mean(ops.sigmoid(real_logits)))
        self.d_fake_tracker.update_state(ops.mean(ops.sigmoid(fake_logits)))
        # Not finite on steps a LossScaleOptimizer skips: left out of the mean.
        gan_step.update_if_finite(self.d_grad_norm_tracker, d_grad_norm)
        gan_step.update_if_finite(self.g_grad_norm_tracker, g_grad_norm)
        return {tracker.name: tracker.result() for tracker in self.metrics}

    @staticmethod
    def _unscaled_norm(gradients, optimizer):
        """Global norm of the gradient of the replica's unscaled mean loss (`common.gan_step`)."""
        return gan_step.unscaled_global_norm(gradients, optimizer)


def make_optimizers(config: DCGANConfig):
    """The paper's optimizers: Adam(learning_rate, beta_1, beta_2) for G and for D, in that order."""

    def adam(name):
        return keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: DCGANConfig) -> DCGAN:
    """An uncompiled `DCGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return DCGAN(build_generator(config), build_discriminator(config), config, name="dcgan")
