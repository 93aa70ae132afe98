"""The one record schema every dataset of the suite is written in.

A dataset is a folder holding sharded TFRecord files and a JSON manifest:

    <folder>/manifest.json
    <folder>/<name>-<split>-00000-of-000NN.tfrecord

Every record is a `tf.train.Example` with the feature keys below, named in the
style of the TF Model Garden decoders. Optional features are simply absent from
a record that has no such information; readers fill in the documented default.

| key                  | type        | meaning                                         |
|----------------------|-------------|-------------------------------------------------|
| `image/encoded`      | bytes       | the image, PNG (lossless) or JPEG encoded       |
| `image/format`       | bytes       | `png` or `jpeg`                                 |
| `image/height`       | int64       | height in pixels of the stored image            |
| `image/width`        | int64       | width in pixels of the stored image             |
| `image/channels`     | int64       | 1 (grayscale), 3 (RGB) or 4 (RGBA)              |
| `image/source_id`    | bytes       | where the image came from (relative path, or    |
|                      |             | `file#index` for array sources)                 |
| `image/class/label`  | int64       | class index into the manifest's `labels`        |
|                      |             | (optional; readers use -1 when absent)          |
| `image/domain`       | int64       | domain index into the manifest's `domains`      |
|                      |             | (optional; readers use -1 when absent)          |
| `image/caption`      | bytes list  | one or more UTF-8 captions (optional)           |

The manifest's `schema_version` says which version of this table a dataset was
written with. Readers refuse datasets from a newer version than they know.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Iterable, Mapping, Sequence

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
SHARD_SUFFIX = ".tfrecord"

IMAGE_ENCODED = "image/encoded"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_CHANNELS = "image/channels"
SOURCE_ID = "image/source_id"
LABEL = "image/class/label"
DOMAIN = "image/domain"
CAPTION = "image/caption"

IMAGE_FORMATS = ("png", "jpeg")
CHANNEL_COUNTS = (1, 3, 4)
MISSING_INDEX = -1

_SHARD_RE = re.compile(r"^(?P<name>.+)-(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.tfrecord$")


def shard_filename(name: str, split: str, index: int, count: int) -> str:
    """`<name>-<split>-00000-of-000NN.tfrecord` for shard `index` of `count`."""
    if not 0 <= index < count:
        raise ValueError(f"Shard index {index} is outside 0..{count - 1}.")
    return f"{name}-{split}-{index:05d}-of-{count:05d}{SHARD_SUFFIX}"


def parse_shard_filename(filename: str) -> dict[str, Any] | None:
    """The parts of a shard file name, or None if it does not follow the pattern."""
    match = _SHARD_RE.match(os.path.basename(filename))
    if not match:
        return None
    return {
        "name": match["name"],
        "split": match["split"],
        "index": int(match["index"]),
        "count": int(match["count"]),
    }


def _bytes_feature(values: Iterable[bytes]):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int64_feature(values: Iterable[int]):
    import tensorflow as tf

    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def make_example(
    encoded: bytes,
    image_format: str,
    height: int,
    width: int,
    channels: int,
    source_id: str,
    label: int | None = None,
    domain: int | None = None,
    captions: Sequence[str] | None = None,
) -> bytes:
    """One serialized `tf.train.Example` in this schema."""
    import tensorflow as tf

    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}.")
    if channels not in CHANNEL_COUNTS:
        raise ValueError(f"channels must be one of {CHANNEL_COUNTS}, got {channels}.")
    feature = {
        IMAGE_ENCODED: _bytes_feature([encoded]),
        IMAGE_FORMAT: _bytes_feature([image_format.encode()]),
        IMAGE_HEIGHT: _int64_feature([height]),
        IMAGE_WIDTH: _int64_feature([width]),
        IMAGE_CHANNELS: _int64_feature([channels]),
        SOURCE_ID: _bytes_feature([source_id.encode("utf-8")]),
    }
    if label is not None:
        feature[LABEL] = _int64_feature([label])
    if domain is not None:
        feature[DOMAIN] = _int64_feature([domain])
    if captions:
        feature[CAPTION] = _bytes_feature([c.encode("utf-8") for c in captions])
    # The feature map's serialized order would follow Python's per-process string
    # hashing; deterministic serialization sorts the keys, so shard bytes (and
    # their checksums) are reproducible across processes.
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def feature_spec() -> dict:
    """The `tf.io.parse_single_example` spec for this schema, with defaults."""
    import tensorflow as tf

    return {
        IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string),
        IMAGE_FORMAT: tf.io.FixedLenFeature([], tf.string, default_value=b"png"),
        IMAGE_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        IMAGE_WIDTH: tf.io.FixedLenFeature([], tf.int64),
        IMAGE_CHANNELS: tf.io.FixedLenFeature([], tf.int64),
        SOURCE_ID: tf.io.FixedLenFeature([], tf.string, default_value=b""),
        LABEL: tf.io.FixedLenFeature([], tf.int64, default_value=MISSING_INDEX),
        DOMAIN: tf.io.FixedLenFeature([], tf.int64, default_value=MISSING_INDEX),
        CAPTION: tf.io.VarLenFeature(tf.string),
    }


class ManifestError(ValueError):
    """A manifest is missing, unreadable, or from a schema this code does not know."""


def read_manifest(path: str) -> dict:
    """Loads and validates a manifest, from its file or from the dataset folder."""
    if os.path.isdir(path):
        path = os.path.join(path, MANIFEST_NAME)
    if not os.path.exists(path):
        raise ManifestError(
            f"No manifest at {path}. Build the dataset with "
            "`python -m tfrecords.build --source=... --output=...`, or pass a shard glob."
        )
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ManifestError(f"Manifest {path} cannot be read as JSON ({error}); rebuild the dataset.") from error
    version = manifest.get("schema_version")
    if not isinstance(version, int):
        raise ManifestError(f"Manifest {path} has no integer schema_version; rebuild the dataset.")
    if version > SCHEMA_VERSION:
        raise ManifestError(
            f"Manifest {path} was written with schema version {version}, newer than the "
            f"version {SCHEMA_VERSION} this code reads. Update this code, or rebuild the dataset with it."
        )
    return manifest


def write_manifest(folder: str, manifest: Mapping[str, Any]) -> str:
    """Writes the manifest atomically (temporary file, then rename); returns its path."""
    path = os.path.join(folder, MANIFEST_NAME)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(dict(manifest), f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(temporary, path)
    return path
