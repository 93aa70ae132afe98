"""Exponential moving average (EMA) of a model's weights, e.g. of a GAN generator.

After every training step the shadow model's weights move towards the live
model's:

    shadow = decay * shadow + (1 - decay) * weight      (trainable weights)
    shadow = weight                                     (non-trainable weights)

Averaging generator weights over training iterates goes back to Yazici et al.
2019, "The Unusual Effectiveness of Averaging in GAN Training",
https://arxiv.org/abs/1806.04498, and is used by ProGAN / StyleGAN (decay
0.999 per step, there expressed as a half-life in images) and BigGAN.

With ``start_step`` = s > 0 the average starts late, as BigGAN-PyTorch's
``utils.ema(start_itr=...)`` (BigGAN: 20,000 iterations): an update at step t < s
copies the weights (decay 0), so the average begins from the weights at step s
instead of carrying the fast-changing early iterates. ``update`` then needs the
step, e.g. the generator optimizer's ``iterations`` after its step (the first
update is step 1, as the reference counts its iterations).

Non-trainable weights (batch-normalisation moving mean and variance) are
COPIED, not averaged: they are statistics of the activations the *current*
weights produce, and an average of statistics of past weights would not match
the averaged weights either; copying keeps them at the same state the live
model would use at inference. Batch-normalised generators that need exact
statistics for the averaged weights should recompute them on a few batches
(BigGAN's "standing statistics", `apps.biggan.standing_statistics`); this module does not.

The shadow model is a `keras.models.clone_model` copy with its own variables,
frozen (``trainable=False``) so that no optimizer ever touches it.
`ExponentialMovingAverage` is a Keras layer: assigned as an attribute of a
model it is tracked, so its variables are saved and restored with the model's
checkpoints, and calling it runs the shadow model.

`update` only creates graph ops (one assign per variable); call it inside the
traced ``train_step`` after the optimizer step. Under a ``tf.distribute``
strategy build the average inside ``strategy.scope()``; the assignments then
run in a cross-replica merge, each device's copy of a shadow variable computed
from that device's (mirrored, identical) live weights.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

__all__ = ["ExponentialMovingAverage"]


class ExponentialMovingAverage(keras.layers.Layer):
    """A frozen shadow copy of ``model`` whose weights follow an exponential moving average.

    Args:
      model: The built model to average. It is cloned (architecture and current
        weights); the original is not stored: pass it to `update`. Its weights
        that are trainable now are averaged, the others copied.
      decay: Weight of the old average in each update, in [0, 1).
      start_step: Updates at steps below it copy the weights (decay 0); 0 averages from the start.
      **kwargs: Base layer arguments (e.g. ``name``).

    Attributes:
      shadow: The averaged `keras.Model` (non-trainable); use it to sample or export.
    """

    def __init__(self, model: keras.Model, decay: float, start_step: int = 0, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1); got {decay!r}.")
        if not isinstance(start_step, int) or isinstance(start_step, bool) or start_step < 0:
            raise ValueError(f"start_step must be a non-negative integer; got {start_step!r}.")
        self.start_step = start_step
        if not model.built:
            raise ValueError(f"Model {model.name!r} must be built before its weights can be averaged.")
        self.decay = float(decay)
        # Which weights are averaged is fixed now: freezing the model later does not change it.
        trainable_ids = {id(v) for v in model.trainable_weights}
        self._averaged = tuple(id(v) in trainable_ids for v in model.weights)
        self.shadow = keras.models.clone_model(model)
        self.shadow.set_weights(model.get_weights())
        self.shadow.trainable = False
        self.built = True

    def _pairs(self, model: keras.Model):
        """(shadow variable, live variable, averaged?) for every weight, in order."""
        if len(model.weights) != len(self.shadow.weights):
            raise ValueError(
                f"Model {model.name!r} has {len(model.weights)} weights, the average of "
                f"{self.shadow.name!r} has {len(self.shadow.weights)}; pass the model the average was built from."
            )
        return list(zip(self.shadow.weights, model.weights, self._averaged))

    def update(self, model: keras.Model, step=None):
        """Moves the shadow weights towards ``model``'s; graph ops only, call inside train_step.

        ``step``: the training step of this update (needed when ``start_step`` > 0).
        """
        pairs = self._pairs(model)
        decay = self.decay
        if self.start_step > 0:
            if step is None:
                raise ValueError(f"This average starts at step {self.start_step}: pass update(model, step=...).")
            decay = ops.where(ops.less(ops.cast(step, "int64"), self.start_step), 0.0, self.decay)
        values = []
        for shadow, weight, averaged in pairs:
            value = ops.cast(weight, shadow.dtype)
            if averaged:
                # shadow <- d*shadow + (1-d)*w; a Python decay keeps 1 - d in double precision before the cast.
                keep = decay if isinstance(decay, float) else ops.cast(decay, shadow.dtype)
                value = keep * shadow + (1.0 - keep) * value
            values.append(value)
        shadows = [shadow for shadow, _, _ in pairs]
        replica_context = tf.distribute.get_replica_context()
        if tf.distribute.has_strategy() and replica_context is not None:
            # Mirrored variables are assigned in a cross-replica merge, per device.
            def assign_mirrored(strategy, per_replica_values):
                for shadow, value in zip(shadows, per_replica_values):
                    strategy.extended.update(shadow.value, lambda v, x: v.assign(x), args=(value,))

            replica_context.merge_call(assign_mirrored, args=(values,))
        else:
            for shadow, value in zip(shadows, values):
                shadow.assign(value)

    def call(self, inputs, training=False):
        return self.shadow(inputs, training=training)

    def compute_output_shape(self, input_shape):
        return self.shadow.compute_output_shape(input_shape)
