"""Cache of real-data feature statistics, keyed by everything that changes them.

FID compares generated samples with the Gaussian fit (mean, covariance) of the
real data's features, and KID / precision / recall / density / coverage need the
real feature rows themselves. Computing them is the slow half of an evaluation, so
they are stored once per dataset and reused.

Each entry is a pair of files in the cache folder:

- ``<key>.npz`` (written and read with ``allow_pickle=False``): ``mean`` [D] and
  ``cov`` [D, D] in float64, optionally ``features`` [N, D] float32 and ``labels`` [N].
- ``<key>.json``: ``count``, ``network``, ``resize``, ``dataset_checksum``, ``split``,
  ``num_samples``, and whether features/labels are stored.

``<key>`` is a sha256 over (dataset checksum, network name, resize method, split,
number of samples). An entry is used only when every one of these fields in its
JSON equals what is asked for; statistics from another feature network or another
resize are therefore never mixed in. The dataset checksum is the sha256 of the
dataset's manifest.json (`dataset_checksum`), so rebuilding the dataset
invalidates its entries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Iterable

import numpy as np

__all__ = [
    "ReferenceStatsError",
    "ReferenceStats",
    "dataset_checksum",
    "default_cache_dir",
    "cache_key",
    "save_reference_stats",
    "load_reference_stats",
    "compute_reference_stats",
    "get_reference_stats",
]

_KEY_FIELDS = ("dataset_checksum", "network", "resize", "split", "num_samples")


class ReferenceStatsError(ValueError):
    """Reference statistics cannot be computed or identified as asked."""


@dataclasses.dataclass
class ReferenceStats:
    """Feature statistics of `count` real images of one dataset split under one feature network."""

    mean: np.ndarray
    cov: np.ndarray
    count: int
    network: str
    resize: str
    dataset_checksum: str
    split: str
    num_samples: int
    features: np.ndarray | None = None
    labels: np.ndarray | None = None

    def key_fields(self) -> dict:
        return {field: getattr(self, field) for field in _KEY_FIELDS}


def dataset_checksum(data: str | None) -> str:
    """sha256 of the dataset's manifest.json (`data`: a dataset folder or manifest path; None = default)."""
    if data is None:
        from common.data import default_datasets

        data = default_datasets.default_dataset("digits")
    path = os.path.join(data, "manifest.json") if os.path.isdir(data) else data
    if not (os.path.isfile(path) and path.endswith(".json")):
        raise ReferenceStatsError(
            f"{data} is not a dataset folder with a manifest.json (nor a manifest path), so it has no checksum "
            "to key cached statistics on. Build it with `python -m tfrecords.build`, or pass dataset_checksum "
            "yourself (any string that changes when the data changes).")
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gansuite", "reference_stats")


def cache_key(*, dataset_checksum: str, network: str, resize: str, split: str, num_samples: int) -> str:
    fields = {"dataset_checksum": dataset_checksum, "network": network, "resize": resize, "split": split,
              "num_samples": int(num_samples)}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]
    return f"{split}-{int(num_samples)}-{digest}"


def _paths(cache_dir: str, key: str) -> tuple[str, str]:
    return os.path.join(cache_dir, key + ".npz"), os.path.join(cache_dir, key + ".json")


def save_reference_stats(stats: ReferenceStats, cache_dir: str | None = None) -> str:
    """Writes the entry (atomically, .npz first then .json) and returns the .npz path."""
    cache_dir = cache_dir or default_cache_dir()
    os.makedirs(cache_dir, exist_ok=True)
    npz_path, json_path = _paths(cache_dir, cache_key(**stats.key_fields()))
    arrays = {"mean": np.asarray(stats.mean, np.float64), "cov": np.asarray(stats.cov, np.float64)}
    if stats.features is not None:
        arrays["features"] = np.asarray(stats.features, np.float32)
    if stats.labels is not None:
        arrays["labels"] = np.asarray(stats.labels, np.int64)
    tmp = npz_path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, npz_path)
    meta = dict(stats.key_fields(), count=int(stats.count), has_features=stats.features is not None,
                has_labels=stats.labels is not None)
    with open(json_path + ".tmp", "w") as file:
        json.dump(meta, file, indent=2, sort_keys=True)
    os.replace(json_path + ".tmp", json_path)
    return npz_path


def load_reference_stats(cache_dir: str | None = None, *, dataset_checksum: str, network: str, resize: str,
                         split: str, num_samples: int, need_features: bool = False) -> ReferenceStats | None:
    """The cached entry matching every key field, or None (missing, mismatching or unreadable)."""
    cache_dir = cache_dir or default_cache_dir()
    wanted = {"dataset_checksum": dataset_checksum, "network": network, "resize": resize, "split": split,
              "num_samples": int(num_samples)}
    npz_path, json_path = _paths(cache_dir, cache_key(**wanted))
    if not (os.path.isfile(npz_path) and os.path.isfile(json_path)):
        return None
    try:
        with open(json_path) as file:
            meta = json.load(file)
        if any(meta.get(field) != value for field, value in wanted.items()):
            return None
        if need_features and not meta.get("has_features"):
            return None
        with np.load(npz_path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, KeyError):
        return None  # unreadable entries are recomputed
    return ReferenceStats(mean=arrays["mean"], cov=arrays["cov"], count=int(meta["count"]),
                          features=arrays.get("features"), labels=arrays.get("labels"), **wanted)


def compute_reference_stats(batches: Iterable[Any], feature_extractor, num_samples: int, *, dataset_checksum: str,
                            split: str = "train", keep_features: bool = True) -> ReferenceStats:
    """Streams `num_samples` real images from `batches` through `feature_extractor`."""
    extracted = feature_extractor.extract(batches, num_samples, keep_features=keep_features,
                                          keep_probabilities=False)
    return ReferenceStats(mean=extracted.mean, cov=extracted.cov, count=extracted.count,
                          network=feature_extractor.name, resize=feature_extractor.resize,
                          dataset_checksum=dataset_checksum, split=split, num_samples=int(num_samples),
                          features=extracted.features, labels=extracted.labels)


def get_reference_stats(batches: Iterable[Any], feature_extractor, num_samples: int, *, dataset_checksum: str,
                        split: str = "train", cache_dir: str | None = None,
                        keep_features: bool = True) -> tuple[ReferenceStats, bool]:
    """(stats, reused): the cached entry when one matches, else computed and cached."""
    cached = load_reference_stats(cache_dir, dataset_checksum=dataset_checksum, network=feature_extractor.name,
                                  resize=feature_extractor.resize, split=split, num_samples=num_samples,
                                  need_features=keep_features)
    if cached is not None:
        return cached, True
    stats = compute_reference_stats(batches, feature_extractor, num_samples, dataset_checksum=dataset_checksum,
                                    split=split, keep_features=keep_features)
    save_reference_stats(stats, cache_dir)
    return stats, False
