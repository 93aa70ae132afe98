"""Distribution tests of common.training.runtime: two replicas must train exactly like one.

Uses the two logical CPU devices that tests/conftest.py creates. The tiny GAN
draws its noise from the images (`noise="data"`) so that the examples and the
noise of a global batch are the same however the batch is split, and uses SGD,
whose first update is proportional to the gradient (Adam's first update is
not, and would hide a gradient off by the replica count).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.common.training.test_runtime import TinyConfig, build_tiny_gan, read_metrics, run_tiny, tiny_dataset_fn
from tests.tolerances import NETWORK_RTOL, assert_steps_close

CONFIG = TinyConfig(noise="data", optimizer="sgd", learning_rate=0.5)


@pytest.fixture(scope="module")
def two_cpus():
    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("needs the two logical CPU devices of tests/conftest.py")
    return {"strategy": "mirrored", "devices": "/cpu:0,/cpu:1"}


def test_two_replicas_equal_one_replica_with_the_same_global_batch(tmp_path, two_cpus):
    dataset_fn = tiny_dataset_fn(8, shuffle_seed=None)
    one = run_tiny(tmp_path / "one", config=CONFIG, batch_size=8, steps=2, dataset_fn=dataset_fn)
    two = run_tiny(tmp_path / "two", config=CONFIG, batch_size=8, steps=2, dataset_fn=dataset_fn, **two_cpus)
    assert two.model.distribute_strategy.num_replicas_in_sync == 2
    keras.utils.set_random_seed(0)  # what the runtime does before building
    initial = build_tiny_gan(CONFIG)
    # Each replica sums half the batch: weights agree to NETWORK_RTOL of the two steps they took
    # (tests/tolerances.py); a gradient off by the replica count moves them by twice or half that.
    assert len(initial.variables) == len(one.model.variables) == len(two.model.variables)
    for a, b, old in zip(one.model.variables, two.model.variables, initial.variables):
        assert_steps_close(np.asarray(b), np.asarray(a), np.asarray(old), err_msg=a.path)
    # The comparison is not vacuous: two steps moved the weights beyond float32 resolution.
    moved = np.abs(np.asarray(one.model.generator.variables[0]) - np.asarray(initial.generator.variables[0]))
    assert moved.max() > 1e-3
    # Logged losses are global-batch means (of non-negative terms), not one replica's.
    log_one, log_two = read_metrics(tmp_path / "one"), read_metrics(tmp_path / "two")
    for step in (1, 2):
        for key in ("g_loss", "d_loss"):
            assert log_two[step][key] == pytest.approx(log_one[step][key], rel=NETWORK_RTOL), (step, key)
