"""Self-attention over the positions of a feature map (SAGAN's attention block).

Zhang, Goodfellow, Metaxas & Odena 2019, "Self-Attention Generative Adversarial
Networks", ICML, https://arxiv.org/abs/1805.08318, section 3; the non-local block
of Wang et al. 2018 (https://arxiv.org/abs/1711.07971) with a learned residual
scale. For x [B, H, W, C] with N = H * W positions:

    theta = W_theta x                      [B, N, C_k]   queries, C_k = C / key_divisor
    phi   = pool(W_phi x)                  [B, M, C_k]   keys,    M = N / pool_size**2
    g     = pool(W_g x)                    [B, M, C_v]   values,  C_v = C / value_divisor
    beta  = softmax over keys of theta phi^T            [B, N, M]
    o     = W_o (beta g)                   [B, N, C]
    y     = x + gamma * o

Every W is a 1x1 convolution without a bias, spectrally normalised
(`common.nn.spectral_normalization`, one power step per call, its vector saved
in checkpoints), and gamma is a learned scalar initialised to 0, so a fresh block
is the identity and the network "first relies on the cues in the local
neighbourhood" (section 3). The logits are not scaled by 1/sqrt(C_k).

The defaults are the authors' reference code (github.com/brain-research/
self-attention-gan, `non_local.py`, ``sn_non_local_block_sim``), which BigGAN
(`BigGAN-PyTorch/layers.py`, ``Attention``) keeps: keys and queries of C/8
channels, values of C/2 channels mapped back to C by W_o, and keys and values
max-pooled 2x2 (stride 2), so each of the N queries attends to N/4 pooled
positions. The paper's equations have no pooling and values of C/8 channels
(``value_divisor=8, pool_size=1``).

Mixed precision: the softmax runs in float32 and gamma is a float32 variable,
cast to the compute dtype where it scales ``o``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from common.nn.spectral_normalization import SpectralNormalization

__all__ = ["SelfAttention"]

_PROJECTIONS = ("theta", "phi", "g", "o")


class SelfAttention(keras.layers.Layer):
    """``x + gamma * W_o(softmax(theta phi^T) g)`` on a [B, H, W, C] map; see the module docstring.

    Args:
      key_divisor: C / C_k, the channels of queries and keys (8: the paper's and the reference code's).
      value_divisor: C / C_v, the channels of the values (2: the reference code's; 8: the paper's text).
      pool_size: Side of the max pooling of keys and values (2: the reference code's; 1: none, the
        paper's text); H and W must be multiples of it.
      kernel_initializers: Four initialisers of the 1x1 kernels, in the order theta, phi, g, o (give
        each its own seed: a seeded Keras initialiser returns the same values at every call). None:
        four unseeded Glorot-uniform initialisers (the reference code's Xavier initialiser).
      vector_initializers: Four initialisers of the spectral-norm vectors u, same order; None: the
        `SpectralNormalization` default.
      gamma_initializer: Initialiser of gamma (zeros: the block starts as the identity).
      **kwargs: Base layer arguments (name, dtype, ...).

    Call: ``layer(x, training=...)`` with x [B, H, W, C]; training mode advances the power
    iteration of the four spectral norms (`SpectralNormalization`).
    """

    def __init__(self, key_divisor: int = 8, value_divisor: int = 2, pool_size: int = 2,
                 kernel_initializers: Sequence | None = None, vector_initializers: Sequence | None = None,
                 gamma_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        for name, value in (("key_divisor", key_divisor), ("value_divisor", value_divisor),
                            ("pool_size", pool_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        self.key_divisor, self.value_divisor, self.pool_size = key_divisor, value_divisor, pool_size
        self.kernel_initializers = self._four("kernel_initializers", kernel_initializers, "glorot_uniform")
        self.vector_initializers = self._four("vector_initializers", vector_initializers, None)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)

    @staticmethod
    def _four(name, initializers, default):
        if initializers is None:
            return [None if default is None else keras.initializers.get(default) for _ in _PROJECTIONS]
        initializers = list(initializers)
        if len(initializers) != len(_PROJECTIONS):
            raise ValueError(f"{name} takes one initialiser per projection (theta, phi, g, o); "
                             f"got {len(initializers)}.")
        return [None if i is None else keras.initializers.get(i) for i in initializers]

    def build(self, input_shape):
        height, width, channels = input_shape[1:]
        if None in (height, width, channels):
            raise ValueError(f"SelfAttention needs a known height, width and channel count; got {input_shape}.")
        key_channels, value_channels = channels // self.key_divisor, channels // self.value_divisor
        if key_channels < 1 or value_channels < 1:
            raise ValueError(
                f"SelfAttention on {channels} channels leaves no key or value channel (keys C/{self.key_divisor}, "
                f"values C/{self.value_divisor}); use at least {max(self.key_divisor, self.value_divisor)} channels.")
        if height % self.pool_size or width % self.pool_size:
            raise ValueError(f"SelfAttention pools keys and values {self.pool_size}x{self.pool_size}: the map's "
                             f"height and width ({height}x{width}) must be multiples of {self.pool_size}.")
        self.key_channels, self.value_channels = key_channels, value_channels
        widths = {"theta": key_channels, "phi": key_channels, "g": value_channels, "o": channels}
        for name, kernel_init, vector_init in zip(_PROJECTIONS, self.kernel_initializers, self.vector_initializers):
            conv = keras.layers.Conv2D(widths[name], 1, use_bias=False, kernel_initializer=kernel_init,
                                       dtype=self.dtype_policy, name=name)
            projection = SpectralNormalization(conv, vector_initializer=vector_init, dtype=self.dtype_policy,
                                               name=f"{name}_sn")
            in_channels = value_channels if name == "o" else channels
            projection.build((None, height, width, in_channels))
            setattr(self, name, projection)
        self.gamma = self.add_weight(name="gamma", shape=(), initializer=self.gamma_initializer)

    def _pool(self, x):
        if self.pool_size == 1:
            return x
        return ops.max_pool(x, self.pool_size, strides=self.pool_size, padding="valid")

    def call(self, inputs, training=False):
        height, width = inputs.shape[1:3]
        positions, pooled = height * width, (height // self.pool_size) * (width // self.pool_size)
        queries = ops.reshape(self.theta(inputs, training=training), (-1, positions, self.key_channels))
        keys = ops.reshape(self._pool(self.phi(inputs, training=training)), (-1, pooled, self.key_channels))
        values = ops.reshape(self._pool(self.g(inputs, training=training)), (-1, pooled, self.value_channels))
        logits = ops.matmul(queries, ops.transpose(keys, (0, 2, 1)))  # [B, N, M]
        attention = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), values.dtype)
        attended = ops.reshape(ops.matmul(attention, values), (-1, height, width, self.value_channels))
        output = self.o(attended, training=training)  # [B, H, W, C]
        return inputs + ops.cast(self.gamma, output.dtype) * output

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        serialize = keras.initializers.serialize
        config.update(
            key_divisor=self.key_divisor, value_divisor=self.value_divisor, pool_size=self.pool_size,
            kernel_initializers=[serialize(i) for i in self.kernel_initializers],
            vector_initializers=[None if i is None else serialize(i) for i in self.vector_initializers],
            gamma_initializer=serialize(self.gamma_initializer))
        return config
