"""`AdversarialModel`: the generator/discriminator pair every alternating-update app trains.

It holds what such apps share: the two networks, the config, one
`SeedGenerator` for all noise, the optional generator EMA (`config.ema_decay >
0`, `common.nn.ema`), one optimizer per network, the metric trackers, `sample(z)`,
per-replica latents, and the alternating `train_step` of DCGAN and LSGAN (one
discriminator update, with an optional R1 penalty when the config has
``r1_gamma > 0``, then one generator update on the same fakes or on fresh z,
``config.reuse_fakes``). Subclasses name
their losses (`discriminator_loss`, `generator_loss`, functions of
`common.nn.losses`) and how D's outputs are reported (`output_statistic`); apps
with another update order (GAN's k steps, the critic apps) override
`train_step` and read the trackers as ``self.<name>_tracker``.

Models built on it follow the runtime's protocol (`common.training.runtime`): both
optimizers are built in `compile`, so a checkpoint restores before the first
step, and the variables are created in a fixed order (networks, noise state,
EMA, trackers), which the runtime's position-matched checkpoints rely on.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from common.models import gan_step
from common.nn import losses
from common.nn.ema import ExponentialMovingAverage

__all__ = ["AdversarialModel"]


class AdversarialModel(keras.Model):
    """Generator and discriminator with their optimizers, noise, EMA and trackers.

    Args:
      generator: Model z [B, latent_dim] -> images [B, H, W, C] in [-1, 1].
      discriminator: Model images -> logits or scores [B, 1].
      config: App config with ``latent_dim``, ``seed``, ``ema_decay`` and (for this
        class's `train_step`) ``reuse_fakes`` and optionally ``r1_gamma`` (R1
        weight, 0 or absent for none).
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    # Reported metrics, in this order; each is a keras.metrics.Mean at self.<name>_tracker.
    # With an R1 weight, "r1" (the unweighted penalty) follows them.
    TRACKED = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.config = config
        self.latent_dim = config.latent_dim
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self.ema = None
        if config.ema_decay > 0:
            self.ema = ExponentialMovingAverage(generator, config.ema_decay,
                                                start_step=int(getattr(config, "ema_start", 0)),
                                                name="generator_ema")
        self.r1_gamma = float(getattr(config, "r1_gamma", 0.0))
        self._reported_names = self.TRACKED + (("r1",) if self.r1_gamma > 0 else ())
        for name in self._reported_names:
            setattr(self, f"{name}_tracker", keras.metrics.Mean(name=name))
        self.built = True  # both networks are built; there is no call() to trace

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """Sets one optimizer per network and builds their slots (so checkpoints can restore them)."""
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return [getattr(self, f"{name}_tracker") for name in self._reported_names]

    def sample(self, z, training=False):
        """Images in [-1, 1] for latent vectors z [B, latent_dim], from the EMA generator when present."""
        generator = self.ema.shadow if self.ema is not None else self.generator
        return generator(z, training=training)

    def update_ema(self):
        """The generator's moving average after a generator update (no-op without one); the step is the
        generator optimizer's ``iterations``, which the update just advanced."""
        if self.ema is not None:
            self.ema.update(self.generator, step=self.g_optimizer.iterations)

    def _latents(self, batch_size):
        """z ~ N(0, I) for this replica's rows of the global batch (`common.models.gan_step.replica_latents`)."""
        return gan_step.replica_latents(self.seed_generator, batch_size, self.latent_dim)

    def output_statistic(self, outputs):
        """What d_real / d_fake report: the mean D(x) = sigmoid(logit) for logit-based losses."""
        return ops.mean(ops.sigmoid(outputs))

    def train_step(self, batch):
        """One alternating update on a batch.

        1. Sample z and generate one batch of fakes (the generator in training mode).
        2. Discriminator step: outputs on the real and on the fake batch (two forward
           passes), `discriminator_loss` plus, with ``config.r1_gamma`` > 0, the R1
           penalty (gamma / 2) E||grad_x D(x)||^2 on the real batch (Mescheder et
           al. 2018, eq. 9; its input gradient is taken in the same forward pass,
           `common.nn.losses.outputs_and_r1_penalty`), gradient, update.
        3. Generator step through the updated discriminator, `generator_loss`,
           gradient, update; then the generator's EMA. With ``config.reuse_fakes``
           the fakes of step 1 are reused (their forward pass was recorded for this
           gradient): the same z for both updates and one generator forward pass per
           step, as in the DCGAN reference code (soumith/dcgan.torch) and PyTorch's
           DCGAN example. Without it the generator step draws fresh z and generates
           again.
        4. Update the metric trackers with the unscaled losses and return them.

        The loss each replica differentiates is divided by the number of replicas
        (optimizers sum gradients across replicas) and scaled by the optimizer's
        loss scale (identity unless it is a `LossScaleOptimizer`).
        """
        if isinstance(batch, (tuple, list)):  # train_on_batch / fit(x=...) pack the dict as (x,)
            batch = batch[0]
        real_images = batch["image"]
        batch_size = ops.shape(real_images)[0]
        reuse_fakes = self.config.reuse_fakes

        # 1. z -> G(z); recorded for the generator's gradient only when step 3 reuses it.
        g_tape = tf.GradientTape()
        if reuse_fakes:
            with g_tape:
                fake_images = self.generator(self._latents(batch_size), training=True)
        else:
            fake_images = self.generator(self._latents(batch_size), training=True)

        # 2. Discriminator step (its tape does not reach into the generator).
        with tf.GradientTape() as tape:
            if self.r1_gamma > 0:  # D(x) and its input gradient from one forward pass
                real_outputs, r1 = losses.outputs_and_r1_penalty(
                    lambda x: self.discriminator(x, training=True), real_images,
                    scale=self.d_optimizer.scale_loss(1.0))
            else:
                real_outputs = self.discriminator(real_images, training=True)
            fake_outputs = self.discriminator(fake_images, training=True)
            d_loss = self.discriminator_loss(real_outputs, fake_outputs)
            d_total = d_loss + 0.5 * self.r1_gamma * r1 if self.r1_gamma > 0 else d_loss
            d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_total))
        d_weights = self.discriminator.trainable_weights
        d_gradients = tape.gradient(d_scaled, d_weights)
        d_grad_norm = gan_step.unscaled_global_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))

        # 3. Generator step through the updated discriminator.
        with g_tape:  # re-entered: continues the recording of step 1
            if reuse_fakes:
                generated_images = fake_images
            else:
                generated_images = self.generator(self._latents(batch_size), training=True)
            generated_outputs = self.discriminator(generated_images, training=True)
            g_loss = self.generator_loss(generated_outputs)
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_loss))
        g_weights = self.generator.trainable_weights
        g_gradients = g_tape.gradient(g_scaled, g_weights)
        g_grad_norm = gan_step.unscaled_global_norm(g_gradients, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))
        self.update_ema()

        # 4. Metrics.
        self.d_loss_tracker.update_state(d_loss)
        if self.r1_gamma > 0:
            self.r1_tracker.update_state(r1)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(self.output_statistic(real_outputs))
        self.d_fake_tracker.update_state(self.output_statistic(fake_outputs))
        # Not finite on steps a LossScaleOptimizer skips: left out of the mean.
        gan_step.update_if_finite(self.d_grad_norm_tracker, d_grad_norm)
        gan_step.update_if_finite(self.g_grad_norm_tracker, g_grad_norm)
        return {tracker.name: tracker.result() for tracker in self.metrics}
