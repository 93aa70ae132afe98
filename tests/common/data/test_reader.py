"""Tests of common/data/reader.py, the tf.data reader, on tiny datasets written here.

Datasets are written directly with `tfrecords.schema` (make_example,
TFRecordWriter, write_manifest), so these tests depend on the schema only.
Every image encodes where it came from in its pixels: pixel (0, 0) holds the
example index and pixel (0, 1) its domain, so order, coverage and pairing can
be checked from the output alone.
"""

from __future__ import annotations

import logging
import os
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from common.data import reader
from tfrecords import schema
from tests.tolerances import reduction_rtol


def _image(index: int, size=(8, 8), channels=1, domain=0) -> np.ndarray:
    """A deterministic, left-right asymmetric uint8 image that names its example."""
    height, width = size
    rng = np.random.default_rng(index)
    image = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    image[0, 0, :] = index
    image[0, 1, :] = domain
    image[-1, 0, :] = 0
    image[-1, -1, :] = 255
    return image


def write_dataset(
    folder,
    count=12,
    *,
    size=(8, 8),
    channels=1,
    num_shards=2,
    labels=None,
    domains=None,
    captions=False,
    splits=("train",),
    sizes=None,
    image_format="png",
    name="toy",
    schema_version=schema.SCHEMA_VERSION,
) -> dict:
    """Writes a small dataset in the record schema; returns {split: [uint8 images in index order]}."""
    os.makedirs(folder, exist_ok=True)
    written, manifest_splits = {}, {}
    for split in splits:
        images = []
        for i in range(count):
            image_size = sizes[i % len(sizes)] if sizes else size
            domain = (i % 2) if domains else 0
            images.append(_image(i, image_size, channels, domain))
        shards = []
        for shard in range(num_shards):
            filename = schema.shard_filename(name, split, shard, num_shards)
            path = os.path.join(folder, filename)
            indices = list(range(shard, count, num_shards))
            with tf.io.TFRecordWriter(path) as writer:
                for i in indices:
                    image = images[i]
                    if image_format == "png":
                        encoded = tf.io.encode_png(image).numpy()
                    else:
                        encoded = tf.io.encode_jpeg(image, quality=100).numpy()
                    writer.write(
                        schema.make_example(
                            encoded,
                            image_format,
                            image.shape[0],
                            image.shape[1],
                            channels,
                            f"{split}#{i}",
                            label=(i % len(labels)) if labels else None,
                            domain=(i % 2) if domains else None,
                            captions=[f"caption {i} one", f"caption {i} two"] if captions else None,
                        )
                    )
            shards.append({"file": filename, "count": len(indices), "sha256": reader._sha256(path)})
        heights = [im.shape[0] for im in images]
        widths = [im.shape[1] for im in images]
        uniform = len(set(zip(heights, widths))) == 1
        manifest_splits[split] = {"count": count, "per_class": None, "per_domain": None, "shards": shards}
        written[split] = images
    schema.write_manifest(
        folder,
        {
            "schema_version": schema_version,
            "name": name,
            "created": "2026-11-23T12:00:00Z",
            "source": {"kind": "npz", "path": "test"},
            "builder_args": {},
            "image": {
                "channels": channels,
                "format": image_format,
                "height": heights[0] if uniform else None,
                "width": widths[0] if uniform else None,
                "resize_policy": "keep",
                "min_height": min(heights),
                "max_height": max(heights),
                "min_width": min(widths),
                "max_width": max(widths),
            },
            "labels": list(labels) if labels else None,
            "domains": list(domains) if domains else None,
            "has_captions": captions,
            "splits": manifest_splits,
            "skipped": [],
        },
    )
    return written


def _collect(dataset, batches=None):
    """Concatenates the batches of `dataset` (all, or the first `batches`) to numpy."""
    out = {}
    for i, batch in enumerate(dataset):
        if batches is not None and i >= batches:
            break
        for key, value in batch.items():
            out.setdefault(key, []).append(np.atleast_1d(value.numpy()) if value.shape.rank == 0 else value.numpy())
    unbatched = dataset.element_spec["image" if "image" in dataset.element_spec else "a"].shape.rank == 3
    combine = np.stack if unbatched else np.concatenate
    return {k: (np.concatenate(v) if v[0].ndim == 1 and unbatched else combine(v)) for k, v in out.items()}


def _indices(images: np.ndarray) -> list:
    """Example indices encoded in pixel (0, 0) of float images in [-1, 1]."""
    return [int(round((v + 1.0) * 127.5)) for v in images[:, 0, 0, 0]]


def _to_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) * np.float32(1.0 / 127.5) - np.float32(1.0)


@pytest.fixture
def toy(tmp_path):
    folder = str(tmp_path / "toy")
    images = write_dataset(folder, count=12, channels=1, splits=("train", "test"))
    return folder, images


# ---------------------------------------------------------------- values and features


def test_round_trip_is_pixel_exact_and_in_range(toy):
    folder, images = toy
    out = _collect(reader.load_dataset(folder, batch_size=4, shuffle=False, repeat=False, seed=0))
    assert out["image"].dtype == np.float32 and out["image"].shape == (12, 8, 8, 1)
    by_index = dict(zip(_indices(out["image"]), out["image"]))
    assert sorted(by_index) == list(range(12))
    for i, image in enumerate(images["train"]):
        np.testing.assert_array_equal(by_index[i], _to_float(image))
    assert out["image"].min() == -1.0 and out["image"].max() == 1.0  # pixel 0 and 255 exist
    assert set(out) == {"image"}  # no labels, domains or captions in this dataset


def test_static_shapes_and_unbatched(toy):
    folder, _ = toy
    batched = reader.load_dataset(folder, batch_size=4)
    assert batched.element_spec["image"].shape.as_list() == [4, 8, 8, 1]
    single = reader.load_dataset(folder, batch_size=None, shuffle=False, repeat=False)
    assert single.element_spec["image"].shape.as_list() == [8, 8, 1]
    assert sum(1 for _ in single) == 12


def test_labels_domains_captions_present_only_when_stored(tmp_path):
    folder = str(tmp_path / "rich")
    write_dataset(folder, count=8, labels=["cat", "dog", "eel"], domains=["A", "B"], captions=True)
    out = _collect(reader.load_dataset(folder, batch_size=8, shuffle=False, repeat=False, seed=1))
    assert set(out) == {"image", "label", "domain", "caption"}
    indices = _indices(out["image"])
    assert out["label"].dtype == np.int32 and out["domain"].dtype == np.int32
    assert list(out["label"]) == [i % 3 for i in indices]
    assert list(out["domain"]) == [i % 2 for i in indices]
    for i, caption in zip(indices, out["caption"]):
        assert caption.decode() in (f"caption {i} one", f"caption {i} two")
    info = reader.describe(folder)
    assert info.labels == ["cat", "dog", "eel"] and info.domains == ["A", "B"] and info.has_captions
    assert info.image_shape == (8, 8, 1) and info.num_examples == {"train": 8}

    only_labels = str(tmp_path / "labels")
    write_dataset(only_labels, count=4, labels=["x", "y"])
    spec = reader.load_dataset(only_labels, batch_size=2).element_spec
    assert set(spec) == {"image", "label"}


def test_domain_filter(tmp_path):
    folder = str(tmp_path / "two")
    write_dataset(folder, count=12, domains=["apple", "orange"])
    out = _collect(reader.load_dataset(folder, batch_size=None, repeat=False, domain="orange", seed=0))
    assert set(out["domain"]) == {1} and sorted(_indices(out["image"])) == [1, 3, 5, 7, 9, 11]
    with pytest.raises(reader.DataError, match="domains are"):
        reader.load_dataset(folder, domain="pear")


# ---------------------------------------------------------------- geometry and channels


def test_resize_crop_and_flip_shapes(toy):
    folder, _ = toy
    assert reader.load_dataset(folder, batch_size=2, image_size=4).element_spec["image"].shape == (2, 4, 4, 1)
    wide = next(iter(reader.load_dataset(folder, batch_size=2, image_size=(4, 2))))["image"]
    assert wide.shape == (2, 4, 2, 1)
    jitter = reader.load_dataset(folder, batch_size=3, random_crop_from=10, image_size=8, random_flip=True, seed=3)
    batch = next(iter(jitter))["image"]
    assert batch.shape == (3, 8, 8, 1)
    assert float(tf.reduce_min(batch)) >= -1.0 and float(tf.reduce_max(batch)) <= 1.0


def test_flip_gives_original_or_mirror_and_both_occur(toy):
    folder, images = toy
    out = _collect(reader.load_dataset(folder, batch_size=4, random_flip=True, seed=7, shuffle=False), batches=6)
    flipped = 0
    for image in out["image"]:
        original = None
        for candidate in images["train"]:
            as_float = _to_float(candidate)
            if np.array_equal(image, as_float):
                original = True
            elif np.array_equal(image, as_float[:, ::-1]):
                original = False
        assert original is not None, "every output is a stored image or its mirror"
        flipped += not original
    assert 0 < flipped < len(out["image"])


def test_uneven_sizes_need_image_size(tmp_path):
    folder = str(tmp_path / "mixed")
    write_dataset(folder, count=6, sizes=[(8, 8), (6, 10)])
    with pytest.raises(reader.DataError, match="image_size"):
        reader.load_dataset(folder)
    out = _collect(reader.load_dataset(folder, image_size=(4, 4), batch_size=6, repeat=False, shuffle=False))
    assert out["image"].shape == (6, 4, 4, 1)


def test_channel_conversion(tmp_path):
    gray = str(tmp_path / "gray")
    write_dataset(gray, count=4, channels=1)
    rgb = _collect(reader.load_dataset(gray, channels=3, batch_size=4, repeat=False, seed=0))["image"]
    assert rgb.shape == (4, 8, 8, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])

    color = str(tmp_path / "color")
    images = write_dataset(color, count=4, channels=3)["train"]
    out = _collect(reader.load_dataset(color, channels=1, batch_size=4, repeat=False, shuffle=False, seed=0))
    assert out["image"].shape == (4, 8, 8, 1)
    expected = np.stack([tf.image.rgb_to_grayscale(im).numpy() for im in images])
    by_index = {i: im for i, im in enumerate(expected)}
    for image in out["image"]:
        index = [i for i, e in by_index.items() if np.array_equal(_to_float(e), image)]
        assert len(index) == 1

    for bad in (4, 2):
        with pytest.raises(reader.DataError, match="pass 1 .grayscale., 3 .RGB."):
            reader.load_dataset(color, channels=bad)


def test_upscaling_warns(toy, caplog):
    folder, _ = toy
    with caplog.at_level(logging.WARNING):
        reader.load_dataset(folder, image_size=16)
    assert "upscaled" in caplog.text
    assert "--image_size=16 --resize_policy=pad" in caplog.text  # the builder flags that store it at 16x16


# ---------------------------------------------------------------- determinism


def test_seed_gives_same_order_and_augmentation(toy):
    folder, _ = toy
    options = dict(batch_size=4, random_flip=True, random_crop_from=10, image_size=8, shuffle_buffer=12)
    first = _collect(reader.load_dataset(folder, seed=11, **options), batches=6)["image"]
    second = _collect(reader.load_dataset(folder, seed=11, **options), batches=6)["image"]
    np.testing.assert_array_equal(first, second)
    other = _collect(reader.load_dataset(folder, seed=12, **options), batches=6)["image"]
    assert not np.array_equal(first, other)
    # Epochs differ: shuffled again, augmented again.
    assert not np.array_equal(first[:12], first[12:24])


def test_cache_keeps_the_seeded_first_epoch_and_reshuffles_after(toy):
    folder, _ = toy
    options = dict(batch_size=4, random_flip=True, seed=5, shuffle_buffer=12)
    plain = _collect(reader.load_dataset(folder, cache=False, **options), batches=3)["image"]
    cached = _collect(reader.load_dataset(folder, cache=True, **options), batches=6)["image"]
    np.testing.assert_array_equal(plain, cached[:12])
    assert not np.array_equal(cached[:12], cached[12:])


def _has_cache_op(dataset) -> bool:
    return b"CacheDataset" in dataset._as_serialized_graph().numpy()


def test_auto_cache_decides_by_decoded_size(toy):
    folder, _ = toy
    assert _has_cache_op(reader.load_dataset(folder, batch_size=4))  # 12 images of 8x8x1
    assert not _has_cache_op(reader.load_dataset(folder, batch_size=4, cache=False))
    # The cache holds grayscale as stored (expanded to RGB after it): upscaled to
    # 8192x8192 the 12 images take 805 MB, under the 2 GiB limit; at 16384x16384, 3.2 GB.
    assert _has_cache_op(reader.load_dataset(folder, batch_size=4, image_size=8192, channels=3))
    assert not _has_cache_op(reader.load_dataset(folder, batch_size=4, image_size=16384, channels=3))
    with pytest.raises(reader.DataError, match="cache must be"):
        reader.load_dataset(folder, cache="always")


# ---------------------------------------------------------------- sharding and inputs


def test_two_workers_read_disjoint_files_covering_everything(tmp_path):
    folder = str(tmp_path / "four")
    write_dataset(folder, count=16, num_shards=4)
    seen = []
    for worker in range(2):
        out = _collect(
            reader.load_dataset(folder, batch_size=None, repeat=False, num_shards=2, shard_index=worker, seed=0)
        )
        seen.append(set(_indices(out["image"])))
        assert len(out["image"]) == 8
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(16))

    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    out = _collect(reader.load_dataset(folder, batch_size=None, repeat=False, input_context=context))
    assert set(_indices(out["image"])) == seen[1]



@pytest.mark.parametrize("num_files,num_pipelines,shuffle", [(1, 2, True), (3, 4, True), (2, 3, False)])
def test_fewer_files_than_pipelines_shards_by_record(tmp_path, caplog, num_files, num_pipelines, shuffle):
    folder = str(tmp_path / "few")
    write_dataset(folder, count=13, num_shards=num_files)
    seen = []
    with caplog.at_level("WARNING"):
        for worker in range(num_pipelines):
            context = tf.distribute.InputContext(num_input_pipelines=num_pipelines, input_pipeline_id=worker,
                                                 num_replicas_in_sync=num_pipelines)
            # No seed: the file order must still agree between pipelines for the shares to be disjoint.
            out = _collect(reader.load_dataset(folder, batch_size=None, repeat=False, shuffle=shuffle,
                                               input_context=context))
            seen.append(_indices(out["image"]))
    for worker, indices in enumerate(seen):
        assert len(indices) == len(set(indices)) == len(range(worker, 13, num_pipelines))
    assert sorted(i for indices in seen for i in indices) == list(range(13))
    messages = [r.getMessage() for r in caplog.records if "sharding by record" in r.getMessage()]
    assert len(messages) == 1  # said once, not once per pipeline
    assert f"reads all {num_files} file(s) and keeps 1/{num_pipelines} of the records" in messages[0]


def test_record_sharding_batches_and_repeats_from_a_single_file(tmp_path):
    folder = str(tmp_path / "one")
    write_dataset(folder, count=12, num_shards=1)
    per_worker = []
    for worker in range(2):
        batches = reader.load_dataset(folder, batch_size=4, num_shards=2, shard_index=worker, seed=3)
        out = _collect(batches, batches=6)  # four epochs of the worker's 6 images
        per_worker.append(set(_indices(out["image"])))
        assert len(out["image"]) == 24
    assert per_worker[0] == set(range(0, 12, 2)) and per_worker[1] == set(range(1, 12, 2))


def test_more_pipelines_than_examples_is_a_clear_error(tmp_path):
    folder = str(tmp_path / "tiny")
    write_dataset(folder, count=3, num_shards=1)
    with pytest.raises(reader.DataError, match="fewer than its 4 input pipelines"):
        reader.load_dataset(folder, num_shards=4, shard_index=3)


def test_manifest_path_glob_and_folder_without_manifest(toy):
    folder, _ = toy
    from_manifest = reader.load_dataset(os.path.join(folder, "manifest.json"), batch_size=None, repeat=False)
    assert sum(1 for _ in from_manifest) == 12
    test_split = reader.load_dataset(folder, split="test", batch_size=None, repeat=False)
    assert sum(1 for _ in test_split) == 12
    glob = os.path.join(folder, "toy-train-*.tfrecord")
    out = _collect(reader.load_dataset(glob, batch_size=None, repeat=False, seed=0))
    assert sorted(_indices(out["image"])) == list(range(12))
    info = reader.describe(glob)
    assert info.manifest is None and info.image_shape == (8, 8, 1) and len(info.files) == 2
    os.remove(os.path.join(folder, "manifest.json"))
    out = _collect(reader.load_dataset(folder, split="test", batch_size=None, repeat=False))
    assert len(out["image"]) == 12


# ---------------------------------------------------------------- errors before training


def test_errors_say_what_to_do(tmp_path, toy):
    folder, _ = toy
    with pytest.raises(reader.DataError, match="No files match.*build one with"):
        reader.load_dataset(str(tmp_path / "nothing-*.tfrecord"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(reader.DataError, match="neither manifest.json .*python -m tfrecords.build"):
        reader.load_dataset(str(empty))
    with pytest.raises(reader.DataError, match="No manifest.*Build the dataset"):
        reader.load_dataset(str(empty / "manifest.json"))
    with pytest.raises(reader.DataError, match="no split 'validation'; available splits: test, train"):
        reader.load_dataset(folder, split="validation")
    with pytest.raises(reader.DataError, match="fewer than batch_size=64.*Lower batch_size or pass repeat=True"):
        reader.load_dataset(folder, batch_size=64, repeat=False)
    with pytest.raises(reader.DataError, match="smaller than image_size"):
        reader.load_dataset(folder, image_size=8, random_crop_from=6)

    newer = str(tmp_path / "newer")
    write_dataset(newer, count=2, schema_version=schema.SCHEMA_VERSION + 1)
    with pytest.raises(reader.DataError, match="newer than.*Update this code, or rebuild"):
        reader.load_dataset(newer)


def test_tfds_without_the_package_says_how_to_install():
    if "tensorflow_datasets" in sys.modules or _importable("tensorflow_datasets"):
        pytest.skip("tensorflow_datasets is installed here")
    with pytest.raises(reader.DataError, match="pip install tensorflow-datasets.*network"):
        reader.load_dataset("tfds:mnist")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_tfds_features_map_to_our_dict(monkeypatch):
    """A stand-in `tensorflow_datasets` module with `load`, placed in sys.modules."""
    images = np.stack([_image(i, (6, 6), 1) for i in range(6)])
    calls = []

    def load(name, split, shuffle_files=False):
        calls.append((name, split))
        return tf.data.Dataset.from_tensor_slices({"image": images, "label": np.arange(6, dtype=np.int64)})

    fake = types.ModuleType("tensorflow_datasets")
    fake.load = load
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    out = _collect(reader.load_dataset("tfds:mnist:3.0.1", batch_size=3, repeat=False, channels=3, seed=0))
    assert calls == [("mnist/3.0.1", "train")]
    assert out["image"].shape == (6, 6, 6, 3) and out["label"].dtype == np.int32
    assert list(out["label"]) == _indices(out["image"])


def test_checksum_failure_names_the_shard(toy):
    folder, _ = toy
    shard = os.path.join(folder, schema.shard_filename("toy", "train", 1, 2))
    with open(shard, "r+b") as f:
        f.seek(40)
        byte = f.read(1)
        f.seek(40)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(reader.DataError, match="toy-train-00001-of-00002.tfrecord fails its sha256.*rebuild"):
        reader.load_dataset(folder)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_record_met_while_reading_names_its_file(toy, damage):
    folder, _ = toy
    shard = os.path.join(folder, schema.shard_filename("toy", "train", 0, 2))
    with open(shard, "rb") as f:
        content = bytearray(f.read())
    if damage == "flip":
        middle = len(content) // 2
        content[middle : middle + 4] = bytes(b ^ 0xFF for b in content[middle : middle + 4])
    else:
        content = content[: len(content) - 10]
    with open(shard, "wb") as f:
        f.write(content)
    dataset = reader.load_dataset(folder, batch_size=2, repeat=False, verify_checksums=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Corrupt or truncated TFRecord file.*toy-train-00000"):
        for _ in dataset:
            pass
    # The intact shard alone still reads.
    intact = os.path.join(folder, "toy-train-00001-*.tfrecord")
    assert sum(1 for _ in reader.load_dataset(intact, batch_size=None, repeat=False)) == 6


# ---------------------------------------------------------------- graph mode and pairs


def test_iterates_inside_tf_function(toy):
    folder, images = toy
    dataset = reader.load_dataset(folder, batch_size=4, repeat=False, seed=0)

    @tf.function
    def total(ds):
        result = tf.constant(0.0)
        for batch in ds:
            result += tf.reduce_sum(batch["image"])
        return result

    expected = sum(_to_float(im).sum(dtype=np.float64) for im in images["train"])
    # A float32 sum of pixels of either sign: bounded by the sum of their magnitudes.
    terms = sum(_to_float(im).size for im in images["train"])
    magnitude = sum(np.abs(_to_float(im)).sum(dtype=np.float64) for im in images["train"])
    assert abs(float(total(dataset)) - expected) <= reduction_rtol(terms) * magnitude


def test_load_unpaired_pairs_independent_streams(tmp_path):
    folder = str(tmp_path / "unpaired")
    write_dataset(folder, count=24, domains=["A", "B"], num_shards=2)
    pairs = reader.load_unpaired(folder, batch_size=4, seed=2, shuffle_buffer=12)
    assert set(pairs.element_spec) == {"a", "b"}
    out = _collect(pairs, batches=3)
    domain_of = lambda images: {int(round((v + 1.0) * 127.5)) for v in images[:, 0, 1, 0]}  # noqa: E731
    assert domain_of(out["a"]) == {0} and domain_of(out["b"]) == {1}
    order_a = [i // 2 for i in _indices(out["a"])]
    order_b = [(i - 1) // 2 for i in _indices(out["b"])]
    assert order_a != order_b, "domains are shuffled with different seeds"
    again = _collect(reader.load_unpaired(folder, batch_size=4, seed=2, shuffle_buffer=12), batches=3)
    np.testing.assert_array_equal(out["a"], again["a"])
    with pytest.raises(reader.DataError, match="two domains"):
        write_dataset(str(tmp_path / "plain"), count=4)
        reader.load_unpaired(str(tmp_path / "plain"))
