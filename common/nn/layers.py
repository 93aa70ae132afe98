"""Custom Keras layers shared by the apps.

`Maxout` (end of the file): fully connected maxout units, Goodfellow et al. 2013.

`MaximumLeakyReLU` (end of the file): `keras.layers.LeakyReLU` written as
``max(x, slope * x)``, for a LeakyReLU that directly follows a convolution
with a bias (the LeakyRelu op there trips TensorFlow's grappler remapper).

`SubPixelConv2DTranspose` computes exactly the function of
`keras.layers.Conv2DTranspose` (channels_last, no dilation, no output_padding)
with the same kernel layout, through the sub-pixel decomposition of a strided
transposed convolution (Shi et al. 2016, "Real-Time Single Image and Video
Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network",
https://arxiv.org/abs/1609.05158, and Shi et al. 2016, "Is the deconvolution
layer the same as a convolutional layer?", https://arxiv.org/abs/1609.07009).

The math, per spatial axis, for stride ``s`` and kernel size ``k``. The
transposed convolution scatters each input pixel over ``k`` outputs:

    full[o] = sum_{j, t : o = j*s + t} x[j] K[t],     t in [0, k),  len(full) = (n-1)*s + k

Writing ``o = m*s + p`` with phase ``p`` in [0, s): ``t = p + d*s``, so

    full[m*s + p] = sum_{d=0}^{D-1} x[m - d] K[p + d*s],      D = ceil(k / s)

which for each phase ``p`` is an ordinary stride-1 correlation of ``x`` with
the ``D`` taps ``K[p + (D-1-u)*s]`` (u = 0..D-1; taps past ``k`` are zero).
All ``s*s`` phases (two axes) share the input, so they are ONE convolution with
``s*s*filters`` output channels (channel ``(p_h*s_w + p_w)*filters + f``),
followed by a depth-to-space rearrangement and a crop: "same" keeps
``full[P : P + n*s]`` with ``P = max(k - s, 0) // 2`` (TensorFlow's padding
rule), "valid" keeps all of ``full`` (``n*s + max(k - s, 0)`` outputs: zeros
follow ``full`` when ``k < s``, as in `Conv2DTranspose`). Only the rows of the phase image that the
crop needs are computed.

The phase kernel ``(D_h, D_w, in_channels, s_h*s_w*filters)`` is rebuilt from
the transpose kernel ``(k_h, k_w, filters, in_channels)`` at every call with a
pad, reshape, reverse and transpose of the small kernel; the stored weight is
the transpose kernel, so weights copy to and from `Conv2DTranspose` unchanged.

Deviations from `Conv2DTranspose`: ``data_format="channels_first"``,
``dilation_rate != 1`` and ``output_padding`` are not supported (the
constructor says so).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["MaximumLeakyReLU", "Maxout", "SubPixelConv2DTranspose"]


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"`{name}` must be an int or a pair of ints; got {value!r}.")
    return value


def _axis_plan(size, kernel, stride, padding):
    """Padding of the input, phase-image rows to compute and the crop, for one axis.

    Returns (pad_before, pad_after, crop_start, out_size, taps) where the input is
    zero-padded, correlated with ``taps`` taps (valid), expanded
    by ``stride`` and cropped to ``[crop_start, crop_start + out_size)``.
    """
    taps = -(-kernel // stride)  # D = ceil(k / s)
    if padding == "same":
        offset = max(kernel - stride, 0) // 2  # P
        out_size = size * stride
    else:
        offset = 0
        out_size = size * stride + max(kernel - stride, 0)  # len(full), or n*s when k < s
    first_row = offset // stride  # first phase-image row m the crop touches
    last_row = (offset + out_size - 1) // stride
    pad_before = taps - 1 - first_row
    pad_after = last_row + 1 - size
    crop_start = offset - first_row * stride
    return pad_before, pad_after, crop_start, out_size, taps


@keras.saving.register_keras_serializable(package="gansuite")
class SubPixelConv2DTranspose(keras.layers.Layer):
    """Transposed 2D convolution computed as one convolution plus depth-to-space.

    Same arguments, weights (``kernel`` of shape ``(k_h, k_w, filters,
    in_channels)``, then ``bias``) and outputs as `keras.layers.Conv2DTranspose`
    with ``data_format="channels_last"``; see the module docstring for the math.

    Args:
      filters: Number of output channels.
      kernel_size: Int or pair ``(k_h, k_w)``.
      strides: Int or pair ``(s_h, s_w)``, each >= 1.
      padding: ``"same"`` (output = input * stride) or ``"valid"``
        (output = input * stride + max(kernel - stride, 0)).
      activation: Activation applied to the output.
      use_bias: Whether to add a bias per output channel.
      kernel_initializer, bias_initializer, kernel_regularizer,
      bias_regularizer, kernel_constraint, bias_constraint: As in
        `Conv2DTranspose`.
      **kwargs: Base layer arguments (name, dtype, activity_regularizer, ...).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(2, 2),
        padding="same",
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        for unsupported in ("data_format", "dilation_rate", "output_padding"):
            value = kwargs.pop(unsupported, None)
            if value not in (None, "channels_last", 1, (1, 1)):
                raise ValueError(
                    f"SubPixelConv2DTranspose does not support {unsupported}={value!r}; "
                    "use keras.layers.Conv2DTranspose for it."
                )
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        padding = str(padding).lower()
        if padding not in ("same", "valid"):
            raise ValueError(f"`padding` must be 'same' or 'valid'; got {padding!r}.")
        if self.filters < 1 or min(self.kernel_size) < 1 or min(self.strides) < 1:
            raise ValueError(
                "`filters`, `kernel_size` and `strides` must be positive; got "
                f"filters={filters}, kernel_size={kernel_size}, strides={strides}."
            )
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        if in_channels is None:
            raise ValueError("SubPixelConv2DTranspose needs a known channel dimension; got input shape "
                             f"{input_shape}.")
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: in_channels})
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.filters, in_channels),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def phase_kernel(self, kernel=None):
        """The stride-1 kernel ``(D_h, D_w, in_channels, s_h*s_w*filters)`` of all phases."""
        kernel = self.kernel if kernel is None else kernel
        (k_h, k_w), (s_h, s_w) = self.kernel_size, self.strides
        taps_h, taps_w = -(-k_h // s_h), -(-k_w // s_w)
        in_channels = kernel.shape[-1]
        # Zero taps past k, so that tap index t = d*s + p covers [0, D*s).
        kernel = ops.pad(kernel, ((0, taps_h * s_h - k_h), (0, taps_w * s_w - k_w), (0, 0), (0, 0)))
        # [d_h, p_h, d_w, p_w, F, C]
        kernel = ops.reshape(kernel, (taps_h, s_h, taps_w, s_w, self.filters, in_channels))
        kernel = ops.flip(kernel, axis=(0, 2))  # u = D-1-d: correlation order
        kernel = ops.transpose(kernel, (0, 2, 5, 1, 3, 4))  # [u_h, u_w, C, p_h, p_w, F]
        return ops.reshape(kernel, (taps_h, taps_w, in_channels, s_h * s_w * self.filters))

    def call(self, inputs):
        (k_h, k_w), (s_h, s_w) = self.kernel_size, self.strides
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None:
            raise ValueError(
                "SubPixelConv2DTranspose needs static height and width (its padding and crop are "
                f"planned from them); got input shape {inputs.shape}. Give the model a fixed input size."
            )
        plan_h = _axis_plan(height, k_h, s_h, self.padding)
        plan_w = _axis_plan(width, k_w, s_w, self.padding)
        # Never negative: P // s <= D - 1, and the crop reaches past the last input row.
        pads = ((0, 0), plan_h[:2], plan_w[:2], (0, 0))
        x = ops.pad(inputs, pads) if any(p != (0, 0) for p in pads) else inputs
        phases = ops.conv(x, self.phase_kernel(), strides=1, padding="valid")  # [B, Mh, Mw, s_h*s_w*F]
        batch = ops.shape(phases)[0]
        rows, cols = phases.shape[1], phases.shape[2]
        # Depth to space: channel (p_h*s_w + p_w)*F + f goes to pixel (m_h*s_h + p_h, m_w*s_w + p_w).
        outputs = ops.reshape(phases, (batch, rows, cols, s_h, s_w, self.filters))
        outputs = ops.transpose(outputs, (0, 1, 3, 2, 4, 5))
        outputs = ops.reshape(outputs, (batch, rows * s_h, cols * s_w, self.filters))
        crop_h, out_h = plan_h[2], plan_h[3]
        crop_w, out_w = plan_w[2], plan_w[3]
        if crop_h or crop_w or rows * s_h != out_h or cols * s_w != out_w:
            outputs = outputs[:, crop_h : crop_h + out_h, crop_w : crop_w + out_w, :]
        if self.use_bias:
            outputs = outputs + self.bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        sizes = []
        for size, kernel, stride in zip(input_shape[1:3], self.kernel_size, self.strides):
            if size is None:
                sizes.append(None)
            elif self.padding == "same":
                sizes.append(size * stride)
            else:
                sizes.append(size * stride + max(kernel - stride, 0))
        return (input_shape[0], sizes[0], sizes[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="gansuite")
class Maxout(keras.layers.Layer):
    """Fully connected maxout units (Goodfellow et al. 2013, "Maxout Networks", https://arxiv.org/abs/1302.4389).

    Each of ``units`` outputs is the maximum of ``pieces`` affine functions of
    the input:

        z = x W + b                                  [B, units * pieces]
        y[:, j] = max_i z[:, j * pieces + i]          [B, units]

    Pieces of one unit are consecutive columns of ``W``, as in pylearn2's
    ``Maxout`` layer (``pool_stride == num_pieces``), which the GAN paper's
    discriminator used (Goodfellow et al. 2014, https://arxiv.org/abs/1406.2661).

    Args:
      units: Number of maxout outputs.
      pieces: Affine pieces per output (>= 1; 1 is a plain Dense layer).
      use_bias: Whether ``z`` has a bias.
      kernel_initializer, bias_initializer: Initialisers of ``kernel``
        ``[in, units * pieces]`` and ``bias`` ``[units * pieces]``.
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, units, pieces, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        for name, value in (("units", units), ("pieces", pieces)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Maxout {name} must be a positive integer; got {value!r}.")
        self.units = units
        self.pieces = pieces
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError("Maxout needs a known last input dimension; flatten images first.")
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.units * self.pieces), initializer=self.kernel_initializer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units * self.pieces,),
                                        initializer=self.bias_initializer)

    def call(self, inputs):
        z = ops.matmul(inputs, ops.cast(self.kernel, self.compute_dtype))  # [B, units * pieces]
        if self.bias is not None:
            z = z + ops.cast(self.bias, self.compute_dtype)
        z = ops.reshape(z, (-1, self.units, self.pieces))  # consecutive columns = one unit's pieces
        return ops.max(z, axis=-1)  # [B, units]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "pieces": self.pieces,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="gansuite")
class MaximumLeakyReLU(keras.layers.Layer):
    """``keras.layers.LeakyReLU(negative_slope)`` computed as ``maximum(x, slope * x)``.

    For ``0 <= slope <= 1``, ``max(x, slope * x)`` is ``x`` where ``x > 0`` and
    ``slope * x`` where ``x < 0``: the same product as the LeakyRelu op, so in
    float32 the outputs are bitwise equal. For ``slope > 1`` the layer takes
    the minimum instead. The input gradient is the upstream gradient times 1 or
    ``slope``, as the op's, except at ``x == 0`` exactly: there this layer's
    derivative is 1 (the maximum and the minimum pass the gradient to their
    first argument) and the op's is ``slope``; both are one-sided derivatives.

    Why not the LeakyRelu op after a convolution with a bias: its gradient,
    LeakyReluGrad, reads the activation's input, the BiasAdd. With oneDNN on a
    CPU, TensorFlow's grappler remapper first fuses Conv2D + BiasAdd, then
    that fused convolution + LeakyRelu, without checking that the BiasAdd's
    output has another reader. In a step that differentiates through the
    activation the rewrite is invalid (whether it is attempted depends on the
    rest of the graph) and that remapper pass fails as a whole: TensorFlow
    logs "remapper failed: INVALID_ARGUMENT: Mutation::Apply error: fanout
    '.../LeakyReluGrad' exist for missing node '.../BiasAdd'" and keeps the
    function as it was before the pass. The gradient of ``maximum`` reads
    both of its inputs, so neither is fused away; Conv2D + BiasAdd still fuse.

    After a normalisation layer nothing fuses the LeakyRelu op into a
    convolution: keep `keras.layers.LeakyReLU` there, as the maximum and its
    gradient take more elementwise ops than LeakyRelu and LeakyReluGrad. (A
    custom gradient computed from the output would keep the whole fusion, but
    `tf.custom_gradient` passes the input through an IdentityN, which trips
    the same rewrite in some graphs, e.g. a loaded SavedModel differentiated.)

    With ``negative_slope=0`` it is a ReLU (``-0.0`` for ``x < 0``), for the
    same reason after a residual sum: the remapper fuses Conv2D + BiasAdd +
    Add + Relu although the Add has other readers (the next block's shortcut),
    and fails with "fanout '.../Relu' exist for missing node '.../Add'".

    The layer has no weights: it replaces a `keras.layers.LeakyReLU` or
    `keras.layers.ReLU` of the same name without changing checkpoints.

    Args:
      negative_slope: Slope for ``x < 0``, finite and >= 0 (Keras' default 0.3).
      **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or not (
                negative_slope >= 0 and negative_slope < float("inf")):
            raise ValueError(f"negative_slope must be a finite number >= 0; got {negative_slope!r}.")
        self.negative_slope = float(negative_slope)
        self.supports_masking = True

    def call(self, inputs):
        scaled = inputs * ops.cast(self.negative_slope, inputs.dtype)
        if self.negative_slope <= 1.0:
            return ops.maximum(inputs, scaled)
        return ops.minimum(inputs, scaled)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"negative_slope": self.negative_slope})
        return config
