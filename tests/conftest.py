"""Test-session setup shared by every test.

TensorFlow reads its logging level and device layout once, at import, so both
are fixed here before any test module imports it: two logical CPU devices let
the distribution tests run a MirroredStrategy on a machine without GPUs.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0],
        [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
    )
except RuntimeError:  # Devices were initialised already by an earlier import.
    pass
