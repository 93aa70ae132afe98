"""`common.data.reader.load_paired` on tiny paired datasets built here with `tfrecords.build --paired`.

Pair k of the source (`tests.tfrecords.tiny_sources.paired_pixels`) is a 12x12
RGB image A whose channel 0 is the constant k and whose other channels are
random, and B = 255 - A. A row of a batch is therefore a true pair, with the
same crop and flip on both sides, exactly when b == 255 - a pixel for pixel,
and channel 0 of `a` names the pair.
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from common.data import reader
from tests.common.data.test_reader import write_dataset
from tests.tfrecords import tiny_sources as tiny
from tfrecords.build import build_dataset

PAIRS = 16
SIZE = 12


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """A paired dataset of 16 pairs in several shards, with a carved test split of 4 pairs."""
    root = tmp_path_factory.mktemp("paired")
    tiny.write_paired_domains(root, PAIRS, size=SIZE)
    build_dataset(domains=[str(root / "a"), str(root / "b")], output=str(root / "data"), paired=True,
                  test_fraction=0.25, shard_size_mb=2e-3, num_workers=1, progress=False)
    return str(root / "data")


def _uint8(images) -> np.ndarray:
    return np.round((np.asarray(images) + 1.0) * 127.5).astype(np.int64)


def _pair_indices(batches) -> list[int]:
    """Checks that every row is a true pair; returns the pair index of each row, in order."""
    indices = []
    for batch in batches:
        a, b = _uint8(batch["a"]), _uint8(batch["b"])
        assert a.shape == b.shape
        np.testing.assert_array_equal(b, 255 - a)
        assert np.all(a[..., 0] == a[:, :1, :1, 0])  # One pair per row.
        indices.extend(a[:, 0, 0, 0].tolist())
    return indices


def _augmentation(a: np.ndarray, index: int) -> tuple[int, int, bool]:
    """(top, left, flipped) that turn stored image A of pair `index` into the crop `a`."""
    stored = tiny.paired_pixels(index, SIZE)[0].astype(np.int64)
    height, width = a.shape[:2]
    for flipped in (False, True):
        source = stored[:, ::-1] if flipped else stored
        for top in range(SIZE - height + 1):
            for left in range(SIZE - width + 1):
                if np.array_equal(source[top:top + height, left:left + width], a):
                    return top, left, flipped
    raise AssertionError(f"row is no crop of pair {index}")


@functools.lru_cache
def _stored_pairs(folder: str, split: str = "train") -> frozenset[int]:
    """The pair indices the builder wrote into a split, read back without the reader under test."""
    examples = tiny.read_split(os.path.join(folder, "manifest.json"), split)
    return frozenset(int(e["image"][0, 0, 0]) for e in examples if e["domain"] == 0)


@pytest.mark.parametrize("cache", [False, True])
def test_rows_are_true_pairs_with_one_crop_and_flip(paired, cache):
    dataset = reader.load_paired(paired, batch_size=4, seed=5, image_size=8, random_crop_from=SIZE,
                               random_flip=True, cache=cache)
    assert set(dataset.element_spec) == {"a", "b"}
    assert dataset.element_spec["a"].shape.as_list() == [4, 8, 8, 3]
    batches = [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(6)]
    indices = _pair_indices(batches)
    assert set(indices) <= _stored_pairs(paired)
    draws = {_augmentation(_uint8(batch["a"])[row], index)
             for batch in batches for row, index in zip(range(4), _pair_indices([batch]))}
    assert {flipped for _, _, flipped in draws} == {False, True}
    assert len({(top, left) for top, left, _ in draws}) > 3  # Crops moved.


def test_pairs_are_shuffled_every_epoch_and_reproducible(paired):
    train = sorted(_stored_pairs(paired))
    assert len(train) == 12

    def rows(seed):
        dataset = reader.load_paired(paired, batch_size=4, seed=seed, image_size=8, random_crop_from=SIZE,
                                   random_flip=True)
        return _pair_indices(dataset.take(6))

    first = rows(seed=1)
    epochs = [first[:12], first[12:]]
    assert sorted(epochs[0]) == sorted(epochs[1]) == train
    assert epochs[0] != epochs[1] and epochs[0] != train
    assert rows(seed=1) == first
    assert rows(seed=2) != first


def test_test_split_unbatched_and_input_pipelines_read_disjoint_pairs(paired):
    test = _pair_indices(reader.load_paired(paired, split="test", batch_size=2, shuffle=False, repeat=False))
    assert len(test) == 4 and set(test) == _stored_pairs(paired, "test")
    assert not set(test) & _stored_pairs(paired)
    element = next(iter(reader.load_paired(paired, batch_size=None, image_size=8)))
    assert element["a"].shape == (8, 8, 3)
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline)
        seen.append(_pair_indices(reader.load_paired(paired, batch_size=1, input_context=context, repeat=False,
                                                   shuffle=False)))
    assert not set(seen[0]) & set(seen[1])
    assert set(seen[0] + seen[1]) == _stored_pairs(paired) and len(seen[0] + seen[1]) == 12


def test_describe_tells_paired_from_unpaired(paired, tmp_path):
    assert reader.describe(paired).paired
    tiny.write_paired_domains(tmp_path, 4, size=8)
    build_dataset(domains=[str(tmp_path / "a"), str(tmp_path / "b")], output=str(tmp_path / "unpaired"),
                  num_workers=1, progress=False)
    assert not reader.describe(str(tmp_path / "unpaired")).paired
    with pytest.raises(reader.DataError, match=r"not a paired dataset \(its two domains were stored unpaired\). "
                                             r"Rebuild it with `python -m tfrecords.build --domains=a_dir,b_dir "
                                             r"--paired"):
        reader.load_paired(str(tmp_path / "unpaired"))
    with pytest.raises(reader.DataError, match="without a manifest"):
        reader.load_paired(os.path.join(paired, "*.tfrecord"))
    with pytest.raises(reader.DataError, match="one domain"):
        reader.load_paired(paired, domain=0)
    with pytest.raises(reader.DataError, match="unknown option"):
        reader.load_paired(paired, batchsize=2)
    # The unpaired reader still reads the paired dataset, each domain on its own.
    batch = next(iter(reader.load_unpaired(paired, batch_size=3, seed=0)))
    assert batch["a"].shape == batch["b"].shape == (3, SIZE, SIZE, 3)


def test_a_pair_of_wrong_domains_stops_the_pipeline(tmp_path):
    # Written without the builder: records alternate domains across shards, not within them.
    folder = str(tmp_path / "forged")
    write_dataset(folder, count=8, domains=["A", "B"], num_shards=2)
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    manifest["paired"] = True
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not \(domain 0, domain 1\)"):
        list(reader.load_paired(folder, batch_size=2, repeat=False, cache=False))


def test_pairs_of_a_single_shard_file_are_sharded_by_pair_over_pipelines(tmp_path):
    tiny.write_paired_domains(tmp_path, 7, size=SIZE)
    data = str(tmp_path / "one")
    build_dataset(domains=[str(tmp_path / "a"), str(tmp_path / "b")], output=data, paired=True, num_workers=1,
                  progress=False)
    with open(os.path.join(data, "manifest.json")) as file:
        assert len(json.load(file)["splits"]["train"]["shards"]) == 1
    seen = []
    for pipeline in range(3):
        context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=pipeline)
        seen.append(_pair_indices(reader.load_paired(data, batch_size=1, input_context=context, repeat=False)))
    assert [len(s) for s in seen] == [3, 2, 2]  # every third pair, each row still a true pair
    assert sorted(i for s in seen for i in s) == sorted(_stored_pairs(data))
