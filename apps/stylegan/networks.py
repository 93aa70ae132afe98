"""StyleGAN's style-based generator (with progressive growing) and discriminator.

Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative
Adversarial Networks" (https://arxiv.org/abs/1812.04948), section 2 and
Figure 1(b); the authors' ``G_style``, ``G_mapping``, ``G_synthesis`` and
``D_basic`` (github.com/NVlabs/stylegan, ``training/networks_stylegan.py``).
nf(r) = `StyleGANConfig.features`, lrelu = LeakyReLU(0.2), every layer with
equalized learning rate (`common.nn.progressive_layers`).

Generator: z [latent_dim] -> w = mapping(z) [dlatent_dim] (`common.nn.style_layers.MappingNetwork`),
broadcast to one w per layer, L = 2 log2(image_size) - 2 layers (18 at 1024x1024).
The synthesis network renders per-layer dlatents [B, L, D]; layer i works at
resolution 2^(i // 2 + 2):

    layer 0      x = the learned constant [4, 4, nf(4)] (ones at the start), tiled over the batch
    layer 2k > 0 x = blur(conv 3x3 nf(r) (upsample 2x nearest (x)))             (bilinear upsampling)
    layer 2k + 1 x = conv 3x3 nf(r) (x)
    then, every layer (``layer_epilogue``):
                 x = AdaIN(lrelu(x + noise_i * scale_i + bias_i), w_i)
    toRGB_r      conv 1x1 C (gain 1, linear) of the last layer at r

with the [1, 2, 1] blur of `common.nn.progressive_networks.blur`, the noise
injection of `common.nn.style_layers.NoiseInjection` (scales start at 0) and
AdaIN of `common.nn.style_layers.AdaptiveInstanceNormalization` (x normalised per
channel, then ``x * (s + 1) + t`` with (s, t) an affine map of w_i). The
convolutions have no bias: the bias comes after the noise, as in the
reference, and after the blur, so that the blur's zero padding never filters it.

Noise: ``noise_mode="random"`` draws new per-pixel noise at every call
(training, evaluation, TensorBoard grids); ``"const"`` uses the generator's stored
noise images, one [1, r, r, 1] per layer drawn from N(0, 1) once at construction
(non-trainable, checkpointed; the reference's ``noise%d`` variables with
``randomize_noise=False``), so a rendering is a pure function of w: the export's
signatures use them.

Growth is ProGAN's (`common.nn.progressive_networks`): in a phase at R after the
first, the image is ``(1 - alpha) * upsample(toRGB_{R/2}) + alpha * toRGB_R``;
the layers above R are not evaluated. As in ProGAN's generator, every layer of
every resolution is created and built in the constructor, ``resolution`` and the
non-trainable ``alpha`` are the phase, `synthesize` returns the phase's own
resolution and calling the model (``generator(z)``) renders at the phase and
upsamples to ``image_size`` (nearest neighbour). ``generator(z)`` is
untruncated (psi = 1) with random noise: the distribution metrics measure, as in
the paper. The tracked mean of w and truncation: `common.nn.style_layers.DlatentAverage`.

Discriminator: `common.nn.progressive_networks.ProgressiveDiscriminator` with the
blur (StyleGAN's ``D_basic``) and minibatch standard deviation in groups of 4.

Deviations from the reference code: upsampling is always nearest neighbour then
a convolution (its fused transposed convolution at 128x128 and above is nearly
the same function with another weight layout); the generator's output is cast
to float32.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from apps.stylegan.config import StyleGANConfig
from common.nn import progressive_layers as pl
from common.nn import style_layers as sl
from common.nn.layers import MaximumLeakyReLU
from common.nn.progressive_networks import ProgressiveDiscriminator, ProgressiveGeneratorBase, Seeds, blur

__all__ = ["StyleGenerator", "build_generator", "build_discriminator", "NOISE_MODES"]

NOISE_MODES = ("random", "const")


@keras.saving.register_keras_serializable(package="stylegan")
class StyleGenerator(ProgressiveGeneratorBase):
    """Mapping and synthesis networks with the tracked mean of w; see the module docstring.

    Args:
      config: `StyleGANConfig` (or its fields as a dict, for `from_config`).
      **kwargs: `keras.Model` arguments (``name``, ``dtype``).
    """

    config_class = StyleGANConfig

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        config = self.config
        self.num_layers = config.num_layers
        seed = Seeds(config.seed * 1000 + 100)
        self.mapping = sl.MappingNetwork(config.latent_dim, config.dlatent_dim, num_layers=config.mapping_layers,
                                         hidden_dim=config.mapping_fmaps,
                                         lr_multiplier=config.mapping_lr_multiplier,
                                         negative_slope=config.leaky_relu_slope, seed=seed(), name="mapping")
        self.mapping.build((None, config.latent_dim))
        self.dlatent_avg = sl.DlatentAverage(config.dlatent_dim, beta=config.dlatent_avg_beta, name="dlatent_avg")
        self.lrelu = MaximumLeakyReLU(negative_slope=config.leaky_relu_slope, name="lrelu")
        base = config.features(4)
        self.const = self.add_weight(shape=(1, 4, 4, base), initializer="ones", name="const", autocast=False)
        self.convs = []      # layer i's convolution; None for layer 0 (the constant)
        self.noises = []     # NoiseInjection per layer
        self.adains = []     # AdaptiveInstanceNormalization per layer
        self.biases = []     # per-channel bias per layer
        self.noise_const = []  # the stored noise image per layer
        rng = np.random.default_rng(config.seed * 1000 + 7)
        features = base
        for i in range(self.num_layers):
            resolution = 2 ** (i // 2 + 2)
            out = config.features(resolution)
            if i == 0:
                self.convs.append(None)
            else:
                conv = pl.EqualizedConv2D(out, 3, use_bias=False, seed=seed(), name=f"conv{i}_{resolution}x{resolution}")
                conv.build((None, resolution, resolution, features))
                self.convs.append(conv)
            noise = sl.NoiseInjection(seed=seed(), name=f"noise{i}")
            noise.build((None, resolution, resolution, out))
            self.noises.append(noise)
            adain = sl.AdaptiveInstanceNormalization(seed=seed(), name=f"adain{i}")
            adain.build([(None, resolution, resolution, out), (None, config.dlatent_dim)])
            self.adains.append(adain)
            self.biases.append(self.add_weight(shape=(out,), initializer="zeros", name=f"bias{i}", autocast=False))
            value = rng.standard_normal((1, resolution, resolution, 1)).astype(np.float32)
            self.noise_const.append(self.add_weight(
                shape=value.shape, initializer=keras.initializers.Constant(value), trainable=False,
                name=f"noise_const{i}", autocast=False))
            features = out
        self.to_rgb = []
        for resolution in config.resolutions:
            layer = pl.EqualizedConv2D(config.channels, 1, gain=1.0, seed=seed(), name=f"to_rgb_{resolution}")
            layer.build((None, resolution, resolution, config.features(resolution)))
            self.to_rgb.append(layer)
        self.alpha = self.add_weight(shape=(), initializer="ones", trainable=False, name="alpha", dtype="float32",
                                     aggregation="only_first_replica")
        self.lrelu.build((None, 4, 4, base))  # stateless; built so that Keras sees every layer built
        self.built = True

    # --- Mapping and truncation ---------------------------------------------------------------

    def dlatents(self, z, training=False):
        """Per-layer dlatents [B, L, D]: w = mapping(z) repeated for every layer."""
        return sl.broadcast_dlatents(self.mapping(z, training=training), self.num_layers)

    def truncate(self, dlatents, psi, cutoff=None):
        """The truncation trick in W: the first ``cutoff`` (default: the config's) layers moved towards the
        tracked mean by 1 - psi."""
        cutoff = self.config.truncation_cutoff if cutoff is None else cutoff
        return self.dlatent_avg.truncate(dlatents, psi, cutoff)

    # --- Synthesis ----------------------------------------------------------------------------

    def _layer(self, i, x, w, noise_mode, training):
        if i > 0:
            if i % 2 == 0:
                x = blur(self.convs[i](pl.upsample_nearest(x)))
            else:
                x = self.convs[i](x)
        noise = ops.cast(self.noise_const[i], "float32") if noise_mode == "const" else None
        x = self.noises[i](x, noise=noise)
        x = self.lrelu(x + ops.cast(self.biases[i], x.dtype))
        return self.adains[i]([x, w])

    def synthesize(self, dlatents, alpha=None, noise_mode="random", training=False):
        """Images [B, R, R, C] at the phase's resolution R from dlatents [B, L, D], faded at ``alpha``
        (None: the variable). Only the first 2 log2(R) - 2 layers' dlatents are read."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}; got {noise_mode!r}.")
        resolution = self.resolution
        alpha = self.alpha if alpha is None else alpha
        dlatents = ops.cast(dlatents, self.compute_dtype)
        batch = ops.shape(dlatents)[0]
        x = ops.tile(ops.cast(self.const, self.compute_dtype), (batch, 1, 1, 1))
        previous = None
        for i in range(self.config.layers_at(resolution)):
            x = self._layer(i, x, dlatents[:, i], noise_mode, training)
            if i % 2 == 1 and 2 ** (i // 2 + 2) == resolution // 2:
                previous = x
        return self.fade(x, previous, alpha)

    def render(self, dlatents, noise_mode="const"):
        """Images [B, image_size, image_size, C] of the phase, at its alpha, from dlatents [B, L, D]."""
        return self.full_size(self.synthesize(dlatents, noise_mode=noise_mode))

    def generate(self, z, psi=None, noise_mode="random"):
        """Full-size images for z, truncated at ``psi`` (None: the config's truncation_psi; 1: none)."""
        psi = self.config.truncation_psi if psi is None else psi
        return self.render(self.truncate(self.dlatents(z), psi), noise_mode=noise_mode)

    def call(self, z, training=False):
        return self.full_size(self.synthesize(self.dlatents(z, training=training), training=training))


def build_generator(config: StyleGANConfig) -> StyleGenerator:
    """The style-based generator with every resolution's layers, rendering the final resolution."""
    return StyleGenerator(config)


def build_discriminator(config: StyleGANConfig) -> ProgressiveDiscriminator:
    """StyleGAN's ``D_basic``: ProGAN's discriminator with the blur before each downsampling."""
    return ProgressiveDiscriminator(config.image_size, config.initial_resolution, config.channels, config.fmap_base,
                                    config.fmap_max, minibatch_group_size=config.minibatch_group_size,
                                    leaky_relu_slope=config.leaky_relu_slope, blur=True, seed=config.seed)
