"""DiscoGAN generators and discriminators (Kim et al. 2017, https://arxiv.org/abs/1703.05192).

Generator (G_AB and G_BA have the same architecture), 64x64 RGB with the
defaults (shapes without the batch axis):

    image [64, 64, 3]
    -> conv 4x4/2 [32, 32, 64] -> LeakyReLU(0.2)                  encoder
    -> conv 4x4/2 [16, 16, 128] -> BN -> LeakyReLU
    -> conv 4x4/2 [8, 8, 256] -> BN -> LeakyReLU
    -> conv 4x4/2 [4, 4, 512] -> BN -> LeakyReLU
    -> up-conv 4x4/2 [8, 8, 256] -> BN -> ReLU                    decoder
    -> up-conv 4x4/2 [16, 16, 128] -> BN -> ReLU
    -> up-conv 4x4/2 [32, 32, 64] -> BN -> ReLU
    -> up-conv 4x4/2 [64, 64, 3] -> tanh

Discriminator (D_A and D_B), the encoder plus one more convolution:

    image [64, 64, 3] -> the four encoder blocks above [4, 4, 512]
    -> conv 4x4, valid [1, 1, 1] -> reshape [1]: one logit (no sigmoid; the losses take logits)

"up-conv" is `keras.layers.Conv2DTranspose`. The widths follow the reference
code (SKTBrain/DiscoGAN, `discogan/model.py`); ``base_filters`` scales all of
them. The generators are fully convolutional (input shape [None, None, C]),
so they translate any image whose sides are multiples of 16
(`config.SIZE_MULTIPLE`). The discriminators take ``image_size`` images; their
last convolution has a kernel of ``image_size / 16`` (4 at 64x64, as in the
paper), so it always sees the whole final feature map and outputs one logit.

Deviations from the paper and the reference code:
- tanh output on images in [-1, 1], the suite's pixel range; the reference
  code ends with a sigmoid on images in [0, 1].
- The discriminator returns the logit; the reference code applies a sigmoid
  and a binary cross entropy, which is the same loss (`common.nn.losses`
  computes it from logits with softplus, which stays finite).
- The paper uses four or five layers "depending on the domain"; the reference
  code's five-layer variant (``extra_layers``: a 4x4 valid convolution to a
  1x1x100 code and back, which fixes the input size) is not provided; the
  four-level network is the reference code's default.

Details from the reference code: no biases anywhere (batch normalisation
follows every hidden convolution), and PyTorch's default initialisation
(weights uniform in +-1/sqrt(fan_in), which is Keras'
``VarianceScaling(1/3, "fan_in", "uniform")`` for both convolutions and
transposed convolutions; batch-norm scale 1, offset 0).

Mixed precision: the generators' final tanh and the discriminators' logit
layer run in float32 (``dtype="float32"``), so images and logits leave the
networks in float32 whatever the policy.

Initialisers get one integer seed each (``config.seed`` plus the layer's
position, each network in its own range), so the same config builds the same
weights without touching global random state.
"""

from __future__ import annotations

import keras
from keras import layers

from apps.discogan.config import NUM_LEVELS, SIZE_MULTIPLE, DiscoGANConfig

__all__ = ["build_generator", "build_discriminator", "GENERATOR_SEED_OFFSETS", "DISCRIMINATOR_SEED_OFFSETS"]

# Seed ranges of the four networks (config.seed * 1000 + offset + layer index).
GENERATOR_SEED_OFFSETS = {"a_to_b": 0, "b_to_a": 200}
DISCRIMINATOR_SEED_OFFSETS = {"a": 400, "b": 600}


def _kernel_initializers(config: DiscoGANConfig, offset: int):
    """PyTorch's default convolution initialisation, U(+-1/sqrt(fan_in)), one seed per layer."""
    seed = config.seed * 1000 + offset
    while True:
        seed += 1
        yield keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed)


def _batch_norm(config: DiscoGANConfig, name: str):
    return layers.BatchNormalization(
        momentum=config.bn_momentum, epsilon=config.bn_epsilon, synchronized=config.sync_batch_norm, name=name)


def _encoder(x, config: DiscoGANConfig, kernels, prefix: str):
    """The four 4x4 stride-2 convolution blocks: 64-128-256-512 filters, BN on all but the first."""
    filters = config.base_filters
    for level in range(1, NUM_LEVELS + 1):
        x = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=next(kernels),
                          name=f"{prefix}{level}")(x)
        if level > 1:
            x = _batch_norm(config, f"{prefix}{level}_bn")(x)
        x = layers.LeakyReLU(negative_slope=config.leaky_relu_slope, name=f"{prefix}{level}_lrelu")(x)
        filters *= 2
    return x


def build_generator(config: DiscoGANConfig, direction: str = "a_to_b") -> keras.Model:
    """G_AB (``direction="a_to_b"``) or G_BA: images [B, H, W, C] in [-1, 1] -> images of the same shape, float32.

    H and W must be multiples of 16; the model accepts any such size.
    """
    if direction not in GENERATOR_SEED_OFFSETS:
        raise ValueError(f"direction must be one of {', '.join(GENERATOR_SEED_OFFSETS)}; got {direction!r}.")
    kernels = _kernel_initializers(config, GENERATOR_SEED_OFFSETS[direction])
    images = keras.Input((None, None, config.channels), name="images")
    x = _encoder(images, config, kernels, "enc")
    filters = config.base_filters * 2 ** (NUM_LEVELS - 1)  # 512 at the bottleneck
    for level in range(1, NUM_LEVELS):
        filters //= 2
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=next(kernels), name=f"dec{level}")(x)
        x = _batch_norm(config, f"dec{level}_bn")(x)
        x = layers.ReLU(name=f"dec{level}_relu")(x)
    x = layers.Conv2DTranspose(config.channels, 4, strides=2, padding="same", use_bias=False,
                               kernel_initializer=next(kernels), name=f"dec{NUM_LEVELS}")(x)
    translated = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(images, translated, name=f"generator_{direction}")


def build_discriminator(config: DiscoGANConfig, domain: str = "a") -> keras.Model:
    """D_A (``domain="a"``) or D_B: images [B, image_size, image_size, C] -> logits [B, 1], float32."""
    if domain not in DISCRIMINATOR_SEED_OFFSETS:
        raise ValueError(f"domain must be one of {', '.join(DISCRIMINATOR_SEED_OFFSETS)}; got {domain!r}.")
    kernels = _kernel_initializers(config, DISCRIMINATOR_SEED_OFFSETS[domain])
    images = keras.Input((config.image_size, config.image_size, config.channels), name="images")
    x = _encoder(images, config, kernels, "down")
    final_size = config.image_size // SIZE_MULTIPLE  # 4 at 64x64
    x = layers.Conv2D(1, final_size, padding="valid", use_bias=False, kernel_initializer=next(kernels),
                      dtype="float32", name="logits")(x)  # [B, 1, 1, 1]
    logits = layers.Reshape((1,), dtype="float32", name="flatten")(x)
    return keras.Model(images, logits, name=f"discriminator_{domain}")
