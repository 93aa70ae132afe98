"""CoGAN's two digit domains (apps/cogan/data.py): the transforms on hand-made images, the split, determinism."""

import numpy as np
import pytest
import tensorflow as tf

from apps.cogan.data import edge_map, invert, pair_dataset
from common.data.reader import DataError
from tests.common.data.test_reader import write_dataset


def to_signed(intensity):
    return np.asarray(intensity, np.float32) * 2.0 - 1.0


def test_edge_map_is_dilation_minus_image_by_hand():
    # Intensities in [0, 1]; 3x3 dilation where pixels outside the image do not count.
    image = np.array([[0.0, 0.5, 1.0, 0.0],
                      [0.0, 0.0, 0.0, 0.0]], np.float32)
    dilated = np.array([[0.5, 1.0, 1.0, 1.0],
                        [0.5, 1.0, 1.0, 1.0]], np.float32)
    expected = dilated - image  # [[0.5, 0.5, 0, 1], [0.5, 1, 1, 1]]
    np.testing.assert_allclose(expected, [[0.5, 0.5, 0.0, 1.0], [0.5, 1.0, 1.0, 1.0]])
    result = edge_map(to_signed(image)[None, :, :, None])
    np.testing.assert_allclose(result[0, :, :, 0], to_signed(expected), atol=1e-6)


def test_edge_map_of_a_dot_is_its_outline():
    image = np.zeros((5, 5, 1), np.float32)
    image[2, 2] = 1.0
    ring = np.zeros((5, 5), np.float32)
    ring[1:4, 1:4] = 1.0
    ring[2, 2] = 0.0  # the dot itself: dilation 1 minus image 1
    np.testing.assert_allclose(edge_map(to_signed(image))[..., 0], to_signed(ring), atol=1e-6)  # unbatched too
    blank = to_signed(np.ones((1, 4, 4, 3)))
    np.testing.assert_allclose(edge_map(blank), -np.ones((1, 4, 4, 3)))  # flat regions have no edge


def test_invert_by_hand():
    image = to_signed([[0.0, 0.25], [0.5, 1.0]])
    np.testing.assert_allclose(invert(image), to_signed([[1.0, 0.75], [0.5, 0.0]]), atol=1e-6)


def marker(images):
    """Pixel (0, 0) as the uint8 value written by write_dataset (the example index)."""
    return np.rint((np.asarray(images)[:, 0, 0, 0] + 1.0) * 127.5).astype(int)


def batches(dataset, count):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(count)]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("digits"))
    write_dataset(folder, count=12, size=(28, 28), num_shards=1)
    return folder


def test_halves_are_disjoint_and_domain_b_is_transformed(digits):
    dataset = pair_dataset(digits, pairing="invert", image_size=28, channels=1, batch_size=2, seed=7)
    seen = batches(dataset, 6)  # two passes over each half of 6 examples
    indices_a = np.concatenate([marker(b["image_a"]) for b in seen])
    indices_b = np.concatenate([255 - marker(b["image_b"]) for b in seen])  # invert back
    assert sorted(indices_a[:6]) == sorted(indices_a[6:]) == [0, 2, 4, 6, 8, 10]
    assert sorted(indices_b[:6]) == sorted(indices_b[6:]) == [1, 3, 5, 7, 9, 11]
    assert list(indices_a[:6]) != list(indices_a[6:]) or list(indices_b[:6]) != list(indices_b[6:])  # reshuffled
    assert seen[0]["image_a"].shape == seen[0]["image_b"].shape == (2, 28, 28, 1)


def test_edge_pairing_applies_the_edge_map(digits):
    plain = pair_dataset(digits, pairing="invert", image_size=28, channels=1, batch_size=3, seed=1)
    edges = pair_dataset(digits, pairing="edge", image_size=28, channels=1, batch_size=3, seed=1)
    for p, e in zip(batches(plain, 2), batches(edges, 2)):
        np.testing.assert_array_equal(p["image_a"], e["image_a"])
        np.testing.assert_allclose(e["image_b"], edge_map(-p["image_b"]).numpy(), atol=1e-6)


def test_same_seed_same_batches_and_resize(digits):
    first = batches(pair_dataset(digits, pairing="edge", image_size=32, channels=1, batch_size=4, seed=3), 3)
    second = batches(pair_dataset(digits, pairing="edge", image_size=32, channels=1, batch_size=4, seed=3), 3)
    other = batches(pair_dataset(digits, pairing="edge", image_size=32, channels=1, batch_size=4, seed=4), 3)
    for a, b in zip(first, second):
        for key in ("image_a", "image_b"):
            np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a["image_a"], c["image_a"]) for a, c in zip(first, other))
    assert first[0]["image_a"].shape == (4, 32, 32, 1)


def test_input_pipelines_split_each_domain(digits):
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                             num_replicas_in_sync=2)
        dataset = pair_dataset(digits, pairing="invert", image_size=28, channels=1, batch_size=3, seed=0,
                               input_context=context)
        seen.append(set(marker(batches(dataset, 1)[0]["image_a"])))
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == {0, 2, 4, 6, 8, 10}


def test_too_small_or_bad_requests_are_refused(tmp_path):
    folder = str(tmp_path / "one")
    write_dataset(folder, count=1, size=(28, 28), num_shards=1)
    with pytest.raises(DataError, match="needs at least 2"):
        pair_dataset(folder, pairing="edge", image_size=28, channels=1, batch_size=1, seed=0)
    with pytest.raises(DataError, match="pairing must be one of edge, invert"):
        pair_dataset(folder, pairing="blur", image_size=28, channels=1, batch_size=1, seed=0)
