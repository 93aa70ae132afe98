"""Pieces of an adversarial `train_step` that every GAN app computes the same way.

- `replica_rows`, `replica_latents`: this replica's share of one global draw
  (noise, interpolation factors), so N replicas take the step one device would.
  Every replica holds the same `keras.random.SeedGenerator` state, so each draws
  the noise of the whole global batch and keeps its own rows: replicas get
  different z, and N replicas see exactly the z one device would draw for the
  global batch (the property behind "two replicas take the same step as one
  device" in the app tests).
- `replica_balanced_labels`: class labels for a class-conditional generator,
  balanced within each replica's batch (every class appears floor(B/K) or
  ceil(B/K) times) and different across replicas.
- `unscaled_global_norm`: the global L2 norm of the gradient of a replica's
  unscaled mean loss, when the loss that was differentiated had been divided by
  the number of replicas (`common.nn.losses.scale_for_replicas`) and multiplied by
  the optimizer's loss scale (`optimizer.scale_loss`).
- `dense_gradient`: a gradient that came as `tf.IndexedSlices` (an embedding
  lookup's) as a dense tensor, for norms and for summing micro-batches' gradients.
- `update_if_finite`: feeds a value to a `keras.metrics.Mean` unless it is NaN or
  Inf (a `LossScaleOptimizer` skips such steps, so they are left out of the mean).

No paper; no deviations.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

__all__ = [
    "dense_gradient",
    "global_norm",
    "replica_balanced_labels",
    "replica_latents",
    "replica_latents_uniform",
    "replica_rows",
    "unscaled_global_norm",
    "update_if_finite",
]


def replica_rows(draw, batch_size):
    """This replica's ``batch_size`` rows of ``draw(global batch size)``; ``draw(batch_size)`` on one device.

    Every replica holds the same seed state, so each draws the values of the whole
    global batch and keeps its own rows: replicas get different values, and N
    replicas see exactly what one device draws for the global batch.

    Args:
      draw: n -> tensor [n, ...] drawn from the model's seed generator.
      batch_size: This replica's batch size (a Python int or scalar tensor).
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    replica_context = tf.distribute.get_replica_context()
    if replicas == 1 or replica_context is None:
        return draw(batch_size)
    values = draw(batch_size * replicas)  # [B * N, ...]
    start = replica_context.replica_id_in_sync_group * batch_size
    return values[start:start + batch_size]


def replica_latents(seed_generator: keras.random.SeedGenerator, batch_size, latent_dim: int):
    """z ~ N(0, I), [batch_size, latent_dim]: this replica's rows of one global draw (`replica_rows`).

    Args:
      seed_generator: The model's noise generator (advanced once per call).
      batch_size: This replica's batch size (a Python int or scalar tensor).
      latent_dim: Size of z.

    Returns:
      Float32 tensor [batch_size, latent_dim].
    """
    return replica_rows(lambda n: keras.random.normal((n, latent_dim), seed=seed_generator), batch_size)


def replica_latents_uniform(seed_generator: keras.random.SeedGenerator, batch_size, latent_dim: int,
                            low: float = 0.0, high: float = 1.0):
    """z ~ U[low, high)^latent_dim, this replica's rows of one global draw (as `replica_latents`)."""
    return replica_rows(
        lambda n: keras.random.uniform((n, latent_dim), minval=low, maxval=high, seed=seed_generator), batch_size)


def replica_balanced_labels(seed_generator: keras.random.SeedGenerator, batch_size, num_classes: int):
    """Class labels [batch_size] int32, balanced within this replica's batch.

    Each replica's labels are ``(offset + arange(B)) mod K`` in a random order,
    with a random offset: every class appears floor(B / K) or ceil(B / K)
    times, the classes that get the extra copy change from step to step, and
    over many steps every class is drawn equally often. Every replica holds the
    same seed state, so one draw of [N, B] values is made and replica r keeps
    row r: replicas get different labels, each balanced on its own (so N
    replicas do not take the same labels as one device with the whole batch,
    whose single row is balanced over N * B).

    Args:
      seed_generator: the model's noise generator (advanced once per call).
      batch_size: this replica's batch size (a Python int or scalar tensor).
      num_classes: K.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    replica_context = tf.distribute.get_replica_context()
    offsets = keras.random.randint((replicas, 1), 0, num_classes, seed=seed_generator, dtype="int32")
    order = ops.argsort(keras.random.uniform((replicas, batch_size), seed=seed_generator), axis=-1)
    labels = ops.mod(ops.cast(order, "int32") + offsets, num_classes)  # a permutation of offset + arange(B)
    row = 0 if replicas == 1 or replica_context is None else replica_context.replica_id_in_sync_group
    return labels[row]


def dense_gradient(gradient):
    """A gradient as a dense tensor (None stays None).

    An embedding's gradient comes as `tf.IndexedSlices`, one row per lookup: rows of a class drawn
    twice must be summed before they are squared or added to another micro-batch's gradient, so it
    is made dense (the tables are small).
    """
    return tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient


def global_norm(gradients):
    """sqrt(sum of squares of every element of every gradient), float32; None gradients are skipped."""
    return ops.sqrt(sum(ops.sum(ops.square(ops.cast(dense_gradient(g), "float32"))) for g in gradients if g is not None))


def unscaled_global_norm(gradients, optimizer):
    """Global norm of the gradient of the replica's unscaled mean loss.

    Undoes the two factors of the differentiated loss: the optimizer's loss
    scale (1 for plain optimizers) and ``1 / num_replicas_in_sync``.
    """
    loss_scale = ops.cast(optimizer.scale_loss(1.0), "float32")
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return global_norm(gradients) * (replicas / loss_scale)


def update_if_finite(tracker: keras.metrics.Mean, value) -> None:
    """Adds ``value`` to ``tracker``'s mean with weight 1 if it is finite, else with weight 0."""
    finite = ops.isfinite(value)
    tracker.update_state(ops.where(finite, value, 0.0), sample_weight=ops.cast(finite, "float32"))
