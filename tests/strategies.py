"""Distribution strategies for tests, over the two logical CPUs of tests/conftest.py."""

import tensorflow as tf


def two_cpu_strategy() -> tf.distribute.MirroredStrategy:
    """MirroredStrategy over /cpu:0 and /cpu:1, with collective keys of its own.

    Strategies created in one process start their collective group and instance
    keys at the same values, so an all-reduce of one can be matched with another
    strategy's ("Shape mismatch in the collective instance"). Raising the key base
    before and after creation, as TensorFlow's strategy_combinations does, keeps
    this strategy's keys apart from earlier and later ones.
    """
    tf.distribute.MirroredStrategy._collective_key_base += 100000
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    tf.distribute.MirroredStrategy._collective_key_base += 100000
    return strategy
