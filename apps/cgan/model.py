"""CGAN training model (Mirza & Osindero 2014, https://arxiv.org/abs/1411.1784).

`CGAN` is a `ConditionalAdversarialModel` (`common.models.conditional_model`):
D and G both see the label, ``min_G max_D E[log D(x|y)] + E[log(1 - D(G(z|y)|y))]``
(the paper's eq. 2), with one discriminator and one generator update per batch.
Real images come with their dataset labels; generated ones are drawn for labels
balanced within each replica's batch. Losses are looked up by name in
`common.nn.losses` (``config.loss``; "non_saturating" by default).

Reported metrics (means over the logged steps, averaged across replicas):
``d_loss``, ``g_loss``, ``d_real`` and ``d_fake`` (mean sigmoid of D's logits on
the real and the generated batch of the discriminator step), ``d_grad_norm``
and ``g_grad_norm`` (global L2 norms of each network's unscaled gradient).
"""

from __future__ import annotations

import math

import keras

from apps.cgan.config import CGANConfig
from apps.cgan.networks import build_discriminator, build_generator
from common.models.conditional_model import ConditionalAdversarialModel
from common.nn import losses

__all__ = ["CGAN", "build_model", "make_optimizers"]


class CGAN(ConditionalAdversarialModel):
    """Class-conditional generator and discriminator; see the module docstring."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: CGANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.generator_loss = losses.GENERATOR_LOSSES[config.loss]
        self.discriminator_loss = losses.DISCRIMINATOR_LOSSES[config.loss]

    def output_statistic(self, outputs):
        if self.config.loss == "hinge":  # hinge logits are scores: report their mean
            return keras.ops.mean(outputs)
        return super().output_statistic(outputs)


def make_optimizers(config: CGANConfig):
    """(G optimizer, D optimizer).

    "sgd" (the paper): SGD with ``momentum``, the learning rate divided by
    ``learning_rate_decay`` after every update, computed as ``lr * exp(-1) **
    (step * ln(decay))`` (`keras.optimizers.schedules.ExponentialDecay`), which
    stays exact over long runs where a float32 ``1 / 1.00004`` would drift.
    "adam": Adam(rate, beta_1, beta_2) with constant rates.
    """

    def make(rate, name):
        if config.optimizer == "adam":
            return keras.optimizers.Adam(rate, beta_1=config.beta_1, beta_2=config.beta_2, name=name)
        if config.learning_rate_decay > 1.0:
            rate = keras.optimizers.schedules.ExponentialDecay(
                rate, decay_steps=1.0 / math.log(config.learning_rate_decay), decay_rate=math.exp(-1.0))
        return keras.optimizers.SGD(rate, momentum=config.momentum, name=name)

    return make(config.g_learning_rate, "g_optimizer"), make(config.d_learning_rate, "d_optimizer")


def build_model(config: CGANConfig) -> CGAN:
    """An uncompiled `CGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return CGAN(build_generator(config), build_discriminator(config), config, name="cgan")
