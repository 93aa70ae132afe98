"""CycleGAN training model (Zhu et al. 2017, https://arxiv.org/abs/1703.10593).

`CycleGAN` holds two generators, ``generator_ab`` (G: A -> B) and
``generator_ba`` (F: B -> A), two PatchGAN discriminators, ``discriminator_a``
(real A vs F(b)) and ``discriminator_b`` (real B vs G(a)), and one history of
generated images per domain (`common.nn.image_pool.ImagePool`). One optimizer
updates both generators and one both discriminators, as the reference code
does (junyanz/pytorch-CycleGAN-and-pix2pix, models/cycle_gan_model.py).

Objective (section 3 and 4 of the paper, least-squares form):

    L_G = E[(D_B(G(a)) - 1)^2] + E[(D_A(F(b)) - 1)^2]                       adversarial
        + lambda * E|F(G(a)) - a| + lambda * E|G(F(b)) - b|                   cycle (eq. 2)
        + identity_weight * lambda * (E|G(b) - b| + E|F(a) - a|)              identity (5.2)
    L_D_A = 0.5 * (E[(D_A(a) - 1)^2] + E[D_A(F(b)_pool)^2])                   halved (section 4)
    L_D_B = 0.5 * (E[(D_B(b) - 1)^2] + E[D_B(G(a)_pool)^2])

`common.nn.losses.least_squares_discriminator_loss` is exactly L_D (it carries
the 0.5); the generator's adversarial term is twice
`common.nn.losses.least_squares_generator_loss` (which carries a 0.5 too), i.e.
the reference code's MSE against 1. Means run over every patch score.

Reported metrics (every term separately; the g_* terms sum to ``g_loss`` and
d_a_loss + d_b_loss = ``d_loss``): ``g_loss``, ``g_adv_ab``, ``g_adv_ba``,
``cycle_a`` (lambda * E|F(G(a)) - a|), ``cycle_b``, ``identity_a``
(identity_weight * lambda * E|F(a) - a|), ``identity_b``, ``d_loss``,
``d_a_loss``, ``d_b_loss``, ``d_a_real`` / ``d_a_fake`` / ``d_b_real`` /
``d_b_fake`` (mean patch score on real and on pooled fake images),
``g_grad_norm``, ``d_grad_norm``.

Subclasses (CSGAN) add generator terms by overriding `generator_loss_terms` and
extending `GENERATOR_TERMS`.

Deviations: none in the math.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from apps.cyclegan.config import CycleGANConfig
from apps.cyclegan.networks import build_discriminator, build_generator
from common.models import gan_step
from common.nn import losses
from common.nn.image_pool import ImagePool
from common.nn.schedules import ConstantThenLinearDecay
from common.nn.translation_networks import SIZE_MULTIPLE, cycle_consistency_loss, identity_loss

__all__ = ["CycleGAN", "build_model", "make_optimizers"]


def adversarial_generator_loss(fake_scores):
    """E[(D(G(x)) - 1)^2], the least-squares generator loss without the 0.5 (the reference code's MSE)."""
    return 2.0 * losses.least_squares_generator_loss(fake_scores)


class CycleGAN(keras.Model):
    """Two generators, two discriminators, two image histories; see the module docstring.

    Args:
      generator_ab: Model images A -> images B in [-1, 1] (G).
      generator_ba: Model images B -> images A in [-1, 1] (F).
      discriminator_a: Model images A -> scores [B, H', W', 1] (D_A).
      discriminator_b: Model images B -> scores (D_B).
      config: `CycleGANConfig` (weights, pool size, image size, seed are read here).
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    # Generator terms, summed into g_loss, in the order they are reported.
    GENERATOR_TERMS = ("g_adv_ab", "g_adv_ba", "cycle_a", "cycle_b", "identity_a", "identity_b")
    DISCRIMINATOR_TERMS = ("d_a_loss", "d_b_loss", "d_a_real", "d_a_fake", "d_b_real", "d_b_fake")
    size_multiple = SIZE_MULTIPLE  # height and width of translated images: multiples of 4 ...
    min_size = 2 * SIZE_MULTIPLE  # ... and at least 8 (reflection padding of the 2x2 bottleneck)

    def __init__(self, generator_ab, generator_ba, discriminator_a, discriminator_b, config: CycleGANConfig,
                 **kwargs):
        super().__init__(**kwargs)
        self.generator_ab = generator_ab
        self.generator_ba = generator_ba
        self.discriminator_a = discriminator_a
        self.discriminator_b = discriminator_b
        self.config = config
        image_shape = (None, config.image_size, config.image_size, config.channels)
        self.pool_a = ImagePool(config.pool_size, seed=config.seed * 2, name="pool_a")  # history of F(b)
        self.pool_b = ImagePool(config.pool_size, seed=config.seed * 2 + 1, name="pool_b")  # history of G(a)
        self.pool_a.build(image_shape)
        self.pool_b.build(image_shape)
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("g_loss", *self.GENERATOR_TERMS, "d_loss", *self.DISCRIMINATOR_TERMS,
                                      "g_grad_norm", "d_grad_norm")}
        self.built = True  # the networks are built; there is no call() to trace

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """One optimizer for both generators, one for both discriminators, built on their variables."""
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.g_optimizer.build(self.generator_weights)
        self.d_optimizer.build(self.discriminator_weights)

    @property
    def generator_weights(self):
        return self.generator_ab.trainable_weights + self.generator_ba.trainable_weights

    @property
    def discriminator_weights(self):
        return self.discriminator_a.trainable_weights + self.discriminator_b.trainable_weights

    @property
    def metrics(self):
        return list(self.trackers.values())

    def translators(self) -> dict:
        """{"a_to_b": G, "b_to_a": F}: models mapping [-1, 1] images to [-1, 1] images (`common.export.translator_export`)."""
        return {"a_to_b": self.generator_ab, "b_to_a": self.generator_ba}

    def translate(self, real_a, real_b, training=False) -> dict:
        """The generator images of one step: fake_b = G(a), cycled_a = F(G(a)), fake_a = F(b), cycled_b = G(F(b)),
        and with the identity loss on, same_b = G(b) and same_a = F(a)."""
        g, f = self.generator_ab, self.generator_ba
        images = {"fake_b": g(real_a, training=training), "fake_a": f(real_b, training=training)}
        images["cycled_a"] = f(images["fake_b"], training=training)
        images["cycled_b"] = g(images["fake_a"], training=training)
        if self.config.identity_weight > 0:
            images["same_b"] = g(real_b, training=training)
            images["same_a"] = f(real_a, training=training)
        return images

    def generator_loss_terms(self, real_a, real_b, images: dict) -> dict:
        """The weighted terms of L_G (module docstring), float32 scalars keyed as in GENERATOR_TERMS."""
        config = self.config
        lam = config.cycle_weight
        identity = config.identity_weight * lam
        zero = ops.zeros((), "float32")
        return {
            "g_adv_ab": adversarial_generator_loss(self.discriminator_b(images["fake_b"], training=True)),
            "g_adv_ba": adversarial_generator_loss(self.discriminator_a(images["fake_a"], training=True)),
            "cycle_a": cycle_consistency_loss(real_a, images["cycled_a"], lam),
            "cycle_b": cycle_consistency_loss(real_b, images["cycled_b"], lam),
            "identity_a": identity_loss(real_a, images["same_a"], identity) if "same_a" in images else zero,
            "identity_b": identity_loss(real_b, images["same_b"], identity) if "same_b" in images else zero,
        }

    def discriminator_loss_terms(self, real_a, real_b, pooled_fake_a, pooled_fake_b) -> dict:
        """L_D_A and L_D_B (halved least-squares losses) and the mean scores, keyed as in DISCRIMINATOR_TERMS."""
        real_a_scores = self.discriminator_a(real_a, training=True)
        fake_a_scores = self.discriminator_a(pooled_fake_a, training=True)
        real_b_scores = self.discriminator_b(real_b, training=True)
        fake_b_scores = self.discriminator_b(pooled_fake_b, training=True)
        return {
            "d_a_loss": losses.least_squares_discriminator_loss(real_a_scores, fake_a_scores),
            "d_b_loss": losses.least_squares_discriminator_loss(real_b_scores, fake_b_scores),
            "d_a_real": ops.mean(real_a_scores), "d_a_fake": ops.mean(fake_a_scores),
            "d_b_real": ops.mean(real_b_scores), "d_b_fake": ops.mean(fake_b_scores),
        }

    def train_step(self, batch):
        """One CycleGAN update on a batch {"a": images A, "b": images B}.

        1. Generators: G(a), F(G(a)), F(b), G(F(b)) (and G(b), F(a) for the
           identity loss) in training mode; L_G through the discriminators
           (whose weights are not updated here); one step of g_optimizer on
           the weights of both generators.
        2. Histories: the fakes of step 1 (before the generator update, as in
           the reference code) go through the image pools.
        3. Discriminators: L_D_A on real a and pooled F(b), L_D_B on real b and
           pooled G(a); one step of d_optimizer on both discriminators.
        4. Update the trackers with the unscaled terms and return them.

        The differentiated losses are divided by the number of replicas and
        scaled by the optimizer's loss scale (`common.models.adversarial_model` does the same).
        """
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        real_a, real_b = batch["a"], batch["b"]

        # 1. Generators.
        with tf.GradientTape() as tape:
            images = self.translate(real_a, real_b, training=True)
            g_terms = self.generator_loss_terms(real_a, real_b, images)
            g_loss = sum(g_terms[name] for name in self.GENERATOR_TERMS)
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_loss))
        g_weights = self.generator_weights
        g_gradients = tape.gradient(g_scaled, g_weights)
        g_grad_norm = gan_step.unscaled_global_norm(g_gradients, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))

        # 2. Image histories.
        pooled_fake_a = self.pool_a(ops.stop_gradient(images["fake_a"]))
        pooled_fake_b = self.pool_b(ops.stop_gradient(images["fake_b"]))

        # 3. Discriminators.
        with tf.GradientTape() as tape:
            d_terms = self.discriminator_loss_terms(real_a, real_b, pooled_fake_a, pooled_fake_b)
            d_loss = d_terms["d_a_loss"] + d_terms["d_b_loss"]
            d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_loss))
        d_weights = self.discriminator_weights
        d_gradients = tape.gradient(d_scaled, d_weights)
        d_grad_norm = gan_step.unscaled_global_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))

        # 4. Metrics.
        values = {"g_loss": g_loss, **g_terms, "d_loss": d_loss, **d_terms}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        gan_step.update_if_finite(self.trackers["g_grad_norm"], g_grad_norm)
        gan_step.update_if_finite(self.trackers["d_grad_norm"], d_grad_norm)
        return {tracker.name: tracker.result() for tracker in self.metrics}


def make_optimizers(config: CycleGANConfig, total_steps: int | None = None):
    """Adam(learning_rate, beta_1, beta_2) for the generators and for the discriminators, in that order.

    With `total_steps`, the learning rate follows `ConstantThenLinearDecay`:
    constant for the first `decay_start_fraction` of the steps, then linear to 0.
    """

    def adam(name):
        rate = config.learning_rate
        if total_steps is not None:
            rate = ConstantThenLinearDecay(config.learning_rate, int(total_steps),
                                           int(total_steps * config.decay_start_fraction))
        return keras.optimizers.Adam(rate, beta_1=config.beta_1, beta_2=config.beta_2, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: CycleGANConfig) -> CycleGAN:
    """An uncompiled `CycleGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return CycleGAN(build_generator(config, "generator_ab", 0), build_generator(config, "generator_ba", 1),
                    build_discriminator(config, "discriminator_a", 0), build_discriminator(config, "discriminator_b", 1),
                    config, name="cyclegan")
