"""The truncation trick's sampler against the truncated normal's known moments (common/nn/truncation.py)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.nn import truncation


def truncated_variance(psi):
    """Variance of N(0, 1) conditioned on [-psi, psi]: 1 - 2 psi phi(psi) / (2 Phi(psi) - 1)."""
    density = math.exp(-psi * psi / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(psi / math.sqrt(2))
    return 1 - 2 * psi * density / mass


@pytest.mark.parametrize("psi", [0.25, 1.0, 2.0])
def test_values_within_psi_with_the_truncated_normal_moments(psi):
    n = 200_000
    z = truncation.truncated_normal([n // 100, 100], psi, seed=3).numpy()
    assert z.shape == (n // 100, 100) and z.dtype == np.float32
    assert np.all(np.abs(z) <= psi)
    # Resampled, not clipped: no mass piles up on the boundary (clipping at psi = 1 would put 32% there).
    assert np.mean(np.abs(z) >= psi * (1 - 1e-3)) < 0.01
    # Mean 0 and the truncated variance, within 5 standard errors (the variance's is sqrt(2/n) at most).
    variance = truncated_variance(psi)
    assert abs(z.mean()) < 5 * math.sqrt(variance / n)
    assert abs(z.var() - variance) < 5 * math.sqrt(2 / n) * variance
    # Symmetric: as many positive as negative values.
    assert abs(np.mean(z > 0) - 0.5) < 5 * 0.5 / math.sqrt(n)


def test_large_psi_leaves_standard_normal_samples():
    z = truncation.truncated_normal([1000, 64], 100.0, seed=[5, 9])
    np.testing.assert_array_equal(z.numpy(), tf.random.stateless_normal([1000, 64], seed=[5, 9]).numpy())
    values = z.numpy()
    n = values.size
    assert abs(values.mean()) < 5 / math.sqrt(n)
    assert abs(values.var() - 1.0) < 5 * math.sqrt(2 / n)
    assert np.max(np.abs(values)) > 3.0  # tails kept


def test_reproducible_with_a_fixed_seed():
    a = truncation.truncated_normal([64, 8], 0.5, seed=7).numpy()
    b = truncation.truncated_normal([64, 8], 0.5, seed=7).numpy()
    np.testing.assert_array_equal(a, b)
    # An integer seed s is the pair [s, 0], as in the exported sample signatures.
    np.testing.assert_array_equal(a, truncation.truncated_normal([64, 8], 0.5, seed=tf.constant([7, 0])).numpy())
    assert not np.array_equal(a, truncation.truncated_normal([64, 8], 0.5, seed=8).numpy())
    # The first rows do not depend on how many rows are drawn.
    np.testing.assert_array_equal(truncation.truncated_normal([16, 8], 0.5, seed=7).numpy(), a[:16])
    # A seed generator with the same seed gives the same draws, and advances between calls.
    first = [truncation.truncated_normal([4, 8], 0.5, seed=keras.random.SeedGenerator(11)).numpy() for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    generator = keras.random.SeedGenerator(11)
    one = truncation.truncated_normal([4, 8], 0.5, seed=generator).numpy()
    two = truncation.truncated_normal([4, 8], 0.5, seed=generator).numpy()
    np.testing.assert_array_equal(one, first[0])
    assert not np.array_equal(one, two)
    assert np.all(np.abs(two) <= 0.5)


@pytest.mark.parametrize("psi", [0.0, -1.0, float("nan")])
def test_non_positive_psi_is_refused(psi):
    with pytest.raises(ValueError, match="psi must be > 0"):
        truncation.truncated_normal([2, 3], psi, seed=0)
    with pytest.raises(ValueError, match="psi must be > 0"):
        truncation.truncated_normal([2, 3], tf.constant(psi), seed=0)


def test_in_a_traced_signature_and_a_saved_model(tmp_path):
    class Sampler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.int32),
                                      tf.TensorSpec([], tf.float32)])
        def sample(self, seed, count, psi):
            return {"z": truncation.truncated_normal(tf.stack([count, 16]), psi, seed)}

    sampler = Sampler()
    traced = sampler.sample(tf.constant(4, tf.int64), tf.constant(32), tf.constant(0.7))["z"].numpy()
    eager = truncation.truncated_normal([32, 16], 0.7, seed=4).numpy()
    np.testing.assert_array_equal(traced, eager)
    tf.saved_model.save(sampler, str(tmp_path / "sampler"))
    loaded = tf.saved_model.load(str(tmp_path / "sampler"))
    served = loaded.signatures["serving_default"](seed=tf.constant(4, tf.int64), count=tf.constant(32),
                                                  psi=tf.constant(0.7))["z"].numpy()
    np.testing.assert_array_equal(served, eager)
    with pytest.raises(tf.errors.InvalidArgumentError, match="psi must be > 0"):
        loaded.sample(tf.constant(4, tf.int64), tf.constant(2), tf.constant(0.0))


def test_seed_generator_inside_a_compiled_function():
    generator = keras.random.SeedGenerator(2)

    @tf.function
    def draw():
        return truncation.truncated_normal([8, 4], 1.5, seed=generator)

    a, b = draw().numpy(), draw().numpy()
    assert np.all(np.abs(a) <= 1.5) and np.all(np.abs(b) <= 1.5)
    assert not np.array_equal(a, b)
