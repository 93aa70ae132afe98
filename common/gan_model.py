"""`AdversarialModel`: the generator/discriminator pair every alternating-update app trains.

It holds what such apps share and nothing of their math: the two networks, the
config, one `SeedGenerator` for all noise, the optional generator EMA
(`config.ema_decay > 0`, `common.ema`), one optimizer per network, the metric
trackers, `sample(z)` and per-replica latents. Subclasses write `train_step`
(the update order and losses of their paper) and read the trackers as
``self.<name>_tracker``.

Models built on it follow the runtime's protocol (`common.runtime`): both
optimizers are built in `compile`, so a checkpoint restores before the first
step, and the variables are created in a fixed order (networks, noise state,
EMA, trackers), which the runtime's position-matched checkpoints rely on.
"""

from __future__ import annotations

import keras

from common import gan_step
from common.ema import ExponentialMovingAverage

__all__ = ["AdversarialModel"]


class AdversarialModel(keras.Model):
    """Generator and discriminator with their optimizers, noise, EMA and trackers.

    Args:
      generator: Model z [B, latent_dim] -> images [B, H, W, C] in [-1, 1].
      discriminator: Model images -> logits or scores [B, 1].
      config: App config with ``latent_dim``, ``seed`` and ``ema_decay``.
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    # Reported metrics, in this order; each is a keras.metrics.Mean at self.<name>_tracker.
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
            self.ema = ExponentialMovingAverage(generator, config.ema_decay, name="generator_ema")
        for name in self.TRACKED:
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
        return [getattr(self, f"{name}_tracker") for name in self.TRACKED]

    def sample(self, z, training=False):
        """Images in [-1, 1] for latent vectors z [B, latent_dim], from the EMA generator when present."""
        generator = self.ema.shadow if self.ema is not None else self.generator
        return generator(z, training=training)

    def _latents(self, batch_size):
        """z ~ N(0, I) for this replica's rows of the global batch (`common.gan_step.replica_latents`)."""
        return gan_step.replica_latents(self.seed_generator, batch_size, self.latent_dim)
