"""ImagePool: fills, then returns a stored image half the time; deterministic; checkpointed; per replica."""

import numpy as np
import pytest
import tensorflow as tf

from common.nn.image_pool import ImagePool
from tests.strategies import two_cpu_strategy


def _image(value, batch=1):
    return np.full((batch, 2, 2, 1), float(value), np.float32)


def _query_values(pool, start, stop):
    return [float(pool(_image(i))[0, 0, 0, 0]) for i in range(start, stop)]


def _pool(capacity=4, seed=3):
    pool = ImagePool(capacity, seed=seed)
    pool.build((None, 2, 2, 1))
    return pool


def test_fills_first_returning_the_new_images():
    pool = _pool(4)
    assert _query_values(pool, 0, 4) == [0.0, 1.0, 2.0, 3.0]
    assert int(pool.count.numpy()) == 4
    assert sorted(pool.images.numpy()[:, 0, 0, 0]) == [0.0, 1.0, 2.0, 3.0]


def test_full_pool_returns_a_stored_image_about_half_the_time_and_stores_the_new_one():
    pool = _pool(5, seed=11)
    _query_values(pool, 0, 5)
    query = tf.function(lambda images: pool(images))
    queries = 200
    returned_old = 0
    for i in range(5, 5 + queries):
        before = set(pool.images.numpy()[:, 0, 0, 0].tolist())
        out = float(query(_image(i))[0, 0, 0, 0])
        after = pool.images.numpy()[:, 0, 0, 0].tolist()
        if out != i:
            returned_old += 1
            assert out in before and i in after and out not in after  # swapped in place
        else:
            assert set(after) == before  # pool unchanged
    assert 0.38 < returned_old / queries < 0.62
    assert int(pool.count.numpy()) == 5 and int(pool.draws.numpy()) == 5 + queries


def test_same_seed_same_sequence_other_seed_other_sequence():
    first = _query_values(_pool(seed=1), 0, 24)
    assert first == _query_values(_pool(seed=1), 0, 24)
    assert first != _query_values(_pool(seed=2), 0, 24)


def test_batch_query_in_a_traced_function_equals_one_image_at_a_time():
    eager = _pool(seed=5)
    expected = _query_values(eager, 0, 12)
    traced = _pool(seed=5)
    query = tf.function(lambda images: traced(images))
    batch = np.concatenate([_image(i) for i in range(12)])
    np.testing.assert_array_equal(query(batch[:6]).numpy()[:, 0, 0, 0], expected[:6])
    np.testing.assert_array_equal(query(batch[6:]).numpy()[:, 0, 0, 0], expected[6:])


def test_capacity_zero_returns_the_input():
    pool = _pool(0)
    np.testing.assert_array_equal(pool(_image(7, batch=3)), _image(7, batch=3))


def test_checkpoint_restore_continues_exactly(tmp_path):
    reference = _pool(seed=9)
    _query_values(reference, 0, 10)
    expected = _query_values(reference, 10, 30)

    interrupted = _pool(seed=9)
    _query_values(interrupted, 0, 10)
    path = tf.train.Checkpoint(pool=list(interrupted.variables)).save(str(tmp_path / "ckpt"))
    restored = _pool(seed=9)
    tf.train.Checkpoint(pool=list(restored.variables)).restore(path).assert_consumed()
    assert int(restored.count.numpy()) == 4 and int(restored.draws.numpy()) == 10
    assert _query_values(restored, 10, 30) == expected


def test_each_replica_keeps_its_own_history():
    strategy = two_cpu_strategy()
    with strategy.scope():
        pool = _pool(2, seed=0)

    @tf.function
    def step(images):
        return strategy.run(pool, args=(images,))

    def per_replica(offset):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: _image(offset + 100 * ctx.replica_id_in_sync_group))

    for offset in range(6):
        step(per_replica(offset))
    local = [v.numpy()[:, 0, 0, 0] for v in pool.images.value.values]
    assert set(local[0]) <= set(range(0, 6)) and set(local[1]) <= set(range(100, 106))
    with pytest.raises(ValueError, match="fully known image shape"):
        ImagePool(2).build((None, None, 2, 1))
