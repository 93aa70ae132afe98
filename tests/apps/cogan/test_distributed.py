"""CoGAN under a MirroredStrategy over two logical CPUs (apps/cogan/model.py): the step one device takes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.cogan.config import CoGANConfig
from tests.apps.cogan.test_model import TINY, compiled_model, real_batch, values
from tests.strategies import two_cpu_strategy


def test_two_replicas_take_the_same_step_as_one_device():
    # Global batch 4: one device, or two replicas of 2 with synchronised batch norm,
    # per-replica rows of one noise draw and losses divided by the replica count.
    config = CoGANConfig(seed=4, **TINY)
    batch = real_batch(batch_size=4)
    single_model = compiled_model(config, (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)))
    single = {name: float(value) for name, value in single_model.train_step(batch).items()}
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored = compiled_model(config, (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)))
    history = mirrored.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0, shuffle=False).history
    for name in ("d_loss", "g_loss", "d_loss_a", "g_loss_b", "d_real_a", "d_fake_b"):
        assert history[name][0] == pytest.approx(single[name], rel=1e-5), name
    for a, b in zip(values(single_model.variables), values(mirrored.variables)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
