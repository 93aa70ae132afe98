"""Reference statistics cache: reuse, invalidation by network / resize / dataset, safe file formats."""

import json
import os

import keras
import numpy as np
import pytest

from common.evaluation import feature_networks
from common.evaluation import reference_stats


def _extractor(name="tiny", antialias=False):
    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    return feature_networks.FeatureExtractor(keras.Model(inputs, flat), name=name, input_size=(4, 4),
                                             antialias=antialias, channels=1)


_IMAGES = np.random.default_rng(0).uniform(-1, 1, size=(12, 4, 4, 1)).astype(np.float32)
_LABELS = np.arange(12) % 2


class _CountingBatches:
    """Iterable of (images, labels) batches that counts how often it is read."""

    def __init__(self):
        self.reads = 0

    def __iter__(self):
        self.reads += 1
        for start in range(0, 12, 5):
            yield _IMAGES[start:start + 5], _LABELS[start:start + 5]


def test_computed_stats_are_cached_and_reused(tmp_path):
    batches, extractor = _CountingBatches(), _extractor()
    stats, reused = reference_stats.get_reference_stats(batches, extractor, 12, dataset_checksum="sum1",
                                                        cache_dir=str(tmp_path))
    assert not reused and batches.reads == 1
    flat = _IMAGES.reshape(12, 16).astype(np.float64)
    np.testing.assert_allclose(stats.mean, flat.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats.cov, np.cov(flat, rowvar=False), rtol=1e-5, atol=1e-7)
    again, reused = reference_stats.get_reference_stats(batches, extractor, 12, dataset_checksum="sum1",
                                                        cache_dir=str(tmp_path))
    assert reused and batches.reads == 1
    np.testing.assert_array_equal(again.cov, stats.cov)
    np.testing.assert_array_equal(again.features, stats.features)
    np.testing.assert_array_equal(again.labels, _LABELS)
    assert (again.network, again.resize, again.count) == ("tiny", extractor.resize, 12)
    # The stored files are plain arrays and JSON: loadable without pickle.
    npz_files = [f for f in os.listdir(tmp_path) if f.endswith(".npz")]
    assert len(npz_files) == 1
    with np.load(tmp_path / npz_files[0], allow_pickle=False) as archive:
        assert set(archive.files) == {"mean", "cov", "features", "labels"}


@pytest.mark.parametrize("change", [
    {"network": "other-net"},
    {"antialias": True},           # another resize method
    {"dataset_checksum": "sum2"},  # the dataset was rebuilt
    {"num_samples": 10},
])
def test_cache_is_not_reused_across_networks_resizes_or_datasets(tmp_path, change):
    reference_stats.get_reference_stats(_CountingBatches(), _extractor(), 12, dataset_checksum="sum1",
                                        cache_dir=str(tmp_path))
    extractor = _extractor(name=change.get("network", "tiny"), antialias=change.get("antialias", False))
    batches = _CountingBatches()
    stats, reused = reference_stats.get_reference_stats(
        batches, extractor, change.get("num_samples", 12), dataset_checksum=change.get("dataset_checksum", "sum1"),
        cache_dir=str(tmp_path))
    assert not reused and batches.reads == 1
    assert stats.resize == extractor.resize and stats.network == extractor.name


def test_entry_whose_metadata_disagrees_is_ignored(tmp_path):
    extractor = _extractor()
    reference_stats.get_reference_stats(_CountingBatches(), extractor, 12, dataset_checksum="sum1",
                                        cache_dir=str(tmp_path))
    (json_file,) = [tmp_path / f for f in os.listdir(tmp_path) if f.endswith(".json")]
    meta = json.loads(json_file.read_text())
    meta["resize"] = "PIL bicubic 299x299"
    json_file.write_text(json.dumps(meta))
    assert reference_stats.load_reference_stats(str(tmp_path), dataset_checksum="sum1", network="tiny",
                                                resize=extractor.resize, split="train", num_samples=12) is None


def test_moments_only_entry_is_not_used_when_rows_are_needed(tmp_path):
    extractor = _extractor()
    stats, _ = reference_stats.get_reference_stats(_CountingBatches(), extractor, 12, dataset_checksum="sum1",
                                                   cache_dir=str(tmp_path), keep_features=False)
    assert stats.features is None
    _, reused = reference_stats.get_reference_stats(_CountingBatches(), extractor, 12, dataset_checksum="sum1",
                                                    cache_dir=str(tmp_path), keep_features=True)
    assert not reused


def test_dataset_checksum_is_sha256_of_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text('{"schema_version": 1}')
    import hashlib
    expected = hashlib.sha256(b'{"schema_version": 1}').hexdigest()
    assert reference_stats.dataset_checksum(str(tmp_path)) == expected
    assert reference_stats.dataset_checksum(str(tmp_path / "manifest.json")) == expected
    with pytest.raises(reference_stats.ReferenceStatsError, match="manifest.json"):
        reference_stats.dataset_checksum(str(tmp_path / "shards-*.tfrecord"))
