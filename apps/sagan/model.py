"""SAGAN training model (Zhang et al. 2019, https://arxiv.org/abs/1805.08318).

`SAGAN` is a `ConditionalAdversarialModel` (`common.models.conditional_model`)
with the projection discriminator D(x, y) and the hinge loss (section 5, the
paper's eq. 3):

    L_D = E_(x, y)~p_data[max(0, 1 - D(x, y))] + E_z~N(0, I), y~p_data[max(0, 1 + D(G(z, y), y))]
    L_G = -E_z, y[D(G(z, y), y)]

each step one D update (Adam, ``d_learning_rate``) then one G update through
the updated D (Adam, ``g_learning_rate``), fresh z and labels for each update
by default. Generated labels are balanced within each replica's batch.

Reported metrics, besides the shared ones: ``d_real`` and ``d_fake`` are the
mean logits (hinge scores) on the real and the generated batch of the D update
(the mean sigmoid with the non-saturating loss); ``g_attention_gamma`` and
``d_attention_gamma`` are the attention blocks' learned scales after the step
(absent for a network without attention), which start at 0 and show how much
each network has come to use non-local evidence.
"""

from __future__ import annotations

import keras

from apps.sagan.config import SAGANConfig
from apps.sagan.networks import build_discriminator, build_generator
from common.models.conditional_model import ConditionalAdversarialModel
from common.nn import losses
from common.nn.attention import SelfAttention

__all__ = ["SAGAN", "build_model", "make_optimizers"]


def _attention_layers(network: keras.Model) -> list[SelfAttention]:
    return [layer for layer in network.layers if isinstance(layer, SelfAttention)]


class SAGAN(ConditionalAdversarialModel):
    """Class-conditional generator and projection discriminator; see the module docstring.

    Args:
      generator: Model [z [B, latent_dim], labels [B]] -> images in [-1, 1].
      discriminator: Model [images, labels] -> logits [B, 1].
      config: `SAGANConfig`.
      **kwargs: `keras.Model` arguments.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: SAGANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.generator_loss = losses.GENERATOR_LOSSES[config.loss]
        self.discriminator_loss = losses.DISCRIMINATOR_LOSSES[config.loss]
        for prefix, network in (("g", generator), ("d", discriminator)):
            if _attention_layers(network):
                name = f"{prefix}_attention_gamma"
                setattr(self, f"{name}_tracker", keras.metrics.Mean(name=name))
                self._reported_names += (name,)

    def output_statistic(self, outputs):
        if self.config.loss == "hinge":  # hinge logits are scores: report their mean
            return keras.ops.mean(outputs)
        return super().output_statistic(outputs)

    def train_step(self, batch):
        """`ConditionalAdversarialModel.train_step`, then the attention scales it reached."""
        super().train_step(batch)
        for prefix, network in (("g", self.generator), ("d", self.discriminator)):
            for layer in _attention_layers(network):
                getattr(self, f"{prefix}_attention_gamma_tracker").update_state(layer.gamma)
        return {tracker.name: tracker.result() for tracker in self.metrics}


def make_optimizers(config: SAGANConfig):
    """(G optimizer, D optimizer): Adam with the two learning rates (TTUR) and shared betas and epsilon."""
    return tuple(keras.optimizers.Adam(rate, beta_1=config.beta_1, beta_2=config.beta_2,
                                       epsilon=config.adam_epsilon, name=name)
                 for rate, name in ((config.g_learning_rate, "g_optimizer"),
                                    (config.d_learning_rate, "d_optimizer")))


def build_model(config: SAGANConfig) -> SAGAN:
    """An uncompiled `SAGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return SAGAN(build_generator(config), build_discriminator(config), config, name="sagan")
