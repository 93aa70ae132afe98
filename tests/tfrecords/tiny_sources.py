"""Tiny sources made on the fly, and a reader that decodes built shards with tf.data."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import tensorflow as tf
from PIL import Image

from tfrecords import schema


def save_image(path, pixels: np.ndarray, **save_args) -> np.ndarray:
    """Saves a uint8 array as an image file (format from the extension); returns the array."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path, **save_args)
    return pixels


def random_pixels(rng: np.random.Generator, height: int, width: int, channels: int | None = 3) -> np.ndarray:
    shape = (height, width) if channels is None else (height, width, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def write_idx(path: str, array: np.ndarray, magic: int) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def shard_files(manifest: dict, folder: str, split: str) -> list[str]:
    return [os.path.join(folder, s["file"]) for s in manifest["splits"][split]["shards"]]


def read_split(manifest_path: str, split: str = "train") -> list[dict]:
    """Every example of a split, in shard order, decoded with tf.data and schema.feature_spec()."""
    manifest = schema.read_manifest(manifest_path)
    return read_files(shard_files(manifest, os.path.dirname(manifest_path), split))


def read_files(files: list[str]) -> list[dict]:
    """Every example of the shard files, in order, decoded with tf.data and schema.feature_spec()."""
    spec = schema.feature_spec()
    dataset = tf.data.TFRecordDataset(files).map(lambda record: tf.io.parse_single_example(record, spec))
    examples = []
    for parsed in dataset:
        image = tf.io.decode_image(parsed[schema.IMAGE_ENCODED], channels=int(parsed[schema.IMAGE_CHANNELS]),
                                   expand_animations=False).numpy()
        assert image.shape == (int(parsed[schema.IMAGE_HEIGHT]), int(parsed[schema.IMAGE_WIDTH]),
                               int(parsed[schema.IMAGE_CHANNELS]))
        examples.append({
            "image": image,
            "format": parsed[schema.IMAGE_FORMAT].numpy().decode(),
            "source_id": parsed[schema.SOURCE_ID].numpy().decode(),
            "label": int(parsed[schema.LABEL]),
            "domain": int(parsed[schema.DOMAIN]),
            "captions": [c.decode() for c in tf.sparse.to_dense(parsed[schema.CAPTION]).numpy().tolist()],
        })
    return examples


def by_source(examples: list[dict]) -> dict[str, dict]:
    return {e["source_id"]: e for e in examples}


def as_hwc(pixels: np.ndarray) -> np.ndarray:
    return pixels[..., None] if pixels.ndim == 2 else pixels


def paired_pixels(index: int, size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Pair `index` of a paired source whose pairing shows in the pixels: (A, B) uint8 [size, size, 3].

    A's channel 0 is the constant `index` (it survives crops and flips); its
    other channels are random (seeded by `index`), so crops and flips move
    them. B is A's exact inverse, 255 - A.
    """
    rng = np.random.default_rng(1000 + index)
    a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    a[..., 0] = index
    return a, 255 - a


def write_paired_domains(root, count: int, size: int = 12, b_extension: str = ".bmp") -> None:
    """Folders `root/a/NNN.png` and `root/b/NNN<b_extension>` holding the pairs `paired_pixels(0..count-1)`."""
    for index in range(count):
        a, b = paired_pixels(index, size)
        save_image(os.path.join(root, "a", f"{index:03d}.png"), a)
        save_image(os.path.join(root, "b", f"{index:03d}{b_extension}"), b)
