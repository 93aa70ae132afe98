"""AC-GAN training model (Odena, Olah & Shlens 2017, https://arxiv.org/abs/1610.09585).

The discriminator has two heads on one trunk: a source logit (real or
generated) and K class logits. With L_S the log-likelihood of the right source
and L_C that of the right class (eq. 2-3), D maximises L_S + L_C and G
maximises L_C - L_S. In losses to minimise, per step (`common.nn.losses`):

    D: adversarial D loss(source(x), source(G(z, c)))
       + class_weight * (class_cross_entropy(classes(x), y) + class_cross_entropy(classes(G(z, c)), c))
    G: adversarial G loss(source(G(z, c)))
       + class_weight * class_cross_entropy(classes(G(z, c)), c)

where x, y are real images and their labels, c are labels balanced within the
batch and z ~ N(0, I). -L_C is exactly the sum of the two mean cross entropies,
and -L_S is the sigmoid cross-entropy D loss. With ``loss="minimax"`` G's
adversarial term is the paper's -L_S on the generated batch; the default
"non_saturating" replaces it with -log D(G(z, c)) (deviation named in
`apps.acgan.config` and the README).

The step is `ConditionalAdversarialModel.train_step`: one D update on the real
batch and a batch of fakes, then one G update through the updated D (on the
same z and labels with ``reuse_fakes``).

Reported metrics, besides the shared ones (``d_loss`` and ``g_loss`` are the
adversarial terms alone; ``d_real``/``d_fake`` the mean sigmoid of the source
logit): ``d_class_loss`` (the two cross entropies of D's step, summed,
unweighted), ``g_class_loss`` (the cross entropy of G's step),
``real_class_accuracy`` and ``fake_class_accuracy`` (share of real images and
of generated images, in D's step, whose largest class logit is their label).
"""

from __future__ import annotations

import keras

from apps.acgan.config import ACGANConfig
from apps.acgan.networks import build_discriminator, build_generator
from common.models.adversarial_model import AdversarialModel
from common.models.conditional_model import ConditionalAdversarialModel
from common.nn import losses

__all__ = ["ACGAN", "build_model", "make_optimizers"]


class ACGAN(ConditionalAdversarialModel):
    """AC-GAN: a class-conditional generator and a discriminator with a source and a class head.

    Args:
      generator: Model [z [B, latent_dim], labels [B]] -> images in [-1, 1].
      discriminator: Model images -> [source logits [B, 1], class logits [B, K]].
      config: `ACGANConfig`.
      **kwargs: `keras.Model` arguments.
    """

    TRACKED = AdversarialModel.TRACKED + ("d_class_loss", "g_class_loss", "real_class_accuracy",
                                          "fake_class_accuracy")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: ACGANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.generator_loss = losses.GENERATOR_LOSSES[config.loss]
        self.discriminator_loss = losses.DISCRIMINATOR_LOSSES[config.loss]
        self.class_weight = float(config.class_weight)

    def discriminate(self, images, labels, training=True):
        """[source logits, class logits] of D; the label is read only by the losses."""
        return self.discriminator(images, training=training)

    def source_logits(self, outputs):
        return outputs[0]

    def discriminator_objective(self, real_outputs, fake_outputs, real_labels, fake_labels):
        (real_source, real_classes), (fake_source, fake_classes) = real_outputs, fake_outputs
        d_loss = self.discriminator_loss(real_source, fake_source)  # -L_S
        d_class_loss = (losses.class_cross_entropy(real_classes, real_labels)
                        + losses.class_cross_entropy(fake_classes, fake_labels))  # -L_C
        metrics = {
            "d_class_loss": d_class_loss,
            "real_class_accuracy": losses.class_accuracy(real_classes, real_labels),
            "fake_class_accuracy": losses.class_accuracy(fake_classes, fake_labels),
        }
        return d_loss, d_loss + self.class_weight * d_class_loss, metrics

    def generator_objective(self, outputs, labels):
        source, classes = outputs
        g_loss = self.generator_loss(source)
        g_class_loss = losses.class_cross_entropy(classes, labels)  # -(L_C's generated-batch term)
        return g_loss, g_loss + self.class_weight * g_class_loss, {"g_class_loss": g_class_loss}


def make_optimizers(config: ACGANConfig):
    """The paper's optimizers: Adam(learning_rate, beta_1, beta_2) for G and for D, in that order."""
    return tuple(keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, name=name)
                 for name in ("g_optimizer", "d_optimizer"))


def build_model(config: ACGANConfig) -> ACGAN:
    """An uncompiled `ACGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return ACGAN(build_generator(config), build_discriminator(config), config, name="acgan")
