"""CoGAN training model (Liu & Tuzel 2016, https://arxiv.org/abs/1606.07536).

`CoGAN` holds the coupled networks (`apps.cogan.networks`) and trains them
jointly on unpaired batches of two domains, as in the paper (section 3, the
CoGAN game) and the authors' code: each step updates both discriminators on
one fake pair per z, then both generators on a fresh z. The losses are the standard GAN losses
of each domain, summed over the two domains:

    d_loss = [-log D_a(x_a) - log(1 - D_a(G_a(z)))] + [the same for b]
    g_loss = [-log D_a(G_a(z))] + [-log D_b(G_b(z))]        (non-saturating)

(`common.nn.losses.non_saturating_*`; the sum and the mean of the two domains
differ by a constant factor, which Adam's update does not see). Because the
shared layers are single Keras objects, the gradient of a shared variable
is the sum of what both domains ask of it, and it is updated once per step:
the optimizers receive each variable once (`generator_weights`,
`discriminator_weights`).

L2 weight decay (the authors' Caffe solver, ``weight_decay: 0.0005`` on kernels
only) is added to the differentiated losses as ``0.5 * weight_decay *
sum(kernel ** 2)`` (gradient ``weight_decay * kernel``, as Caffe adds it); the
reported d_loss and g_loss are the adversarial losses alone.

Reported metrics (per step, averaged across replicas): ``d_loss``, ``g_loss``
and their per-domain parts ``d_loss_a``, ``d_loss_b``, ``g_loss_a``,
``g_loss_b``; ``d_real_a``, ``d_fake_a``, ``d_real_b``, ``d_fake_b``, the mean
sigmoid(logit) on real and generated images in the discriminator step;
``d_grad_norm`` and ``g_grad_norm``, the global L2 norm of each side's gradient
of its unscaled loss (weight decay included) on this replica's batch.

Distribution and mixed precision follow the runtime's protocol
(`common.training.runtime`): each replica differentiates its loss divided by the number
of replicas (`common.nn.losses.scale_for_replicas`) and multiplied by the loss
scale (`optimizer.scale_loss`); z is this replica's rows of one global draw.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from apps.cogan.config import CoGANConfig
from apps.cogan.networks import CoupledNetworks, build_networks
from common.models import gan_step
from common.nn import losses

__all__ = ["CoGAN", "build_model", "make_optimizers", "unique_variables", "l2_penalty"]


def unique_variables(variables):
    """`variables` without repeats (by identity), in first-seen order."""
    seen, unique = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            unique.append(variable)
    return unique


def l2_penalty(variables, weight_decay: float):
    """0.5 * weight_decay * sum of squares of the kernels among `variables` (`common.nn.losses.l2_penalty`)."""
    return losses.l2_penalty([v for v in variables if v.name == "kernel"], weight_decay)


class CoGAN(keras.Model):
    """Coupled generators and discriminators with their optimizers, noise and trackers.

    Args:
      networks: `CoupledNetworks` (shared parts are the same objects in both domains).
      config: `CoGANConfig` (latent_dim, weight_decay and seed are read here).
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    TRACKED = ("d_loss", "g_loss", "d_loss_a", "d_loss_b", "g_loss_a", "g_loss_b",
               "d_real_a", "d_fake_a", "d_real_b", "d_fake_b", "d_grad_norm", "g_grad_norm")

    def __init__(self, networks: CoupledNetworks, config: CoGANConfig, **kwargs):
        super().__init__(**kwargs)
        self.networks = networks
        self.generator = networks.generator
        self.discriminator_a = networks.discriminator_a
        self.discriminator_b = networks.discriminator_b
        self.config = config
        self.latent_dim = config.latent_dim
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        for name in self.TRACKED:
            setattr(self, f"{name}_tracker", keras.metrics.Mean(name=name))
        self.built = True  # the networks are built; there is no call() to trace

    @property
    def generator_weights(self):
        """Trainable variables of both generators, each shared variable once."""
        return unique_variables(self.networks.generator_a.trainable_weights
                                + self.networks.generator_b.trainable_weights)

    @property
    def discriminator_weights(self):
        """Trainable variables of both discriminators, each shared variable once."""
        return unique_variables(self.discriminator_a.trainable_weights + self.discriminator_b.trainable_weights)

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """Sets one optimizer per side and builds their slots (so checkpoints can restore them)."""
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.g_optimizer.build(self.generator_weights)
        self.d_optimizer.build(self.discriminator_weights)

    @property
    def metrics(self):
        return [getattr(self, f"{name}_tracker") for name in self.TRACKED]

    def sample_pair(self, z, training=False):
        """(images_a, images_b), each [B, H, W, C] in [-1, 1], float32, for latent vectors z [B, latent_dim]."""
        images_a, images_b = self.generator(z, training=training)
        return images_a, images_b

    def sample(self, z, training=False):
        """The pair for each z side by side: [B, H, 2W, C] in [-1, 1] (domain a left, b right)."""
        images_a, images_b = self.sample_pair(z, training=training)
        return ops.concatenate([images_a, images_b], axis=2)

    def _latents(self, batch_size):
        return gan_step.replica_latents(self.seed_generator, batch_size, self.latent_dim)

    def train_step(self, batch):
        """One joint update on a batch {"image_a": [B, H, W, C], "image_b": [B, H, W, C]} of unpaired images.

        1. Sample z and generate one fake pair per row (the shared layers run once).
        2. Discriminator step: both discriminators on real and fake images of their
           domain, d_loss = d_loss_a + d_loss_b (+ weight decay), one update of every
           discriminator variable (the shared ones get the sum of both domains' gradients).
        3. Generator step: fresh z, both generators through the updated discriminators,
           g_loss = g_loss_a + g_loss_b (+ weight decay), one update of every generator variable.
        4. Update the trackers with the unscaled adversarial losses and return them.
        """
        if isinstance(batch, (tuple, list)):  # fit(x=...) packs the dict as (x,)
            batch = batch[0]
        real_a, real_b = batch["image_a"], batch["image_b"]
        batch_size = ops.shape(real_a)[0]

        # 1. One z per row -> a fake pair; no gradient is needed for the discriminator step.
        fake_a, fake_b = self.generator(self._latents(batch_size), training=True)

        # 2. Discriminator step.
        d_weights = self.discriminator_weights
        with tf.GradientTape() as tape:
            real_logits_a = self.discriminator_a(real_a, training=True)
            fake_logits_a = self.discriminator_a(fake_a, training=True)
            real_logits_b = self.discriminator_b(real_b, training=True)
            fake_logits_b = self.discriminator_b(fake_b, training=True)
            d_loss_a = losses.non_saturating_discriminator_loss(real_logits_a, fake_logits_a)
            d_loss_b = losses.non_saturating_discriminator_loss(real_logits_b, fake_logits_b)
            d_loss = d_loss_a + d_loss_b
            d_total = d_loss + l2_penalty(d_weights, self.config.weight_decay)
            d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_total))
        d_gradients = tape.gradient(d_scaled, d_weights)
        d_grad_norm = gan_step.unscaled_global_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))

        # 3. Generator step with fresh z, through the updated discriminators.
        g_weights = self.generator_weights
        with tf.GradientTape() as tape:
            generated_a, generated_b = self.generator(self._latents(batch_size), training=True)
            g_loss_a = losses.non_saturating_generator_loss(self.discriminator_a(generated_a, training=True))
            g_loss_b = losses.non_saturating_generator_loss(self.discriminator_b(generated_b, training=True))
            g_loss = g_loss_a + g_loss_b
            g_total = g_loss + l2_penalty(g_weights, self.config.weight_decay)
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_total))
        g_gradients = tape.gradient(g_scaled, g_weights)
        g_grad_norm = gan_step.unscaled_global_norm(g_gradients, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))

        # 4. Metrics.
        for name, value in (("d_loss", d_loss), ("g_loss", g_loss), ("d_loss_a", d_loss_a), ("d_loss_b", d_loss_b),
                            ("g_loss_a", g_loss_a), ("g_loss_b", g_loss_b)):
            getattr(self, f"{name}_tracker").update_state(value)
        self.d_real_a_tracker.update_state(ops.mean(ops.sigmoid(real_logits_a)))
        self.d_fake_a_tracker.update_state(ops.mean(ops.sigmoid(fake_logits_a)))
        self.d_real_b_tracker.update_state(ops.mean(ops.sigmoid(real_logits_b)))
        self.d_fake_b_tracker.update_state(ops.mean(ops.sigmoid(fake_logits_b)))
        # Not finite on steps a LossScaleOptimizer skips: left out of the mean.
        gan_step.update_if_finite(self.d_grad_norm_tracker, d_grad_norm)
        gan_step.update_if_finite(self.g_grad_norm_tracker, g_grad_norm)
        return {tracker.name: tracker.result() for tracker in self.metrics}


def make_optimizers(config: CoGANConfig):
    """The paper's optimizers: Adam(learning_rate, beta_1, beta_2) for the generators and the discriminators."""

    def adam(name):
        return keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: CoGANConfig) -> CoGAN:
    """An uncompiled `CoGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return CoGAN(build_networks(config), config, name="cogan")
