"""Paired two-domain builds (`--paired`): pairing by name, pairs as units in shuffle, carve and shards, errors."""

import os

import numpy as np
import pytest

from tests.tfrecords import tiny_sources as tiny
from tfrecords import schema
from tfrecords.build import BuildError, build_dataset


def _build(output, **kwargs):
    kwargs.setdefault("num_workers", 1)
    kwargs.setdefault("progress", False)
    return build_dataset(output=str(output), **kwargs)


def _domains(root):
    return [str(root / "a"), str(root / "b")]


def _pair_index(example) -> int:
    """The pair an example belongs to: channel 0 of A holds the index, B is A's inverse."""
    value = int(example["image"][0, 0, 0])
    return value if example["domain"] == 0 else 255 - value


def _check_pairs(examples):
    """Examples alternate A, B; each B is the exact inverse of the A before it, with the same name."""
    assert len(examples) % 2 == 0
    for first, second in zip(examples[0::2], examples[1::2]):
        assert (first["domain"], second["domain"]) == (0, 1)
        np.testing.assert_array_equal(second["image"], 255 - first["image"])
        stem = lambda e: os.path.splitext(e["source_id"].split("/", 1)[1])[0]  # noqa: E731
        assert stem(first) == stem(second)
    return [_pair_index(e) for e in examples[0::2]]


def test_pairs_stay_together_through_shuffle_carve_and_shards(tmp_path):
    tiny.write_paired_domains(tmp_path, 20)
    manifest_path = _build(tmp_path / "out", domains=_domains(tmp_path), paired=True, test_fraction=0.25,
                           shard_size_mb=2e-3, seed=3)
    manifest = schema.read_manifest(manifest_path)
    assert manifest["paired"] is True and manifest["builder_args"]["paired"] is True
    assert manifest["domains"] == ["a", "b"]
    train, test = manifest["splits"]["train"], manifest["splits"]["test"]
    assert (train["count"], test["count"]) == (30, 10)  # 15 and 5 pairs
    assert train["per_domain"] == {"a": 15, "b": 15}
    assert len(train["shards"]) > 2
    counts = [s["count"] for s in train["shards"]]
    assert all(c % 2 == 0 for c in counts) and max(counts) - min(counts) <= 2  # Whole pairs, even sizes.
    for shard in tiny.shard_files(manifest, str(tmp_path / "out"), "train"):  # Boundaries fall between pairs.
        _check_pairs(tiny.read_files([shard]))
    train_order = _check_pairs(tiny.read_split(manifest_path, "train"))
    test_order = _check_pairs(tiny.read_split(manifest_path, "test"))
    assert sorted(train_order + test_order) == list(range(20))
    assert train_order != sorted(train_order)  # Pairs shuffled before sharding.


def test_cyclegan_layout_pairs_each_split_and_ignores_extensions(tmp_path):
    for split, indices in (("train", range(4)), ("test", range(4, 6))):
        for index in indices:
            a, b = tiny.paired_pixels(index, size=6)
            tiny.save_image(str(tmp_path / "src" / f"{split}A" / f"{index}.png"), a)
            tiny.save_image(str(tmp_path / "src" / f"{split}B" / f"{index}.tif"), b)
    manifest_path = _build(tmp_path / "out", source=str(tmp_path / "src"), paired=True)
    assert sorted(_check_pairs(tiny.read_split(manifest_path, "train"))) == [0, 1, 2, 3]
    assert sorted(_check_pairs(tiny.read_split(manifest_path, "test"))) == [4, 5]


def test_a_bad_image_drops_its_partner(tmp_path):
    tiny.write_paired_domains(tmp_path, 12)
    (tmp_path / "b" / "003.bmp").write_bytes(b"")  # Fails the header pass.
    good = (tmp_path / "a" / "007.png").read_bytes()
    (tmp_path / "a" / "007.png").write_bytes(good[: len(good) // 2])  # Fails while encoding.
    manifest_path = _build(tmp_path / "out", domains=_domains(tmp_path), paired=True, max_bad_fraction=0.1)
    manifest = schema.read_manifest(manifest_path)
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == {"b/003.bmp", "a/003.png", "a/007.png", "b/007.bmp"}
    assert "empty" in reasons["b/003.bmp"] and reasons["a/003.png"] == "its pair partner b/003.bmp is bad"
    assert "truncated" in reasons["a/007.png"] and reasons["b/007.bmp"] == "its pair partner a/007.png is bad"
    assert sorted(_check_pairs(tiny.read_split(manifest_path))) == [0, 1, 2, 4, 5, 6, 8, 9, 10, 11]


def test_unmatched_and_duplicate_names_fail_before_encoding(tmp_path):
    tiny.write_paired_domains(tmp_path, 3)
    tiny.save_image(str(tmp_path / "a" / "sub" / "extra.png"), tiny.paired_pixels(9)[0])
    tiny.save_image(str(tmp_path / "b" / "lonely.png"), tiny.paired_pixels(8)[1])
    with pytest.raises(BuildError, match=r"2 image\(s\) of the train split have none: a/sub/extra.png, b/lonely.png"):
        _build(tmp_path / "out", domains=_domains(tmp_path), paired=True)
    os.remove(tmp_path / "a" / "sub" / "extra.png")
    os.remove(tmp_path / "b" / "lonely.png")
    tiny.save_image(str(tmp_path / "b" / "001.png"), tiny.paired_pixels(1)[1])
    with pytest.raises(BuildError, match="domain b of the train split has several images of one name: "
                                         "b/001.bmp, b/001.png"):
        _build(tmp_path / "out", domains=_domains(tmp_path), paired=True)
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]  # Nothing written, not even a partial folder.
    with pytest.raises(BuildError, match="--paired pairs the images of two domains"):
        _build(tmp_path / "out", source=str(tmp_path / "a"), paired=True)


def test_unpaired_build_of_the_same_folders_is_unchanged(tmp_path):
    tiny.write_paired_domains(tmp_path, 6)
    manifest_path = _build(tmp_path / "out", domains=_domains(tmp_path))
    manifest = schema.read_manifest(manifest_path)
    assert "paired" not in manifest and manifest["builder_args"]["paired"] is False
    # Unpaired shuffling moves single images: the A, B alternation of a paired build is not kept.
    domains = [e["domain"] for e in tiny.read_split(manifest_path)]
    assert sorted(domains) == [0] * 6 + [1] * 6 and domains != [0, 1] * 6
