"""ProGAN's generator and discriminator, every resolution built from the start.

Karras et al. 2018, "Progressive Growing of GANs" (https://arxiv.org/abs/1710.10196),
Table 2 and section 4; the authors' `networks.py` (`G_paper`, `D_paper`,
github.com/tkarras/progressive_growing_of_gans). nf(r) = `ProGANConfig.features`
(512 up to 32x32, halving above), lrelu = LeakyReLU(0.2), PN = pixel norm,
every convolution and dense layer with equalized learning rate
(`common.nn.progressive_layers`, gain sqrt(2) unless said):

Generator (z [latent_dim] -> images [R, R, C]):

    z -> PN (normalize_latents) -> dense 16 nf(4) (gain sqrt(2)/4, no bias) -> reshape [4, 4, nf(4)]
      -> + bias per channel -> lrelu -> PN
      -> conv 3x3 nf(4) -> lrelu -> PN                                            = h_4
    h_r = upsample 2x (nearest) h_{r/2} -> conv 3x3 nf(r) -> lrelu -> PN -> conv 3x3 nf(r) -> lrelu -> PN
    toRGB_r = conv 1x1 C (gain 1, linear)

Discriminator (images [R, R, C] -> score [1], float32; `common.nn.progressive_networks`,
shared with StyleGAN, built here with ProGAN's blocks):

    fromRGB_r = conv 1x1 nf(r) -> lrelu
    block_r (r > 4) = conv 3x3 nf(r) -> lrelu -> conv 3x3 nf(r/2) -> lrelu -> average-pool 2x
    block_4 = minibatch stddev (one map; groups of min(minibatch_group_size, batch), or of the
              largest divisor of the batch below it) -> conv 3x3 nf(4) -> lrelu
              -> dense nf(2) (from the flattened 4x4 map) -> lrelu -> dense 1 (gain 1)

A phase at resolution R (after the first) fades in its layers (Figure 2):
G's output is ``(1 - alpha) * upsample(toRGB_{R/2}(h_{R/2})) + alpha *
toRGB_R(h_R)``; D's input path is ``(1 - alpha) * fromRGB_{R/2}(avgpool(x)) +
alpha * block_R(fromRGB_R(x))``, fed to block_{R/2}. Both blend in every step
of such a phase (at alpha = 1 once the fade is done), so one traced step
serves the fade and the stable part of a resolution.

Both networks are subclassed Keras models whose layers for every resolution of
the config are created and built in the constructor, in a fixed order: the
variables (and so the checkpoints) do not depend on the phase. The generator's
phase is its ``resolution`` attribute (`set_resolution`) and its fade weight the
non-trainable variable ``alpha``: called as a model (``generator(z)``: TensorBoard
samples, evaluation, export) it renders its current phase at ``alpha`` and
upsamples the result (nearest neighbour, like the authors' code) to the config's
``image_size``, so every consumer gets full-size images; training uses
`synthesize`, which returns the phase's own resolution. The discriminator
reads the phase from the static size of its input.

Deviations from the authors' code: upsampling is always nearest neighbour and
a separate convolution (their fused transposed convolution at 128x128 and
above computes nearly the same function with a different weight layout); the
generator's output is cast to float32.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from apps.progan.config import ProGANConfig
from common.nn import progressive_layers as pl
from common.nn.progressive_networks import ProgressiveDiscriminator, ProgressiveGeneratorBase, Seeds
from common.nn.layers import MaximumLeakyReLU

__all__ = ["ProgressiveGenerator", "build_generator", "build_discriminator"]


@keras.saving.register_keras_serializable(package="progan")
class ProgressiveGenerator(ProgressiveGeneratorBase):
    """z [B, latent_dim] -> images at the current phase, upsampled to ``image_size``; see the module docstring.

    Args:
      config: `ProGANConfig` (or its fields as a dict, for `from_config`).
      **kwargs: `keras.Model` arguments (``name``, ``dtype``).
    """

    config_class = ProGANConfig

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        config = self.config
        seed = Seeds(config.seed * 1000 + 100)
        slope = config.leaky_relu_slope
        self.lrelu = MaximumLeakyReLU(negative_slope=slope, name="lrelu")  # after biased layers: see its docstring
        self.pixel_norm = pl.PixelNormalization(name="pixel_norm")
        base = config.features(4)
        # No bias in the dense layer: one bias per channel after the reshape (the authors' apply_bias).
        self.dense = pl.EqualizedDense(16 * base, gain=math.sqrt(2.0) / 4.0, use_bias=False, seed=seed(),
                                       name="dense_4x4")
        self.dense.build((None, config.latent_dim))
        self.dense_bias = self.add_weight(shape=(base,), initializer="zeros", name="dense_4x4_bias",
                                          autocast=False)
        self.conv_4 = pl.EqualizedConv2D(base, 3, seed=seed(), name="conv_4x4")
        self.conv_4.build((None, 4, 4, base))
        self.block_convs = []  # two per resolution 8, 16, ..., image_size
        resolution, features = 8, base
        while resolution <= config.image_size:
            out = config.features(resolution)
            conv_a = pl.EqualizedConv2D(out, 3, seed=seed(), name=f"conv0_{resolution}x{resolution}")
            conv_a.build((None, resolution, resolution, features))
            conv_b = pl.EqualizedConv2D(out, 3, seed=seed(), name=f"conv1_{resolution}x{resolution}")
            conv_b.build((None, resolution, resolution, out))
            self.block_convs.extend([conv_a, conv_b])
            resolution, features = resolution * 2, out
        self.to_rgb = []
        for resolution in config.resolutions:
            layer = pl.EqualizedConv2D(config.channels, 1, gain=1.0, seed=seed(), name=f"to_rgb_{resolution}")
            layer.build((None, resolution, resolution, config.features(resolution)))
            self.to_rgb.append(layer)
        self.alpha = self.add_weight(shape=(), initializer="ones", trainable=False, name="alpha", dtype="float32",
                                     aggregation="only_first_replica")
        self.lrelu.build((None, 4, 4, base))  # stateless; built so that Keras sees every layer built
        self.pixel_norm.build((None, config.latent_dim))
        self.built = True

    def _features(self, z, resolution, training):
        """h_r: the feature maps at ``resolution`` and, after the first resolution, h_{r/2}."""
        x = self.pixel_norm(z) if self.config.normalize_latents else z
        x = self.dense(x)
        x = ops.reshape(x, (-1, 4, 4, self.config.features(4))) + ops.cast(self.dense_bias, x.dtype)
        x = self.pixel_norm(self.lrelu(x))
        x = self.pixel_norm(self.lrelu(self.conv_4(x)))
        previous = None
        size, block = 4, 0
        while size < resolution:
            conv_a, conv_b = self.block_convs[2 * block:2 * block + 2]
            previous = x
            x = pl.upsample_nearest(x)
            x = self.pixel_norm(self.lrelu(conv_a(x)))
            x = self.pixel_norm(self.lrelu(conv_b(x)))
            size, block = size * 2, block + 1
        return x, previous

    def synthesize(self, z, alpha=None, training=False):
        """Images [B, R, R, C] at the current phase's resolution R, faded at ``alpha`` (None: the variable)."""
        x, previous = self._features(z, self.resolution, training)
        return self.fade(x, previous, self.alpha if alpha is None else alpha)


def build_generator(config: ProGANConfig) -> ProgressiveGenerator:
    """The generator with every resolution's layers, rendering the final resolution."""
    return ProgressiveGenerator(config)


def build_discriminator(config: ProGANConfig) -> ProgressiveDiscriminator:
    """The discriminator with every resolution's layers (`common.nn.progressive_networks`, ProGAN's blocks)."""
    return ProgressiveDiscriminator(config.image_size, config.initial_resolution, config.channels, config.fmap_base,
                                    config.fmap_max, minibatch_group_size=config.minibatch_group_size,
                                    leaky_relu_slope=config.leaky_relu_slope, blur=False, seed=config.seed)
