"""Spectral normalisation as a reparameterisation: a layer computes with ``W / sigma(W)``.

Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
Networks", https://arxiv.org/abs/1802.05957, Algorithm 1. The layer keeps its
unconstrained weight ``W`` (trainable) and a vector ``u`` (non-trainable, one
entry per output unit). Each call runs one step of the power method from ``u``
on ``W`` reshaped to a matrix ``[fan_in, units]``:

    v = normalize(u W^T),   u' = normalize(v W),   sigma = v W u'^T

with ``u`` and ``v`` held constant for the gradient, and computes the wrapped
layer's function with the kernel ``W / sigma``. The gradient reaches ``W``
through ``sigma`` as well (the paper's eq. 12), and the optimizer updates the
unnormalised ``W``. In training mode ``u'`` is stored in ``u``; in inference
mode the same step is taken from the stored ``u`` and ``u`` is left as it is.
This is BigGAN-PyTorch's ``layers.SN`` (``W_`` and ``power_iteration`` with
``update=self.training``), and the PyTorch ``torch.nn.utils.spectral_norm``
convention.

`SpectralNormalization` subclasses `keras.layers.SpectralNormalization` for its
``build`` (the non-trainable ``vector_u`` variable, tracked, so checkpoints
save and restore it), takes the power step above with the same operations as
its ``normalized_weights``, and replaces its ``call``: Keras' own ``call`` assigns ``W / sigma`` to the trainable
kernel in training mode and differentiates the wrapped layer with respect to
that normalised copy, so the gradient has no term through ``sigma`` and every
training call rescales the weight the optimizer holds. Here the trainable
kernel is read, never written.

Wrapped layers: `keras.layers.Conv1D/2D/3D` (any convolution with
``convolution_op``), `keras.layers.Dense` and `keras.layers.Embedding`; each
is computed with its own bias and activation from the normalised kernel.
"""

from __future__ import annotations

import keras
from keras import ops
from keras.src.layers.convolutional.base_conv import BaseConv

__all__ = ["SpectralNormalization"]


class SpectralNormalization(keras.layers.SpectralNormalization):
    """Wraps a convolution, Dense or Embedding layer so that it computes with ``W / sigma(W)``.

    Args:
      layer: A `keras.layers.Conv2D` (or other convolution), `Dense` or `Embedding`.
      power_iterations: Power-method steps per call (1: the paper's and BigGAN's).
      vector_initializer: Initialiser of ``u`` [1, units] (a seeded one makes the layer reproducible);
        default Keras' unseeded TruncatedNormal(0.02). Only its direction matters.
      **kwargs: Base wrapper arguments (name, dtype, ...).
    """

    def __init__(self, layer, power_iterations=1, vector_initializer=None, **kwargs):
        if not isinstance(layer, (BaseConv, keras.layers.Dense, keras.layers.Embedding)):
            raise TypeError(f"SpectralNormalization wraps a convolution, Dense or Embedding layer; "
                            f"got {type(layer).__name__}.")
        super().__init__(layer, power_iterations=power_iterations, **kwargs)
        self.vector_initializer = (None if vector_initializer is None
                                   else keras.initializers.get(vector_initializer))

    def build(self, input_shape):
        super().build(input_shape)
        if self.vector_initializer is not None:
            self.vector_u.assign(self.vector_initializer(self.vector_u.shape, self.vector_u.dtype))

    def get_config(self):
        config = super().get_config()
        if self.vector_initializer is not None:
            config["vector_initializer"] = keras.initializers.serialize(self.vector_initializer)
        return config

    def normalized_kernel(self, training=False):
        """``W / sigma(W)`` after one power step from the stored ``u``; stores the new ``u`` when training.

        An all-zero kernel has sigma 0: it is used as it is and ``u`` is kept. The choice is made with
        `ops.where` on values, not with a conditional: a `cond` per layer would trace two branch graphs
        (four with the gradient) for every spectrally normalised layer of a network.
        """
        zero = ops.all(ops.equal(self.kernel.value, 0))
        vector_u, kernel = self.normalized_weights_guarded(zero)
        if training:
            self.vector_u.assign(vector_u)
        return kernel

    def normalized_weights_guarded(self, zero):
        """`normalized_weights` (the power steps and ``W / sigma``) with sigma 1 and ``u`` kept when ``zero``."""
        weights = ops.reshape(self.kernel.value, [-1, self.kernel_shape[-1]])
        stored = self.vector_u.value
        vector_u = stored
        for _ in range(self.power_iterations):
            vector_v = keras.utils.normalize(ops.matmul(vector_u, ops.transpose(weights)), axis=None)
            vector_u = keras.utils.normalize(ops.matmul(vector_v, weights), axis=None)
        vector_u = ops.stop_gradient(vector_u)
        vector_v = ops.stop_gradient(vector_v)
        sigma = ops.matmul(ops.matmul(vector_v, weights), ops.transpose(vector_u))
        sigma = ops.where(zero, ops.ones_like(sigma), sigma)
        kernel = ops.reshape(ops.divide(self.kernel.value, sigma), self.kernel_shape)
        vector_u = ops.where(zero, stored, ops.cast(vector_u, stored.dtype))
        return vector_u, ops.cast(kernel, self.kernel.dtype)

    def call(self, inputs, training=False):
        layer = self.layer
        if isinstance(layer, keras.layers.Embedding):
            kernel = self.normalized_kernel(training)
            return ops.take(kernel, ops.cast(inputs, "int32"), axis=0)
        kernel = ops.cast(self.normalized_kernel(training), inputs.dtype)
        if isinstance(layer, keras.layers.Dense):
            outputs = ops.matmul(inputs, kernel)
            bias_shape = (layer.units,)
        else:
            outputs = layer.convolution_op(inputs, kernel)
            if layer.data_format == "channels_last":
                bias_shape = (1,) * (layer.rank + 1) + (layer.filters,)
            else:
                bias_shape = (1, layer.filters) + (1,) * layer.rank
        if layer.use_bias:
            outputs = ops.add(outputs, ops.cast(ops.reshape(layer.bias, bias_shape), outputs.dtype))
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs
