"""BigGAN training model (Brock et al. 2019, https://arxiv.org/abs/1809.11096).

`BigGAN` is a `ConditionalAdversarialModel` (`common.models.conditional_model`)
with the projection discriminator D(x, y) and the hinge loss:

    L_D = E_(x, y)~p_data[max(0, 1 - D(x, y))] + E_z~N(0, I), y[max(0, 1 + D(G(z, y), y))]
    L_G = -E_z, y[D(G(z, y), y)] + R_beta(G)
    R_beta(G) = beta * sum_W || W W^T ⊙ (1 - I) ||_F^2      (section 3.1, eq. 3; W the filters of a kernel)

each step ``d_steps`` D updates (Adam, ``d_learning_rate``), each on its own
``batch_size / d_steps`` real images and as many generated ones of fresh z and
labels, then one G update (Adam, ``g_learning_rate``) on fresh z and labels
through the updated D; with ``accumulate`` = N each update sums the gradients
of N micro-batches before its one optimizer step. The orthogonal penalty
(`common.nn.regularizers`, over every convolution and linear kernel of G, the
shared embedding excepted) is part of G's loss in every micro-batch, divided by
N with the rest, so an accumulated update adds it once.

After each G update the moving average of G (``ema_decay``, a copy of G before
``ema_start`` G updates) moves (`common.nn.ema`). `sample` draws from the
average; `prepare_sampling`, which the suite's sampling and export code calls
first (`common.models.conditional_protocol.prepare_sampling`), gives the
sampled generator its standing batch-norm statistics
(`apps.biggan.standing_statistics`) for its current weights, once per G step.
With ``sample_truncation`` = psi > 0, `sample` redraws the components of z
outside [-psi, psi] (`common.nn.truncation.truncate`) before generating.

Reported metrics, besides the shared ones: ``d_real``/``d_fake`` (mean logits of
the D update) and ``g_ortho``, the orthogonal penalty R_beta(G) added to G's loss.
"""

from __future__ import annotations

import keras

from apps.biggan.config import BigGANConfig
from apps.biggan.networks import build_discriminator, build_generator
from apps.biggan.standing_statistics import accumulate_standing_statistics
from common.models.conditional_model import ConditionalAdversarialModel
from common.nn import losses, regularizers, truncation

__all__ = ["BigGAN", "TRUNCATION_SEED", "build_model", "make_optimizers"]

TRUNCATION_SEED = 0  # stateless seed of the redraws when `sample` truncates a given z


class BigGAN(ConditionalAdversarialModel):
    """Class-conditional BigGAN (or BigGAN-deep) generator and projection discriminator; see the module docstring.

    Args:
      generator: Model [z [B, latent_dim], labels [B]] -> images in [-1, 1].
      discriminator: Model [images, labels] -> logits [B, 1].
      config: `BigGANConfig`.
      **kwargs: `keras.Model` arguments.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config: BigGANConfig, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.generator_loss = losses.GENERATOR_LOSSES[config.loss]
        self.discriminator_loss = losses.DISCRIMINATOR_LOSSES[config.loss]
        self.ortho_beta = float(config.ortho_beta)
        if self.ortho_beta > 0:
            self.g_ortho_tracker = keras.metrics.Mean(name="g_ortho")
            self._reported_names += ("g_ortho",)
        # Which generator (by id) holds standing statistics, and for which G step; -1: none yet.
        self._standing_generator = -1
        self._standing_step = -1

    def output_statistic(self, outputs):
        if self.config.loss == "hinge":  # hinge logits are scores: report their mean
            return keras.ops.mean(outputs)
        return super().output_statistic(outputs)

    def generator_objective(self, outputs, labels):
        """(adversarial loss, adversarial loss + R_beta(G), {"g_ortho": R_beta(G)})."""
        g_loss = self.generator_loss(outputs)
        if self.ortho_beta <= 0:
            return g_loss, g_loss, {}
        kernels = regularizers.orthogonal_regularization_weights(self.generator)
        ortho = regularizers.orthogonal_regularization(kernels, self.ortho_beta)
        return g_loss, g_loss + keras.ops.cast(ortho, g_loss.dtype), {"g_ortho": ortho}

    def sampling_generator(self):
        """The generator `sample` calls: the moving average when kept, else the live generator."""
        return self.ema.shadow if self.ema is not None else self.generator

    def sample(self, z, labels, training=False):
        """Images of classes ``labels`` for latents z, z truncated at ``sample_truncation`` when it is > 0."""
        psi = self.config.sample_truncation
        if psi > 0:
            z = truncation.truncate(z, psi, TRUNCATION_SEED)
            labels = keras.ops.convert_to_tensor(labels, "int32")  # z is a tensor now: so must the labels be
        return self.sampling_generator()([z, labels], training=training)

    def prepare_sampling(self, generator=None):
        """Standing batch-norm statistics for ``generator`` (default `sampling_generator`), recomputed
        when its weights may have changed since the last time (another G step, another generator)."""
        generator = self.sampling_generator() if generator is None else generator
        optimizer = getattr(self, "g_optimizer", None)
        step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
        if self.config.standing_batches <= 0 or (id(generator), step) == (self._standing_generator,
                                                                          self._standing_step):
            return
        accumulate_standing_statistics(generator, num_batches=self.config.standing_batches,
                                       batch_size=self.config.standing_batch_size, latent_dim=self.latent_dim,
                                       num_classes=self.num_classes, seed=self.config.seed)
        self._standing_generator, self._standing_step = id(generator), step


def make_optimizers(config: BigGANConfig):
    """(G optimizer, D optimizer): Adam with the two learning rates and shared betas and epsilon."""
    return tuple(keras.optimizers.Adam(rate, beta_1=config.beta_1, beta_2=config.beta_2,
                                       epsilon=config.adam_epsilon, name=name)
                 for rate, name in ((config.g_learning_rate, "g_optimizer"),
                                    (config.d_learning_rate, "d_optimizer")))


def build_model(config: BigGANConfig) -> BigGAN:
    """An uncompiled `BigGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return BigGAN(build_generator(config), build_discriminator(config), config, name="biggan")
