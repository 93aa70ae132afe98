"""The progressive discriminator of ProGAN and StyleGAN, and the fade-in blend of both generators.

Karras et al. 2018, "Progressive Growing of GANs" (https://arxiv.org/abs/1710.10196),
Table 2 and section 4 (the authors' ``D_paper``); Karras et al. 2019, "A
Style-Based Generator Architecture for GANs" (https://arxiv.org/abs/1812.04948),
whose ``D_basic`` (github.com/NVlabs/stylegan, ``training/networks_stylegan.py``)
is the same network with a blur before each downsampling. nf(r) = min(fmap_base /
2^(log2 r - 1), fmap_max), lrelu = LeakyReLU(0.2), every layer with equalized
learning rate (`common.nn.progressive_layers`, gain sqrt(2) unless said):

    fromRGB_r = conv 1x1 nf(r) -> lrelu
    block_r (r > 4), ProGAN    = conv 3x3 nf(r) -> lrelu -> conv 3x3 nf(r/2) -> lrelu -> average-pool 2x
    block_r (r > 4), StyleGAN  = conv 3x3 nf(r) -> lrelu -> blur [1 2 1] -> conv 3x3 nf(r/2) -> average-pool 2x
                                 -> lrelu
    block_4 = minibatch stddev (one map) -> conv 3x3 nf(4) -> lrelu -> dense nf(2) -> lrelu -> dense 1 (gain 1)

In StyleGAN's block the second convolution is pooled before its bias and
activation (the reference's ``conv2d_downscale2d`` then ``apply_bias`` and
``act``); pooling is linear, so pooling the biased output is the same number.
The blur is the normalised [1, 2, 1] x [1, 2, 1] filter with zero padding
(``blur2d``), through `common.nn.progressive_layers.upfirdn2d`.

A phase at resolution R after the first fades its new layers in (Figure 2 of
the ProGAN paper): the input path into block_{R/2} is ``(1 - alpha) *
fromRGB_{R/2}(avgpool(x)) + alpha * block_R(fromRGB_R(x))`` (`blend`). Every
resolution's layers are created and built in the constructor in a fixed order,
so the variables (and checkpoints) do not depend on the phase; the phase is read
from the static size of the input.

Deviation from both reference codes: downsampling is always a separate average
pool (their fused strided convolution at 128x128 and above computes nearly the
same function with another weight layout).
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from common.nn import progressive_layers as pl
from common.nn.layers import MaximumLeakyReLU
from common.training import progressive

__all__ = ["ProgressiveDiscriminator", "ProgressiveGeneratorBase", "Seeds", "blend", "blur", "feature_maps"]

BLUR_TAPS = (1, 2, 1)


def blend(low, high, alpha):
    """``low + alpha * (high - low)``: the fade from the previous resolution's path to the new one."""
    alpha = ops.cast(alpha, high.dtype)
    return low + alpha * (high - low)


def feature_maps(resolution: int, fmap_base: int, fmap_max: int) -> int:
    """nf at ``resolution``: the authors' ``nf(log2(resolution) - 1)`` = min(fmap_base / 2^stage, fmap_max), >= 1."""
    stage = resolution.bit_length() - 2
    return max(1, min(fmap_base >> stage, fmap_max))


def blur(x):
    """StyleGAN's ``blur2d``: the normalised [1, 2, 1] filter in both directions, zero padded to the same size."""
    return pl.upfirdn2d(x, pl.blur_kernel(BLUR_TAPS), padding=(1, 1, 1, 1))


class Seeds:
    """Distinct, reproducible initialiser seeds, in layer-creation order."""

    def __init__(self, base: int):
        self.next = base

    def __call__(self) -> int:
        self.next += 1
        return self.next


class ProgressiveGeneratorBase(keras.Model):
    """What ProGAN's and StyleGAN's generators share: the phase, the toRGB layers, the fade and full-size output.

    A subclass sets ``config_class`` (its frozen config dataclass, with ``image_size``, ``channels``,
    ``initial_resolution`` and ``resolutions``), builds ``to_rgb`` (one 1x1 convolution per resolution
    of the run, in order) and the non-trainable ``alpha`` variable, and writes `synthesize` (images at
    the phase's resolution) with `fade`. Calling the model renders the phase at ``alpha`` and upsamples
    the result (nearest neighbour) to ``image_size``, so every consumer (TensorBoard grids, evaluation,
    export) gets full-size images.

    Args:
      config: The app's config (or its fields as a dict, for `from_config`).
      **kwargs: `keras.Model` arguments (``name``, ``dtype``).
    """

    config_class = None

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "generator")
        super().__init__(**kwargs)
        self.config = config if isinstance(config, self.config_class) else self.config_class(**config)
        self.resolution = self.config.image_size

    def set_resolution(self, resolution: int) -> None:
        """Renders ``resolution`` (one of the config's resolutions) from now on; traced functions must be retraced."""
        if resolution not in self.config.resolutions:
            raise ValueError(f"{resolution} is not a resolution of this generator: {self.config.resolutions}.")
        self.resolution = resolution

    def rgb(self, resolution):
        """The toRGB layer of ``resolution``."""
        return self.to_rgb[self.config.resolutions.index(resolution)]

    def fade(self, x, previous, alpha):
        """toRGB of the phase's features ``x``, blended (in a phase after the first) with the upsampled toRGB of
        ``previous``, the features at half the resolution; float32."""
        resolution = self.resolution
        images = self.rgb(resolution)(x)
        if resolution > self.config.initial_resolution:
            low = pl.upsample_nearest(self.rgb(resolution // 2)(previous))
            images = blend(low, images, alpha)
        return ops.cast(images, "float32")

    def full_size(self, images):
        """Images of the phase's resolution upsampled (nearest neighbour) to ``image_size``."""
        factor = self.config.image_size // self.resolution
        return pl.upsample_nearest(images, factor) if factor > 1 else images

    def call(self, z, training=False):
        return self.full_size(self.synthesize(z, training=training))

    def compute_output_shape(self, input_shape):
        size = self.config.image_size
        return (input_shape[0], size, size, self.config.channels)

    def get_config(self):
        return {**super().get_config(), "config": dataclasses.asdict(self.config)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(config.pop("config"), **config)


@keras.saving.register_keras_serializable(package="gansuite")
class ProgressiveDiscriminator(keras.Model):
    """``discriminator(images, alpha)``: images [B, R, R, C] of any resolution R of the run -> scores [B, 1].

    Args:
      image_size: The final resolution.
      initial_resolution: The first phase's resolution.
      channels: Image channels.
      fmap_base, fmap_max: Feature maps per resolution (`feature_maps`).
      minibatch_group_size: Group of the minibatch standard deviation (16 in ProGAN's preset, 4 in
        StyleGAN); a batch it does not divide uses the largest divisor of the batch below it.
      leaky_relu_slope: Negative slope of every LeakyReLU.
      blur: StyleGAN's block (blur before the second convolution, pooled before its activation);
        False: ProGAN's.
      seed: Seed of the weights.
      **kwargs: `keras.Model` arguments.
    """

    def __init__(self, image_size, initial_resolution=4, channels=3, fmap_base=8192, fmap_max=512,
                 minibatch_group_size=16, leaky_relu_slope=0.2, blur=False, seed=0, **kwargs):
        kwargs.setdefault("name", "discriminator")
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        self.initial_resolution = int(initial_resolution)
        self.resolutions = progressive.resolutions_between(self.initial_resolution, self.image_size)
        self.channels = int(channels)
        self.fmap_base, self.fmap_max = int(fmap_base), int(fmap_max)
        self.minibatch_group_size = int(minibatch_group_size)
        self.leaky_relu_slope = float(leaky_relu_slope)
        self.blur = bool(blur)
        self.seed = int(seed)
        seed_of = Seeds(self.seed * 1000 + 500)
        self.lrelu = MaximumLeakyReLU(negative_slope=self.leaky_relu_slope, name="lrelu")
        self.from_rgb = []
        for resolution in self.resolutions:
            layer = pl.EqualizedConv2D(self.features(resolution), 1, seed=seed_of(), name=f"from_rgb_{resolution}")
            layer.build((None, resolution, resolution, self.channels))
            self.from_rgb.append(layer)
        self.block_convs = []  # two per resolution 8, 16, ..., image_size
        resolution = 8
        while resolution <= self.image_size:
            features, out = self.features(resolution), self.features(resolution // 2)
            conv_a = pl.EqualizedConv2D(features, 3, seed=seed_of(), name=f"conv0_{resolution}x{resolution}")
            conv_a.build((None, resolution, resolution, features))
            conv_b = pl.EqualizedConv2D(out, 3, seed=seed_of(), name=f"conv1_{resolution}x{resolution}")
            conv_b.build((None, resolution, resolution, features))
            self.block_convs.extend([conv_a, conv_b])
            resolution *= 2
        base = self.features(4)
        self.minibatch_stddev = pl.MinibatchStddev(group_size=self.minibatch_group_size, smaller_groups=True,
                                                   name="minibatch_stddev")
        self.conv_4 = pl.EqualizedConv2D(base, 3, seed=seed_of(), name="conv_4x4")
        self.conv_4.build((None, 4, 4, base + 1))
        self.dense = pl.EqualizedDense(self.features(2), seed=seed_of(), name="dense_4x4")
        self.dense.build((None, 16 * base))
        self.score = pl.EqualizedDense(1, gain=1.0, seed=seed_of(), name="score")
        self.score.build((None, self.features(2)))
        self.lrelu.build((None, 4, 4, base))  # stateless; built so that Keras sees every layer built
        self.minibatch_stddev.build((None, 4, 4, base))
        self.built = True

    def features(self, resolution: int) -> int:
        return feature_maps(resolution, self.fmap_base, self.fmap_max)

    def _from_rgb(self, images, resolution):
        return self.lrelu(self.from_rgb[self.resolutions.index(resolution)](images))

    def _block(self, x, resolution):
        block = resolution.bit_length() - 4  # 8x8 is block 0
        conv_a, conv_b = self.block_convs[2 * block:2 * block + 2]
        x = self.lrelu(conv_a(x))
        if self.blur:
            return self.lrelu(pl.downsample_average(conv_b(blur(x))))
        x = self.lrelu(conv_b(x))
        return pl.downsample_average(x)

    def call(self, images, alpha=1.0, training=False):
        resolution = int(images.shape[1])
        if resolution not in self.resolutions:
            raise ValueError(f"The discriminator takes images of {self.resolutions} pixels; "
                             f"got {tuple(images.shape[1:])}.")
        images = ops.cast(images, self.compute_dtype)
        x = self._from_rgb(images, resolution)
        if resolution > 4:
            x = self._block(x, resolution)
        if resolution > self.initial_resolution:
            low = self._from_rgb(pl.downsample_average(images), resolution // 2)
            x = blend(low, x, alpha)
        size = resolution // 2
        while size > 4:
            x = self._block(x, size)
            size //= 2
        x = self.minibatch_stddev(x)
        x = self.lrelu(self.conv_4(x))
        x = ops.reshape(x, (-1, 16 * self.features(4)))
        x = self.lrelu(self.dense(x))
        return ops.cast(self.score(x), "float32")

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size,
                "initial_resolution": self.initial_resolution, "channels": self.channels,
                "fmap_base": self.fmap_base, "fmap_max": self.fmap_max,
                "minibatch_group_size": self.minibatch_group_size, "leaky_relu_slope": self.leaky_relu_slope,
                "blur": self.blur, "seed": self.seed}
