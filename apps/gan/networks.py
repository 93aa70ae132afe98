"""GAN generator and discriminator: multilayer perceptrons (Goodfellow et al. 2014, https://arxiv.org/abs/1406.2661).

The paper's MNIST networks as its code builds them (github.com/goodfeli/adversarial,
``mnist.yaml``), shapes without the batch axis, defaults (28x28x1, z of 100):

Generator:

    z [100] -> Dense [1200] -> ReLU -> Dense [1200] -> ReLU
    -> Dense [784] -> tanh -> reshape [28, 28, 1]

Discriminator:

    image [28, 28, 1] -> flatten [784] -> dropout (keep 0.8)
    -> Maxout [240] (5 pieces) -> dropout (keep 0.5)
    -> Maxout [240] (5 pieces) -> dropout (keep 0.5)
    -> Dense [1]: one logit (no sigmoid; the losses take logits)

All layers have biases (initialised to 0); weights are U(-0.05, 0.05) in the
generator and U(-0.005, 0.005) in the discriminator (pylearn2 ``irange``).
Dropout is inverted dropout (kept units scaled by 1 / keep probability), as the
code's ``input_scales`` (1.25 = 1 / 0.8, 2 = 1 / 0.5).

Deviations from the code: the output layer is tanh with images in [-1, 1]
instead of sigmoid with images in [0, 1] (every app of this suite reads and
writes [-1, 1]); ``tanh(a) = 2 sigmoid(2a) - 1``, so it is the same family of
functions with the pre-activation scaled by 2. The code initialises the output
biases to the logit of the mean training image (``init_sigmoid_bias_from_marginals``);
here they start at 0, which needs no pass over the data.

Mixed precision: the logit layer and the final tanh run in float32.

Initialisers get one integer seed each (``config.seed`` plus the layer's
position), so the same config builds the same weights.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from apps.gan.config import GANConfig
from common.nn.layers import Maxout

__all__ = ["build_generator", "build_discriminator"]


def _uniform(init_range: float, seed: int):
    return keras.initializers.RandomUniform(-init_range, init_range, seed=seed)


def build_generator(config: GANConfig) -> keras.Model:
    """The GAN generator: z [B, latent_dim] -> images [B, size, size, channels] in [-1, 1], float32."""
    seed = config.seed * 1000
    r = config.generator_init_range
    z = keras.Input((config.latent_dim,), name="z")
    x = layers.Dense(config.generator_units, activation="relu", kernel_initializer=_uniform(r, seed + 1),
                     name="h0")(z)
    x = layers.Dense(config.generator_units, activation="relu", kernel_initializer=_uniform(r, seed + 2),
                     name="h1")(x)
    x = layers.Dense(math.prod(config.image_shape), kernel_initializer=_uniform(r, seed + 3), name="y")(x)
    x = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    images = layers.Reshape(config.image_shape, dtype="float32", name="reshape")(x)
    return keras.Model(z, images, name="generator")


def build_discriminator(config: GANConfig) -> keras.Model:
    """The GAN discriminator: images [B, size, size, channels] -> logits [B, 1], float32."""
    seed = config.seed * 1000 + 500
    r = config.discriminator_init_range
    images = keras.Input(config.image_shape, name="images")
    x = layers.Flatten(name="flatten")(images)
    x = layers.Dropout(1.0 - config.input_keep_prob, seed=seed + 1, name="h0_dropout")(x)
    x = Maxout(config.maxout_units, config.maxout_pieces, kernel_initializer=_uniform(r, seed + 2), name="h0")(x)
    x = layers.Dropout(1.0 - config.hidden_keep_prob, seed=seed + 3, name="h1_dropout")(x)
    x = Maxout(config.maxout_units, config.maxout_pieces, kernel_initializer=_uniform(r, seed + 4), name="h1")(x)
    x = layers.Dropout(1.0 - config.hidden_keep_prob, seed=seed + 5, name="y_dropout")(x)
    logits = layers.Dense(1, kernel_initializer=_uniform(r, seed + 6), dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name="discriminator")
