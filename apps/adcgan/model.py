"""ADC-GAN training model (Hou et al. 2022, https://arxiv.org/abs/2107.10060).

The discriminator has a source logit and a discriminative classifier C_d with
2K outputs: y+ = k for a real image of class k, y- = K + k for a generated
image of class k. With V the adversarial objective, the paper (and the README
of github.com/liang-hou/adcgan) trains

    max_{D, C_d} V(G, D) + lambda * (E_p[log C_d(y+ | x)] + E_q[log C_d(y- | x)])
    min_G        V(G, D) - lambda * (E_q[log C_d(y+ | x)] - E_q[log C_d(y- | x)])

In losses to minimise, per step (`common.nn.losses`):

    D: adversarial D loss + lambda * (CE(k | x) on real + CE(K + k | G(z, k)) on generated)
       = adversarial D loss + lambda * dual_class_discriminator_loss
    G: adversarial G loss + lambda * (CE(k | G(z, k)) - CE(K + k | G(z, k)))
       = adversarial G loss + lambda * dual_class_generator_loss

so G pushes its samples of class k towards "real image of class k" and away
from "generated image of class k"; the reference code's `train_fns.py` computes
the same two terms (``D_aux_loss``, ``G_aux_loss = pos - neg``).

The step is `ConditionalAdversarialModel.train_step`: ``d_steps`` D updates
(1 by default; the reference code takes 4, README), then one G update through
the updated D.

Reported metrics, besides the shared ones (``d_loss``/``g_loss`` are the
adversarial terms alone): ``d_class_loss`` (D's 2K-way cross entropies, real
plus generated, unweighted), ``g_class_loss`` (G's term, CE(k) - CE(K + k), can
be negative), ``real_class_accuracy`` (share of real images whose largest of
the 2K logits is their class k) and ``fake_class_accuracy`` (share of
generated images, in D's step, whose largest logit is K + k).
"""

from __future__ import annotations

import keras

from apps.adcgan.config import ADCGANConfig
from apps.adcgan.networks import build_discriminator, build_generator
from common.models.adversarial_model import AdversarialModel
from common.models.conditional_model import ConditionalAdversarialModel
from common.nn import losses

__all__ = ["ADCGAN", "build_model", "make_optimizers"]


class ADCGAN(ConditionalAdversarialModel):
    """ADC-GAN: a class-conditional generator and a discriminator with a source head and a 2K-way classifier.

    Args:
      generator: Model [z [B, latent_dim], labels [B]] -> images in [-1, 1].
      discriminator: Model images -> [source logits [B, 1], classifier logits [B, 2K]].
      config: `ADCGANConfig`.
      **kwargs: `keras.Model` arguments.
    """

    TRACKED = AdversarialModel.TRACKED + ("d_class_loss", "g_class_loss", "real_class_accuracy",
                                          "fake_class_accuracy")

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: ADCGANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.generator_loss = losses.GENERATOR_LOSSES[config.loss]
        self.discriminator_loss = losses.DISCRIMINATOR_LOSSES[config.loss]
        self.adc_lambda = float(config.adc_lambda)

    def discriminate(self, images, labels, training=True):
        """[source logits, classifier logits] of D; the label is read only by the losses."""
        return self.discriminator(images, training=training)

    def source_logits(self, outputs):
        return outputs[0]

    def discriminator_objective(self, real_outputs, fake_outputs, real_labels, fake_labels):
        (real_source, real_dual), (fake_source, fake_dual) = real_outputs, fake_outputs
        d_loss = self.discriminator_loss(real_source, fake_source)
        d_class_loss = losses.dual_class_discriminator_loss(real_dual, real_labels, fake_dual, fake_labels,
                                                            self.num_classes)
        metrics = {
            "d_class_loss": d_class_loss,
            "real_class_accuracy": losses.class_accuracy(real_dual, real_labels),
            "fake_class_accuracy": losses.class_accuracy(fake_dual, fake_labels + self.num_classes),
        }
        return d_loss, d_loss + self.adc_lambda * d_class_loss, metrics

    def generator_objective(self, outputs, labels):
        source, dual = outputs
        g_loss = self.generator_loss(source)
        g_class_loss = losses.dual_class_generator_loss(dual, labels, self.num_classes)
        return g_loss, g_loss + self.adc_lambda * g_class_loss, {"g_class_loss": g_class_loss}


def make_optimizers(config: ADCGANConfig):
    """Adam(learning_rate, beta_1, beta_2, adam_epsilon) for G and for D, in that order (README)."""
    return tuple(keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2,
                                       epsilon=config.adam_epsilon, name=name)
                 for name in ("g_optimizer", "d_optimizer"))


def build_model(config: ADCGANConfig) -> ADCGAN:
    """An uncompiled `ADCGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return ADCGAN(build_generator(config), build_discriminator(config), config, name="adcgan")
