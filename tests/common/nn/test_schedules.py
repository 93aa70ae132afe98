"""ConstantThenLinearDecay: constant, then linear to 0; serializable; drives an optimizer."""

import keras
import numpy as np
import pytest

from common.nn.schedules import ConstantThenLinearDecay


def test_values_constant_then_linear_to_zero():
    schedule = ConstantThenLinearDecay(2e-4, total_steps=100)
    values = [float(schedule(step)) for step in (0, 25, 50, 51, 75, 99, 100, 150)]
    np.testing.assert_allclose(values, [2e-4, 2e-4, 2e-4, 2e-4 * 49 / 50, 1e-4, 2e-4 / 50, 0.0, 0.0], rtol=1e-6)


def test_custom_decay_start_and_validation():
    schedule = ConstantThenLinearDecay(1.0, total_steps=10, decay_start=8)
    np.testing.assert_allclose([float(schedule(s)) for s in (8, 9, 10)], [1.0, 0.5, 0.0])
    for kwargs in ({"total_steps": 0}, {"total_steps": 10, "decay_start": 10}, {"total_steps": 10, "decay_start": -1}):
        with pytest.raises(ValueError):
            ConstantThenLinearDecay(1.0, **kwargs)


def test_serialization_round_trip_and_optimizer_use():
    schedule = ConstantThenLinearDecay(1e-3, total_steps=4, decay_start=2)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert restored.get_config() == schedule.get_config()
    optimizer = keras.optimizers.SGD(restored)
    variable = keras.Variable(0.0)
    seen = []
    for _ in range(4):
        seen.append(float(optimizer.learning_rate))
        optimizer.apply_gradients([(keras.ops.ones(()), variable)])
    np.testing.assert_allclose(seen, [1e-3, 1e-3, 1e-3, 5e-4], rtol=1e-6)
    np.testing.assert_allclose(float(variable.numpy()), -(1e-3 * 3 + 5e-4), rtol=1e-6)
