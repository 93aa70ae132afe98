"""StyleGAN's mapping network, adaptive instance normalisation, noise inputs, truncation and style mixing.

Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative
Adversarial Networks", CVPR, https://arxiv.org/abs/1812.04948 (StyleGAN). The
math follows the authors' TensorFlow code, github.com/NVlabs/stylegan,
``training/networks_stylegan.py`` (``G_mapping``, ``instance_norm``,
``style_mod``, ``apply_noise`` and, in ``G_style``, the tracked ``dlatent_avg``,
the truncation trick and style-mixing regularisation); StyleGAN2 and StyleGAN3
keep the mapping network, the average, truncation and mixing unchanged. All
tensors are NHWC (the reference code is NCHW). The equalized-learning-rate
layers come from `common.nn.progressive_layers`.

Mapping network (section 2; `MappingNetwork`). z [B, latent_dim] -> w [B, dlatent_dim]:

    x = z / sqrt(mean_c z_c^2 + 1e-8)                       (pixel norm; normalize_latents)
    x = lrelu_0.2(EqualizedDense(x))   num_layers times     (gain sqrt 2, lr_mul 0.01)

with ``hidden_dim`` features in every layer but the last, which has
``dlatent_dim`` (the reference ``mapping_fmaps`` and ``dlatent_size``); the
leaky ReLU follows the last layer too, as in the reference. The learning-rate
multiplier 0.01 makes the gradient of each stored weight 0.01 times that of
the weight used (see `common.nn.progressive_layers`), so under Adam the
mapping network learns 100 times slower than the synthesis network.

Adaptive instance normalisation (section 2, eq. 1; `AdaptiveInstanceNormalization`).
For x [B, H, W, C] and w [B, D], per example b and channel c:

    mu[b, c]     = mean_{h, w} x[b, h, w, c]
    x_norm       = (x - mu) * rsqrt(mean_{h, w} (x - mu)^2 + eps)      eps = 1e-8
    [s, t]       = EqualizedDense(2C, gain=1)(w)                       s = first C, t = last C
    y            = x_norm * (s + 1) + t

The "+ 1" is the reference ``style_mod``'s: with the style layer's bias
initialised to 0 the scale starts around 1. The statistics are computed in
float32 (the reference casts to float32 for them as well) and the output is
cast to the compute dtype once; the style layer computes in the compute dtype.

Noise inputs (section 2; `NoiseInjection`): ``y = x + weight[c] * noise`` with
one noise image [B, H, W, 1] shared by all channels and a learned per-channel
weight initialised to 0 (the reference ``apply_noise`` with
``randomize_noise=True``), so the layer starts as the identity.

Average of w and the truncation trick (section 3.1 and appendix B; `DlatentAverage`).
During training the reference tracks

    average <- lerp(mean_b w[b], average, beta) = beta * average + (1 - beta) * mean_b w[b]

with beta = 0.995 (``dlatent_avg_beta``), and at sampling time moves the first
``cutoff`` of the per-layer dlatents [B, L, D] towards it (``truncation_psi`` 0.7,
``truncation_cutoff`` 8 in the reference):

    w'[:, i] = average + psi * (w[:, i] - average)     for i < cutoff
    w'[:, i] = w[:, i]                                  otherwise

computed as ``psi * w + (1 - psi) * average``, the same number in exact
arithmetic, so that psi = 1 returns w and psi = 0 the average exactly.

Style mixing regularisation (section 3.1; `mix_dlatents`, `mixing_crossover`).
Two dlatents w_a, w_b [B, L, D] from two latents; layer i uses w_a where
``i < crossover``, w_b otherwise. With probability 0.9 (``style_mixing_prob``)
the crossover is uniform in [1, L), otherwise L (no mixing). The reference draws
one crossover per minibatch (``tf.cond`` on a scalar); `mixing_crossover`
draws one per example, with the same distribution for every example, which
lowers the variance of the regularisation between batches. `broadcast_dlatents`
tiles w [B, D] to [B, L, D] (the reference ``dlatent_broadcast``).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from common.nn.layers import MaximumLeakyReLU
from common.nn.progressive_layers import HE_GAIN, EqualizedDense, PixelNormalization

__all__ = [
    "AdaptiveInstanceNormalization",
    "DlatentAverage",
    "MappingNetwork",
    "NoiseInjection",
    "broadcast_dlatents",
    "mix_dlatents",
    "mixing_crossover",
]


def _positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _finite_float(name, value, low, high, low_inclusive, high_inclusive):
    number = not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))
    number = float(value) if number else math.nan
    above = number >= low if low_inclusive else number > low
    below = number <= high if high_inclusive else number < high
    if not (math.isfinite(number) and above and below):
        raise ValueError(f"{name} must be a number in {'[' if low_inclusive else '('}{low}, {high}"
                         f"{']' if high_inclusive else ')'}; got {value!r}.")
    return number


def _seed(value):
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)):
        raise ValueError(f"seed must be an integer or None; got {value!r}.")
    return None if value is None else int(value)


@keras.saving.register_keras_serializable(package="gansuite")
class MappingNetwork(keras.layers.Layer):
    """StyleGAN's mapping network z -> w; see the module docstring.

    Args:
      latent_dim: Features of z (512 in StyleGAN).
      dlatent_dim: Features of w, the output (512).
      num_layers: Dense layers (8).
      hidden_dim: Features of every dense layer but the last (512, the reference ``mapping_fmaps``).
      lr_multiplier: Learning-rate multiplier of every dense layer (0.01).
      normalize_latents: Pixel-normalise z first.
      negative_slope: Slope of the leaky ReLU after every dense layer (0.2).
      seed: Layer i's kernel initialiser gets ``seed + i`` (None: unseeded).
      **kwargs: Base layer arguments (name, dtype, ...); the sublayers take the same dtype policy.

    Input [B, latent_dim]; output [B, dlatent_dim].
    """

    def __init__(self, latent_dim=512, dlatent_dim=512, *, num_layers=8, hidden_dim=512, lr_multiplier=0.01,
                 normalize_latents=True, negative_slope=0.2, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        self.dlatent_dim = _positive_int("dlatent_dim", dlatent_dim)
        self.num_layers = _positive_int("num_layers", num_layers)
        self.hidden_dim = _positive_int("hidden_dim", hidden_dim)
        self.lr_multiplier = _finite_float("lr_multiplier", lr_multiplier, 0.0, math.inf, False, False)
        self.normalize_latents = bool(normalize_latents)
        self.negative_slope = _finite_float("negative_slope", negative_slope, 0.0, 1.0, True, True)
        self.seed = _seed(seed)
        policy = self.dtype_policy
        self.pixel_norm = PixelNormalization(dtype=policy, name="pixel_norm") if self.normalize_latents else None
        self.dense_layers = []
        self.activations = []
        for i in range(self.num_layers):
            units = self.dlatent_dim if i == self.num_layers - 1 else self.hidden_dim
            self.dense_layers.append(EqualizedDense(
                units, gain=HE_GAIN, lr_multiplier=self.lr_multiplier,
                seed=None if self.seed is None else self.seed + i, dtype=policy, name=f"dense{i}"))
            self.activations.append(MaximumLeakyReLU(self.negative_slope, dtype=policy, name=f"lrelu{i}"))

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] != self.latent_dim:
            raise ValueError(f"MappingNetwork needs z of shape [B, {self.latent_dim}]; got {input_shape}.")
        shape = tuple(input_shape)
        for dense in self.dense_layers:
            dense.build(shape)
            shape = dense.compute_output_shape(shape)

    def call(self, inputs):
        x = inputs
        if self.pixel_norm is not None:
            x = self.pixel_norm(x)
        for dense, activation in zip(self.dense_layers, self.activations):
            x = activation(dense(x))
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.dlatent_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, dlatent_dim=self.dlatent_dim, num_layers=self.num_layers,
                      hidden_dim=self.hidden_dim, lr_multiplier=self.lr_multiplier,
                      normalize_latents=self.normalize_latents, negative_slope=self.negative_slope, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="gansuite")
class AdaptiveInstanceNormalization(keras.layers.Layer):
    """Instance normalisation followed by a style from w (StyleGAN's ``instance_norm`` + ``style_mod``).

    See the module docstring for the formula. Call it on ``[x, w]``.

    Args:
      epsilon: Added to the variance (1e-8, the reference's).
      seed: Seed of the style layer's kernel initialiser (None: unseeded).
      **kwargs: Base layer arguments (name, dtype, ...).

    Inputs: x [B, H, W, C] with known C, w [B, D] with known D. Output: like x, in the compute dtype.
    """

    def __init__(self, *, epsilon=1e-8, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = _finite_float("epsilon", epsilon, 0.0, math.inf, False, False)
        self.seed = _seed(seed)
        self.style = None

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"AdaptiveInstanceNormalization is called on [x, w]; got input shapes {input_shape}.")
        x_shape, w_shape = (tuple(s) for s in input_shape)
        if len(x_shape) != 4 or x_shape[-1] is None:
            raise ValueError(f"AdaptiveInstanceNormalization needs an NHWC x with known channels; got {x_shape}.")
        if len(w_shape) != 2 or w_shape[-1] is None:
            raise ValueError(f"AdaptiveInstanceNormalization needs w of shape [B, D] with known D; got {w_shape}.")
        self.channels = int(x_shape[-1])
        self.style = EqualizedDense(2 * self.channels, gain=1.0, lr_multiplier=1.0, bias_initializer=0.0,
                                    seed=self.seed, dtype=self.dtype_policy, name="style")
        self.style.build(w_shape)

    def call(self, inputs):
        x, w = inputs
        x32 = ops.cast(x, "float32")
        x32 = x32 - ops.mean(x32, axis=(1, 2), keepdims=True)
        x32 = x32 * ops.rsqrt(ops.mean(ops.square(x32), axis=(1, 2), keepdims=True) + self.epsilon)
        style = ops.cast(self.style(w), "float32")  # [B, 2C]
        scale = style[:, None, None, :self.channels]
        bias = style[:, None, None, self.channels:]
        return ops.cast(x32 * (scale + 1.0) + bias, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="gansuite")
class NoiseInjection(keras.layers.Layer):
    """``x + weight[c] * noise``: per-pixel noise shared by the channels, scaled per channel.

    ``weight`` [C] starts at 0 (the layer starts as the identity). ``noise`` [B, H, W, 1] (or anything
    that broadcasts against x) is used as given; when it is None, N(0, 1) noise [B, H, W, 1] is drawn
    with the layer's `keras.random.SeedGenerator` (``seed_generator``, seeded with ``seed``; None: a random
    initial seed): every call draws new noise. Its state is a non-trainable variable that advances at
    each draw, in a traced step as well; it is in the layer's ``variables`` and
    ``non_trainable_variables`` but not in ``weights`` (``get_weights`` does not return it). Pass ``noise`` for reproducible outputs. The noise is drawn in float32 and cast
    to the compute dtype.

    Args:
      seed: Initial seed of the layer's noise (None: random), so that a fresh run is reproducible.
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, *, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"NoiseInjection needs an NHWC input with known channels; got {input_shape}.")
        self.weight = self.add_weight(name="weight", shape=(int(input_shape[-1]),), initializer="zeros",
                                      autocast=False)

    def call(self, inputs, noise=None):
        if noise is None:
            shape = ops.shape(inputs)
            noise = keras.random.normal((shape[0], shape[1], shape[2], 1), dtype="float32",
                                        seed=self.seed_generator)
        noise = ops.cast(noise, self.compute_dtype)
        return inputs + noise * ops.cast(self.weight, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="gansuite")
class DlatentAverage(keras.layers.Layer):
    """The moving average of w and the truncation trick; see the module docstring.

    Holds one non-trainable float32 variable ``average`` [dlatent_dim], zeros at the start, with
    ``aggregation="only_first_replica"``: under a ``tf.distribute`` strategy each replica's `update`
    computes from its own batch and the first replica's value is kept (create the layer inside the
    strategy's scope). The variable exists from the constructor on, so `update` and `truncate` work
    before any call. Calling the layer is `truncate`.

    Args:
      dlatent_dim: Features D of w.
      beta: Weight of the old average in each update, in [0, 1) (0.995, the reference's ``dlatent_avg_beta``).
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, dlatent_dim=512, *, beta=0.995, **kwargs):
        super().__init__(**kwargs)
        self.dlatent_dim = _positive_int("dlatent_dim", dlatent_dim)
        self.beta = _finite_float("beta", beta, 0.0, 1.0, True, False)
        self.average = self.add_weight(name="average", shape=(self.dlatent_dim,), initializer="zeros",
                                       dtype="float32", trainable=False, autocast=False,
                                       aggregation="only_first_replica")
        self.built = True

    def update(self, w_batch):
        """``average <- beta * average + (1 - beta) * mean_b(w_batch)``; returns the new average.

        ``w_batch`` is [B, D], or per-layer dlatents [B, L, D] of which layer 0 is averaged (the
        reference's ``dlatents[:, 0]``, before mixing). Graph ops only: call it inside a traced step.
        """
        w = ops.cast(w_batch, "float32")
        if len(w.shape) == 3:
            w = w[:, 0]
        if len(w.shape) != 2 or w.shape[-1] != self.dlatent_dim:
            raise ValueError(f"DlatentAverage.update needs w of shape [B, {self.dlatent_dim}] or "
                             f"[B, L, {self.dlatent_dim}]; got {w_batch.shape}.")
        batch_mean = ops.mean(w, axis=0)
        new = self.beta * self.average + (1.0 - self.beta) * batch_mean
        self.average.assign(new)
        return new

    def truncate(self, w_layers, psi, cutoff=8):
        """Moves layers ``i < cutoff`` of ``w_layers`` [B, L, D] towards the average by ``1 - psi``.

        Layer i becomes ``psi * w + (1 - psi) * average`` for ``i < cutoff`` (all layers when
        ``cutoff`` is None) and stays as it is otherwise. ``psi`` is a Python float or a scalar
        tensor (1: no truncation, 0: the average); ``cutoff`` a Python int, None or a scalar int
        tensor. Computed in float32; the result has ``w_layers``' dtype.
        """
        w_layers = ops.convert_to_tensor(w_layers)
        if len(w_layers.shape) != 3 or w_layers.shape[-1] != self.dlatent_dim:
            raise ValueError(f"DlatentAverage.truncate needs per-layer dlatents [B, L, {self.dlatent_dim}]; "
                             f"got {w_layers.shape}.")
        w = ops.cast(w_layers, "float32")
        psi = ops.cast(psi, "float32")
        truncated = psi * w + (1.0 - psi) * self.average
        if cutoff is not None:
            layer_idx = ops.arange(ops.shape(w)[1], dtype="int32")[:, None]  # [L, 1]
            truncated = ops.where(layer_idx < ops.cast(cutoff, "int32"), truncated, w)
        return ops.cast(truncated, w_layers.dtype)

    def call(self, w_layers, psi, cutoff=8):
        return self.truncate(w_layers, psi, cutoff)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(dlatent_dim=self.dlatent_dim, beta=self.beta)
        return config


def broadcast_dlatents(w, num_layers):
    """Tiles w [B, D] to per-layer dlatents [B, num_layers, D] (the reference ``dlatent_broadcast``)."""
    num_layers = _positive_int("num_layers", num_layers)
    w = ops.convert_to_tensor(w)
    if len(w.shape) != 2:
        raise ValueError(f"broadcast_dlatents needs w of shape [B, D]; got {w.shape}.")
    return ops.repeat(ops.expand_dims(w, 1), num_layers, axis=1)


def mix_dlatents(w_a, w_b, crossover):
    """Style mixing: layer i of the result is ``w_a[:, i]`` where ``i < crossover``, else ``w_b[:, i]``.

    ``w_a`` and ``w_b`` are [B, L, D]; ``crossover`` is an integer [B] (one per example, e.g. from
    `mixing_crossover`) or a scalar (one for the batch, as the reference). ``crossover >= L`` keeps
    ``w_a``, ``crossover <= 0`` takes ``w_b``.
    """
    w_a = ops.convert_to_tensor(w_a)
    w_b = ops.convert_to_tensor(w_b)
    if len(w_a.shape) != 3 or len(w_b.shape) != 3:
        raise ValueError(f"mix_dlatents needs two [B, L, D] tensors; got {w_a.shape} and {w_b.shape}.")
    crossover = ops.cast(crossover, "int32")
    if len(crossover.shape) == 1:
        crossover = ops.reshape(crossover, (-1, 1, 1))  # [B, 1, 1]
    elif len(crossover.shape) != 0:
        raise ValueError(f"crossover must be a scalar or of shape [B]; got {crossover.shape}.")
    layer_idx = ops.arange(ops.shape(w_a)[1], dtype="int32")[:, None]  # [L, 1]
    return ops.where(layer_idx < crossover, w_a, w_b)


def mixing_crossover(seed_generator, batch_size, num_layers, probability=0.9):
    """One style-mixing crossover per example, int32 [batch_size]; see the module docstring.

    With ``probability`` (the reference's ``style_mixing_prob`` 0.9) independently per example, a
    crossover uniform in [1, num_layers); otherwise ``num_layers`` (no mixing). With one layer no
    mixing is possible and every crossover is 1.

    Args:
      seed_generator: A `keras.random.SeedGenerator` (or an integer seed) for the two draws.
      batch_size: Python int, or a scalar int tensor (e.g. ``ops.shape(x)[0]`` in a traced step).
      num_layers: L, the per-layer dlatents (a Python int).
      probability: Mixing probability in [0, 1].
    """
    num_layers = _positive_int("num_layers", num_layers)
    probability = _finite_float("probability", probability, 0.0, 1.0, True, True)
    if isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool):
        batch_size = _positive_int("batch_size", batch_size)
    shape = (batch_size,)
    no_mixing = ops.full(shape, num_layers, dtype="int32")
    if num_layers == 1:
        return no_mixing
    mix = keras.random.uniform(shape, dtype="float32", seed=seed_generator) < probability
    crossover = keras.random.randint(shape, 1, num_layers, dtype="int32", seed=seed_generator)
    return ops.where(mix, crossover, no_mixing)
