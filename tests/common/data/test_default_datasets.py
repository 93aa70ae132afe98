"""Tests of common/data/default_datasets.py: offline datasets built once into the user cache."""

from __future__ import annotations

import os

import numpy as np
import pytest

from common.data import reader
from common.data import default_datasets
from tfrecords import schema


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def test_digits_built_on_first_use_and_reused(cache_home):
    folder = default_datasets.default_dataset("digits")
    assert folder == str(cache_home / "gansuite" / "datasets" / f"digits-v{default_datasets.VERSIONS['digits']}")
    info = reader.describe(folder)
    assert info.image_shape == (32, 32, 1)
    assert info.labels == [str(d) for d in range(10)]
    assert info.num_examples == {"train": 1617, "test": 180}
    manifest_path = os.path.join(folder, schema.MANIFEST_NAME)
    built_at = os.stat(manifest_path).st_mtime_ns
    shard_times = {f: os.stat(f).st_mtime_ns for f in info.files}

    assert default_datasets.default_dataset("digits") == folder
    assert os.stat(manifest_path).st_mtime_ns == built_at
    assert {f: os.stat(f).st_mtime_ns for f in info.files} == shard_times
    assert not [n for n in os.listdir(os.path.dirname(folder)) if n.startswith(".")], "no build leftovers"

    batch = next(iter(reader.load_dataset(None, batch_size=16, seed=0)))
    assert batch["image"].shape == (16, 32, 32, 1) and batch["label"].shape == (16,)
    assert set(batch) == {"image", "label"}


def test_digits_images_keep_the_source_digits():
    from sklearn.datasets import load_digits

    images, labels = default_datasets.digits_images()
    assert images.shape == (1797, 32, 32) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 255
    np.testing.assert_array_equal(labels, load_digits().target)
    # Each 32x32 image, averaged back over 4x4 blocks, follows its 8x8 source closely.
    sources = load_digits().images[:50].reshape(50, -1)
    pooled = images[:50].reshape(50, 8, 4, 8, 4).mean(axis=(2, 4)).reshape(50, -1)
    correlations = [np.corrcoef(a, b)[0, 1] for a, b in zip(sources, pooled)]
    assert min(correlations) > 0.95


def test_two_domain_holds_color_and_sepia(cache_home):
    folder = default_datasets.default_dataset("two_domain", crops_per_photo=2)
    info = reader.describe(folder)
    assert info.domains == ["color", "sepia"] and info.image_shape == (64, 64, 3)
    assert sum(info.num_examples.values()) == 2 * 2 * len(default_datasets.TWO_DOMAIN_PHOTOS)
    pairs = reader.load_unpaired(folder, batch_size=4, seed=0)
    batch = next(iter(pairs))
    sepia = (batch["b"].numpy() + 1.0) * 127.5
    # Sepia's matrix rows decrease elementwise, so red >= green >= blue in every pixel.
    assert np.all(sepia[..., 0] >= sepia[..., 1] - 1e-3) and np.all(sepia[..., 1] >= sepia[..., 2] - 1e-3)
    color = (batch["a"].numpy() + 1.0) * 127.5
    assert np.mean(color[..., 2] > color[..., 1]) > 0.05, "colour photos are not sepia"


def test_concurrent_publish_keeps_the_first_complete_dataset(tmp_path):
    first = str(tmp_path / "first")
    second = str(tmp_path / "second")
    for folder in (first, second):
        os.makedirs(folder)
        schema.write_manifest(folder, {"schema_version": schema.SCHEMA_VERSION, "splits": {}})
    final = str(tmp_path / "final")
    default_datasets._publish(first, final)
    default_datasets._publish(second, final)  # Another process finished first: no error, first kept.
    assert os.path.exists(os.path.join(final, schema.MANIFEST_NAME)) and not os.path.exists(first)


def test_unknown_family_says_which_exist(cache_home):
    with pytest.raises(ValueError, match="choose one of digits, two_domain"):
        default_datasets.default_dataset("faces")
