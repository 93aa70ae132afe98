"""DiscoGAN training model (Kim et al. 2017, https://arxiv.org/abs/1703.05192).

Two generators, G_AB: A -> B and G_BA: B -> A, and two discriminators, D_A
and D_B, trained on unpaired batches of both domains. The objective is the
paper's (section 2, "Model"):

    L_G = L_GAN_B + w * L_CONST_A + L_GAN_A + w * L_CONST_B
    L_GAN_B  = -E[log D_B(G_AB(x_A))]            (non-saturating GAN loss)
    L_CONST_A = d(G_BA(G_AB(x_A)), x_A)          (reconstruction of domain A)
    L_D = L_D_A + L_D_B
    L_D_B = -E[log D_B(x_B)] - E[log(1 - D_B(G_AB(x_A)))]

with w = ``config.reconstruction_weight`` (1 in the paper) and d
``config.reconstruction_distance`` (`apps.discogan.losses`). The adversarial
terms are `common.nn.losses` functions selected by ``config.loss``.

Update order: both generators are updated together on L_G, then both
discriminators on L_D, with the translated images of the generator step (made
before the generator update) as their fakes. Each optimizer adds the
reference code's coupled L2 weight decay (``config.weight_decay``) through
`apps.discogan.losses.l2_penalty`.

Deviations (named in the README): the reference code updates the
discriminators on every third iteration and the generators on the other two,
weights the generator's GAN term 0.1 against a feature-matching term 0.9
(not in the paper), halves each discriminator loss, and uses a reconstruction
weight of 0.01 for the first 10,000 iterations; here the paper's objective
with one generator and one discriminator update per batch.

Reported metrics (per step, averaged across replicas): ``g_loss`` (L_G, without
the weight decay), ``d_loss`` (L_D), ``gan_a`` and ``gan_b`` (L_GAN_A of G_BA
through D_A and L_GAN_B of G_AB through D_B), ``recon_a`` and ``recon_b``
(L_CONST_A and L_CONST_B, unweighted), ``d_loss_a`` and ``d_loss_b``;
``d_real_a``, ``d_fake_a``, ``d_real_b``, ``d_fake_b``, the discriminators' mean
D(x) = sigmoid(logit) on real and translated images in the discriminator step
(the mean raw output for the least-squares and hinge losses); ``g_grad_norm``
and ``d_grad_norm``, the global L2 norm of each optimizer's gradient of its
unscaled loss (weight decay included) on this replica's batch (steps whose gradients are not finite,
which a `LossScaleOptimizer` skips, are left out).

Distribution and precision: every loss a replica differentiates is divided by
the number of replicas (`common.nn.losses.scale_for_replicas`) and scaled by the
optimizer's loss scale; images and logits leave the networks in float32.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from apps.discogan import losses as disco_losses
from apps.discogan.config import SIZE_MULTIPLE, DiscoGANConfig
from apps.discogan.networks import build_discriminator, build_generator
from common.models import gan_step
from common.nn import losses

__all__ = ["DiscoGAN", "build_model", "make_optimizers"]


class DiscoGAN(keras.Model):
    """G_AB, G_BA, D_A and D_B with their two optimizers and trackers; see the module docstring.

    Args:
      generator_ab: Model images of A [B, H, W, C] in [-1, 1] -> images of B, same shape.
      generator_ba: Model images of B -> images of A.
      discriminator_a: Model images of A -> logits [B, 1].
      discriminator_b: Model images of B -> logits [B, 1].
      config: `DiscoGANConfig` (loss, reconstruction_distance, reconstruction_weight
        and weight_decay are read here).
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    TRACKED = ("g_loss", "d_loss", "gan_a", "gan_b", "recon_a", "recon_b", "d_loss_a", "d_loss_b",
               "d_real_a", "d_fake_a", "d_real_b", "d_fake_b", "g_grad_norm", "d_grad_norm")

    # Translation-model protocol (common.export.translator_export): image sides must be multiples of this.
    size_multiple = SIZE_MULTIPLE

    def __init__(self, generator_ab: keras.Model, generator_ba: keras.Model, discriminator_a: keras.Model,
                 discriminator_b: keras.Model, config: DiscoGANConfig, **kwargs):
        super().__init__(**kwargs)
        self.generator_ab = generator_ab
        self.generator_ba = generator_ba
        self.discriminator_a = discriminator_a
        self.discriminator_b = discriminator_b
        self.config = config
        self.generator_loss = losses.GENERATOR_LOSSES[config.loss]
        self.discriminator_loss = losses.DISCRIMINATOR_LOSSES[config.loss]
        for name in self.TRACKED:
            setattr(self, f"{name}_tracker", keras.metrics.Mean(name=name))
        self.built = True  # the networks are built; there is no call() to trace

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """One optimizer for both generators, one for both discriminators, built on their variables."""
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.g_optimizer.build(self.generator_weights)
        self.d_optimizer.build(self.discriminator_weights)

    @property
    def metrics(self):
        return [getattr(self, f"{name}_tracker") for name in self.TRACKED]

    @property
    def generator_weights(self):
        """Trainable weights of G_AB then G_BA: what `g_optimizer` updates."""
        return self.generator_ab.trainable_weights + self.generator_ba.trainable_weights

    @property
    def discriminator_weights(self):
        """Trainable weights of D_A then D_B: what `d_optimizer` updates."""
        return self.discriminator_a.trainable_weights + self.discriminator_b.trainable_weights

    def translators(self) -> dict:
        """{"a_to_b": G_AB, "b_to_a": G_BA}: images in [-1, 1] -> images in [-1, 1] (call with training=False)."""
        return {"a_to_b": self.generator_ab, "b_to_a": self.generator_ba}

    def output_statistic(self, outputs):
        """What d_real_* / d_fake_* report: mean sigmoid(logit) for the cross-entropy losses, else the mean output."""
        if self.config.loss in ("non_saturating", "minimax"):
            return ops.mean(ops.sigmoid(outputs))
        return ops.mean(outputs)

    def train_step(self, batch):
        """One DiscoGAN update on a batch {"a": images of A, "b": images of B}.

        1. Translate: fake_b = G_AB(x_A), fake_a = G_BA(x_B); reconstruct:
           recon_a = G_BA(fake_b), recon_b = G_AB(fake_a) (generators in training mode).
        2. Generator step: L_G = GAN terms through D_B and D_A plus the weighted
           reconstruction distances; gradient (plus weight decay) for G_AB and
           G_BA together, update.
        3. Discriminator step: D_A on x_A and fake_a, D_B on x_B and fake_b
           (separate forward passes, fakes from step 1 held constant), L_D,
           gradient (plus weight decay) for D_A and D_B together, update.
        4. Update the trackers with the unscaled losses and return them.
        """
        if isinstance(batch, (tuple, list)):  # train_on_batch / fit(x=...) pack the dict as (x,)
            batch = batch[0]
        real_a, real_b = batch["a"], batch["b"]
        config = self.config

        # 1-2. Generator step.
        g_weights = self.generator_weights
        with tf.GradientTape() as tape:
            fake_b = self.generator_ab(real_a, training=True)
            fake_a = self.generator_ba(real_b, training=True)
            recon_a = self.generator_ba(fake_b, training=True)
            recon_b = self.generator_ab(fake_a, training=True)
            gan_b = self.generator_loss(self.discriminator_b(fake_b, training=True))  # L_GAN_B
            gan_a = self.generator_loss(self.discriminator_a(fake_a, training=True))  # L_GAN_A
            recon_loss_a = disco_losses.reconstruction_distance(config.reconstruction_distance, recon_a, real_a)
            recon_loss_b = disco_losses.reconstruction_distance(config.reconstruction_distance, recon_b, real_b)
            g_loss = gan_b + gan_a + config.reconstruction_weight * (recon_loss_a + recon_loss_b)
            g_objective = g_loss + disco_losses.l2_penalty(g_weights, config.weight_decay)
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_objective))
        g_gradients = tape.gradient(g_scaled, g_weights)
        g_grad_norm = gan_step.unscaled_global_norm(g_gradients, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))

        # 3. Discriminator step on the translations of step 1.
        fake_a, fake_b = ops.stop_gradient(fake_a), ops.stop_gradient(fake_b)
        d_weights = self.discriminator_weights
        with tf.GradientTape() as tape:
            real_logits_a = self.discriminator_a(real_a, training=True)
            fake_logits_a = self.discriminator_a(fake_a, training=True)
            real_logits_b = self.discriminator_b(real_b, training=True)
            fake_logits_b = self.discriminator_b(fake_b, training=True)
            d_loss_a = self.discriminator_loss(real_logits_a, fake_logits_a)
            d_loss_b = self.discriminator_loss(real_logits_b, fake_logits_b)
            d_loss = d_loss_a + d_loss_b
            d_objective = d_loss + disco_losses.l2_penalty(d_weights, config.weight_decay)
            d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_objective))
        d_gradients = tape.gradient(d_scaled, d_weights)
        d_grad_norm = gan_step.unscaled_global_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))

        # 4. Metrics.
        for name, value in (("g_loss", g_loss), ("d_loss", d_loss), ("gan_a", gan_a), ("gan_b", gan_b),
                            ("recon_a", recon_loss_a), ("recon_b", recon_loss_b), ("d_loss_a", d_loss_a),
                            ("d_loss_b", d_loss_b), ("d_real_a", self.output_statistic(real_logits_a)),
                            ("d_fake_a", self.output_statistic(fake_logits_a)),
                            ("d_real_b", self.output_statistic(real_logits_b)),
                            ("d_fake_b", self.output_statistic(fake_logits_b))):
            getattr(self, f"{name}_tracker").update_state(value)
        gan_step.update_if_finite(self.g_grad_norm_tracker, g_grad_norm)
        gan_step.update_if_finite(self.d_grad_norm_tracker, d_grad_norm)
        return {tracker.name: tracker.result() for tracker in self.metrics}


def make_optimizers(config: DiscoGANConfig):
    """Adam(learning_rate, beta_1, beta_2) for the generators and for the discriminators, in that order.

    The weight decay is not an optimizer option here: Keras' ``weight_decay``
    is decoupled (AdamW-style), while the reference code's
    `torch.optim.Adam(weight_decay=...)` adds ``weight_decay * w`` to the
    gradient, which the model does through its loss (`l2_penalty`).
    """

    def adam(name):
        return keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: DiscoGANConfig) -> DiscoGAN:
    """An uncompiled `DiscoGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return DiscoGAN(
        build_generator(config, "a_to_b"), build_generator(config, "b_to_a"),
        build_discriminator(config, "a"), build_discriminator(config, "b"), config, name="discogan")
