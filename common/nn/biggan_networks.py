"""BigGAN's residual networks (Brock et al. 2019, https://arxiv.org/abs/1809.11096), CIFAR-10 size by default.

The blocks follow BigGAN-PyTorch (github.com/ajbrock/BigGAN-PyTorch, the code
ADC-GAN's reference implementation forks): `layers.py` ``GBlock``, ``DBlock``,
``ccbn``, ``SNConv2d``/``SNLinear``/``SNEmbedding``, ``Attention``; `BigGAN.py`
``G_arch``/``D_arch`` and the ``Generator``/``Discriminator`` forward passes.
`generator_block` and `discriminator_block` add one block to a functional
graph, so other networks of the family build on them; the builders take any
widths (SAGAN's 128x128 networks are BigGAN-PyTorch's ``arch[128]``).

Generator block (``GBlock``), x [H, W, C_in] and the label y:

    h = ReLU(CBN_1(x, y)) -> nearest 2x upsample -> SN conv 3x3 [2H, 2W, C_out]
      -> ReLU(CBN_2(., y)) -> SN conv 3x3 [2H, 2W, C_out]
    out = h + SN conv 1x1 (upsample(x))

The shortcut convolution is present when the block upsamples or changes the
width (identity otherwise); it is computed as conv 1x1 then upsample, the same
function as the code's upsample then conv 1x1 (a 1x1 convolution acts on each
pixel alone, nearest upsampling copies pixels) on a quarter of the pixels.

Class-conditional batch normalisation (``ccbn`` without a shared embedding,
which BigGAN-PyTorch uses unless ``--G_shared``): batch statistics shared by all
classes, gain ``1 + E_g[y]`` and bias ``E_b[y]`` from two class embeddings
``E_g``, ``E_b`` [K, C] initialised N(0, 0.02) and not spectrally normalised
(`BigGAN.py`: "We use a non-spectral-normed embedding here regardless").
`common.nn.conditional_layers.ConditionalBatchNormalization` holds the gain itself,
``gamma[y] = 1 + E_g[y]``, initialised N(1, 0.02): the same function, and the
same gradient and Adam update (d/d gamma = d/d E_g).

Discriminator block (``DBlock``, "wide": the hidden width is the output width):

    h = [ReLU] -> SN conv 3x3 [H, W, C_out] -> ReLU -> SN conv 3x3 -> [avg pool 2x2]
    out = h + shortcut(x)

The first block is not preactivated (no leading ReLU, the input is the image)
and its shortcut is [avg pool] -> SN conv 1x1; later blocks are preactivated
and their shortcut is SN conv 1x1 -> [avg pool]. The shortcut convolution is
present when the block downsamples or changes the width (identity otherwise).
The shortcut reads x, not ReLU(x).

Generator (``Generator``, no hierarchical z, no shared embedding):

    z [dim_z] -> SN Dense [b * b * widths[0]] -> reshape [b, b, widths[0]]
    -> GBlock(widths[i] -> widths[i + 1], upsample) for each later width
    -> BN -> ReLU -> SN conv 3x3 [., ., channels] -> tanh

with b = image_size / 2**(len(widths) - 1). Discriminator (``Discriminator``):

    image -> DBlock(channels -> widths[0], not preactivated) -> DBlock(widths[i-1] -> widths[i]) ...
    -> ReLU -> sum over H, W [widths[-1]] -> SN Dense [1] (source logit), SN Dense [class_outputs]

where the first ``downsamples`` blocks average-pool. BigGAN-PyTorch's CIFAR
architecture (``arch[32]``, ``ch = 64``): generator widths (256, 256, 256, 256)
(4x4 -> 8 -> 16 -> 32), discriminator widths (256, 256, 256, 256) with the
first two blocks downsampling (32 -> 16 -> 8 -> 8 -> 8). ``class_outputs`` is
2K for ADC-GAN's discriminative classifier (``self.adc``, ``n_classes * 2``)
and K for an AC-GAN-style head (``self.ac``).

Projection discriminator (`build_projection_discriminator`; Miyato & Koyama
2018, https://arxiv.org/abs/1802.05637, eq. 3; SAGAN's and BigGAN's D): the
same trunk, then, for the pooled features phi [widths[-1]] and the label y,

    logit = SN Dense [1](phi) + <SN Embedding(y), phi>

(`BigGAN.py` ``Discriminator.forward``: ``out + torch.sum(self.embed(y) * h, 1)``
with ``which_embedding = SNEmbedding``). The embedding [K, widths[-1]] is
normalised by its largest singular value like every other weight.

Self-attention (`common.nn.attention.SelfAttention`; SAGAN, BigGAN's
``--G_attn``/``--D_attn``): with ``attention_resolution = r > 0`` a block
follows the first generator or discriminator block whose output is r x r
(BigGAN-PyTorch attaches it to the end of the block at that resolution);
0 leaves it out.

Initialisers (``initializers``): an object with ``weight()`` (conv, linear and
embedding kernels), ``bias(fan_in)``, ``vector()`` (spectral-norm vectors u),
``class_gain()`` and ``class_bias()`` (conditional batch normalisation's
tables), each returning a Keras initialiser. By default `BigGANInitializers`
(below); SAGAN's reference code initialises otherwise (`apps.sagan.networks`).

Details from the code: every convolution and linear layer of both networks is
spectrally normalised with one power step per call (``--G_param SN --D_param
SN``, ``num_G_SVs = num_D_SVs = 1``, ``num_*_SV_itrs = 1``;
`common.nn.spectral_normalization`); weights N(0, init_stddev) (``--G_init N02
--D_init N02``: ``init.normal_(module.weight, 0, 0.02)`` on every conv, linear
and embedding); biases keep PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
(its ``init_weights`` sets weights only); every convolution and linear layer
has a bias; batch normalisation epsilon 1e-5 and Torch momentum 0.1 (Keras
momentum 0.9); the output batch normalisation is unconditional with gain 1
and bias 0 at the start.

BigGAN's own additions (Brock et al. 2019, section 3 and appendix B): ``shared_dim``
gives the generator a shared class embedding E(y) (``--G_shared``), linearly
projected to every batch norm's gain and bias (`conditional_batch_norm`);
``hierarchical`` splits z into one chunk for the first linear layer and one per
block, each concatenated after E(y) (``--hier``). `OrthogonalInitializers` is
the ImageNet scripts' ``--G_init ortho --D_init ortho``. BigGAN-deep
(`build_deep_generator`, `build_deep_projection_discriminator`, ``BigGANdeep.py``):
bottleneck blocks (1x1 convolutions to a quarter of the width), two per
resolution, [E(y), z] conditioning every block, G's shortcut keeping the first
channels where the width drops and D's concatenating a learned 1x1 convolution
of its input where it grows.

Mixed precision: the discriminator's heads and the generator's tanh are float32 layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers, ops

from common.nn.attention import SelfAttention
from common.nn.conditional_layers import ConditionalAffine, ConditionalBatchNormalization
from common.nn.layers import MaximumLeakyReLU
from common.nn.spectral_normalization import SpectralNormalization

__all__ = [
    "BigGANInitializers",
    "LatentChunks",
    "LeadingChannels",
    "OrthogonalInitializers",
    "build_deep_generator",
    "build_deep_projection_discriminator",
    "conditional_batch_norm",
    "deep_discriminator_block",
    "deep_generator_block",
    "latent_chunks",
    "GlobalSumPooling2D",
    "attention_block",
    "build_discriminator",
    "build_generator",
    "build_projection_discriminator",
    "check_discriminator_options",
    "check_generator_options",
    "discriminator_block",
    "discriminator_resolutions",
    "generator_block",
    "generator_bottom_width",
    "generator_resolutions",
    "projection_logits",
    "sn_embedding",
]


class BigGANInitializers:
    """Seeded initialisers in BigGAN-PyTorch's style: N(0, stddev) weights, PyTorch-default biases, N(0, 1) u.

    Each initialiser gets its own integer seed, counted from ``seed * 1000 + offset``,
    so the same arguments build the same networks.
    """

    def __init__(self, seed: int, offset: int, stddev: float):
        self.next_seed = seed * 1000 + offset
        self.stddev = stddev

    def _seed(self) -> int:
        self.next_seed += 1
        return self.next_seed

    def weight(self, mean: float = 0.0):
        """N(mean, stddev)."""
        return keras.initializers.RandomNormal(mean, self.stddev, seed=self._seed())

    def vector(self):
        """N(0, 1): the spectral-norm vector u (BigGAN-PyTorch's ``torch.randn(1, num_outputs)``)."""
        return keras.initializers.RandomNormal(0.0, 1.0, seed=self._seed())

    def bias(self, fan_in: int):
        """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default bias of a conv or linear layer."""
        bound = 1.0 / math.sqrt(fan_in)
        return keras.initializers.RandomUniform(-bound, bound, seed=self._seed())

    def class_gain(self):
        """N(1, stddev): the per-class gain ``1 + E_g[y]`` of conditional batch normalisation, E_g ~ N(0, stddev)."""
        return self.weight(mean=1.0)

    def class_bias(self):
        """N(0, stddev): the per-class bias ``E_b[y]`` of conditional batch normalisation."""
        return self.weight()


class OrthogonalInitializers(BigGANInitializers):
    """BigGAN-PyTorch's ``--G_init ortho --D_init ortho`` (its ImageNet scripts): orthogonal weights.

    ``torch.nn.init.orthogonal_`` on a weight [out, in, kh, kw] makes the rows of
    [out, in * kh * kw] orthonormal (or the columns, whichever are fewer); Keras'
    `Orthogonal` on a kernel [kh, kw, in, out] does the same for [kh * kw * in, out],
    the same matrix transposed. Embeddings [K, D] are orthogonal too. Biases and
    the vectors u as `BigGANInitializers`; per-class gain and bias tables (only
    without a shared embedding) start at 1 and 0.
    """

    def __init__(self, seed: int, offset: int):
        super().__init__(seed, offset, stddev=0.02)

    def weight(self, mean: float = 0.0):
        """Orthogonal, gain 1."""
        return keras.initializers.Orthogonal(seed=self._seed())

    def class_gain(self):
        return keras.initializers.Ones()

    def class_bias(self):
        return keras.initializers.Zeros()


def sn_conv(filters: int, kernel_size: int, fan_in_channels: int, init: BigGANInitializers, name: str):
    """A spectrally normalised, "same"-padded convolution with a bias."""
    return SpectralNormalization(
        layers.Conv2D(filters, kernel_size, padding="same", kernel_initializer=init.weight(),
                      bias_initializer=init.bias(fan_in_channels * kernel_size * kernel_size), name=name),
        vector_initializer=init.vector(), name=f"{name}_sn")


def sn_dense(units: int, fan_in: int, init: BigGANInitializers, name: str, dtype=None, use_bias: bool = True):
    """A spectrally normalised Dense layer, with a bias unless ``use_bias`` is False."""
    dense = (layers.Dense(units, kernel_initializer=init.weight(), bias_initializer=init.bias(fan_in), name=name,
                          dtype=dtype) if use_bias
             else layers.Dense(units, use_bias=False, kernel_initializer=init.weight(), name=name, dtype=dtype))
    return SpectralNormalization(dense, vector_initializer=init.vector(), name=f"{name}_sn", dtype=dtype)


def sn_embedding(num_classes: int, dim: int, init: BigGANInitializers, name: str, dtype=None):
    """A spectrally normalised class embedding: labels [B] -> [B, dim]."""
    return SpectralNormalization(
        layers.Embedding(num_classes, dim, embeddings_initializer=init.weight(), name=name, dtype=dtype),
        vector_initializer=init.vector(), name=f"{name}_sn", dtype=dtype)


def attention_block(x, init: BigGANInitializers, name: str):
    """SAGAN's self-attention block (`common.nn.attention.SelfAttention`, C/8 keys, C/2 values, 2x2-pooled
    keys and values, gamma 0) on x [B, H, W, C], with this network's kernel and vector initialisers."""
    return SelfAttention(kernel_initializers=[init.weight() for _ in range(4)],
                         vector_initializers=[init.vector() for _ in range(4)], name=name)(x)


def projection_logits(features, labels, num_classes: int, init: BigGANInitializers, name: str = "logits"):
    """``SN Dense [1](phi) + <SN Embedding(y), phi>`` for features phi [B, D] and labels [B]: [B, 1], float32."""
    width = features.shape[-1]
    psi = sn_dense(1, width, init, "psi", dtype="float32")(features)
    embedded = sn_embedding(num_classes, width, init, "class_embedding", dtype="float32")(labels)
    class_term = layers.Dot(axes=1, dtype="float32", name="projection")([embedded, features])
    return layers.Add(dtype="float32", name=name)([psi, class_term])


class GlobalSumPooling2D(layers.Layer):
    """[B, H, W, C] -> [B, C], the sum over H and W (SN-GAN's and BigGAN's discriminator pooling)."""

    def call(self, inputs):
        return ops.sum(inputs, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


class LatentChunks(layers.Layer):
    """z [B, chunks * size] -> ``chunks`` tensors [B, size]: BigGAN's hierarchical latent split."""

    def __init__(self, chunks: int, **kwargs):
        super().__init__(**kwargs)
        self.chunks = chunks

    def call(self, inputs):
        return ops.split(inputs, self.chunks, axis=-1)

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], input_shape[-1] // self.chunks)] * self.chunks

    def get_config(self):
        return {**super().get_config(), "chunks": self.chunks}


class LeadingChannels(layers.Layer):
    """x [B, H, W, C] -> x[..., :channels]: BigGAN-deep's generator shortcut dropping channels."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def call(self, inputs):
        return inputs[..., : self.channels]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels,)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def conditional_batch_norm(x, condition, *, num_classes: int, init: BigGANInitializers, bn_momentum: float = 0.9,
                           bn_epsilon: float = 1e-5, sync_batch_norm: bool = False, name: str = "cbn"):
    """Class-conditional batch normalisation of x [B, H, W, C] (BigGAN-PyTorch's ``ccbn``).

    ``condition`` int labels [B]: per-class gain and bias tables
    (`ConditionalBatchNormalization`, ``ccbn`` with ``which_linear = nn.Embedding``).
    ``condition`` a float vector [B, D] (the shared class embedding, with a chunk
    of z when z is hierarchical): gain ``1 + W_g c`` and bias ``W_b c`` from two
    spectrally normalised linear layers without bias (``ccbn`` with ``--G_shared``),
    `common.nn.conditional_layers.ConditionalAffine`.
    """
    if condition.dtype is not None and "int" in str(condition.dtype):
        return ConditionalBatchNormalization(
            num_classes, momentum=bn_momentum, epsilon=bn_epsilon, synchronized=sync_batch_norm,
            gamma_initializer=init.class_gain(), beta_initializer=init.class_bias(), name=name,
        )([x, condition])
    channels, condition_dim = x.shape[-1], condition.shape[-1]
    normalized = layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, center=False, scale=False,
                                           synchronized=sync_batch_norm, name=f"{name}_bn")(x)
    gain = sn_dense(channels, condition_dim, init, f"{name}_gain", use_bias=False)(condition)
    bias = sn_dense(channels, condition_dim, init, f"{name}_bias", use_bias=False)(condition)
    return ConditionalAffine(name=name)([normalized, gain, bias])


def generator_block(x, labels, filters: int, *, num_classes: int, init: BigGANInitializers, upsample: bool = True,
                    bn_momentum: float = 0.9, bn_epsilon: float = 1e-5, sync_batch_norm: bool = False,
                    name: str = "gblock"):
    """BigGAN's generator residual block on a functional tensor x [B, H, W, C_in]; see the module docstring.

    ``labels``: int labels [B] or a float conditioning vector [B, D] (`conditional_batch_norm`).
    Returns [B, 2H, 2W, filters] (upsample) or [B, H, W, filters].
    """
    in_channels = x.shape[-1]

    def cbn(tensor, suffix):
        return conditional_batch_norm(tensor, labels, num_classes=num_classes, init=init, bn_momentum=bn_momentum,
                                      bn_epsilon=bn_epsilon, sync_batch_norm=sync_batch_norm, name=f"{name}_{suffix}")

    h = layers.ReLU(name=f"{name}_relu1")(cbn(x, "cbn1"))
    if upsample:
        h = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up")(h)
    h = sn_conv(filters, 3, in_channels, init, f"{name}_conv1")(h)
    h = layers.ReLU(name=f"{name}_relu2")(cbn(h, "cbn2"))
    h = sn_conv(filters, 3, filters, init, f"{name}_conv2")(h)
    shortcut = x
    if upsample or in_channels != filters:
        shortcut = sn_conv(filters, 1, in_channels, init, f"{name}_shortcut")(shortcut)
        if upsample:
            shortcut = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_shortcut_up")(shortcut)
    return layers.Add(name=f"{name}_add")([h, shortcut])


def discriminator_block(x, filters: int, *, init: BigGANInitializers, downsample: bool, preactivation: bool,
                        name: str = "dblock"):
    """BigGAN's ("wide") discriminator residual block on x [B, H, W, C_in]; see the module docstring.

    Returns [B, H/2, W/2, filters] (downsample) or [B, H, W, filters].
    """
    in_channels = x.shape[-1]
    h = MaximumLeakyReLU(0.0, name=f"{name}_relu0")(x) if preactivation else x  # x: a residual sum
    h = sn_conv(filters, 3, in_channels, init, f"{name}_conv1")(h)
    h = layers.ReLU(name=f"{name}_relu1")(h)
    h = sn_conv(filters, 3, filters, init, f"{name}_conv2")(h)
    if downsample:
        h = layers.AveragePooling2D(2, name=f"{name}_pool")(h)
    shortcut = x
    if downsample or in_channels != filters:
        if preactivation:
            shortcut = sn_conv(filters, 1, in_channels, init, f"{name}_shortcut")(shortcut)
            if downsample:
                shortcut = layers.AveragePooling2D(2, name=f"{name}_shortcut_pool")(shortcut)
        else:
            if downsample:
                shortcut = layers.AveragePooling2D(2, name=f"{name}_shortcut_pool")(shortcut)
            shortcut = sn_conv(filters, 1, in_channels, init, f"{name}_shortcut")(shortcut)
    return layers.Add(name=f"{name}_add")([h, shortcut])


def generator_bottom_width(image_size: int, generator_widths: Sequence[int]) -> int:
    """Side of the generator's first map: ``image_size / 2**(len(generator_widths) - 1)``."""
    return image_size // 2 ** (len(generator_widths) - 1)


def generator_resolutions(image_size: int, generator_widths: Sequence[int]) -> list[int]:
    """Side of each generator block's output, first block first (the last is ``image_size``)."""
    bottom = generator_bottom_width(image_size, generator_widths)
    return [bottom * 2 ** block for block in range(1, len(generator_widths))]


def discriminator_resolutions(image_size: int, discriminator_widths: Sequence[int],
                              discriminator_downsamples: int) -> list[int]:
    """Side of each discriminator block's output, first block first."""
    return [image_size // 2 ** min(block, discriminator_downsamples)
            for block in range(1, len(discriminator_widths) + 1)]


def _positive_ints(name, values):
    if (not isinstance(values, (tuple, list)) or not values
            or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values)):
        raise ValueError(f"{name} must be a non-empty list of positive integers; got {values!r}.")


def _check_attention(network: str, attention_resolution: int, resolutions: Sequence[int],
                     widths: Sequence[int]) -> None:
    if (not isinstance(attention_resolution, int) or isinstance(attention_resolution, bool)
            or attention_resolution < 0):
        raise ValueError(f"{network} attention resolution must be a non-negative integer (0: none); "
                         f"got {attention_resolution!r}.")
    if attention_resolution == 0:
        return
    if attention_resolution not in resolutions:
        sides = ", ".join(str(side) for side in dict.fromkeys(resolutions))
        raise ValueError(f"{network} attention resolution {attention_resolution} is not the side of any "
                         f"{network} block's output ({sides}); pick one of them, or 0 for no attention.")
    width = widths[resolutions.index(attention_resolution)]
    if width < 8 or attention_resolution % 2:
        raise ValueError(f"{network} attention at {attention_resolution}x{attention_resolution} needs at least 8 "
                         f"channels (keys C/8) and an even side (2x2-pooled keys); that block has {width} channels.")


def latent_chunks(generator_widths: Sequence[int]) -> int:
    """How many chunks a hierarchical z is split into: one for the first linear layer, one per block."""
    return len(generator_widths)


def check_generator_options(*, image_size: int, generator_widths: Sequence[int],
                            attention_resolution: int = 0, latent_dim: int | None = None,
                            shared_dim: int = 0, hierarchical: bool = False) -> None:
    """Raises ValueError, naming the option and what fits, when the generator cannot be built."""
    _positive_ints("generator widths", generator_widths)
    if len(generator_widths) < 2:
        raise ValueError(f"generator widths need the start width and at least one block's width; "
                         f"got {tuple(generator_widths)}.")
    blocks = len(generator_widths) - 1
    bottom = generator_bottom_width(image_size, generator_widths)
    if bottom < 1 or bottom * 2 ** blocks != image_size:
        raise ValueError(
            f"image_size {image_size} is not a bottom width doubled {blocks} times (one upsampling block per "
            f"generator width after the first, {tuple(generator_widths)}). CIFAR-10: image_size=32 with 4 widths "
            "(256,256,256,256: 4x4 -> 32x32); 28x28: 3 widths (7x7 -> 28x28).")
    _check_attention("generator", attention_resolution, generator_resolutions(image_size, generator_widths),
                     generator_widths[1:])
    if not isinstance(shared_dim, int) or isinstance(shared_dim, bool) or shared_dim < 0:
        raise ValueError(f"shared embedding size must be a non-negative integer (0: per-class batch-norm "
                         f"tables); got {shared_dim!r}.")
    if hierarchical:
        if not shared_dim:
            raise ValueError("hierarchical z feeds its chunks with the shared class embedding into the batch "
                             "norms: it needs a shared embedding (shared_dim > 0).")
        chunks = latent_chunks(generator_widths)
        if latent_dim is None or latent_dim % chunks:
            raise ValueError(f"hierarchical z is split into {chunks} equal chunks (one for the first layer, one per "
                             f"block), so latent_dim must be a multiple of {chunks}; got {latent_dim!r}. "
                             f"E.g. {chunks * max(1, (latent_dim or chunks) // chunks)}.")


def check_discriminator_options(*, image_size: int, discriminator_widths: Sequence[int],
                                discriminator_downsamples: int, attention_resolution: int = 0) -> None:
    """Raises ValueError, naming the option and what fits, when the discriminator cannot be built."""
    _positive_ints("discriminator widths", discriminator_widths)
    if (not isinstance(discriminator_downsamples, int) or isinstance(discriminator_downsamples, bool)
            or not 0 <= discriminator_downsamples <= len(discriminator_widths)):
        raise ValueError(f"discriminator downsamples must be an integer from 0 to the number of discriminator "
                         f"blocks ({len(discriminator_widths)}); got {discriminator_downsamples!r}.")
    if image_size % 2 ** discriminator_downsamples:
        raise ValueError(f"image_size {image_size} does not halve {discriminator_downsamples} times "
                         f"(discriminator downsamples); use fewer.")
    _check_attention("discriminator", attention_resolution,
                     discriminator_resolutions(image_size, discriminator_widths, discriminator_downsamples),
                     discriminator_widths)


def _stages_with_attention(x, stages, attention_resolution: int, init: BigGANInitializers):
    """Applies each stage (a function of x) in turn, the self-attention block after the first stage whose output
    has ``attention_resolution`` pixels a side (0: none)."""
    attended = False
    for stage in stages:
        x = stage(x)
        if not attended and x.shape[1] == attention_resolution:
            x = attention_block(x, init, name="attention")
            attended = True
    return x


def _sum_pooled(x):
    """ReLU -> sum over H, W: the discriminator features phi [B, C]."""
    return GlobalSumPooling2D(name="sum_pool")(MaximumLeakyReLU(0.0, name="output_relu")(x))  # x: a residual sum


def _generator_conditions(z, labels, *, num_blocks: int, num_classes: int, shared_dim: int, hierarchical: bool,
                          init: BigGANInitializers, concatenate_z: bool = False):
    """(input of the first linear layer, [conditioning of each block]) of a BigGAN generator.

    - no shared embedding: z, and the int labels for every block (per-class tables);
    - shared embedding E(y) [shared_dim]: z, and E(y) for every block;
    - hierarchical: z split into ``num_blocks + 1`` chunks; chunk 0, and [E(y), chunk i] for block i;
    - ``concatenate_z`` (BigGAN-deep): [E(y), z] both for the first layer and for every block.
    """
    if not shared_dim:
        return z, [labels] * num_blocks
    shared = layers.Embedding(num_classes, shared_dim, embeddings_initializer=init.weight(),
                              name="shared_embedding")(labels)
    if concatenate_z:
        condition = layers.Concatenate(name="condition")([shared, z])
        return condition, [condition] * num_blocks
    if not hierarchical:
        return z, [shared] * num_blocks
    chunks = LatentChunks(num_blocks + 1, name="z_chunks")(z)
    return chunks[0], [layers.Concatenate(name=f"condition{block}")([shared, chunk])
                       for block, chunk in enumerate(chunks[1:], start=1)]


def _generator_output(x, channels: int, *, init: BigGANInitializers, bn_momentum: float, bn_epsilon: float,
                      sync_batch_norm: bool):
    """BN -> ReLU -> SN conv 3x3 [channels] -> tanh (float32): the last layers of every BigGAN generator."""
    x = layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, synchronized=sync_batch_norm,
                                  name="output_bn")(x)
    x = layers.ReLU(name="output_relu")(x)
    x = sn_conv(channels, 3, x.shape[-1], init, "output_conv")(x)
    return layers.Activation("tanh", dtype="float32", name="tanh")(x)


def build_generator(*, image_size: int = 32, channels: int = 3, latent_dim: int = 128, num_classes: int = 10,
                    generator_widths: Sequence[int] = (256, 256, 256, 256), init_stddev: float = 0.02,
                    bn_momentum: float = 0.9, bn_epsilon: float = 1e-5, sync_batch_norm: bool = True,
                    attention_resolution: int = 0, initializers=None, seed: int = 0, shared_dim: int = 0,
                    hierarchical: bool = False) -> keras.Model:
    """[z [B, latent_dim], labels [B] int32] -> images [B, image_size, image_size, channels] in [-1, 1], float32.

    See the module docstring; BigGAN-PyTorch's CIFAR-10 generator is the default.
    ``attention_resolution``: side of the block output a self-attention block follows (0: none).
    ``initializers``: default ``BigGANInitializers(seed, 0, init_stddev)``.
    ``shared_dim`` > 0: BigGAN's shared class embedding [K, shared_dim] (not spectrally normalised,
    ``--G_shared``) whose vector, through two SN linear layers per batch norm, gives the gains and
    biases (`conditional_batch_norm`). ``hierarchical`` (BigGAN's ``--hier``; needs the shared
    embedding): z is split into len(generator_widths) equal chunks, the first into the first linear
    layer, chunk i concatenated after the embedding into block i's batch norms.
    """
    check_generator_options(image_size=image_size, generator_widths=generator_widths,
                            attention_resolution=attention_resolution, latent_dim=latent_dim, shared_dim=shared_dim,
                            hierarchical=hierarchical)
    init = initializers if initializers is not None else BigGANInitializers(seed, 0, init_stddev)
    bottom = generator_bottom_width(image_size, generator_widths)
    z = keras.Input((latent_dim,), name="z")
    labels = keras.Input((), dtype="int32", name="labels")
    first, conditions = _generator_conditions(z, labels, num_blocks=len(generator_widths) - 1,
                                              num_classes=num_classes, shared_dim=shared_dim,
                                              hierarchical=hierarchical, init=init)
    x = sn_dense(bottom * bottom * generator_widths[0], first.shape[-1], init, "project")(first)
    x = layers.Reshape((bottom, bottom, generator_widths[0]), name="reshape")(x)

    def stage(block, filters, condition):
        return lambda h: generator_block(h, condition, filters, num_classes=num_classes, init=init, upsample=True,
                                         bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                                         sync_batch_norm=sync_batch_norm, name=f"gblock{block}")

    stages = [stage(block, filters, condition)
              for block, (filters, condition) in enumerate(zip(generator_widths[1:], conditions), start=1)]
    x = _stages_with_attention(x, stages, attention_resolution, init)
    images = _generator_output(x, channels, init=init, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                               sync_batch_norm=sync_batch_norm)
    return keras.Model([z, labels], images, name="generator")


def _discriminator_features(images, discriminator_widths, discriminator_downsamples, attention_resolution, init):
    """The discriminator trunk: blocks (and the attention block), ReLU, global sum pooling: [B, widths[-1]]."""
    def stage(block, filters):
        return lambda x: discriminator_block(x, filters, init=init, downsample=block <= discriminator_downsamples,
                                             preactivation=block > 1, name=f"dblock{block}")

    stages = [stage(block, filters) for block, filters in enumerate(discriminator_widths, start=1)]
    return _sum_pooled(_stages_with_attention(images, stages, attention_resolution, init))


def build_discriminator(*, image_size: int = 32, channels: int = 3, class_outputs: int = 20,
                        discriminator_widths: Sequence[int] = (256, 256, 256, 256), discriminator_downsamples: int = 2,
                        init_stddev: float = 0.02, attention_resolution: int = 0, initializers=None,
                        seed: int = 0) -> keras.Model:
    """images [B, H, W, C] -> [source logits [B, 1], class logits [B, class_outputs]], both float32.

    See the module docstring; BigGAN-PyTorch's CIFAR-10 discriminator with
    ADC-GAN's 2K-way head (K = 10) is the default. ``attention_resolution`` and
    ``initializers`` (default ``BigGANInitializers(seed, 500, init_stddev)``) as
    in `build_generator`.
    """
    if not isinstance(class_outputs, int) or isinstance(class_outputs, bool) or class_outputs < 1:
        raise ValueError(f"class_outputs must be a positive integer; got {class_outputs!r}.")
    check_discriminator_options(image_size=image_size, discriminator_widths=discriminator_widths,
                                discriminator_downsamples=discriminator_downsamples,
                                attention_resolution=attention_resolution)
    init = initializers if initializers is not None else BigGANInitializers(seed, 500, init_stddev)
    images = keras.Input((image_size, image_size, channels), name="images")
    features = _discriminator_features(images, discriminator_widths, discriminator_downsamples,
                                       attention_resolution, init)
    width = discriminator_widths[-1]
    source = sn_dense(1, width, init, "source_logits", dtype="float32")(features)
    classes = sn_dense(class_outputs, width, init, "class_logits", dtype="float32")(features)
    return keras.Model(images, [source, classes], name="discriminator")


def build_projection_discriminator(*, image_size: int = 32, channels: int = 3, num_classes: int = 10,
                                   discriminator_widths: Sequence[int] = (256, 256, 256, 256),
                                   discriminator_downsamples: int = 2, init_stddev: float = 0.02,
                                   attention_resolution: int = 0, initializers=None,
                                   seed: int = 0) -> keras.Model:
    """[images [B, H, W, C], labels [B] int32] -> logits [B, 1], float32: the projection discriminator.

    The trunk of `build_discriminator` with the projection head of the module
    docstring; ``attention_resolution`` and ``initializers`` as there.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}.")
    check_discriminator_options(image_size=image_size, discriminator_widths=discriminator_widths,
                                discriminator_downsamples=discriminator_downsamples,
                                attention_resolution=attention_resolution)
    init = initializers if initializers is not None else BigGANInitializers(seed, 500, init_stddev)
    images = keras.Input((image_size, image_size, channels), name="images")
    labels = keras.Input((), dtype="int32", name="labels")
    features = _discriminator_features(images, discriminator_widths, discriminator_downsamples,
                                       attention_resolution, init)
    logits = projection_logits(features, labels, num_classes, init)
    return keras.Model([images, labels], logits, name="discriminator")


# --- BigGAN-deep (BigGAN-PyTorch's BigGANdeep.py) ---------------------------------------------


def deep_generator_block(x, condition, filters: int, *, num_classes: int, init: BigGANInitializers,
                         upsample: bool, channel_ratio: int = 4, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
                         sync_batch_norm: bool = False, name: str = "gblock"):
    """BigGAN-deep's bottleneck generator block on x [B, H, W, C_in]; see `build_deep_generator`.

    Returns [B, 2H, 2W, filters] (upsample) or [B, H, W, filters]; ``filters <= C_in``.
    """
    in_channels = x.shape[-1]
    hidden = in_channels // channel_ratio

    def cbn_relu(tensor, index):
        tensor = conditional_batch_norm(tensor, condition, num_classes=num_classes, init=init, bn_momentum=bn_momentum,
                                        bn_epsilon=bn_epsilon, sync_batch_norm=sync_batch_norm,
                                        name=f"{name}_cbn{index}")
        return layers.ReLU(name=f"{name}_relu{index}")(tensor)

    h = sn_conv(hidden, 1, in_channels, init, f"{name}_conv1")(cbn_relu(x, 1))
    h = cbn_relu(h, 2)
    shortcut = x if filters == in_channels else LeadingChannels(filters, name=f"{name}_drop")(x)
    if upsample:
        h = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up")(h)
        shortcut = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_shortcut_up")(shortcut)
    h = sn_conv(hidden, 3, hidden, init, f"{name}_conv2")(h)
    h = sn_conv(hidden, 3, hidden, init, f"{name}_conv3")(cbn_relu(h, 3))
    h = sn_conv(filters, 1, hidden, init, f"{name}_conv4")(cbn_relu(h, 4))
    return layers.Add(name=f"{name}_add")([h, shortcut])


def deep_discriminator_block(x, filters: int, *, init: BigGANInitializers, downsample: bool, channel_ratio: int = 4,
                             name: str = "dblock"):
    """BigGAN-deep's bottleneck discriminator block on x [B, H, W, C_in]; see `build_deep_projection_discriminator`.

    Returns [B, H/2, W/2, filters] (downsample) or [B, H, W, filters]; ``filters >= C_in``.
    """
    in_channels = x.shape[-1]
    hidden = filters // channel_ratio
    h = MaximumLeakyReLU(0.0, name=f"{name}_relu0")(x)  # x: a residual sum (or the input convolution)
    h = sn_conv(hidden, 1, in_channels, init, f"{name}_conv1")(h)
    h = sn_conv(hidden, 3, hidden, init, f"{name}_conv2")(layers.ReLU(name=f"{name}_relu1")(h))
    h = sn_conv(hidden, 3, hidden, init, f"{name}_conv3")(layers.ReLU(name=f"{name}_relu2")(h))
    h = layers.ReLU(name=f"{name}_relu3")(h)
    shortcut = x
    if downsample:
        h = layers.AveragePooling2D(2, name=f"{name}_pool")(h)
        shortcut = layers.AveragePooling2D(2, name=f"{name}_shortcut_pool")(shortcut)
    h = sn_conv(filters, 1, hidden, init, f"{name}_conv4")(h)
    if filters != in_channels:
        added = sn_conv(filters - in_channels, 1, in_channels, init, f"{name}_shortcut")(shortcut)
        shortcut = layers.Concatenate(name=f"{name}_shortcut_concat")([shortcut, added])
    return layers.Add(name=f"{name}_add")([h, shortcut])


def build_deep_generator(*, image_size: int, channels: int = 3, latent_dim: int = 128, num_classes: int = 1000,
                         generator_widths: Sequence[int], shared_dim: int = 128, blocks_per_resolution: int = 2,
                         channel_ratio: int = 4, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
                         sync_batch_norm: bool = False, attention_resolution: int = 0,
                         initializers=None, seed: int = 0) -> keras.Model:
    """BigGAN-deep's generator: [z [B, latent_dim], labels [B]] -> images in [-1, 1], float32.

    c = [E(y), z] (shared embedding, then z; not split) -> SN Dense [b * b * widths[0]] -> for each
    later width w_i, ``blocks_per_resolution`` bottleneck blocks (`deep_generator_block`: CBN ->
    ReLU -> SN conv 1x1 to C_in / 4 -> CBN -> ReLU -> [upsample] -> SN conv 3x3 -> CBN -> ReLU ->
    SN conv 3x3 -> CBN -> ReLU -> SN conv 1x1 to C_out, plus x with its first C_out channels kept,
    [upsampled]), every batch norm conditioned on c; all but the last of a resolution keep the width
    and size, the last drops to w_i and upsamples; self-attention after the resolution whose side is
    ``attention_resolution`` -> BN -> ReLU -> SN conv 3x3 -> tanh.
    """
    check_generator_options(image_size=image_size, generator_widths=generator_widths,
                            attention_resolution=attention_resolution, shared_dim=shared_dim)
    if not shared_dim:
        raise ValueError("BigGAN-deep conditions every block on [shared class embedding, z]: shared_dim must be > 0.")
    if any(later > earlier for earlier, later in zip(generator_widths, generator_widths[1:])):
        raise ValueError(f"BigGAN-deep's generator blocks drop channels, never add them: the widths must not grow; "
                         f"got {tuple(generator_widths)}.")
    if min(generator_widths) < channel_ratio:
        raise ValueError(f"every generator width must be at least the bottleneck ratio {channel_ratio}; "
                         f"got {tuple(generator_widths)}.")
    init = initializers if initializers is not None else OrthogonalInitializers(seed, 0)
    bottom = generator_bottom_width(image_size, generator_widths)
    z = keras.Input((latent_dim,), name="z")
    labels = keras.Input((), dtype="int32", name="labels")
    first, conditions = _generator_conditions(z, labels, num_blocks=len(generator_widths) - 1,
                                              num_classes=num_classes, shared_dim=shared_dim, hierarchical=False,
                                              init=init, concatenate_z=True)
    x = sn_dense(bottom * bottom * generator_widths[0], first.shape[-1], init, "project")(first)
    x = layers.Reshape((bottom, bottom, generator_widths[0]), name="reshape")(x)

    def stage(index, filters, condition):
        def blocks(h):
            for block in range(1, blocks_per_resolution + 1):
                last = block == blocks_per_resolution
                h = deep_generator_block(h, condition, filters if last else h.shape[-1], num_classes=num_classes,
                                         init=init, upsample=last, channel_ratio=channel_ratio,
                                         bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                                         sync_batch_norm=sync_batch_norm, name=f"gblock{index}_{block}")
            return h
        return blocks

    stages = [stage(index, filters, condition)
              for index, (filters, condition) in enumerate(zip(generator_widths[1:], conditions), start=1)]
    x = _stages_with_attention(x, stages, attention_resolution, init)
    images = _generator_output(x, channels, init=init, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                               sync_batch_norm=sync_batch_norm)
    return keras.Model([z, labels], images, name="generator")


def build_deep_projection_discriminator(*, image_size: int, channels: int = 3, num_classes: int = 1000,
                                        discriminator_widths: Sequence[int], discriminator_downsamples: int,
                                        blocks_per_resolution: int = 2, channel_ratio: int = 4,
                                        attention_resolution: int = 0, initializers=None,
                                        seed: int = 0) -> keras.Model:
    """BigGAN-deep's projection discriminator: [images, labels [B]] -> logits [B, 1], float32.

    ``discriminator_widths`` = (input convolution's width, each resolution's output width ...):
    SN conv 3x3 [widths[0]] -> for each later width, ``blocks_per_resolution`` bottleneck blocks
    (`deep_discriminator_block`: ReLU -> SN conv 1x1 to C_out / 4 -> ReLU -> SN conv 3x3 -> ReLU ->
    SN conv 3x3 -> ReLU -> [avg pool] -> SN conv 1x1 to C_out, plus [pooled] x concatenated with
    an SN conv 1x1 of it to the C_out - C_in added channels), the first of a resolution changing
    the width and, in the first ``discriminator_downsamples`` resolutions, halving the map;
    self-attention after the resolution whose side is ``attention_resolution`` -> ReLU -> sum over
    H, W -> the projection head (`projection_logits`).
    """
    stage_widths = tuple(discriminator_widths[1:])
    check_discriminator_options(image_size=image_size, discriminator_widths=stage_widths,
                                discriminator_downsamples=discriminator_downsamples,
                                attention_resolution=attention_resolution)
    if any(later < earlier for earlier, later in zip(discriminator_widths, discriminator_widths[1:])):
        raise ValueError(f"BigGAN-deep's discriminator blocks add channels, never drop them: the widths must not "
                         f"shrink; got {tuple(discriminator_widths)}.")
    if min(discriminator_widths) < channel_ratio:
        raise ValueError(f"every discriminator width must be at least the bottleneck ratio {channel_ratio}; "
                         f"got {tuple(discriminator_widths)}.")
    init = initializers if initializers is not None else OrthogonalInitializers(seed, 500)
    images = keras.Input((image_size, image_size, channels), name="images")
    labels = keras.Input((), dtype="int32", name="labels")
    x = sn_conv(discriminator_widths[0], 3, channels, init, "input_conv")(images)

    def stage(index, filters):
        def blocks(h):
            for block in range(1, blocks_per_resolution + 1):
                h = deep_discriminator_block(h, filters, init=init,
                                             downsample=block == 1 and index <= discriminator_downsamples,
                                             channel_ratio=channel_ratio, name=f"dblock{index}_{block}")
            return h
        return blocks

    stages = [stage(index, filters) for index, filters in enumerate(stage_widths, start=1)]
    features = _sum_pooled(_stages_with_attention(x, stages, attention_resolution, init))
    logits = projection_logits(features, labels, num_classes, init)
    return keras.Model([images, labels], logits, name="discriminator")
