"""CGAN generator and discriminator (Mirza & Osindero 2014, https://arxiv.org/abs/1411.1784, section 4.1).

``architecture="mlp"``: the paper's MNIST networks (shapes without the batch axis,
defaults; y is the one-hot label of K = 10 classes):

Generator:

    z [100] -> Dense [200] -> ReLU                  y [10] -> Dense [1000] -> ReLU
                 \\______________ concatenate [1200] ______________/
    -> Dense [1200] -> ReLU -> dropout 0.5 -> Dense [784] -> tanh -> reshape [28, 28, 1]

Discriminator:

    x [28, 28, 1] -> flatten -> Maxout [240] (5 pieces)    y [10] -> Maxout [50] (5 pieces)
                 \\______________ concatenate [290] -> dropout 0.5 ______________/
    -> Maxout [240] (4 pieces) -> dropout 0.5 -> Dense [1]: one logit

The one-hot label and the Dense layer on it are `keras.layers.CategoryEncoding`
followed by `Dense`, which is the paper's layer exactly (a Dense layer of a one-hot
vector adds its bias to one row of its kernel). All layers have biases
(initialised to 0) and weights U(-r, r).

``architecture="conv"``: DCGAN-style networks for colour images (Radford et al.
2015; the layer plan of `apps.dcgan.networks`), 32x32 with the defaults:

Generator: ``[z, embed(y)]`` (the label embedded in ``embedding_dim`` values
and concatenated with z) -> Dense [4, 4, 4F] -> BN -> ReLU -> one 4x4 stride-2
transposed convolution with BN and ReLU per doubling, halving the filters ->
the last one to ``channels`` -> tanh.

Discriminator (projection, Miyato & Koyama 2018, eq. 3): x -> 4x4 stride-2
convolutions F, 2F, ... with LeakyReLU 0.2 (BN from the second) down to 4x4 ->
flatten: phi(x) -> ``Dense(1)(phi) + <embed(y), phi>`` (`common.nn.conditional_layers.ClassProjection`).

Mixed precision: the logit layers and the final tanh run in float32.

Initialisers get one integer seed each (``config.seed`` plus the layer's
position), so the same config builds the same weights.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from apps.cgan.config import CGANConfig
from common.nn.conditional_layers import ClassProjection
from common.nn.layers import Maxout

__all__ = ["build_discriminator", "build_generator"]


def _uniform(init_range: float, seed: int):
    return keras.initializers.RandomUniform(-init_range, init_range, seed=seed)


def _inputs(config: CGANConfig):
    z = keras.Input((config.latent_dim,), name="z")
    labels = keras.Input((), dtype="int32", name="labels")
    return z, labels


def _one_hot(config: CGANConfig, labels):
    return layers.CategoryEncoding(config.num_classes, output_mode="one_hot", name="one_hot")(labels)


def build_generator(config: CGANConfig) -> keras.Model:
    """[z [B, latent_dim], labels [B]] -> images [B, size, size, channels] in [-1, 1], float32."""
    return (_mlp_generator if config.architecture == "mlp" else _conv_generator)(config)


def build_discriminator(config: CGANConfig) -> keras.Model:
    """[images [B, size, size, channels], labels [B]] -> logits [B, 1], float32."""
    return (_mlp_discriminator if config.architecture == "mlp" else _conv_discriminator)(config)


def _mlp_generator(config: CGANConfig) -> keras.Model:
    seed, r = config.seed * 1000, config.generator_init_range
    z, labels = _inputs(config)
    hz = layers.Dense(config.g_z_units, activation="relu", kernel_initializer=_uniform(r, seed + 1), name="z_hidden")(z)
    hy = layers.Dense(config.g_label_units, activation="relu", kernel_initializer=_uniform(r, seed + 2),
                      name="label_hidden")(_one_hot(config, labels))
    x = layers.Concatenate(name="join")([hz, hy])
    x = layers.Dense(config.g_joint_units, activation="relu", kernel_initializer=_uniform(r, seed + 3),
                     name="joint")(x)
    x = layers.Dropout(config.dropout, seed=seed + 4, name="joint_dropout")(x)
    x = layers.Dense(math.prod(config.image_shape), kernel_initializer=_uniform(r, seed + 5), name="output")(x)
    x = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    images = layers.Reshape(config.image_shape, dtype="float32", name="reshape")(x)
    return keras.Model([z, labels], images, name="generator")


def _mlp_discriminator(config: CGANConfig) -> keras.Model:
    seed, r = config.seed * 1000 + 500, config.discriminator_init_range
    images = keras.Input(config.image_shape, name="images")
    labels = keras.Input((), dtype="int32", name="labels")
    hx = Maxout(config.d_x_units, config.d_x_pieces, kernel_initializer=_uniform(r, seed + 1),
                name="x_maxout")(layers.Flatten(name="flatten")(images))
    hy = Maxout(config.d_label_units, config.d_label_pieces, kernel_initializer=_uniform(r, seed + 2),
                name="label_maxout")(_one_hot(config, labels))
    x = layers.Concatenate(name="join")([hx, hy])
    x = layers.Dropout(config.dropout, seed=seed + 3, name="join_dropout")(x)
    x = Maxout(config.d_joint_units, config.d_joint_pieces, kernel_initializer=_uniform(r, seed + 4),
               name="joint_maxout")(x)
    x = layers.Dropout(config.dropout, seed=seed + 5, name="joint_dropout")(x)
    logits = layers.Dense(1, kernel_initializer=_uniform(r, seed + 6), dtype="float32", name="logits")(x)
    return keras.Model([images, labels], logits, name="discriminator")


class _Seeds:
    def __init__(self, start: int):
        self.next = start

    def __call__(self) -> int:
        self.next += 1
        return self.next


def _normal(seeds: _Seeds, mean=0.0):
    return keras.initializers.RandomNormal(mean, 0.02, seed=seeds())


def _conv_generator(config: CGANConfig) -> keras.Model:
    seeds = _Seeds(config.seed * 1000)
    doublings = config.image_size.bit_length() - 3  # 4 -> image_size
    filters = config.base_filters * 2 ** (doublings - 1)
    z, labels = _inputs(config)
    embedded = layers.Embedding(config.num_classes, config.embedding_dim, embeddings_initializer=_normal(seeds),
                                name="label_embedding")(labels)
    x = layers.Concatenate(name="join")([z, embedded])
    x = layers.Dense(4 * 4 * filters, use_bias=False, kernel_initializer=_normal(seeds), name="project")(x)
    x = layers.Reshape((4, 4, filters), name="reshape")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_initializer=_normal(seeds, 1.0),
                                  name="project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    for block in range(1, doublings + 1):
        last = block == doublings
        filters = config.channels if last else filters // 2
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_normal(seeds), name=f"up{block}")(x)
        if not last:
            x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_initializer=_normal(seeds, 1.0),
                                          name=f"up{block}_bn")(x)
            x = layers.ReLU(name=f"up{block}_relu")(x)
    images = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model([z, labels], images, name="generator")


def _conv_discriminator(config: CGANConfig) -> keras.Model:
    seeds = _Seeds(config.seed * 1000 + 500)
    images = keras.Input(config.image_shape, name="images")
    labels = keras.Input((), dtype="int32", name="labels")
    x, filters = images, config.base_filters
    for block in range(1, config.image_size.bit_length() - 2):  # image_size -> 4
        x = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=_normal(seeds),
                          name=f"down{block}")(x)
        if block > 1:
            x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_initializer=_normal(seeds, 1.0),
                                          name=f"down{block}_bn")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"down{block}_lrelu")(x)
        filters *= 2
    features = layers.Flatten(name="features")(x)
    psi = layers.Dense(1, kernel_initializer=_normal(seeds), dtype="float32", name="psi")(features)
    projection = ClassProjection(config.num_classes, embeddings_initializer=_normal(seeds), dtype="float32",
                                 name="projection")([features, labels])
    logits = layers.Add(dtype="float32", name="logits")([psi, projection])
    return keras.Model([images, labels], logits, name="discriminator")
