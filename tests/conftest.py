"""Test-session setup shared by every test.

TensorFlow reads its logging level and device layout once, at import, so both
are fixed here before any test module imports it: two logical CPU devices let
the distribution tests run a MirroredStrategy on a machine without GPUs.

Numeric comparisons follow the rule in tests/tolerances.py: exact only where both
sides are the same computation by construction, otherwise a tolerance derived from
what is compared, so that the suite passes on any x86-64 CPU with oneDNN on or off
and any thread count.
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
