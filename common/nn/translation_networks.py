"""Networks and loss terms shared by the two-domain translation apps (CycleGAN, CSGAN).

Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", https://arxiv.org/abs/1703.10593, appendix 7.2, and its
reference code (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py).
Notation of the paper: ``c7s1-k`` a 7x7 stride-1 convolution-InstanceNorm-ReLU
with k filters, ``dk`` a 3x3 stride-2 convolution-InstanceNorm-ReLU, ``Rk`` a
residual block of two 3x3 convolutions with k filters, ``uk`` a 3x3
fractionally-strided (stride 1/2) convolution-InstanceNorm-ReLU, ``Ck`` a 4x4
stride-2 convolution-InstanceNorm-LeakyReLU(0.2).

ResNet generator (`build_resnet_generator`), shapes for a 256x256 RGB input and
64 base filters; the 7x7 convolutions and the residual blocks use reflection
padding, the strided convolutions zero padding of 1:

    c7s1-64      [256, 256, 64]
    d128         [128, 128, 128]
    d256         [64, 64, 256]
    R256 x 9     [64, 64, 256]      (6 blocks for 128x128 training images)
    u128         [128, 128, 128]
    u64          [256, 256, 64]
    c7s1-3       [256, 256, 3]  -> tanh  (no norm, no ReLU)

11,378,179 parameters with 9 blocks (the reference code prints 11.378 M),
7,837,699 with 6. Fully convolutional: any height and width divisible by 4.

70x70 PatchGAN discriminator (`build_patch_discriminator`), 256x256 input:

    C64 (no norm)     [128, 128, 64]
    C128              [64, 64, 128]
    C256              [32, 32, 256]
    C512, stride 1    [31, 31, 512]
    4x4 conv, stride 1 -> [30, 30, 1]: one real/fake score per 70x70 patch

2,764,737 parameters. Every convolution pads 1 with zeros, as the reference
code does (a 4x4 stride-1 convolution then shrinks the map by one pixel).

Details from the reference code that the paper leaves open: instance
normalization without a learned scale and offset (PyTorch's `InstanceNorm2d`
default, ``affine=False``; here `GroupNormalization(groups=-1, center=False,
scale=False, epsilon=1e-5)`), convolutions with biases, weights drawn from
N(0, 0.02) and biases 0, and the paper's C512 layer with stride 1. The
fractionally-strided convolution is `Conv2DTranspose` ("valid", 2H + 1
outputs) cropped by one pixel at the top and left, which is exactly PyTorch's
`ConvTranspose2d(kernel 3, stride 2, padding 1, output_padding 1)`; the
stride-2 convolutions pad one pixel on every side as PyTorch does (Keras'
"same" would pad only after).

Mixed precision: the generator's last convolution and tanh, and the
discriminator's last convolution, run in float32 (``dtype="float32"``), so
images and scores leave the networks in float32 whatever the policy.

Loss terms: `cycle_consistency_loss` (eq. 2) and `identity_loss` (section 5.2)
are weighted L1 distances (`common.nn.losses.mean_absolute_error`).

Deviations: none.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from common.nn import losses
from common.nn.layers import MaximumLeakyReLU

__all__ = [
    "ReflectionPadding2D",
    "instance_norm",
    "residual_block",
    "build_resnet_generator",
    "build_patch_discriminator",
    "cycle_consistency_loss",
    "identity_loss",
    "SIZE_MULTIPLE",
]

SIZE_MULTIPLE = 4  # two stride-2 convolutions in the ResNet generator


@keras.saving.register_keras_serializable(package="gansuite")
class ReflectionPadding2D(layers.Layer):
    """Pads height and width by mirroring the border pixels (without repeating the edge).

    PyTorch's `nn.ReflectionPad2d`; `padding` pixels on every side of a
    [B, H, W, C] tensor. H and W must be larger than `padding`.

    Args:
      padding: Pixels added on each side.
      **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)

    def call(self, inputs):
        p = self.padding
        return ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        grow = lambda size: None if size is None else size + 2 * self.padding  # noqa: E731
        return (batch, grow(height), grow(width), channels)

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding)
        return config


def _weights(seed):
    return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)


class _Seeds:
    """One integer seed per layer: `start`, `start + 1`, ... (the same config builds the same weights)."""

    def __init__(self, start: int):
        self.next = start

    def __call__(self) -> int:
        self.next += 1
        return self.next - 1


def instance_norm(name=None):
    """Instance normalization without affine parameters (PyTorch `InstanceNorm2d` default), epsilon 1e-5."""
    return layers.GroupNormalization(groups=-1, center=False, scale=False, epsilon=1e-5, name=name)


def _conv(filters, kernel, strides, seed, name, dtype=None):
    return layers.Conv2D(filters, kernel, strides=strides, padding="valid", kernel_initializer=_weights(seed),
                         bias_initializer="zeros", name=name, dtype=dtype)


def residual_block(x, filters: int, seed: _Seeds | int, name: str):
    """R<filters>: x + [reflect-pad 1, conv 3x3, IN, ReLU, reflect-pad 1, conv 3x3, IN](x)."""
    seeds = seed if isinstance(seed, _Seeds) else _Seeds(seed)
    y = ReflectionPadding2D(1, name=f"{name}_pad1")(x)
    y = _conv(filters, 3, 1, seeds(), f"{name}_conv1")(y)
    y = instance_norm(f"{name}_norm1")(y)
    y = layers.ReLU(name=f"{name}_relu")(y)
    y = ReflectionPadding2D(1, name=f"{name}_pad2")(y)
    y = _conv(filters, 3, 1, seeds(), f"{name}_conv2")(y)
    y = instance_norm(f"{name}_norm2")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def build_resnet_generator(*, channels: int = 3, base_filters: int = 64, num_residual_blocks: int = 9,
                           seed: int = 0, name: str = "generator") -> keras.Model:
    """The ResNet generator of the module docstring: images [B, H, W, C] in [-1, 1] -> same shape.

    Args:
      channels: Image channels (input and output).
      base_filters: Filters of c7s1 (ngf, 64 in the paper); d/u layers use 2x and 4x.
      num_residual_blocks: 9 (256x256 training images) or 6 (128x128).
      seed: First weight seed; layers use seed, seed + 1, ...
      name: Model name.
    """
    seeds = _Seeds(seed)
    f = base_filters
    inputs = keras.Input((None, None, channels), name="images")
    x = ReflectionPadding2D(3, name="c7s1_pad")(inputs)
    x = _conv(f, 7, 1, seeds(), "c7s1_conv")(x)
    x = layers.ReLU(name="c7s1_relu")(instance_norm("c7s1_norm")(x))
    for index, filters in enumerate((2 * f, 4 * f)):
        x = layers.ZeroPadding2D(1, name=f"d{filters}_pad")(x)
        x = _conv(filters, 3, 2, seeds(), f"d{filters}_conv")(x)
        x = layers.ReLU(name=f"d{filters}_relu")(instance_norm(f"d{filters}_norm")(x))
    for index in range(num_residual_blocks):
        x = residual_block(x, 4 * f, seeds, name=f"res{index + 1}")
    for filters in (2 * f, f):
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="valid", kernel_initializer=_weights(seeds()),
                                   name=f"u{filters}_conv")(x)  # 2H + 1 outputs
        x = layers.Cropping2D(((1, 0), (1, 0)), name=f"u{filters}_crop")(x)  # PyTorch padding=1, output_padding=1
        x = layers.ReLU(name=f"u{filters}_relu")(instance_norm(f"u{filters}_norm")(x))
    x = ReflectionPadding2D(3, name="out_pad")(x)
    x = _conv(channels, 7, 1, seeds(), "out_conv", dtype="float32")(x)
    outputs = layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def build_patch_discriminator(*, channels: int = 3, base_filters: int = 64, num_layers: int = 3,
                              leaky_relu_slope: float = 0.2, seed: int = 0,
                              name: str = "discriminator") -> keras.Model:
    """The 70x70 PatchGAN of the module docstring: images [B, H, W, C] -> scores [B, H', W', 1] (float32).

    Args:
      channels: Image channels.
      base_filters: Filters of C64 (ndf, 64 in the paper).
      num_layers: Stride-2 layers (3 gives the 70x70 receptive field); a stride-1
        layer with `base_filters * min(2**num_layers, 8)` filters follows.
      leaky_relu_slope: Negative slope of the LeakyReLUs.
      seed: First weight seed.
      name: Model name.
    """
    seeds = _Seeds(seed)
    inputs = keras.Input((None, None, channels), name="images")
    x = inputs
    filters = base_filters
    for index in range(num_layers + 1):
        filters = base_filters * min(2 ** index, 8)
        strides = 2 if index < num_layers else 1
        x = layers.ZeroPadding2D(1, name=f"c{index + 1}_pad")(x)
        x = _conv(filters, 4, strides, seeds(), f"c{index + 1}_conv")(x)
        if index > 0:
            x = instance_norm(f"c{index + 1}_norm")(x)
        leaky_relu = layers.LeakyReLU if index > 0 else MaximumLeakyReLU  # after the biased conv: see its docstring
        x = leaky_relu(leaky_relu_slope, name=f"c{index + 1}_lrelu")(x)
    x = layers.ZeroPadding2D(1, name="out_pad")(x)
    outputs = _conv(1, 4, 1, seeds(), "out_conv", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def cycle_consistency_loss(real, cycled, weight: float):
    """``weight * E[|F(G(x)) - x|]``, one direction of eq. 2 of Zhu et al. 2017; float32 scalar."""
    return weight * losses.mean_absolute_error(cycled, real)


def identity_loss(real, same, weight: float):
    """``weight * E[|G(y) - y|]`` for G: X -> Y applied to y in Y (Zhu et al. 2017, section 5.2); float32 scalar."""
    return weight * losses.mean_absolute_error(same, real)
