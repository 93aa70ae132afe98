"""The critic loop machinery of common/models/critic_training.py: schedule, grouped batches, in-step loop, clipping."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.models import critic_training
from common.models import gan_step
from common.models.critic_training import CriticSchedule, WeightClip, clip_weights, group_critic_batches, run_critic_steps
from common.training.runtime import ConfigError
from tests.strategies import two_cpu_strategy

WGAN_SCHEDULE = CriticSchedule(critic_steps=5, warmup_steps=25, warmup_critic_steps=100, boost_every=500)


def numbered_batches(count, batch_size=2):
    """Batch i holds the values i * 10 + row: every batch and row is recognisable."""
    values = np.arange(count * batch_size, dtype=np.float32).reshape(count, batch_size)
    values = values // batch_size * 10 + values % batch_size
    return tf.data.Dataset.from_tensor_slices({"image": values[..., None]})  # [B, 1] per element


def test_schedule_of_the_wgan_code():
    # Diters = 100 if gen_iterations < 25 or gen_iterations % 500 == 0 else 5
    expected = {0: 100, 1: 100, 24: 100, 25: 5, 26: 5, 499: 5, 500: 100, 501: 5, 1000: 100}
    for step, count in expected.items():
        assert WGAN_SCHEDULE.steps_at(step) == count, step
        assert int(WGAN_SCHEDULE.steps_at(tf.constant(step, tf.int64))) == count, step
    assert not WGAN_SCHEDULE.is_constant
    assert CriticSchedule(critic_steps=5).is_constant
    assert CriticSchedule(critic_steps=5, warmup_steps=3, warmup_critic_steps=5).is_constant


@pytest.mark.parametrize("kwargs,message", [
    (dict(critic_steps=0), "critic_steps must be a positive integer"),
    (dict(warmup_critic_steps=0), "warmup_critic_steps must be a positive integer"),
    (dict(warmup_steps=-1), "warmup_steps must be an integer >= 0"),
    (dict(boost_every=-5), "boost_every must be an integer >= 0"),
])
def test_schedule_errors_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CriticSchedule(**kwargs)


def test_constant_schedule_groups_consecutive_batches_critic_axis_second():
    grouped = group_critic_batches(numbered_batches(7), CriticSchedule(critic_steps=3))
    assert grouped.element_spec["image"].shape.as_list() == [2, 3, 1]  # static K
    elements = [e["image"].numpy()[..., 0] for e in grouped]
    assert len(elements) == 2  # the 7th batch does not make a full step
    np.testing.assert_array_equal(elements[0], [[0, 10, 20], [1, 11, 21]])  # [B, K]
    np.testing.assert_array_equal(elements[1], [[30, 40, 50], [31, 41, 51]])


@pytest.mark.parametrize("elements_per_step", [1, 2])
def test_changing_schedule_takes_the_scheduled_batches_in_order(elements_per_step):
    schedule = CriticSchedule(critic_steps=1, warmup_steps=2, warmup_critic_steps=3, boost_every=3)
    grouped = group_critic_batches(numbered_batches(40), schedule, elements_per_step=elements_per_step)
    assert grouped.element_spec["image"].shape.as_list() == [2, None, 1]
    elements = [e["image"].numpy()[..., 0] for e in grouped.take(5 * elements_per_step)]
    counts = [e.shape[1] for e in elements]
    expected_counts = [3, 3, 1, 3, 1]  # steps 0, 1 warm-up; 3 boosted
    assert counts == [c for c in expected_counts for _ in range(elements_per_step)]
    first_rows = np.concatenate([e[0] for e in elements])
    np.testing.assert_array_equal(first_rows, np.arange(len(first_rows)) * 10)  # every batch once, in order


def test_loop_runs_one_update_per_batch_static_and_dynamic():
    seen = tf.Variable(tf.zeros([8]))
    calls = tf.Variable(0)

    def critic_step(batch):
        seen.scatter_nd_update([[calls]], [tf.reduce_sum(batch["image"])])
        calls.assign_add(1)
        return {"value": tf.reduce_sum(batch["image"]), "one": tf.constant(1.0)}

    images = tf.constant([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])  # [B=2, K=3]

    @tf.function(input_signature=[tf.TensorSpec([2, None])])
    def dynamic(images):
        return run_critic_steps({"image": images}, critic_step, ["value", "one"])

    for loop in (tf.function(lambda x: run_critic_steps({"image": x}, critic_step, ["value", "one"])), dynamic):
        seen.assign(tf.zeros([8]))
        calls.assign(0)
        means, count = loop(images)
        assert int(calls.numpy()) == 3 and float(count) == 3.0
        np.testing.assert_array_equal(seen.numpy()[:3], [11.0, 22.0, 33.0])  # batch k = column k
        assert float(means["value"]) == pytest.approx(22.0) and float(means["one"]) == 1.0


def test_weight_clip_constraint_is_applied_after_each_update():
    network = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    network.layers[0].kernel.assign(np.full((3, 2), 0.5, np.float32))
    clip_weights(network, 0.01)
    optimizer = keras.optimizers.SGD(0.1)
    gradients = [tf.fill(v.shape, -1.0) for v in network.trainable_variables]  # pushes weights up
    optimizer.apply_gradients(zip(gradients, network.trainable_variables))
    for variable in network.trainable_variables:
        np.testing.assert_allclose(variable.numpy(), 0.01)
    assert WeightClip(0.05).get_config() == {"clip_value": 0.05}
    np.testing.assert_allclose(WeightClip(0.05)(tf.constant([-1.0, 0.02, 1.0])), [-0.05, 0.02, 0.05])
    with pytest.raises(ValueError, match="clip_value must be > 0"):
        WeightClip(0.0)


def test_replica_rows_are_slices_of_one_global_draw():
    strategy = two_cpu_strategy()
    draw = lambda n: tf.reshape(tf.range(n * 2, dtype=tf.float32), (n, 2))  # noqa: E731
    per_replica = strategy.run(tf.function(lambda: gan_step.replica_rows(draw, 2)))
    rows = np.concatenate([t.numpy() for t in strategy.experimental_local_results(per_replica)])
    np.testing.assert_array_equal(rows, draw(4).numpy())
    np.testing.assert_array_equal(gan_step.replica_rows(draw, 2), draw(2))
    with pytest.raises(ConfigError, match="--warmup_steps=0 --boost_every=0"):
        critic_training.check_schedule_for_strategy(WGAN_SCHEDULE, strategy)
    critic_training.check_schedule_for_strategy(CriticSchedule(critic_steps=5), strategy)
    critic_training.check_schedule_for_strategy(WGAN_SCHEDULE, tf.distribute.get_strategy())


def test_every_feature_of_an_element_is_grouped_the_same_way():
    images = np.arange(8, dtype=np.float32).reshape(8, 1, 1, 1)
    dataset = tf.data.Dataset.from_tensor_slices(
        {"image": images, "label": np.arange(8, dtype=np.int32), "caption": [str(i).encode() for i in range(8)]})
    element = next(iter(group_critic_batches(dataset.batch(2), CriticSchedule(critic_steps=2))))
    assert element["image"].shape == (2, 2, 1, 1, 1)
    np.testing.assert_array_equal(element["label"].numpy(), [[0, 2], [1, 3]])
    assert element["caption"].numpy().tolist() == [[b"0", b"2"], [b"1", b"3"]]
