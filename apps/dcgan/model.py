"""DCGAN training model (Radford et al. 2015, https://arxiv.org/abs/1511.06434).

`DCGAN` is an `AdversarialModel` (`common.models.adversarial_model`) whose `train_step` alternates one discriminator and
one generator update per batch, as in the paper (section 4) and its reference
code: the discriminator sees a batch of real images and a batch of generated
ones in two separate forward passes (separate batch-normalisation statistics),
then the generator is updated on the same batch of fakes (same z) through the
updated discriminator, as the reference code does (``config.reuse_fakes``;
off, the generator step draws fresh z). Losses are looked up by name in `common.nn.losses`
(``config.loss``; the paper uses the non-saturating generator loss).

Deviations: none. Beyond the paper, all off by default: an exponential moving
average of the generator (``config.ema_decay > 0``, `common.nn.ema`), used by
`sample`; one-sided label smoothing (``config.real_label < 1``); a linear
learning-rate decay over the end of the run (``config.decay_start_fraction < 1``);
the R1 penalty on D's input gradient at real images (``config.r1_gamma > 0``,
Mescheder et al. 2018, computed in `AdversarialModel.train_step`).

Reported metrics (means over the steps of an epoch, averaged across replicas):
``d_loss``, ``g_loss``; ``d_real`` and ``d_fake``, the mean of sigmoid(logit) on
real and generated images in the discriminator step (D(x) and D(G(z)) of the
sigmoid cross-entropy losses, 0.5 when D cannot tell); ``d_grad_norm`` and ``g_grad_norm``, the global L2 norm of each
network's gradient of its (unscaled) loss on this replica's batch (steps whose
gradients are not finite, which a `LossScaleOptimizer` skips, are left out);
with ``r1_gamma > 0`` also ``r1``, the unweighted penalty E[||grad_x D(x)||^2]
(``d_loss`` stays the adversarial loss without it).
"""

from __future__ import annotations

import functools

import keras

from apps.dcgan.config import DCGANConfig
from apps.dcgan.networks import build_discriminator, build_generator
from common.nn import losses
from common.models.adversarial_model import AdversarialModel
from common.nn.schedules import ConstantThenLinearDecay

__all__ = ["DCGAN", "build_model", "make_optimizers"]


class DCGAN(AdversarialModel):
    """Generator and discriminator trained adversarially; see the module docstring.

    Args:
      generator: Model z [B, latent_dim] -> images [B, H, W, C] in [-1, 1].
      discriminator: Model images -> logits [B, 1].
      config: `DCGANConfig` (latent_dim, loss, ema_decay and seed are read here).
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: DCGANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.generator_loss = losses.GENERATOR_LOSSES[config.loss]
        self.discriminator_loss = losses.DISCRIMINATOR_LOSSES[config.loss]
        if config.real_label != 1.0:  # one-sided label smoothing of the cross-entropy loss
            self.discriminator_loss = functools.partial(self.discriminator_loss, real_label=config.real_label)


def make_optimizers(config: DCGANConfig, total_steps: int | None = None):
    """The paper's optimizers: Adam(learning_rate, beta_1, beta_2) for G and for D, in that order.

    With ``config.decay_start_fraction < 1`` and `total_steps`, both rates follow
    `ConstantThenLinearDecay` (constant, then linear to 0 at `total_steps`).
    """

    def adam(name):
        rate = config.learning_rate
        if total_steps is not None and config.decay_start_fraction < 1.0:
            rate = ConstantThenLinearDecay(config.learning_rate, int(total_steps),
                                           int(total_steps * config.decay_start_fraction))
        return keras.optimizers.Adam(rate, beta_1=config.beta_1, beta_2=config.beta_2, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: DCGANConfig) -> DCGAN:
    """An uncompiled `DCGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return DCGAN(build_generator(config), build_discriminator(config), config, name="dcgan")
