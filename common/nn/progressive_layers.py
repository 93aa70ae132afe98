"""Layers and resampling ops shared by ProGAN and StyleGAN.

Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation", ICLR, https://arxiv.org/abs/1710.10196
(ProGAN), and Karras, Laine & Aila 2019, "A Style-Based Generator Architecture
for Generative Adversarial Networks", CVPR, https://arxiv.org/abs/1812.04948
(StyleGAN). The math follows the authors' TensorFlow code:
github.com/tkarras/progressive_growing_of_gans, ``networks.py`` (``get_weight``,
``dense``, ``conv2d``, ``pixel_norm``, ``minibatch_stddev_layer``, ``upscale2d``,
``downscale2d``), github.com/NVlabs/stylegan, ``training/networks_stylegan.py``
(the same with a learning-rate multiplier ``lrmul`` and ``num_new_features``),
and for `upfirdn2d` github.com/NVlabs/stylegan2, ``dnnlib/tflib/ops/upfirdn_2d.py``
(``_upfirdn_2d_ref``, ``upsample_2d``, ``downsample_2d``; Karras et al. 2020,
"Analyzing and Improving the Image Quality of StyleGAN", https://arxiv.org/abs/1912.04958).
All tensors are NHWC (the reference code is NCHW).

Equalized learning rate (ProGAN section 4.1; `EqualizedDense`, `EqualizedConv2D`).
A weight ``w`` of a layer with ``fan_in`` inputs per output (``in`` for a dense
layer, ``k * k * in`` for a k x k convolution) is stored with a unit-scale
initialisation and scaled at run time, so that every weight sees the same
dynamic range under Adam, whose steps do not depend on a gradient's scale:

    stored kernel   W ~ N(0, 1 / lr_mul^2)                          (seeded)
    used kernel     W * gain / sqrt(fan_in) * lr_mul                (He's constant, each call)
    stored bias     b = bias_init / lr_mul
    used bias       b * lr_mul                                      (= bias_init at the start)

so the used kernel starts as N(0, gain^2 / fan_in) and, for inputs of unit
variance, each output starts with variance ``gain^2`` (sqrt(2): He's gain for
the leaky ReLUs that follow; 1 for the linear output layers). ``lr_mul`` is
StyleGAN's learning-rate multiplier (``get_weight(..., lrmul)`` with
``use_wscale=True``, and ``apply_bias(x, lrmul)``): the gradient of the stored
variables is ``lr_mul`` times the gradient of the used ones, and an Adam step
moves a stored variable by about the learning rate whatever its gradient's
scale, so the used weights move ``lr_mul`` times as far: the mapping network's
``lr_mul = 0.01`` is a learning rate of 0.01x. The stored bias is divided by
``lr_mul`` as in StyleGAN3's ``FullyConnectedLayer`` (NVlabs/stylegan3,
``training/networks_stylegan3.py``), so ``bias_initializer`` is the initial
used bias for any ``lr_mul``; StyleGAN's TF code initialises every bias to 0,
where the conventions agree. `EqualizedDense` multiplies the last axis (the
reference ``dense`` flattens [B, ...] first: flatten before the layer);
`EqualizedConv2D` is stride 1 with "same" padding (the reference asserts an odd
kernel size; an even one is padded as TensorFlow's "same", one more row and
column after than before).

Pixelwise feature normalisation (ProGAN section 4.2; `PixelNormalization`):

    b[..., c] = a[..., c] / sqrt(mean_c'(a[..., c']^2) + eps),       eps = 1e-8

over the last (channel) axis, for a map [B, H, W, C] or a latent [B, C]
(StyleGAN normalises z with it).

Minibatch standard deviation (ProGAN section 3 and appendix A.1; StyleGAN adds
``num_new_features``; `MinibatchStddev`). For x [N, H, W, C], G = min(group_size, N)
(N must be a multiple of G), M = N / G, n = num_new_features, c = C / n:

    y[g, m, h, w, j, k] = x[g * M + m, h, w, j * c + k]   group m holds the samples m, M + m, 2M + m, ...
    s[m, h, w, j, k]    = sqrt(mean_g (y - mean_g y)^2 + 1e-8)   biased variance over the group
    f[m, j]             = mean over h, w, k of s[m, h, w, j, k]  one number per group and channel split
    out                 = concat([x, f tiled to [N, H, W, n]], channels)   sample g * M + m gets f[m]

The grouping is the reference code's reshape of the batch to [G, M, ...]
(strided, not consecutive samples), and each split j is the consecutive
channels [j * c, (j + 1) * c).

Resampling. `upsample_nearest` repeats each pixel ``factor x factor`` times
(ProGAN's ``upscale2d``); `downsample_average` averages ``factor x factor``
blocks (``downscale2d``, ``avg_pool`` with "VALID"). `upfirdn2d` is StyleGAN2's
upfirdn2d with ordinary TensorFlow ops (its ``_upfirdn_2d_ref``, no custom
kernel), per channel:

    1. upsample: insert up - 1 zeros after each pixel along H and W    [H*up, W*up]
    2. pad with zeros: x0 columns left, x1 right, y0 rows top, y1 bottom
       (a negative amount crops)
    3. filter: 2-D convolution with ``kernel`` (flipped, a true convolution),
       "valid": only the outputs whose footprint lies in the padded image
    4. downsample: keep every down-th row and column, starting at 0

so the output is ``(H * up + y0 + y1 - kh) // down + 1`` rows by
``(W * up + x0 + x1 - kw) // down + 1`` columns. StyleGAN2's ``upsample_2d``
with a k-tap 1-D kernel ``f`` and factor 2 is
``upfirdn2d(x, blur_kernel(f, gain=4), up=2, padding=(p0, p1, p0, p1))`` with
``p = k - 2``, ``p0 = (p + 1) // 2 + 1``, ``p1 = p // 2``; ``downsample_2d`` is
``upfirdn2d(x, blur_kernel(f), down=2, padding=(p0, p1, p0, p1))`` with
``p0 = (p + 1) // 2``, ``p1 = p // 2`` ([1, 3, 3, 1]: (2, 1) and (1, 1)).
`blur_kernel` is the outer product of the taps with itself, scaled to sum to
``gain`` (StyleGAN2's ``_setup_kernel`` times the gain).

Mixed precision: variables are float32 and the used kernel and bias are
computed from them in float32, then cast to the layer's compute dtype; the
statistics of `PixelNormalization` and `MinibatchStddev` are computed in float32
and their outputs cast back to the compute dtype (the reference code casts the
minibatch statistic to float32 for float16 training; its ``pixel_norm`` stays in
the input's dtype). The resampling functions compute in the dtype of their input.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

__all__ = [
    "EqualizedConv2D",
    "EqualizedDense",
    "MinibatchStddev",
    "PixelNormalization",
    "blur_kernel",
    "downsample_average",
    "upfirdn2d",
    "upsample_nearest",
]

HE_GAIN = math.sqrt(2.0)  # He et al. 2015's gain for ReLUs, the default of the equalized layers


def _positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _positive_float(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (
            0.0 < float(value) < math.inf):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
    return float(value)


def _seed(value):
    if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)):
        raise ValueError(f"seed must be an integer or None; got {value!r}.")
    return None if value is None else int(value)


class _Equalized(keras.layers.Layer):
    """The weights and scales shared by `EqualizedDense` and `EqualizedConv2D`."""

    def __init__(self, gain, lr_multiplier, use_bias, bias_initializer, seed, **kwargs):
        super().__init__(**kwargs)
        self.gain = _positive_float("gain", gain)
        self.lr_multiplier = _positive_float("lr_multiplier", lr_multiplier)
        self.use_bias = bool(use_bias)
        if isinstance(bias_initializer, bool) or not isinstance(
                bias_initializer, (int, float, np.floating, np.integer)) or not math.isfinite(bias_initializer):
            raise ValueError(f"bias_initializer must be a finite number; got {bias_initializer!r}.")
        self.bias_initializer = float(bias_initializer)
        self.seed = _seed(seed)

    def _add_weights(self, kernel_shape, fan_in, units):
        self.fan_in = int(fan_in)
        # He's constant times the learning-rate multiplier, applied at every call.
        self.kernel_scale = self.gain / math.sqrt(self.fan_in) * self.lr_multiplier
        self.bias_scale = self.lr_multiplier
        # autocast=False: reads stay float32 under a mixed policy, so the scaling is done in float32
        # and the product is cast to the compute dtype once.
        self.kernel = self.add_weight(
            name="kernel", shape=kernel_shape, autocast=False,
            initializer=keras.initializers.RandomNormal(0.0, 1.0 / self.lr_multiplier, seed=self.seed))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(units,), autocast=False,
                initializer=keras.initializers.Constant(self.bias_initializer / self.lr_multiplier))

    def effective_kernel(self):
        """The kernel the layer computes with, ``W * gain / sqrt(fan_in) * lr_mul``, float32."""
        return self.kernel * ops.cast(self.kernel_scale, self.kernel.dtype)

    def effective_bias(self):
        """The bias the layer adds, ``b * lr_mul``, float32 (None without a bias)."""
        if self.bias is None:
            return None
        return self.bias * ops.cast(self.bias_scale, self.bias.dtype)

    def _add_bias(self, outputs):
        if self.bias is None:
            return outputs
        return outputs + ops.cast(self.effective_bias(), outputs.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(gain=self.gain, lr_multiplier=self.lr_multiplier, use_bias=self.use_bias, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="gansuite")
class EqualizedDense(_Equalized):
    """Dense layer with the equalized learning rate; see the module docstring.

    ``y = x @ (W * gain / sqrt(fan_in) * lr_mul) + b * lr_mul`` over the last axis of ``x``.

    Args:
      units: Output features.
      gain: Target output standard deviation for unit-variance inputs (sqrt(2) before a leaky
        ReLU, 1 for a linear output).
      lr_multiplier: StyleGAN's learning-rate multiplier (0.01 in its mapping network).
      use_bias: Whether to add a bias.
      bias_initializer: Initial value of the used bias (the stored one is this / lr_multiplier).
      seed: Seed of the kernel's N(0, 1 / lr_multiplier^2) initialiser (None: unseeded).
      **kwargs: Base layer arguments (name, dtype, ...).

    Input: rank >= 2, last axis the features (flatten a map first).
    """

    def __init__(self, units, *, gain=HE_GAIN, lr_multiplier=1.0, use_bias=True, bias_initializer=0.0,
                 seed=None, **kwargs):
        super().__init__(gain, lr_multiplier, use_bias, bias_initializer, seed, **kwargs)
        self.units = _positive_int("units", units)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"EqualizedDense needs an input of rank >= 2 with a known last axis; got {input_shape}.")
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_shape[-1]})
        self._add_weights((input_shape[-1], self.units), input_shape[-1], self.units)

    def call(self, inputs):
        outputs = ops.matmul(inputs, ops.cast(self.effective_kernel(), self.compute_dtype))
        return self._add_bias(outputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, bias_initializer=self.bias_initializer)
        return config


@keras.saving.register_keras_serializable(package="gansuite")
class EqualizedConv2D(_Equalized):
    """Stride-1 "same" 2-D convolution (NHWC) with the equalized learning rate; see the module docstring.

    ``fan_in = kernel_size**2 * in_channels``; the kernel is ``[k, k, in_channels, filters]`` and the
    bias starts at 0.

    Args:
      filters: Output channels.
      kernel_size: Side k of the square kernel (1 and 3 in ProGAN and StyleGAN).
      gain, lr_multiplier, use_bias, seed: As `EqualizedDense`.
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, filters, kernel_size, *, gain=HE_GAIN, lr_multiplier=1.0, use_bias=True, seed=None,
                 **kwargs):
        super().__init__(gain, lr_multiplier, use_bias, 0.0, seed, **kwargs)
        self.filters = _positive_int("filters", filters)
        self.kernel_size = _positive_int("kernel_size", kernel_size)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"EqualizedConv2D needs an NHWC input with known channels; got {input_shape}.")
        in_channels = input_shape[-1]
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: in_channels})
        k = self.kernel_size
        self._add_weights((k, k, in_channels, self.filters), k * k * in_channels, self.filters)

    def call(self, inputs):
        kernel = ops.cast(self.effective_kernel(), self.compute_dtype)
        outputs = ops.conv(inputs, kernel, strides=1, padding="same")
        return self._add_bias(outputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size)
        return config


@keras.saving.register_keras_serializable(package="gansuite")
class PixelNormalization(keras.layers.Layer):
    """``x / sqrt(mean(x^2 over the last axis) + epsilon)`` (ProGAN's pixelwise feature normalisation).

    The mean square and the product are computed in float32; the output has the compute dtype.

    Args:
      epsilon: Added to the mean square (1e-8: the paper's and the reference code's).
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = _positive_float("epsilon", epsilon)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        mean_square = ops.mean(ops.square(x), axis=-1, keepdims=True)
        return ops.cast(x * ops.rsqrt(mean_square + self.epsilon), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="gansuite")
class MinibatchStddev(keras.layers.Layer):
    """Appends the minibatch standard deviation of groups of samples as new channels; see the module docstring.

    Args:
      group_size: G, at most this many samples per group (4: the reference code's); a batch smaller
        than it is one group. The batch must be a multiple of min(group_size, batch): a statically
        known batch that is not raises a ValueError when the layer is traced; a dynamic one fails in
        the reshape at run time.
      num_new_features: n, the channel splits and new channels (1: ProGAN's, and StyleGAN's ``mbstd_num_features``).
        The input's channels must be a multiple of it.
      smaller_groups: With a statically known batch, use the largest divisor of the batch that is at most
        group_size instead of refusing a batch that min(group_size, batch) does not divide (e.g. groups of
        2 for a batch of 14 and group_size 4); a batch whose only such divisor is 1 is still refused.
      **kwargs: Base layer arguments (name, dtype, ...).

    Input [N, H, W, C]; output [N, H, W, C + n]. The statistic is computed in float32.
    """

    def __init__(self, group_size=4, num_new_features=1, smaller_groups=False, **kwargs):
        super().__init__(**kwargs)
        self.group_size = _positive_int("group_size", group_size)
        self.num_new_features = _positive_int("num_new_features", num_new_features)
        self.smaller_groups = bool(smaller_groups)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"MinibatchStddev needs an NHWC input with known channels; got {input_shape}.")
        if input_shape[-1] % self.num_new_features:
            raise ValueError(f"MinibatchStddev splits the {input_shape[-1]} channels into num_new_features="
                             f"{self.num_new_features} groups; the channels must be a multiple of it.")

    def group(self, batch):
        """The group size G for a static batch size, checking that it divides the batch."""
        group = min(self.group_size, int(batch))
        if self.smaller_groups:
            while batch % group:
                group -= 1
            if group == 1 and batch > 1 and self.group_size > 1:
                raise ValueError(
                    f"MinibatchStddev: no group size between 2 and {self.group_size} divides the batch of "
                    f"{batch}, and groups of 1 would make the statistic a constant. Use a batch with such a "
                    "divisor (per replica), or a larger group_size.")
        if batch % group:
            raise ValueError(
                f"MinibatchStddev with group_size={self.group_size} needs a batch that is a multiple of "
                f"{group} (min(group_size, batch)); got a batch of {batch}. Use a batch size divisible by "
                "the group size, or a smaller group_size.")
        return group

    def call(self, inputs):
        shape = ops.shape(inputs)
        batch, height, width, channels = (inputs.shape[i] if inputs.shape[i] is not None else shape[i]
                                          for i in range(4))
        n = self.num_new_features
        if isinstance(inputs.shape[0], int):
            group = self.group(inputs.shape[0])
        else:
            group = ops.minimum(self.group_size, batch)
        y = ops.reshape(ops.cast(inputs, "float32"), (group, -1, height, width, n, channels // n))  # [G, M, H, W, n, c]
        y = y - ops.mean(y, axis=0, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)  # [M, H, W, n, c]
        y = ops.mean(y, axis=(1, 2, 4))  # [M, n]
        y = ops.cast(ops.reshape(y, (-1, 1, 1, n)), inputs.dtype)  # [M, 1, 1, n]
        y = ops.tile(y, (group, height, width, 1))  # [N, H, W, n]: sample g * M + m gets group m
        return ops.concatenate([inputs, y], axis=-1)

    def compute_output_shape(self, input_shape):
        channels = None if input_shape[-1] is None else input_shape[-1] + self.num_new_features
        return tuple(input_shape[:-1]) + (channels,)

    def get_config(self):
        config = super().get_config()
        config.update(group_size=self.group_size, num_new_features=self.num_new_features,
                      smaller_groups=self.smaller_groups)
        return config


def upsample_nearest(x, factor=2):
    """Nearest-neighbour upsampling of an NHWC tensor: each pixel becomes a ``factor x factor`` block."""
    factor = _positive_int("factor", factor)
    if factor == 1:
        return x
    return ops.repeat(ops.repeat(x, factor, axis=1), factor, axis=2)


def downsample_average(x, factor=2):
    """Average of each ``factor x factor`` block of an NHWC tensor (height and width multiples of factor)."""
    factor = _positive_int("factor", factor)
    if factor == 1:
        return x
    for axis, name in ((1, "height"), (2, "width")):
        size = x.shape[axis]
        if size is not None and size % factor:
            raise ValueError(f"downsample_average by {factor} needs a {name} that is a multiple of it; got "
                             f"shape {tuple(x.shape)}.")
    return ops.average_pool(x, pool_size=factor, strides=factor, padding="valid")


def upfirdn2d(x, kernel, *, up=1, down=1, padding=(0, 0, 0, 0)):
    """Upsample by zero insertion, pad, FIR-filter (a true convolution, per channel) and subsample; NHWC.

    StyleGAN2's ``upfirdn_2d`` (see the module docstring for the steps and the output size).

    Args:
      x: [N, H, W, C] with static H, W and C.
      kernel: 2-D NumPy array [kh, kw], the FIR filter (e.g. `blur_kernel`), used as is (no
        normalisation) and cast to ``x``'s dtype.
      up: Zero-insertion upsampling factor (``up - 1`` zeros after each pixel).
      down: Keep every ``down``-th output row and column.
      padding: (x0, x1, y0, y1): zeros added left, right, top and bottom after upsampling; a
        negative value crops.

    Returns:
      [N, (H * up + y0 + y1 - kh) // down + 1, (W * up + x0 + x1 - kw) // down + 1, C], ``x``'s dtype.
    """
    up = _positive_int("up", up)
    down = _positive_int("down", down)
    x = ops.convert_to_tensor(x)
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or min(kernel.shape) < 1:
        raise ValueError(f"upfirdn2d needs a 2-D kernel; got shape {kernel.shape} (build one with blur_kernel).")
    padding = tuple(padding)
    if len(padding) != 4 or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in padding):
        raise ValueError(f"padding must be four integers (x0, x1, y0, y1); got {padding!r}.")
    pad_left, pad_right, pad_top, pad_bottom = (int(p) for p in padding)
    if len(x.shape) != 4 or None in tuple(x.shape[1:]):
        raise ValueError(f"upfirdn2d needs an NHWC input with static height, width and channels; got {x.shape}.")
    _, height, width, channels = x.shape
    kernel_h, kernel_w = kernel.shape
    padded_h = height * up + pad_top + pad_bottom
    padded_w = width * up + pad_left + pad_right
    if padded_h < kernel_h or padded_w < kernel_w:
        raise ValueError(
            f"upfirdn2d: the upsampled and padded image ({padded_h}x{padded_w}) is smaller than the "
            f"{kernel_h}x{kernel_w} kernel; no output remains.")

    if up > 1:  # Zero insertion: [N, H, 1, W, 1, C] padded after to [N, H, up, W, up, C].
        x = ops.reshape(x, (-1, height, 1, width, 1, channels))
        x = ops.pad(x, ((0, 0), (0, 0), (0, up - 1), (0, 0), (0, up - 1), (0, 0)))
        x = ops.reshape(x, (-1, height * up, width * up, channels))
    pads = ((0, 0), (max(pad_top, 0), max(pad_bottom, 0)), (max(pad_left, 0), max(pad_right, 0)), (0, 0))
    if any(p != (0, 0) for p in pads):
        x = ops.pad(x, pads)
    if min(padding) < 0:
        rows, cols = x.shape[1], x.shape[2]
        x = x[:, max(-pad_top, 0): rows - max(-pad_bottom, 0), max(-pad_left, 0): cols - max(-pad_right, 0), :]
    # A true convolution is a correlation with the flipped kernel; one copy per channel (depthwise).
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])
    depthwise = np.tile(flipped[:, :, np.newaxis, np.newaxis], (1, 1, channels, 1))  # [kh, kw, C, 1]
    depthwise = ops.convert_to_tensor(depthwise.astype(np.float32), dtype=x.dtype)
    # A valid correlation with stride `down` keeps exactly the rows and columns 0, down, 2*down, ...
    # of the stride-1 result.
    return ops.depthwise_conv(x, depthwise, strides=down, padding="valid")


def blur_kernel(taps=(1, 2, 1), *, normalize=True, gain=1.0):
    """The separable 2-D FIR kernel ``outer(taps, taps)``, scaled to sum to ``gain``; float32 [k, k].

    ``normalize=False`` keeps ``outer(taps, taps) * gain`` (it then sums to ``gain * sum(taps)**2``).
    ``(1, 2, 1)`` is StyleGAN's blur, ``(1, 3, 3, 1)`` StyleGAN2's resampling filter; the upsampling
    kernel of a factor-f upsample takes ``gain=f**2`` (f^2 - 1 of every f^2 inserted samples are 0).
    """
    taps = np.asarray(taps, dtype=np.float64)
    if taps.ndim != 1 or taps.size < 1 or not np.all(np.isfinite(taps)):
        raise ValueError(f"taps must be a non-empty 1-D sequence of finite numbers; got {taps!r}.")
    kernel = np.outer(taps, taps)
    if normalize:
        total = kernel.sum()
        if total == 0:
            raise ValueError(f"taps {taps.tolist()} sum to 0; they cannot be normalised.")
        kernel = kernel / total
    return (kernel * float(gain)).astype(np.float32)
