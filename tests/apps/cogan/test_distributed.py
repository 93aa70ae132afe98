"""CoGAN under a MirroredStrategy over two logical CPUs (apps/cogan/model.py): the step one device takes."""

import keras
import pytest
import tensorflow as tf

from apps.cogan.config import CoGANConfig
from tests.apps.cogan.test_model import TINY, compiled_model, real_batch, values
from tests.strategies import two_cpu_strategy
from tests.tolerances import NETWORK_RTOL, assert_steps_close


def test_two_replicas_take_the_same_step_as_one_device():
    # Global batch 4: one device, or two replicas of 2 with synchronised batch norm,
    # per-replica rows of one noise draw and losses divided by the replica count.
    config = CoGANConfig(seed=4, **TINY)
    batch = real_batch(batch_size=4)
    single_model = compiled_model(config, (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)))
    initial = values(single_model.variables)
    single = {name: float(value) for name, value in single_model.train_step(batch).items()}
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored = compiled_model(config, (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)))
    # Reductions split over two replicas: losses (means of non-negative terms) agree to
    # NETWORK_RTOL, weights to NETWORK_RTOL of the step they took (tests/tolerances.py).
    history = mirrored.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0, shuffle=False).history
    for name in ("d_loss", "g_loss", "d_loss_a", "g_loss_b", "d_real_a", "d_fake_b"):
        assert history[name][0] == pytest.approx(single[name], rel=NETWORK_RTOL), name
    for a, b, old in zip(values(single_model.variables), values(mirrored.variables), initial):
        assert_steps_close(b, a, old)
