"""GAN training model (Goodfellow et al. 2014, https://arxiv.org/abs/1406.2661, Algorithm 1).

`GAN` is a `keras.Model` whose `train_step` is one iteration of Algorithm 1:
k discriminator steps (``config.d_steps``), each on its own m real images
(the batch is split into k parts of m = batch_size / k) and m fresh latents,
then one generator step on m fresh latents through the updated discriminator.
The discriminator minimises the sigmoid cross entropy
(`common.nn.losses.non_saturating_discriminator_loss`, eq. 1); the generator
minimises ``-log D(G(z))`` ("non_saturating", what the paper recommends and
its code does) or ``log(1 - D(G(z)))`` ("minimax", eq. 1 as written),
``config.generator_loss``.

Deviations: the paper's code (goodfeli/adversarial, ``AdversaryCost2``) updates
both networks at once from one set of samples (simultaneous gradient steps, k = 1);
this model alternates as Algorithm 1 does, with a fresh draw of z for the
generator step. Dropout in the discriminator is active in both steps, as in the
code. Beyond the paper: an exponential moving average of the generator
(``config.ema_decay > 0``, `common.nn.ema`), used by `sample`.

Reported metrics: ``d_loss`` (mean over the k discriminator steps), ``g_loss``;
``d_real`` and ``d_fake``, the mean of sigmoid(logit) on real and generated
images in the discriminator steps (D(x) and D(G(z)); 1/2 at the optimum of
Proposition 1); ``d_grad_norm`` and ``g_grad_norm``, global L2 norms of each
network's gradient of its unscaled loss (non-finite steps left out).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from apps.gan.config import GANConfig
from apps.gan.networks import build_discriminator, build_generator
from common.models import gan_step
from common.nn import losses
from common.models.adversarial_model import AdversarialModel

__all__ = ["GAN", "build_model", "make_optimizers"]


class GAN(AdversarialModel):
    """Generator and discriminator trained by Algorithm 1; see the module docstring.

    Args:
      generator: Model z [B, latent_dim] -> images [B, H, W, C] in [-1, 1].
      discriminator: Model images -> logits [B, 1].
      config: `GANConfig` (latent_dim, generator_loss, d_steps, ema_decay and seed are read here).
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: GANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.generator_loss = losses.GENERATOR_LOSSES[config.generator_loss]
        self.discriminator_loss = losses.non_saturating_discriminator_loss  # = minimax_discriminator_loss

    def train_step(self, batch):
        """One iteration of Algorithm 1 on a batch of k * m real images.

        1. Split the real images into k parts of m (k = ``config.d_steps``).
        2. For each part: m fresh z -> G(z); discriminator logits on the part and
           on G(z), discriminator loss, gradient, update.
        3. Generator step: m fresh z, logits of the updated discriminator,
           generator loss, gradient, update; then the generator's EMA.
        4. Update the metric trackers with the unscaled losses and return them.

        Each replica differentiates its mean loss divided by the number of
        replicas, times the optimizer's loss scale (identity unless it is a
        `LossScaleOptimizer`).
        """
        if isinstance(batch, (tuple, list)):  # train_on_batch / fit(x=...) pack the dict as (x,)
            batch = batch[0]
        real_parts = ops.split(batch["image"], self.config.d_steps, axis=0)  # k x [m, H, W, C]
        m = ops.shape(real_parts[0])[0]

        # 1-2. k discriminator steps.
        d_weights = self.discriminator.trainable_weights
        for real_images in real_parts:
            fake_images = self.generator(self._latents(m), training=True)
            with tf.GradientTape() as tape:
                real_logits = self.discriminator(real_images, training=True)
                fake_logits = self.discriminator(fake_images, training=True)
                d_loss = self.discriminator_loss(real_logits, fake_logits)
                d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_loss))
            d_gradients = tape.gradient(d_scaled, d_weights)
            gan_step.update_if_finite(self.d_grad_norm_tracker,
                                      gan_step.unscaled_global_norm(d_gradients, self.d_optimizer))
            self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))
            self.d_loss_tracker.update_state(d_loss)
            self.d_real_tracker.update_state(ops.mean(ops.sigmoid(real_logits)))  # D(x)
            self.d_fake_tracker.update_state(ops.mean(ops.sigmoid(fake_logits)))  # D(G(z))

        # 3. Generator step with fresh z.
        with tf.GradientTape() as tape:
            generated_logits = self.discriminator(self.generator(self._latents(m), training=True), training=True)
            g_loss = self.generator_loss(generated_logits)
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_loss))
        g_weights = self.generator.trainable_weights
        g_gradients = tape.gradient(g_scaled, g_weights)
        gan_step.update_if_finite(self.g_grad_norm_tracker,
                                  gan_step.unscaled_global_norm(g_gradients, self.g_optimizer))
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))
        if self.ema is not None:
            self.ema.update(self.generator)

        # 4. Metrics.
        self.g_loss_tracker.update_state(g_loss)
        return {tracker.name: tracker.result() for tracker in self.metrics}


def make_optimizers(config: GANConfig):
    """SGD with momentum for G and for D, in that order; each rate divided by ``learning_rate_decay`` per update.

    ``lr / decay**step`` is computed as ``lr * exp(-1) ** (step / (1 / ln(decay)))``
    (`keras.optimizers.schedules.ExponentialDecay`): a float32 ``1 / 1.000004``
    would be off by 3e-8 per step, 0.3% after 100,000 steps.
    """

    def sgd(learning_rate, name):
        if config.learning_rate_decay > 1.0:
            learning_rate = keras.optimizers.schedules.ExponentialDecay(
                learning_rate, decay_steps=1.0 / math.log(config.learning_rate_decay), decay_rate=math.exp(-1.0))
        return keras.optimizers.SGD(learning_rate, momentum=config.momentum, name=name)

    return sgd(config.g_learning_rate, "g_optimizer"), sgd(config.d_learning_rate, "d_optimizer")


def build_model(config: GANConfig) -> GAN:
    """An uncompiled `GAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return GAN(build_generator(config), build_discriminator(config), config, name="gan")
