"""The auxiliary-classifier backbone: AC-GAN's CIFAR-10 networks, shared by AC-GAN and ADC-GAN.

Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary
Classifier GANs", https://arxiv.org/abs/1610.09585, appendix (CIFAR-10
hyper-parameters). The generator takes ``[z, labels]`` and concatenates z with
the one-hot label (100 + 10 = 110 inputs for CIFAR-10); the discriminator
returns two heads from one trunk: a source logit (real or generated) and
``class_outputs`` class logits (K for AC-GAN; 2K for ADC-GAN's discriminative
classifier, Hou et al. 2022, https://arxiv.org/abs/2107.10060).

Generator, CIFAR-10 defaults (shapes without the batch axis):

    [z [100], one_hot(label) [10]] -> concat [110] -> Dense [4 * 4 * 384] -> reshape -> ReLU
    -> up-conv 5x5/2 [8, 8, 192] -> BN -> ReLU
    -> up-conv 5x5/2 [16, 16, 96] -> BN -> ReLU
    -> up-conv 5x5/2 [32, 32, 3] -> tanh

Discriminator:

    image [32, 32, 3] -> conv 3x3/2 [16, 16, 16] -> LeakyReLU(0.2) -> dropout 0.5
    -> conv 3x3/1 [16, 16, 32] -> BN -> LeakyReLU -> dropout
    -> conv 3x3/2 [8, 8, 64] -> BN -> LeakyReLU -> dropout
    -> conv 3x3/1 [8, 8, 128] -> BN -> LeakyReLU -> dropout
    -> conv 3x3/2 [4, 4, 256] -> BN -> LeakyReLU -> dropout
    -> conv 3x3/1 [4, 4, 512] -> BN -> LeakyReLU -> dropout
    -> flatten -> Dense [1] (source logit), Dense [class_outputs] (class logits)

The paper's last layer is one linear layer of 11 outputs (a source unit and 10
class units); two Dense heads on the same features are that layer split in two.

Other sizes: the generator starts at ``image_size / 2**len(generator_filters)``
pixels and doubles per up-convolution, so the 28x28 variant (MNIST) is
``image_size=28, generator_filters=(384, 192)``: 7x7x384 -> 14x14x192 ->
28x28xC. The discriminator's "same"-padded strided convolutions reduce any size
(28 -> 14 -> 7 -> 4).

Details the appendix leaves open: weights N(0, 0.02) and biases 0 (the paper's
initialisation); no biases in layers that batch normalisation follows (its
offset takes their place); batch-norm momentum 0.9 and epsilon 1e-5 (Torch's
defaults, as in the DCGAN app); "same" padding. Each initialiser and each
dropout layer gets its own integer seed derived from ``seed``, so the same
arguments build the same networks.

Mixed precision: the two heads and the generator's tanh are float32 layers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
from keras import layers

from common.nn.layers import MaximumLeakyReLU

__all__ = [
    "MNIST28",
    "AuxiliaryClassifierGANConfig",
    "build_discriminator",
    "build_generator",
    "check_backbone_options",
    "check_shared_options",
    "generator_start_size",
]

# The 28x28 variant (e.g. MNIST): a 7x7x384 start map and two up-convolutions.
MNIST28 = {"image_size": 28, "channels": 1, "generator_filters": (384, 192)}


@dataclasses.dataclass(frozen=True)
class AuxiliaryClassifierGANConfig:
    """The fields AC-GAN and ADC-GAN share: the backbone, Adam, batch, EMA and seed; CIFAR-10 defaults.

    Each app's config adds its adversarial ``loss`` and the weight of its class terms.

    Attributes:
      image_size: Height and width; ``image_size / 2**len(generator_filters)`` must be a whole number >= 2.
      channels: 1 (grayscale) or 3 (RGB).
      num_classes: K, the number of classes (the dataset's labels are 0..K-1).
      latent_dim: Size of z (the generator's input is z and the one-hot class).
      generator_filters: Width of the projected start map, then of each hidden up-convolution.
      discriminator_filters, discriminator_strides: One convolution per entry.
      dropout: Dropout rate after each discriminator convolution.
      leaky_relu_slope: Negative slope of the discriminator's LeakyReLU.
      init_stddev: Standard deviation of the N(0, s) weight initialiser.
      bn_momentum, bn_epsilon: Batch normalisation (Keras momentum = 1 - Torch's).
      sync_batch_norm: Batch statistics of the global batch across replicas.
      learning_rate, beta_1, beta_2: Adam, both networks.
      batch_size: Global mini-batch size.
      ema_decay: Decay of the generator's moving average; 0 turns it off.
      reuse_fakes: The generator update reuses the discriminator update's z and labels.
      seed: Seed of weight initialisation, dropout and noise.
    """

    image_size: int = 32
    channels: int = 3
    num_classes: int = 10
    latent_dim: int = 100
    generator_filters: tuple[int, ...] = (384, 192, 96)
    discriminator_filters: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    discriminator_strides: tuple[int, ...] = (2, 1, 2, 1, 2, 1)
    dropout: float = 0.5
    leaky_relu_slope: float = 0.2
    init_stddev: float = 0.02
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    sync_batch_norm: bool = True
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    batch_size: int = 100
    ema_decay: float = 0.0
    reuse_fakes: bool = True
    seed: int = 0

    def __post_init__(self):
        for name in ("generator_filters", "discriminator_filters", "discriminator_strides"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # config.json stores lists
        self.check_networks()
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {self.batch_size!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}.")
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 turns the average off); got {self.ema_decay!r}.")

    def check_networks(self) -> None:
        """Raises ValueError when the networks cannot be built (this backbone's fields)."""
        check_backbone_options(
            image_size=self.image_size, channels=self.channels, latent_dim=self.latent_dim,
            num_classes=self.num_classes, generator_filters=self.generator_filters,
            discriminator_filters=self.discriminator_filters, discriminator_strides=self.discriminator_strides,
            dropout=self.dropout, leaky_relu_slope=self.leaky_relu_slope, init_stddev=self.init_stddev,
            bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)

    def check_loss_and_weight(self, losses: Sequence[str], weight_name: str, weight_note: str) -> None:
        """Raises ValueError unless ``self.loss`` is one of `losses` and the class-term weight is >= 0."""
        if self.loss not in losses:
            raise ValueError(f"loss must be one of {', '.join(losses)}; got {self.loss!r}.")
        weight = getattr(self, weight_name)
        if not weight >= 0.0:
            raise ValueError(f"{weight_name} must be >= 0 ({weight_note}); got {weight!r}.")


def generator_start_size(image_size: int, generator_filters: Sequence[int]) -> int:
    """Side of the generator's first feature map: ``image_size / 2**len(generator_filters)``."""
    return image_size // 2 ** len(generator_filters)


def check_backbone_options(*, image_size, channels, latent_dim, num_classes, generator_filters,
                           discriminator_filters, discriminator_strides, dropout, leaky_relu_slope,
                           init_stddev, bn_momentum, bn_epsilon) -> None:
    """Raises ValueError, naming the option and what fits, when the backbone cannot be built."""
    check_shared_options(image_size=image_size, channels=channels, latent_dim=latent_dim, num_classes=num_classes,
                         init_stddev=init_stddev, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)
    for name, widths in (("generator_filters", generator_filters), ("discriminator_filters", discriminator_filters),
                         ("discriminator_strides", discriminator_strides)):
        if not widths or any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths):
            raise ValueError(f"{name} must be a non-empty list of positive integers; got {widths!r}.")
    if len(discriminator_strides) != len(discriminator_filters):
        raise ValueError(f"discriminator_strides needs one stride per entry of discriminator_filters "
                         f"({len(discriminator_filters)}); got {len(discriminator_strides)}.")
    doublings = len(generator_filters)
    start = generator_start_size(image_size, generator_filters)
    if start < 2 or start * 2 ** doublings != image_size:
        raise ValueError(
            f"image_size {image_size} is not a start size >= 2 doubled {doublings} times (one doubling per entry "
            f"of generator_filters {tuple(generator_filters)}). CIFAR-10: image_size=32 with 3 widths "
            "(384,192,96: 4x4 -> 32x32); MNIST: image_size=28 with 2 widths (384,192: 7x7 -> 28x28).")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1) (0 turns it off); got {dropout!r}.")
    if not leaky_relu_slope >= 0.0:
        raise ValueError(f"leaky_relu_slope must be >= 0; got {leaky_relu_slope!r}.")


def check_shared_options(*, image_size, channels, latent_dim, num_classes, init_stddev, bn_momentum,
                         bn_epsilon) -> None:
    """Raises ValueError for the fields every backbone of the conditional apps reads."""
    for name, value in (("image_size", image_size), ("latent_dim", latent_dim), ("num_classes", num_classes)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 (a class-conditional model); got {num_classes}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {channels!r}.")
    if not init_stddev > 0.0 or not bn_epsilon > 0.0:
        raise ValueError(f"init_stddev and bn_epsilon must be > 0; got {init_stddev!r} and {bn_epsilon!r}.")
    if not 0.0 <= bn_momentum < 1.0:
        raise ValueError(f"bn_momentum must be in [0, 1); got {bn_momentum!r}.")


class _Seeds:
    """One integer seed per initialiser or dropout layer, counted from ``seed * 1000 + offset``."""

    def __init__(self, seed: int, offset: int, init_stddev: float):
        self.next_seed = seed * 1000 + offset
        self.init_stddev = init_stddev

    def next(self) -> int:
        self.next_seed += 1
        return self.next_seed

    def kernel(self):
        return keras.initializers.RandomNormal(0.0, self.init_stddev, seed=self.next())


def _batch_norm(name, bn_momentum, bn_epsilon, sync_batch_norm):
    return layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, synchronized=sync_batch_norm,
                                     name=name)


def build_generator(*, image_size: int = 32, channels: int = 3, latent_dim: int = 100, num_classes: int = 10,
                    generator_filters: Sequence[int] = (384, 192, 96), kernel_size: int = 5,
                    init_stddev: float = 0.02, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
                    sync_batch_norm: bool = True, seed: int = 0) -> keras.Model:
    """[z [B, latent_dim], labels [B] int32] -> images [B, image_size, image_size, channels] in [-1, 1], float32.

    ``generator_filters[0]`` is the width of the projected start map, the others
    the widths of the hidden up-convolutions; the last up-convolution outputs
    ``channels``. See the module docstring.
    """
    seeds = _Seeds(seed, 0, init_stddev)
    start = generator_start_size(image_size, generator_filters)
    z = keras.Input((latent_dim,), name="z")
    labels = keras.Input((), dtype="int32", name="labels")
    one_hot = layers.CategoryEncoding(num_classes, output_mode="one_hot", name="one_hot")(labels)
    x = layers.Concatenate(name="z_and_label")([z, one_hot])
    x = layers.Dense(start * start * generator_filters[0], kernel_initializer=seeds.kernel(), name="project")(x)
    x = layers.Reshape((start, start, generator_filters[0]), name="reshape")(x)
    x = layers.ReLU(name="project_relu")(x)
    for block, filters in enumerate(generator_filters[1:], start=1):
        x = layers.Conv2DTranspose(filters, kernel_size, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=seeds.kernel(), name=f"up{block}")(x)
        x = _batch_norm(f"up{block}_bn", bn_momentum, bn_epsilon, sync_batch_norm)(x)
        x = layers.ReLU(name=f"up{block}_relu")(x)
    last = len(generator_filters)
    x = layers.Conv2DTranspose(channels, kernel_size, strides=2, padding="same", kernel_initializer=seeds.kernel(),
                               name=f"up{last}")(x)
    images = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model([z, labels], images, name="generator")


def build_discriminator(*, image_size: int = 32, channels: int = 3, class_outputs: int = 10,
                        discriminator_filters: Sequence[int] = (16, 32, 64, 128, 256, 512),
                        discriminator_strides: Sequence[int] = (2, 1, 2, 1, 2, 1), kernel_size: int = 3,
                        dropout: float = 0.5, leaky_relu_slope: float = 0.2, init_stddev: float = 0.02,
                        bn_momentum: float = 0.9, bn_epsilon: float = 1e-5, sync_batch_norm: bool = True,
                        seed: int = 0) -> keras.Model:
    """images [B, H, W, C] -> [source logits [B, 1], class logits [B, class_outputs]], both float32.

    Batch normalisation on every convolution but the first; LeakyReLU then
    dropout after each (dropout 0 leaves it out). See the module docstring.
    """
    if not isinstance(class_outputs, int) or class_outputs < 1:
        raise ValueError(f"class_outputs must be a positive integer; got {class_outputs!r}.")
    seeds = _Seeds(seed, 500, init_stddev)
    images = keras.Input((image_size, image_size, channels), name="images")
    x = images
    for block, (filters, stride) in enumerate(zip(discriminator_filters, discriminator_strides), start=1):
        normalized = block > 1
        x = layers.Conv2D(filters, kernel_size, strides=stride, padding="same", use_bias=not normalized,
                          kernel_initializer=seeds.kernel(), name=f"conv{block}")(x)
        if normalized:
            x = _batch_norm(f"conv{block}_bn", bn_momentum, bn_epsilon, sync_batch_norm)(x)
        leaky_relu = layers.LeakyReLU if normalized else MaximumLeakyReLU  # after the biased conv: see its docstring
        x = leaky_relu(negative_slope=leaky_relu_slope, name=f"conv{block}_lrelu")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, seed=seeds.next(), name=f"conv{block}_dropout")(x)
    features = layers.Flatten(name="flatten")(x)
    source = layers.Dense(1, kernel_initializer=seeds.kernel(), dtype="float32", name="source_logits")(features)
    classes = layers.Dense(class_outputs, kernel_initializer=seeds.kernel(), dtype="float32",
                           name="class_logits")(features)
    return keras.Model(images, [source, classes], name="discriminator")
