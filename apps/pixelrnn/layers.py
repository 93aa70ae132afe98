"""Masked convolutions and two-dimensional LSTM layers of PixelRNN and PixelCNN.

van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural
Networks", ICML, https://arxiv.org/abs/1601.06759.

The model factorises an image ``x`` of ``n x n`` pixels with colours R, G, B
into a product of conditionals, in raster order over pixels and R -> G -> B
within a pixel (section 2.1):

    p(x) = prod_i p(x_{i,R} | x_{<i}) p(x_{i,G} | x_{<i}, x_{i,R}) p(x_{i,B} | x_{<i}, x_{i,R}, x_{i,G})

Every layer here keeps that ordering: a feature at pixel ``(i, j)`` depends
only on the pixels before ``(i, j)`` in raster order and, within the pixel, on
the colours allowed by its colour group.

Masks (section 3.4). The feature channels of every layer are split into
``color_groups`` contiguous blocks (channel ``c`` of ``n`` belongs to group
``c * color_groups // n``: a third each for R, G and B). A masked kernel keeps
the weights to pixels above the centre row and left of the centre in the
centre row and zeroes the rest; at the centre it connects input group ``g_in``
to output group ``g_out`` only if ``g_in < g_out`` (mask 'A', the first layer,
which sees the image itself) or ``g_in <= g_out`` (mask 'B', every later
layer: a feature of group ``g`` already excludes colour ``g`` of its pixel).
With one group, mask 'A' hides the centre and mask 'B' shows it.

Row LSTM (section 3.1). Rows are processed top to bottom; all pixels of a row
are computed at once:

    [o_i, f_i, i_i, g_i] = sigma(K^ss (*) h_{i-1} + K^is (*) x_i)
    c_i = f_i . c_{i-1} + i_i . g_i
    h_i = o_i . tanh(c_i)

``x_i`` and ``h_i`` are whole rows, ``(*)`` is a one-dimensional convolution
along the row (a ``1 x k`` kernel, k = 3 in the paper's table 1, which writes
the size as ``k x 1``), sigma is the logistic
sigmoid for o, f, i and tanh for g. ``K^is`` is masked ('B') so that a pixel
sees its left neighbours and, by colour group, itself; ``K^ss`` sees ``h_{i-1}`` unmasked,
because row ``i - 1`` lies entirely before row ``i``. The context of a pixel is
a triangle above it.

Diagonal BiLSTM (section 3.2). The input map is skewed (row ``i`` shifted
right by ``i``), so that the columns of the skewed map are the image's
diagonals; the LSTM runs over those ``W + H - 1`` columns. ``K^is`` is a
masked 1x1 convolution; ``K^ss`` a 2x1 convolution over the previous column:
in the image, the state at ``(i, j)`` reads the states at ``(i, j - 1)`` (left)
and ``(i - 1, j)`` (above). The output is unskewed. The right-to-left direction
is the same on the image mirrored along the width; its output, mirrored back,
is shifted down by one row (row 0 gets zeros) so that no pixel sees the
remainder of its own row, and the two directions are added. One layer thus
covers the whole context above and to the left of each pixel.

Residual blocks (section 3.3, figure 5): a PixelCNN block reduces ``2h``
features to ``h`` (1x1), applies a 3x3 masked convolution and expands back to
``2h`` (1x1); an LSTM block runs the LSTM with ``h`` units on the ``2h`` input
and expands its output to ``2h`` with a 1x1 convolution. Both add their
input.

Colour groups of the LSTM gates: the input-to-state convolution produces the
``4 * units`` pre-activations of o, f, i and g as four consecutive blocks of
``units`` channels; each block is grouped like the ``units`` hidden channels
(``output_blocks=4`` in `causal_mask`), so gate channel ``c`` of every gate
has the colour group of hidden channel ``c``, and ``c_i``, ``h_i`` keep the
grouping elementwise.

Implementation notes. Recurrences use `tf.scan` over rows (Row LSTM) or
skewed columns (Diagonal LSTM), so the graph does not grow with the image; the
skew and unskew are a pad, a reshape and a slice. Masks are float32 numpy
constants cast to the layer's compute dtype, so the layers run under
``mixed_bfloat16`` and ``mixed_float16`` policies with float32 variables.
ReLUs are computed as ``maximum(x, 0)`` for the reason given in
`common.nn.layers.MaximumLeakyReLU` (TensorFlow's grappler remapper and a ReLU
after a residual sum).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

__all__ = [
    "causal_mask",
    "skew",
    "unskew",
    "MaskedConv2D",
    "RowLSTM",
    "DiagonalLSTM",
    "DiagonalBiLSTM",
    "PixelCNNBlock",
    "RecurrentBlock",
]

MASK_TYPES = ("A", "B")
RECURRENT_KINDS = ("row_lstm", "diagonal_bilstm")


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"`{name}` must be an int or a pair of ints; got {value!r}.")
    return value


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    return int(value)


def _mask_type(value):
    value = str(value).upper()
    if value not in MASK_TYPES:
        raise ValueError(f"`mask_type` must be 'A' or 'B'; got {value!r}.")
    return value


def channel_groups(channels: int, color_groups: int, blocks: int = 1) -> np.ndarray:
    """Colour group of each of ``channels`` channels: ``c * color_groups // n`` within each of ``blocks`` blocks.

    ``channels`` is split into ``blocks`` consecutive blocks of ``n = channels // blocks``
    channels each, and channel ``c`` of every block gets group ``c * color_groups // n``.
    """
    if channels % blocks:
        raise ValueError(f"{channels} channels do not split into {blocks} equal blocks.")
    per_block = channels // blocks
    if per_block < color_groups:
        raise ValueError(
            f"{per_block} channels per block cannot hold {color_groups} colour groups; "
            "every group needs at least one channel."
        )
    return np.tile(np.arange(per_block) * color_groups // per_block, blocks)


def causal_mask(kernel_h, kernel_w, in_channels, out_channels, mask_type, color_groups, *, output_blocks=1):
    """The PixelRNN mask of a ``[kernel_h, kernel_w, in_channels, out_channels]`` kernel, float32 0/1.

    The centre is ``(kernel_h // 2, kernel_w // 2)``. Weights to rows above the
    centre and to the columns left of the centre in the centre row are 1; to
    the right of the centre and below it 0. At the centre, output group ``g``
    sees input groups ``< g`` (mask 'A') or ``<= g`` (mask 'B'); groups are
    contiguous blocks (`channel_groups`). ``output_blocks`` splits the output
    channels into that many consecutive blocks grouped alike (the four LSTM
    gates).

    Both kernel sizes must be odd (1 x k and k x 1 kernels included), so that
    the centre is a pixel.
    """
    kernel_h = _positive_int(kernel_h, "kernel_h")
    kernel_w = _positive_int(kernel_w, "kernel_w")
    if kernel_h % 2 == 0 or kernel_w % 2 == 0:
        raise ValueError(f"A causal mask needs odd kernel sizes; got {kernel_h}x{kernel_w}.")
    in_channels = _positive_int(in_channels, "in_channels")
    out_channels = _positive_int(out_channels, "out_channels")
    color_groups = _positive_int(color_groups, "color_groups")
    output_blocks = _positive_int(output_blocks, "output_blocks")
    mask_type = _mask_type(mask_type)
    in_groups = channel_groups(in_channels, color_groups)
    out_groups = channel_groups(out_channels, color_groups, output_blocks)
    centre_h, centre_w = kernel_h // 2, kernel_w // 2
    mask = np.zeros((kernel_h, kernel_w, in_channels, out_channels), np.float32)
    mask[:centre_h] = 1.0  # rows above the centre
    mask[centre_h, :centre_w] = 1.0  # left of the centre in the centre row
    if mask_type == "A":
        centre = in_groups[:, None] < out_groups[None, :]
    else:
        centre = in_groups[:, None] <= out_groups[None, :]
    mask[centre_h, centre_w] = centre.astype(np.float32)
    return mask


def _dim(x, axis):
    """Static size of ``axis`` when known, else the dynamic one."""
    size = x.shape[axis]
    return size if size is not None else tf.shape(x)[axis]


def skew(x):
    """[B, H, W, C] -> [B, H, W + H - 1, C]: row ``i`` shifted right by ``i``, zeros elsewhere.

    Each row is padded to ``L = W + H`` columns and the rows are read back
    with a stride of ``L - 1``: element ``(i, j)`` sits at flat position
    ``i * L + j = i * (L - 1) + (i + j)``, i.e. at column ``i + j`` of row
    ``i``; every other position of row ``i`` falls in the padding.
    """
    x = tf.convert_to_tensor(x)
    batch = tf.shape(x)[0]
    height, width, channels = _dim(x, 1), _dim(x, 2), _dim(x, 3)
    length = width + height
    x = tf.pad(x, [[0, 0], [0, 0], [0, height], [0, 0]])  # [B, H, W + H, C]
    x = tf.reshape(x, [batch, height * length, channels])
    x = x[:, : height * (length - 1)]
    return tf.reshape(x, [batch, height, length - 1, channels])


def unskew(x, width):
    """[B, H, W + H - 1, C] -> [B, H, W, C], the inverse of `skew`: row ``i`` read from column ``i`` on.

    The skewed rows are flattened, padded by ``H`` zeros and read back with
    a stride of ``W + H``: output ``(i, j)`` is flat position
    ``i * (W + H) + j = i * (W + H - 1) + (i + j)``, skewed column ``i + j``.
    """
    x = tf.convert_to_tensor(x)
    batch = tf.shape(x)[0]
    height, skewed, channels = _dim(x, 1), _dim(x, 2), _dim(x, 3)
    if isinstance(height, int) and isinstance(skewed, int) and skewed != width + height - 1:
        raise ValueError(f"A skewed map of height {height} and width {width} has {width + height - 1} "
                         f"columns; got {skewed}.")
    x = tf.reshape(x, [batch, height * skewed, channels])
    x = tf.pad(x, [[0, 0], [0, height], [0, 0]])
    x = tf.reshape(x, [batch, height, skewed + 1, channels])
    return x[:, :, :width]


def _relu(x):
    """ReLU as ``maximum(x, 0)``; see `common.nn.layers.MaximumLeakyReLU` for why not the Relu op."""
    return ops.maximum(x, ops.zeros_like(x))


def _lstm_update(preactivations, cell, units):
    """One LSTM step from the gate pre-activations ``[..., 4 * units]`` (o, f, i, g) and the previous cell."""
    o = ops.sigmoid(preactivations[..., :units])
    f = ops.sigmoid(preactivations[..., units: 2 * units])
    i = ops.sigmoid(preactivations[..., 2 * units: 3 * units])
    g = ops.tanh(preactivations[..., 3 * units:])
    cell = f * cell + i * g
    return o * ops.tanh(cell), cell


@keras.saving.register_keras_serializable(package="pixelrnn")
class MaskedConv2D(keras.layers.Layer):
    """Stride-1 convolution with "same" zero padding whose kernel is multiplied by `causal_mask`.

    Args:
      filters: Number of output channels.
      kernel_size: Int or pair ``(k_h, k_w)``, both odd.
      mask_type: ``"A"`` (first layer: a group does not see its own colour at
        the centre) or ``"B"`` (later layers).
      color_groups: Number of colour groups (3 for RGB, 1 for grayscale).
      output_blocks: Consecutive output blocks grouped alike (4 for LSTM gates).
      use_bias: Whether to add a bias per output channel.
      kernel_initializer, bias_initializer: Initialisers of ``kernel``
        ``[k_h, k_w, in, filters]`` and ``bias`` ``[filters]``.
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, filters, kernel_size, mask_type="B", color_groups=1, output_blocks=1, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = _positive_int(filters, "filters")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.mask_type = _mask_type(mask_type)
        self.color_groups = _positive_int(color_groups, "color_groups")
        self.output_blocks = _positive_int(output_blocks, "output_blocks")
        channel_groups(self.filters, self.color_groups, self.output_blocks)  # validates the output grouping
        if self.kernel_size[0] % 2 == 0 or self.kernel_size[1] % 2 == 0:
            raise ValueError(f"MaskedConv2D needs odd kernel sizes; got {self.kernel_size}.")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=4)
        self.kernel_mask = None

    def build(self, input_shape):
        in_channels = input_shape[-1]
        if in_channels is None:
            raise ValueError(f"MaskedConv2D needs a known channel dimension; got input shape {input_shape}.")
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: in_channels})
        self.kernel_mask = causal_mask(*self.kernel_size, in_channels, self.filters, self.mask_type, self.color_groups,
                                output_blocks=self.output_blocks)
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (in_channels, self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)

    def masked_kernel(self):
        """The kernel times the mask, in the compute dtype."""
        dtype = self.compute_dtype
        return ops.cast(self.kernel, dtype) * ops.cast(self.kernel_mask, dtype)

    def call(self, inputs):
        outputs = ops.conv(inputs, self.masked_kernel(), strides=1, padding="same")
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, self.compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "mask_type": self.mask_type,
                "color_groups": self.color_groups,
                "output_blocks": self.output_blocks,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="pixelrnn")
class RowLSTM(keras.layers.Layer):
    """The Row LSTM layer: [B, H, W, C] -> [B, H, W, units], rows computed top to bottom.

    Input-to-state: `MaskedConv2D` ``1 x kernel_size``, mask 'B', ``4 * units``
    filters with a bias, over all rows at once. State-to-state: an unmasked
    ``1 x kernel_size`` convolution (``state_kernel``, no bias) of the
    previous row's hidden state, zeros before row 0. See the module docstring.

    Args:
      units: Hidden channels ``h`` (per gate).
      color_groups: Colour groups of the input and of the hidden channels.
      kernel_size: Odd width ``k`` of both row convolutions (3 in the paper).
      kernel_initializer: Initialiser of the input-to-state kernel.
      state_initializer: Initialiser of the state-to-state kernel.
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, units, color_groups=1, kernel_size=3, kernel_initializer="glorot_uniform",
                 state_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units")
        self.color_groups = _positive_int(color_groups, "color_groups")
        self.kernel_size = _positive_int(kernel_size, "kernel_size")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"RowLSTM needs an odd kernel_size; got {kernel_size}.")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.state_initializer = keras.initializers.get(state_initializer)
        self.input_to_state = MaskedConv2D(
            4 * self.units, (1, self.kernel_size), mask_type="B", color_groups=self.color_groups, output_blocks=4,
            kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy, name="input_to_state")
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        self.input_to_state.build(input_shape)
        self.state_kernel = self.add_weight(name="state_kernel",
                                            shape=(1, self.kernel_size, self.units, 4 * self.units),
                                            initializer=self.state_initializer)

    def call(self, inputs):
        units = self.units
        preactivations = self.input_to_state(inputs)  # [B, H, W, 4u]
        rows = ops.transpose(preactivations, (1, 0, 2, 3))  # [H, B, W, 4u]
        state_kernel = ops.cast(self.state_kernel, self.compute_dtype)
        zeros = ops.zeros_like(rows[0, ..., :units])  # [B, W, u]

        def step(carry, row):
            hidden, cell = carry
            recurrent = ops.conv(hidden[:, None], state_kernel, strides=1, padding="same")[:, 0]
            return _lstm_update(row + recurrent, cell, units)

        hidden, _ = tf.scan(step, rows, initializer=(zeros, zeros))  # [H, B, W, u] each
        return ops.transpose(hidden, (1, 0, 2, 3))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "color_groups": self.color_groups,
                "kernel_size": self.kernel_size,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "state_initializer": keras.initializers.serialize(self.state_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="pixelrnn")
class DiagonalLSTM(keras.layers.Layer):
    """One direction of the Diagonal BiLSTM: [B, H, W, C] -> [B, H, W, units].

    Input-to-state: `MaskedConv2D` 1x1, mask 'B', ``4 * units`` filters with a
    bias, on the image; its output is skewed, so that the padding of the
    skewed map has zero pre-activations and therefore zero states. State-to-
    state: ``state_kernel`` ``[2, 1, units, 4 * units]``, no bias: tap 0 reads
    the previous skewed column at row ``i - 1``, tap 1 at row ``i``. The scan
    runs over the ``W + H - 1`` skewed columns and the result is unskewed.

    With ``reverse=False`` the state at ``(i, j)`` depends on the rectangle of
    pixels ``(i', j')`` with ``i' <= i`` and ``j' <= j`` (the pixel itself
    through mask 'B'). With ``reverse=True`` the layer runs on the image
    mirrored along the width, mirrors its output back and shifts it down one
    row, zeros in row 0: the output at ``(i, j)`` depends on ``i' < i`` and
    ``j' >= j``.

    Args:
      units: Hidden channels ``h`` (per gate).
      color_groups: Colour groups of the input and of the hidden channels.
      reverse: The right-to-left direction (see above).
      kernel_initializer: Initialiser of the input-to-state kernel.
      state_initializer: Initialiser of the state-to-state kernel.
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, units, color_groups=1, reverse=False, kernel_initializer="glorot_uniform",
                 state_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units")
        self.color_groups = _positive_int(color_groups, "color_groups")
        self.reverse = bool(reverse)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.state_initializer = keras.initializers.get(state_initializer)
        self.input_to_state = MaskedConv2D(
            4 * self.units, 1, mask_type="B", color_groups=self.color_groups, output_blocks=4,
            kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy, name="input_to_state")
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        self.input_to_state.build(input_shape)
        self.state_kernel = self.add_weight(name="state_kernel", shape=(2, 1, self.units, 4 * self.units),
                                            initializer=self.state_initializer)

    def _left_to_right(self, inputs):
        units = self.units
        width = inputs.shape[2] if inputs.shape[2] is not None else tf.shape(inputs)[2]
        preactivations = skew(self.input_to_state(inputs))  # [B, H, W + H - 1, 4u]
        columns = ops.transpose(preactivations, (2, 0, 1, 3))  # [W + H - 1, B, H, 4u]
        state_kernel = ops.cast(self.state_kernel, self.compute_dtype)
        above_kernel, same_kernel = state_kernel[0, 0], state_kernel[1, 0]  # [u, 4u] each
        zeros = ops.zeros_like(columns[0, ..., :units])  # [B, H, u]

        def step(carry, column):
            hidden, cell = carry
            above = ops.pad(hidden[:, :-1], ((0, 0), (1, 0), (0, 0)))  # row i reads row i - 1; zeros for row 0
            recurrent = ops.matmul(above, above_kernel) + ops.matmul(hidden, same_kernel)
            return _lstm_update(column + recurrent, cell, units)

        hidden, _ = tf.scan(step, columns, initializer=(zeros, zeros))  # [W + H - 1, B, H, u] each
        return unskew(ops.transpose(hidden, (1, 2, 0, 3)), width)

    def call(self, inputs):
        if not self.reverse:
            return self._left_to_right(inputs)
        outputs = ops.flip(self._left_to_right(ops.flip(inputs, axis=2)), axis=2)
        return ops.pad(outputs[:, :-1], ((0, 0), (1, 0), (0, 0), (0, 0)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "color_groups": self.color_groups,
                "reverse": self.reverse,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "state_initializer": keras.initializers.serialize(self.state_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="pixelrnn")
class DiagonalBiLSTM(keras.layers.Layer):
    """The Diagonal BiLSTM: the sum of a left-to-right and a (shifted) right-to-left `DiagonalLSTM`.

    [B, H, W, C] -> [B, H, W, units]; the output at ``(i, j)`` depends on every
    pixel before ``(i, j)`` in raster order, and on the pixel itself through
    the left-to-right direction's mask 'B'.

    Args:
      units: Hidden channels ``h`` of each direction.
      color_groups: Colour groups of the input and of the hidden channels.
      kernel_initializer, state_initializer: As in `DiagonalLSTM`.
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, units, color_groups=1, kernel_initializer="glorot_uniform",
                 state_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int(units, "units")
        self.color_groups = _positive_int(color_groups, "color_groups")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.state_initializer = keras.initializers.get(state_initializer)
        common = dict(color_groups=self.color_groups, kernel_initializer=self.kernel_initializer,
                      state_initializer=self.state_initializer, dtype=self.dtype_policy)
        self.left_to_right = DiagonalLSTM(self.units, reverse=False, name="left_to_right", **common)
        self.right_to_left = DiagonalLSTM(self.units, reverse=True, name="right_to_left", **common)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        self.left_to_right.build(input_shape)
        self.right_to_left.build(input_shape)

    def call(self, inputs):
        return self.left_to_right(inputs) + self.right_to_left(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "color_groups": self.color_groups,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "state_initializer": keras.initializers.serialize(self.state_initializer),
            }
        )
        return config


def _check_block_input(layer, input_shape):
    if input_shape[-1] != 2 * layer.hidden:
        raise ValueError(f"{type(layer).__name__} with hidden={layer.hidden} takes {2 * layer.hidden} channels; "
                         f"got input shape {input_shape}.")


@keras.saving.register_keras_serializable(package="pixelrnn")
class PixelCNNBlock(keras.layers.Layer):
    """The PixelCNN residual block (figure 5, left): 2h -> 2h features.

        y = x + conv1x1_2h(relu(conv3x3_h(relu(conv1x1_h(relu(x))))))

    All three convolutions are masked 'B' with ``color_groups`` groups.

    Args:
      hidden: ``h``; the block's input and output have ``2h`` channels.
      color_groups: Colour groups of every feature map.
      kernel_initializer: Initialiser of the three kernels.
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, hidden, color_groups=1, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.hidden = _positive_int(hidden, "hidden")
        self.color_groups = _positive_int(color_groups, "color_groups")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        common = dict(mask_type="B", color_groups=self.color_groups, kernel_initializer=self.kernel_initializer,
                      dtype=self.dtype_policy)
        self.reduce = MaskedConv2D(self.hidden, 1, name="reduce_1x1", **common)
        self.conv = MaskedConv2D(self.hidden, 3, name="conv_3x3", **common)
        self.expand = MaskedConv2D(2 * self.hidden, 1, name="expand_1x1", **common)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        _check_block_input(self, input_shape)
        hidden_shape = tuple(input_shape[:-1]) + (self.hidden,)
        self.reduce.build(input_shape)
        self.conv.build(hidden_shape)
        self.expand.build(hidden_shape)

    def call(self, inputs):
        x = self.reduce(_relu(inputs))
        x = self.conv(_relu(x))
        return inputs + self.expand(_relu(x))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden": self.hidden,
                "color_groups": self.color_groups,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="pixelrnn")
class RecurrentBlock(keras.layers.Layer):
    """The LSTM residual block (figure 5, right): 2h -> 2h features.

        y = x + conv1x1_2h(lstm_h(x))

    ``lstm_h`` is a `RowLSTM` (``kind="row_lstm"``) or a `DiagonalBiLSTM`
    (``kind="diagonal_bilstm"``) with ``h`` units; its input-to-state
    convolution reads the ``2h`` input. The 1x1 convolution is masked 'B'.

    Args:
      kind: ``"row_lstm"`` or ``"diagonal_bilstm"``.
      hidden: ``h``; the block's input and output have ``2h`` channels.
      color_groups: Colour groups of every feature map.
      row_kernel_size: Width ``k`` of the Row LSTM's convolutions.
      kernel_initializer: Initialiser of the input-to-state and output kernels.
      state_initializer: Initialiser of the state-to-state kernels.
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, kind, hidden, color_groups=1, row_kernel_size=3, kernel_initializer="glorot_uniform",
                 state_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if kind not in RECURRENT_KINDS:
            raise ValueError(f"`kind` must be one of {RECURRENT_KINDS}; got {kind!r}.")
        self.kind = kind
        self.hidden = _positive_int(hidden, "hidden")
        self.color_groups = _positive_int(color_groups, "color_groups")
        self.row_kernel_size = _positive_int(row_kernel_size, "row_kernel_size")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.state_initializer = keras.initializers.get(state_initializer)
        common = dict(color_groups=self.color_groups, kernel_initializer=self.kernel_initializer,
                      state_initializer=self.state_initializer, dtype=self.dtype_policy)
        if kind == "row_lstm":
            self.lstm = RowLSTM(self.hidden, kernel_size=self.row_kernel_size, name="row_lstm", **common)
        else:
            self.lstm = DiagonalBiLSTM(self.hidden, name="diagonal_bilstm", **common)
        self.expand = MaskedConv2D(2 * self.hidden, 1, mask_type="B", color_groups=self.color_groups,
                                   kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy,
                                   name="expand_1x1")
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        _check_block_input(self, input_shape)
        self.lstm.build(input_shape)
        self.expand.build(tuple(input_shape[:-1]) + (self.hidden,))

    def call(self, inputs):
        return inputs + self.expand(self.lstm(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kind": self.kind,
                "hidden": self.hidden,
                "color_groups": self.color_groups,
                "row_kernel_size": self.row_kernel_size,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "state_initializer": keras.initializers.serialize(self.state_initializer),
            }
        )
        return config
