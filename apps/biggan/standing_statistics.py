"""BigGAN's "standing statistics": batch-norm statistics recomputed for the weights that are sampled.

Brock et al. 2019 (https://arxiv.org/abs/1809.11096), appendix C.1: instead of
the moving averages kept in training, G is run in training mode over many
batches of fresh z and labels, and the batch norms' means and variances of
those batches are averaged and used at sampling. BigGAN-PyTorch
(``utils.accumulate_standing_stats``, ``--num_standing_accumulations 16``) does
it by resetting every batch norm and running G ``num_accumulations`` times with
a cumulative average. The moving average of G's weights (EMA) needs this most:
the moving statistics it copies from the live generator belong to other
weights.

`accumulate_standing_statistics` runs the generator in training mode (each
batch norm normalises with its batch's moments) on ``num_batches`` batches of
z ~ N(0, I) and labels uniform in [0, K) (plain, untruncated z, as the
reference) and sets every batch norm's moving mean and variance to the
arithmetic mean of the per-batch means and variances: for layer l and batches
b = 1..n, ``mean_l = (1/n) sum_b mu_lb`` and ``var_l = (1/n) sum_b sigma2_lb``
with ``sigma2_lb`` the biased batch variance Keras normalises with. Each batch
norm is found wherever it sits (inside `ConditionalBatchNormalization` too);
a frozen copy (the EMA's shadow) is unfrozen for the passes, as Keras uses
batch moments only in a trainable batch-norm layer.
The draws are stateless (seeded by ``seed`` and the batch number), so the
statistics are a function of the weights and the seed, and the training
noise stream is left alone. Other state that a training-mode call changes,
the spectral-norm vectors u, is put back after every batch, so each batch is
generated with the weights W / sigma(W) that sampling uses (the reference lets
u take a power step per batch and keeps them).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

__all__ = ["accumulate_standing_statistics", "batch_norm_layers"]

STANDING_SEED_OFFSET = 7919  # keeps the standing draws apart from other stateless draws of the same seed


def batch_norm_layers(network: keras.Layer) -> list:
    """Every `keras.layers.BatchNormalization` in ``network``, nested ones included, in layer order."""
    return [layer for layer in network._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def accumulate_standing_statistics(generator: keras.Model, *, num_batches: int, batch_size: int, latent_dim: int,
                                   num_classes: int, seed: int = 0) -> list:
    """Sets ``generator``'s batch-norm moving statistics to the mean of ``num_batches`` batches' moments.

    Args:
      generator: [z, labels] -> images, with batch normalisation.
      num_batches, batch_size: How many batches of how many images (the reference: 16 of the training batch).
      latent_dim, num_classes: z's size and K.
      seed: Seed of the stateless draws.

    Returns:
      [(batch norm layer, [per-batch means], [per-batch variances])] as NumPy arrays, for inspection.
    """
    if not isinstance(num_batches, int) or num_batches < 1:
        raise ValueError(f"num_batches must be a positive integer; got {num_batches!r}.")
    layers = batch_norm_layers(generator)
    if not layers:
        return []
    statistic_ids = {id(v) for layer in layers for v in (layer.moving_mean, layer.moving_variance)}
    others = [v for v in generator.non_trainable_variables if id(v) not in statistic_ids]
    saved_others = [v.numpy() for v in others]
    momenta = [layer.momentum for layer in layers]
    trainable = [layer.trainable for layer in layers]
    moments = [([], []) for _ in layers]
    try:
        # Momentum 0: a training-mode call stores exactly its batch's mean and variance as the "moving" ones.
        for layer in layers:
            layer.momentum = 0.0
            layer.trainable = True  # Keras normalises with batch moments only in a trainable layer
        run = tf.function(lambda z, labels: generator([z, labels], training=True), autograph=False)
        for batch in range(num_batches):
            draw_seed = tf.constant([seed + STANDING_SEED_OFFSET, batch], tf.int64)
            z = tf.random.stateless_normal([batch_size, latent_dim], seed=draw_seed)
            labels = tf.random.stateless_uniform([batch_size], seed=draw_seed[::-1], minval=0, maxval=num_classes,
                                                 dtype=tf.int32)
            run(z, labels)
            for variable, value in zip(others, saved_others):  # every batch sees the same u
                variable.assign(value)
            for layer, (means, variances) in zip(layers, moments):
                means.append(layer.moving_mean.numpy())
                variances.append(layer.moving_variance.numpy())
    finally:
        for layer, momentum, was_trainable in zip(layers, momenta, trainable):
            layer.momentum = momentum
            layer.trainable = was_trainable
        for variable, value in zip(others, saved_others):
            variable.assign(value)
    for layer, (means, variances) in zip(layers, moments):
        layer.moving_mean.assign(np.mean(np.stack(means), axis=0, dtype=np.float64).astype(np.float32))
        layer.moving_variance.assign(np.mean(np.stack(variances), axis=0, dtype=np.float64).astype(np.float32))
    return [(layer, means, variances) for layer, (means, variances) in zip(layers, moments)]
