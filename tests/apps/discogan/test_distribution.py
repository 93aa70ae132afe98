"""DiscoGAN's train step on two replicas equals the step on one device (apps/discogan/model.py).

Kept apart from test_model.py: tracing a step on two replicas takes most of this file's time.
"""

import keras
import pytest
import tensorflow as tf

from apps.discogan.config import DiscoGANConfig
from apps.discogan.model import DiscoGAN
from tests.apps.discogan.test_model import TINY, unpaired_batch, values
from tests.strategies import two_cpu_strategy
from tests.tolerances import NETWORK_RTOL, assert_steps_close


def small_networks(config):
    """One batch-normalised block per network, injected through the constructor: the distribution
    test checks the step's replica arithmetic, and tracing four full networks on two replicas is slow."""

    def generator(name):
        images = keras.Input((None, None, config.channels))
        x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(images)
        x = keras.layers.BatchNormalization(synchronized=True)(x)
        x = keras.layers.Conv2D(config.channels, 3, padding="same")(keras.layers.ReLU()(x))
        return keras.Model(images, keras.layers.Activation("tanh", dtype="float32")(x), name=name)

    def discriminator(name):
        images = keras.Input((config.image_size, config.image_size, config.channels))
        x = keras.layers.Conv2D(4, 4, strides=4, use_bias=False)(images)
        x = keras.layers.BatchNormalization(synchronized=True)(x)
        x = keras.layers.Flatten()(keras.layers.LeakyReLU(0.2)(x))
        return keras.Model(images, keras.layers.Dense(1, dtype="float32")(x), name=name)

    keras.utils.set_random_seed(config.seed)
    return generator("g_ab"), generator("g_ba"), discriminator("d_a"), discriminator("d_b")


def test_two_replicas_take_the_same_step_as_one_device():
    # Global batch 4: one device, or two replicas of 2 with synchronised batch norm and
    # losses (weight decay included) divided by the replica count.
    config = DiscoGANConfig(seed=4, weight_decay=0.01, **TINY)
    batch = unpaired_batch(batch_size=4)

    def compiled(networks):
        model = DiscoGAN(*networks, config)
        model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
        return model

    single_model = compiled(small_networks(config))
    initial = values(single_model.variables)
    single = {name: float(value) for name, value in single_model.train_step(batch).items()}
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored_model = compiled(small_networks(config))
    # Reductions split over two replicas: losses (means of non-negative terms) agree to
    # NETWORK_RTOL, weights to NETWORK_RTOL of the step they took (tests/tolerances.py).
    history = mirrored_model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0, shuffle=False).history
    for name in ("g_loss", "d_loss", "recon_a", "gan_b", "d_real_a", "d_fake_b"):  # grad norms are per replica
        assert history[name][0] == pytest.approx(single[name], rel=NETWORK_RTOL), name
    for a, b, old in zip(values(single_model.variables), values(mirrored_model.variables), initial):
        assert_steps_close(b, a, old)
