"""The perceptual path length's pieces: slerp and lerp, the percentile filter, and the distances of a tiny
generator (finite, non-negative, reproducible from the seed, in W and in Z)."""

import numpy as np
import pytest

from apps.stylegan import path_length
from apps.stylegan.model import build_model
from tests.apps.stylegan.test_model import CONFIG


def test_slerp_follows_the_great_circle_and_lerp_the_line():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 4, 6))
    t = np.array([[0.0], [0.25], [1.0], [0.5]])
    s = path_length.slerp(a, b, t)
    np.testing.assert_allclose(np.linalg.norm(s, axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(s[0], a[0] / np.linalg.norm(a[0]), rtol=1e-12)
    np.testing.assert_allclose(s[2], b[2] / np.linalg.norm(b[2]), rtol=1e-12, atol=1e-12)
    unit_a, unit_b = a[1] / np.linalg.norm(a[1]), b[1] / np.linalg.norm(b[1])
    angle = np.arccos(np.dot(unit_a, unit_b))
    assert np.arccos(np.dot(s[1], unit_a)) == pytest.approx(0.25 * angle, rel=1e-9)
    np.testing.assert_allclose(path_length.lerp(a, b, t), a + t * (b - a), rtol=0)


def test_the_mean_drops_the_distances_below_the_1st_and_above_the_99th_percentile():
    distances = np.arange(1, 201, dtype=np.float64)  # 1 .. 200: the 1st percentile is 2, the 99th 199
    result = path_length.perceptual_path_length(distances)
    assert result["kept"] == 198 and result["samples"] == 200
    assert result["ppl"] == pytest.approx(np.mean(np.arange(2, 200)))


def test_distances_of_a_tiny_generator():
    generator = build_model(CONFIG).generator
    generator.set_resolution(16)

    def embed(images):
        return np.asarray(images).reshape(len(images), -1)

    first = path_length.path_distances(generator, embed, num_samples=5, batch_size=2, seed=3)
    again = path_length.path_distances(generator, embed, num_samples=5, batch_size=2, seed=3)
    assert first.shape == (5,) and np.all(np.isfinite(first)) and np.all(first >= 0)
    np.testing.assert_array_equal(first, again)
    z_space = path_length.path_distances(generator, embed, num_samples=2, batch_size=2, space="z", seed=3)
    assert np.all(np.isfinite(z_space))
    with pytest.raises(ValueError, match="space"):
        path_length.path_distances(generator, embed, num_samples=1, space="x")
