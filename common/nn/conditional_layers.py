"""Layers that condition a network on a class label.

- `ConditionalBatchNormalization`: batch normalisation whose gain and bias are
  looked up per class, ``y = gamma[c] * (x - mu) / sqrt(var + eps) + beta[c]``
  (de Vries et al. 2017, "Modulating early visual processing by language",
  https://arxiv.org/abs/1707.00683; Dumoulin et al. 2017; the class-conditional
  generator of Miyato & Koyama 2018, https://arxiv.org/abs/1802.05637). The
  normalisation statistics are shared by all classes (one batch mean and
  variance per channel, one moving average); only the affine part depends on
  the label. Gains start at 1 and biases at 0, so at initialisation the layer is
  plain batch normalisation.
- `ConditionalAffine`: the affine part of batch normalisation with a gain and
  bias per example, ``y = x * (1 + gain) + bias`` for gain and bias [B, C]
  computed from a conditioning vector (BigGAN's ``ccbn`` with a shared class
  embedding: Brock et al. 2019, https://arxiv.org/abs/1809.11096, section 3;
  `common.nn.biggan_networks.conditional_batch_norm` builds the linear layers).
  Zero gain and bias make it the identity.
- `ClassProjection`: the projection term of the projection discriminator
  (Miyato & Koyama 2018, eq. 3), ``<embed(y), phi(x)>`` for features ``phi(x)``
  [B, D] and labels y, returned as [B, 1]. The discriminator's logit is
  ``psi(phi(x)) + <embed(y), phi(x)>``, with ``psi`` an ordinary Dense(1).

Labels are int32 class ids in [0, K). Out-of-range ids are the caller's to
refuse (the export signatures check them, `common.export.generator_export`);
`keras.layers.Embedding` on CPU raises on them and on GPU returns zeros.

Mixed precision: gains, biases and embeddings are float32 variables, cast to
the layer's compute dtype where they meet the activations.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ClassProjection", "ConditionalAffine", "ConditionalBatchNormalization"]


def _check_classes(num_classes):
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}.")


class ConditionalBatchNormalization(keras.layers.Layer):
    """Batch normalisation with a per-class gain and bias; called on ``[x, labels]``.

    Args:
      num_classes: K, the number of classes.
      momentum, epsilon: as `keras.layers.BatchNormalization` (Keras' momentum is
        one minus Torch's).
      synchronized: normalise with the statistics of the global batch across
        replicas (`BatchNormalization(synchronized=True)`).
      gamma_initializer, beta_initializer: initialisers of the [K, C] gain and
        bias tables (ones and zeros: plain batch normalisation at the start).
      **kwargs: base layer arguments (name, dtype, ...).

    Call: ``layer([x, labels], training=...)`` with x [B, ..., C] and labels [B].
    """

    def __init__(self, num_classes, momentum=0.99, epsilon=1e-3, synchronized=False,
                 gamma_initializer="ones", beta_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        _check_classes(num_classes)
        self.num_classes = num_classes
        self.momentum, self.epsilon, self.synchronized = momentum, epsilon, synchronized
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.normalize = keras.layers.BatchNormalization(
            momentum=momentum, epsilon=epsilon, center=False, scale=False, synchronized=synchronized,
            dtype=self.dtype_policy, name="normalize")

    def build(self, input_shape):
        x_shape = input_shape[0]
        channels = x_shape[-1]
        if channels is None:
            raise ValueError("ConditionalBatchNormalization needs a known channel (last) dimension.")
        self.normalize.build(x_shape)
        self.gamma = self.add_weight(name="gamma", shape=(self.num_classes, channels),
                                     initializer=self.gamma_initializer)
        self.beta = self.add_weight(name="beta", shape=(self.num_classes, channels),
                                    initializer=self.beta_initializer)

    def call(self, inputs, training=None):
        x, labels = inputs
        normalized = self.normalize(x, training=training)
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        # [B, C] -> [B, 1, ..., 1, C], broadcast over the spatial axes.
        shape = (-1,) + (1,) * (len(x.shape) - 2) + (x.shape[-1],)
        gamma = ops.reshape(ops.cast(ops.take(self.gamma, labels, axis=0), normalized.dtype), shape)
        beta = ops.reshape(ops.cast(ops.take(self.beta, labels, axis=0), normalized.dtype), shape)
        return normalized * gamma + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, momentum=self.momentum, epsilon=self.epsilon,
                      synchronized=self.synchronized,
                      gamma_initializer=keras.initializers.serialize(self.gamma_initializer),
                      beta_initializer=keras.initializers.serialize(self.beta_initializer))
        return config


class ConditionalAffine(keras.layers.Layer):
    """``x * (1 + gain) + bias`` per example; called on ``[x, gain, bias]``.

    x [B, ..., C] (normalised activations), gain and bias [B, C], broadcast over
    the axes between. The gain is stored as its offset from 1, as BigGAN-PyTorch's
    ``ccbn`` (``1 + self.gain(y)``), so zero linear layers give plain normalisation.
    """

    def call(self, inputs):
        x, gain, bias = inputs
        shape = (-1,) + (1,) * (len(x.shape) - 2) + (x.shape[-1],)
        gain = ops.reshape(ops.cast(gain, x.dtype), shape)
        bias = ops.reshape(ops.cast(bias, x.dtype), shape)
        return x * (1.0 + gain) + bias

    def compute_output_shape(self, input_shape):
        return input_shape[0]


class ClassProjection(keras.layers.Layer):
    """``<embed(y), phi>``: the class term of a projection discriminator; called on ``[features, labels]``.

    Args:
      num_classes: K.
      embeddings_initializer: initialiser of the [K, D] class embedding.
      **kwargs: base layer arguments.

    Call: ``layer([features, labels])`` with features [B, D], labels [B] -> [B, 1].
    """

    def __init__(self, num_classes, embeddings_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        _check_classes(num_classes)
        self.num_classes = num_classes
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape):
        features_shape = input_shape[0]
        if len(features_shape) != 2 or features_shape[-1] is None:
            raise ValueError(f"ClassProjection takes features [B, D] (pool or flatten first); got {features_shape}.")
        self.embeddings = self.add_weight(name="embeddings", shape=(self.num_classes, features_shape[-1]),
                                          initializer=self.embeddings_initializer)

    def call(self, inputs):
        features, labels = inputs
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        embedded = ops.cast(ops.take(self.embeddings, labels, axis=0), features.dtype)
        return ops.sum(embedded * features, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes,
                      embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer))
        return config
