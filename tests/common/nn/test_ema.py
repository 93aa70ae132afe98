"""Exponential moving average of model weights against hand-computed values (common/nn/ema.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.nn.ema import ExponentialMovingAverage
from tests.strategies import two_cpu_strategy



def tiny_model():
    """x [B, 1] -> Dense(2, no bias) -> BatchNormalization: kernel, gamma, beta, moving mean, moving variance."""
    inputs = keras.Input((1,))
    outputs = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(2, use_bias=False, name="dense")(inputs))
    model = keras.Model(inputs, outputs)
    model.get_layer("dense").set_weights([np.array([[1.0, 2.0]], np.float32)])
    return model


def set_live_weights(model, kernel, gamma, moving_mean):
    model.get_layer("dense").kernel.assign(np.array([kernel], np.float32))
    model.get_layer("bn").gamma.assign(np.array(gamma, np.float32))
    model.get_layer("bn").moving_mean.assign(np.array(moving_mean, np.float32))


def test_updates_before_the_start_step_copy_the_weights_then_average():
    model = tiny_model()
    ema = ExponentialMovingAverage(model, decay=0.5, start_step=3)
    kernel = ema.shadow.get_layer("dense").kernel
    update = tf.function(lambda step: ema.update(model, step=step))
    set_live_weights(model, [3.0, -2.0], gamma=[1.0, 1.0], moving_mean=[0.0, 0.0])
    update(tf.constant(2, tf.int64))  # step 2 < 3: a copy
    np.testing.assert_array_equal(kernel.numpy(), [[3.0, -2.0]])
    set_live_weights(model, [5.0, 0.0], gamma=[1.0, 1.0], moving_mean=[0.0, 0.0])
    update(tf.constant(3, tf.int64))  # from step 3: 0.5 * [3, -2] + 0.5 * [5, 0], dyadic, exact
    np.testing.assert_array_equal(kernel.numpy(), [[4.0, -1.0]])
    with pytest.raises(ValueError, match="pass update"):
        ema.update(model)


def test_update_by_hand_in_a_traced_step():
    model = tiny_model()
    ema = ExponentialMovingAverage(model, decay=0.9)
    shadow_dense, shadow_bn = ema.shadow.get_layer("dense"), ema.shadow.get_layer("bn")
    np.testing.assert_array_equal(shadow_dense.kernel.numpy(), [[1.0, 2.0]])  # starts as a copy
    set_live_weights(model, [3.0, -2.0], gamma=[2.0, 0.0], moving_mean=[5.0, 6.0])
    np.testing.assert_array_equal(shadow_dense.kernel.numpy(), [[1.0, 2.0]])  # own variables

    update = tf.function(lambda: ema.update(model))
    update()
    # kernel: 0.9 * [1, 2] + 0.1 * [3, -2] = [1.2, 1.6]; gamma: 0.9 * [1, 1] + 0.1 * [2, 0] = [1.1, 0.9]
    np.testing.assert_allclose(shadow_dense.kernel.numpy(), [[1.2, 1.6]], rtol=1e-6)
    np.testing.assert_allclose(shadow_bn.gamma.numpy(), [1.1, 0.9], rtol=1e-6)
    # moving statistics are copied, not averaged
    np.testing.assert_array_equal(shadow_bn.moving_mean.numpy(), [5.0, 6.0])
    update()
    # 0.9 * [1.2, 1.6] + 0.1 * [3, -2] = [1.38, 1.24]
    np.testing.assert_allclose(shadow_dense.kernel.numpy(), [[1.38, 1.24]], rtol=1e-6)
    np.testing.assert_allclose(shadow_bn.gamma.numpy(), [1.19, 0.81], rtol=1e-6)


def test_shadow_is_frozen_and_callable():
    model = tiny_model()
    ema = ExponentialMovingAverage(model, decay=0.5)
    assert ema.shadow.trainable_weights == [] and len(ema.shadow.weights) == len(model.weights)
    assert not {id(v) for v in ema.shadow.weights} & {id(v) for v in model.weights}
    x = np.array([[1.0], [2.0]], np.float32)
    np.testing.assert_allclose(ema(x), model(x), rtol=1e-6)
    # An update still averages the model's trainable weights even while the model is frozen.
    model.trainable = False
    set_live_weights(model, [3.0, 0.0], gamma=[1.0, 1.0], moving_mean=[0.0, 0.0])
    ema.update(model)
    np.testing.assert_allclose(ema.shadow.get_layer("dense").kernel.numpy(), [[2.0, 1.0]])


def test_checkpointed_as_an_attribute_of_a_model(tmp_path):
    class Holder(keras.Model):
        def __init__(self, model):
            super().__init__()
            self.ema = ExponentialMovingAverage(model, decay=0.9)

    model = tiny_model()
    holder = Holder(model)
    assert any(v is holder.ema.shadow.get_layer("dense").kernel for v in holder.weights)
    checkpoint = tf.train.Checkpoint(model=holder)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    holder.ema.shadow.get_layer("dense").kernel.assign([[7.0, 7.0]])
    checkpoint.restore(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(holder.ema.shadow.get_layer("dense").kernel.numpy(), [[1.0, 2.0]])


def test_update_under_mirrored_strategy():
    strategy = two_cpu_strategy()
    with strategy.scope():
        model = tiny_model()
        ema = ExponentialMovingAverage(model, decay=0.75)
    set_live_weights(model, [5.0, 6.0], gamma=[1.0, 1.0], moving_mean=[3.0, 4.0])
    strategy.run(tf.function(lambda: ema.update(model)))
    kernel = ema.shadow.get_layer("dense").kernel
    # 0.75 * [1, 2] + 0.25 * [5, 6] = [2, 3] on both devices
    for value in strategy.experimental_local_results(kernel.value):
        np.testing.assert_allclose(value.numpy(), [[2.0, 3.0]], rtol=1e-6)
    for value in strategy.experimental_local_results(ema.shadow.get_layer("bn").moving_mean.value):
        np.testing.assert_array_equal(value.numpy(), [3.0, 4.0])


def test_clear_errors():
    with pytest.raises(ValueError, match="decay must be in"):
        ExponentialMovingAverage(tiny_model(), decay=1.0)
    ema = ExponentialMovingAverage(tiny_model(), decay=0.5)
    other = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="pass the model the average was built from"):
        ema.update(other)
