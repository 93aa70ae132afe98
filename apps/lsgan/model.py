"""LSGAN training model (Mao et al. 2017, https://arxiv.org/abs/1611.04076).

`LSGAN` is an `AdversarialModel` (`common.models.adversarial_model`) whose `train_step` alternates one discriminator and
one generator update per batch with the least-squares losses of eq. 2
(`common.nn.losses.least_squares_discriminator_loss` / `least_squares_generator_loss`):

    D minimises  1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]
    G minimises  1/2 E[(D(G(z)) - c)^2]

with (a, b, c) = (0, 1, 1) or (-1, 1, 0) (``config.coding``). D(.) is the raw
output of the discriminator's last linear layer: no sigmoid.

As in DCGAN, which the paper trains like: the discriminator sees the real and
the generated batch in two forward passes (separate batch-normalisation
statistics), and the generator is updated through the updated discriminator on
the same batch of fakes (same z; ``config.reuse_fakes``, default on) or, with
it off, on a fresh draw of z.

Deviations: none in the losses or the update order. Beyond the paper: an
exponential moving average of the generator (``config.ema_decay > 0``,
`common.nn.ema`), used by `sample`; the R1 penalty on the discriminator
(``config.r1_gamma > 0``, Mescheder et al. 2018, logged as ``r1``).

Reported metrics: ``d_loss``, ``g_loss``; ``d_real`` and ``d_fake``, the mean
raw discriminator output on real and generated images in the discriminator step
(their targets are b and a; the gap between them shows how far D separates the
two); ``d_grad_norm`` and ``g_grad_norm``, the global L2 norms of
each network's gradient of its unscaled loss (non-finite steps left out).
"""

from __future__ import annotations

import keras
from keras import ops

from apps.lsgan.config import LSGANConfig
from apps.lsgan.networks import build_discriminator, build_generator
from common.nn import losses
from common.models.adversarial_model import AdversarialModel

__all__ = ["LSGAN", "build_model", "make_optimizers"]


class LSGAN(AdversarialModel):
    """Generator and discriminator trained with least-squares losses; see the module docstring.

    Args:
      generator: Model z [B, latent_dim] -> images [B, H, W, C] in [-1, 1].
      discriminator: Model images -> outputs [B, 1].
      config: `LSGANConfig` (latent_dim, coding, ema_decay and seed are read here).
      **kwargs: `keras.Model` arguments (e.g. ``name``).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: LSGANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.fake_target, self.real_target, self.generator_target = config.targets  # a, b, c

    def discriminator_loss(self, real_outputs, fake_outputs):
        """``1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]`` with this config's a and b."""
        return losses.least_squares_discriminator_loss(real_outputs, fake_outputs, a=self.fake_target,
                                                       b=self.real_target)

    def generator_loss(self, fake_outputs):
        """``1/2 E[(D(G(z)) - c)^2]`` with this config's c."""
        return losses.least_squares_generator_loss(fake_outputs, c=self.generator_target)

    def output_statistic(self, outputs):
        """What d_real / d_fake report: the mean raw output (targets b and a)."""
        return ops.mean(outputs)


def make_optimizers(config: LSGANConfig):
    """The paper's optimizers: Adam(learning_rate, beta_1, beta_2) for G and for D, in that order."""

    def adam(name):
        return keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2, name=name)

    return adam("g_optimizer"), adam("d_optimizer")


def build_model(config: LSGANConfig) -> LSGAN:
    """An uncompiled `LSGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return LSGAN(build_generator(config), build_discriminator(config), config, name="lsgan")
