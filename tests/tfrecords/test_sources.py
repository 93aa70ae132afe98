"""Round trips for every source kind: build, read back with tf.data, compare pixels, labels, domains, captions."""

import json

import numpy as np
import pytest

from tests.tfrecords import tiny_sources as tiny
from tfrecords import schema
from tfrecords.build import BuildError, build_dataset


def _build(source, output, **kwargs):
    kwargs.setdefault("num_workers", 1)
    kwargs.setdefault("progress", False)
    return build_dataset(source=str(source) if source is not None else None, output=str(output), **kwargs)


def test_flat_folder_keeps_pixels_and_varying_sizes(tmp_path):
    rng = np.random.default_rng(0)
    expected = {}
    for index, (height, width) in enumerate([(5, 7), (6, 6), (9, 4)]):
        expected[f"img{index}.png"] = tiny.save_image(tmp_path / "src" / f"img{index}.png",
                                                         tiny.random_pixels(rng, height, width))
    manifest_path = _build(tmp_path / "src", tmp_path / "faces")

    manifest = schema.read_manifest(manifest_path)
    assert manifest["source"]["kind"] == "folder"
    assert manifest["name"] == "faces" and manifest["labels"] is None and manifest["domains"] is None
    assert manifest["image"]["height"] is None and manifest["image"]["width"] is None
    assert (manifest["image"]["min_height"], manifest["image"]["max_height"]) == (5, 9)
    assert (manifest["image"]["min_width"], manifest["image"]["max_width"]) == (4, 7)
    assert manifest["image"]["channels"] == 3
    examples = tiny.by_source(tiny.read_split(manifest_path))
    assert sorted(examples) == sorted(expected)
    for source_id, pixels in expected.items():
        np.testing.assert_array_equal(examples[source_id]["image"], pixels)
        assert examples[source_id]["label"] == -1 and examples[source_id]["domain"] == -1
        assert examples[source_id]["format"] == "png"


def test_class_folders_use_sorted_folder_names_as_labels(tmp_path):
    rng = np.random.default_rng(1)
    expected = {}
    for label, count in (("zebra", 2), ("ant", 3)):
        for index in range(count):
            expected[f"{label}/{index}.png"] = (label, tiny.save_image(
                tmp_path / "src" / label / f"{index}.png", tiny.random_pixels(rng, 4, 4)))
    manifest_path = _build(tmp_path / "src", tmp_path / "out")

    manifest = schema.read_manifest(manifest_path)
    assert manifest["source"]["kind"] == "class_folders"
    assert manifest["labels"] == ["ant", "zebra"]
    assert manifest["splits"]["train"]["per_class"] == {"ant": 3, "zebra": 2}
    assert manifest["image"]["height"] == 4 and manifest["image"]["width"] == 4
    examples = tiny.by_source(tiny.read_split(manifest_path))
    for source_id, (label, pixels) in expected.items():
        assert manifest["labels"][examples[source_id]["label"]] == label
        np.testing.assert_array_equal(examples[source_id]["image"], pixels)


def test_train_and_test_subfolders_are_splits_not_classes(tmp_path):
    rng = np.random.default_rng(2)
    for split, count in (("train", 3), ("test", 2)):
        for index in range(count):
            tiny.save_image(tmp_path / "src" / split / f"{index}.jpg", tiny.random_pixels(rng, 8, 8))
    manifest_path = _build(tmp_path / "src", tmp_path / "out", test_fraction=0.0)

    manifest = schema.read_manifest(manifest_path)
    assert manifest["labels"] is None
    assert {s: v["count"] for s, v in manifest["splits"].items()} == {"train": 3, "test": 2}
    assert {e["source_id"] for e in tiny.read_split(manifest_path, "test")} == {"test/0.jpg", "test/1.jpg"}
    with pytest.raises(BuildError, match="already has a test split"):
        _build(tmp_path / "src", tmp_path / "out2", test_fraction=0.2)


def test_split_folders_holding_class_folders(tmp_path):
    rng = np.random.default_rng(3)
    for split in ("train", "test"):
        for label in ("b", "a"):
            tiny.save_image(tmp_path / "src" / split / label / "0.png", tiny.random_pixels(rng, 3, 3))
    manifest = schema.read_manifest(_build(tmp_path / "src", tmp_path / "out"))
    assert manifest["source"]["kind"] == "class_folders"
    assert manifest["labels"] == ["a", "b"]
    assert manifest["splits"]["test"]["per_class"] == {"a": 1, "b": 1}


def test_cyclegan_layout_gives_two_domains_and_splits(tmp_path):
    rng = np.random.default_rng(4)
    expected = {}
    for folder, count in (("trainA", 3), ("trainB", 2), ("testA", 1), ("testB", 1)):
        for index in range(count):
            expected[f"{folder}/{index}.png"] = tiny.save_image(
                tmp_path / "src" / folder / f"{index}.png", tiny.random_pixels(rng, 6, 6))
    manifest_path = _build(tmp_path / "src", tmp_path / "out")

    manifest = schema.read_manifest(manifest_path)
    assert manifest["source"]["kind"] == "domains"
    assert manifest["domains"] == ["A", "B"]
    assert manifest["splits"]["train"]["per_domain"] == {"A": 3, "B": 2}
    assert manifest["splits"]["test"]["per_domain"] == {"A": 1, "B": 1}
    for split in ("train", "test"):
        for example in tiny.read_split(manifest_path, split):
            folder = example["source_id"].split("/")[0]
            assert example["domain"] == "AB".index(folder[-1])
            assert folder.startswith(split)
            np.testing.assert_array_equal(example["image"], expected[example["source_id"]])


def test_domains_flag_names_domains_after_folders(tmp_path):
    rng = np.random.default_rng(5)
    for folder in ("horses", "zebras"):
        for index in range(2):
            tiny.save_image(tmp_path / folder / f"{index}.png", tiny.random_pixels(rng, 4, 4))
    manifest_path = _build(None, tmp_path / "out", domains=(str(tmp_path / "horses"), str(tmp_path / "zebras")))
    manifest = schema.read_manifest(manifest_path)
    assert manifest["domains"] == ["horses", "zebras"]
    examples = tiny.read_split(manifest_path)
    assert {(e["source_id"], e["domain"]) for e in examples} == {
        ("horses/0.png", 0), ("horses/1.png", 0), ("zebras/0.png", 1), ("zebras/1.png", 1)}


@pytest.mark.parametrize("captions_format", ["json", "tsv"])
def test_captions_round_trip(tmp_path, captions_format):
    rng = np.random.default_rng(6)
    for name in ("a.png", "b.png", "c.png"):
        tiny.save_image(tmp_path / "src" / name, tiny.random_pixels(rng, 4, 4))
    if captions_format == "json":
        captions_file = tmp_path / "src" / "captions.json"
        captions_file.write_text(json.dumps({"a.png": ["a red square", "red"], "b.png": "a blue square",
                                             "ghost.png": ["nothing"]}))
    else:
        captions_file = tmp_path / "caps.txt"
        captions_file.write_text("# comment line\na.png\ta red square\nb.png\ta blue square\n\na.png\tred\n"
                                 "ghost.png\tnothing\n")
    manifest_path = _build(tmp_path / "src", tmp_path / "out", kind="captions",
                           captions=None if captions_format == "json" else str(captions_file))

    manifest = schema.read_manifest(manifest_path)
    assert manifest["has_captions"] is True and manifest["source"]["kind"] == "captions"
    examples = tiny.by_source(tiny.read_split(manifest_path))
    assert examples["a.png"]["captions"] == ["a red square", "red"]
    assert examples["b.png"]["captions"] == ["a blue square"]
    assert "c.png" not in examples
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert "no caption" in reasons["c.png"]
    assert "no such image" in reasons["ghost.png"]
    assert "captions.json" not in reasons  # The captions file itself is not an input.


def test_idx_files_with_labels(tmp_path):
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    labels = np.array([3, 0, 1, 3, 2, 0], dtype=np.uint8)
    tiny.write_idx(str(tmp_path / "images.idx.gz"), pixels, 2051)
    tiny.write_idx(str(tmp_path / "labels.idx"), labels, 2049)
    manifest_path = _build(tmp_path / "images.idx.gz", tmp_path / "out", labels=str(tmp_path / "labels.idx"))

    manifest = schema.read_manifest(manifest_path)
    assert manifest["source"]["kind"] == "idx"
    assert manifest["labels"] == ["0", "1", "2", "3"]
    assert manifest["image"]["channels"] == 1
    assert manifest["splits"]["train"]["per_class"] == {"0": 2, "1": 1, "2": 1, "3": 2}
    examples = tiny.read_split(manifest_path)
    assert len(examples) == 6
    for example in examples:
        row = int(example["source_id"].rsplit("#", 1)[1])
        assert example["source_id"] == f"images.idx.gz#{row}"
        np.testing.assert_array_equal(example["image"][..., 0], pixels[row])
        assert example["label"] == labels[row]


def test_mnist_folder_builds_train_and_test(tmp_path):
    rng = np.random.default_rng(8)
    source = tmp_path / "mnist"
    source.mkdir()
    arrays = {}
    for prefix, count in (("train", 5), ("t10k", 3)):
        arrays[prefix] = rng.integers(0, 256, (count, 4, 4), dtype=np.uint8)
        tiny.write_idx(str(source / f"{prefix}-images-idx3-ubyte.gz"), arrays[prefix], 2051)
        tiny.write_idx(str(source / f"{prefix}-labels-idx1-ubyte.gz"), np.arange(count) % 10, 2049)
    manifest_path = _build(source, tmp_path / "out")
    manifest = schema.read_manifest(manifest_path)
    assert {s: v["count"] for s, v in manifest["splits"].items()} == {"train": 5, "test": 3}
    for example in tiny.read_split(manifest_path, "test"):
        row = int(example["source_id"].rsplit("#", 1)[1])
        assert example["source_id"].startswith("t10k-images-idx3-ubyte.gz#")
        np.testing.assert_array_equal(example["image"][..., 0], arrays["t10k"][row])
        assert example["label"] == row


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    tiny.write_idx(str(tmp_path / "images.idx"), np.zeros((4, 3, 3), np.uint8), 2051)
    data = (tmp_path / "images.idx").read_bytes()
    (tmp_path / "images.idx").write_bytes(data[:-5])
    with pytest.raises(BuildError, match="truncated"):
        _build(tmp_path / "images.idx", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_npz_color_images_with_string_labels(tmp_path):
    rng = np.random.default_rng(9)
    pixels = rng.integers(0, 256, (5, 3, 4, 3), dtype=np.uint8)
    labels = np.array(["dog", "cat", "dog", "cat", "cat"])
    np.savez(tmp_path / "data.npz", images=pixels, labels=labels)
    manifest_path = _build(tmp_path / "data.npz", tmp_path / "out")

    manifest = schema.read_manifest(manifest_path)
    assert manifest["source"]["kind"] == "npz"
    assert manifest["labels"] == ["cat", "dog"] and manifest["image"]["channels"] == 3
    for example in tiny.read_split(manifest_path):
        row = int(example["source_id"].rsplit("#", 1)[1])
        np.testing.assert_array_equal(example["image"], pixels[row])
        assert manifest["labels"][example["label"]] == labels[row]


def test_npz_refuses_object_arrays(tmp_path):
    np.savez(tmp_path / "data.npz", images=np.array([np.zeros((2, 2)), "x"], dtype=object))
    with pytest.raises(BuildError, match="without pickle"):
        _build(tmp_path / "data.npz", tmp_path / "out")


def test_test_fraction_carves_a_deterministic_test_split(tmp_path):
    np.savez(tmp_path / "data.npz", images=np.arange(20 * 4, dtype=np.uint8).reshape(20, 2, 2))
    ids = []
    for run in range(2):
        manifest_path = _build(tmp_path / "data.npz", tmp_path / f"out{run}", test_fraction=0.25, seed=3)
        manifest = schema.read_manifest(manifest_path)
        assert manifest["splits"]["train"]["count"] == 15 and manifest["splits"]["test"]["count"] == 5
        test_ids = {e["source_id"] for e in tiny.read_split(manifest_path, "test")}
        train_ids = {e["source_id"] for e in tiny.read_split(manifest_path, "train")}
        assert not test_ids & train_ids
        ids.append(test_ids)
    assert ids[0] == ids[1]
    other = _build(tmp_path / "data.npz", tmp_path / "other", test_fraction=0.25, seed=4)
    assert {e["source_id"] for e in tiny.read_split(other, "test")} != ids[0]


def test_empty_source_is_a_clear_error(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.md").write_text("nothing here")
    with pytest.raises(BuildError, match="No images found"):
        _build(tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_mixed_images_and_subfolders_ask_for_a_kind(tmp_path):
    rng = np.random.default_rng(10)
    tiny.save_image(tmp_path / "src" / "loose.png", tiny.random_pixels(rng, 2, 2))
    tiny.save_image(tmp_path / "src" / "sub" / "x.png", tiny.random_pixels(rng, 2, 2))
    with pytest.raises(BuildError, match="--kind=folder"):
        _build(tmp_path / "src", tmp_path / "out")
    manifest = schema.read_manifest(_build(tmp_path / "src", tmp_path / "out", kind="folder"))
    assert manifest["splits"]["train"]["count"] == 2


def test_label_names_name_the_integer_labels_of_an_mnist_folder(tmp_path):
    source = tmp_path / "mnist"
    source.mkdir()
    for prefix, count in (("train", 6), ("t10k", 4)):
        tiny.write_idx(str(source / f"{prefix}-images-idx3-ubyte.gz"), np.zeros((count, 4, 4), np.uint8), 2051)
        tiny.write_idx(str(source / f"{prefix}-labels-idx1-ubyte.gz"), np.arange(count) % 3, 2049)
    manifest_path = _build(source, tmp_path / "out", label_names=["zero", "one", "two"])
    manifest = schema.read_manifest(manifest_path)
    assert manifest["labels"] == ["zero", "one", "two"]
    assert manifest["builder_args"]["label_names"] == ["zero", "one", "two"]
    assert manifest["splits"]["train"]["per_class"] == {"zero": 2, "one": 2, "two": 2}
    assert manifest["splits"]["test"]["per_class"] == {"zero": 2, "one": 1, "two": 1}
    for example in tiny.read_split(manifest_path, "test"):
        assert example["label"] == int(example["source_id"].rsplit("#", 1)[1]) % 3  # indices unchanged


def test_label_names_file_names_npz_labels_and_replaces_the_archive_names(tmp_path):
    labels = np.array([1, 0, 2, 1])
    np.savez(tmp_path / "data.npz", images=np.zeros((4, 2, 2), np.uint8), labels=labels,
             label_names=np.array(["a", "b", "c"]))
    (tmp_path / "names.txt").write_text("airplane\n\nautomobile\n  bird  \n", encoding="utf-8")
    manifest = schema.read_manifest(_build(tmp_path / "data.npz", tmp_path / "out",
                                           label_names_file=str(tmp_path / "names.txt")))
    assert manifest["labels"] == ["airplane", "automobile", "bird"]
    assert manifest["splits"]["train"]["per_class"] == {"airplane": 1, "automobile": 2, "bird": 1}


@pytest.mark.parametrize("arguments,message", [
    ({"label_names": ["cat", "dog"]}, r"2 label names but the labels go up to 2 \(3 classes\)"),
    ({"label_names": ["cat", "dog", "cat"]}, r"repeats \['cat'\]"),
    ({"label_names": ["cat", " ", "dog"]}, "empty name"),
    ({"label_names": "cat,dog,bird"}, "list of names"),
    ({"label_names": ["a", "b", "c"], "label_names_file": "names.txt"}, "not both"),
    ({"label_names_file": "missing.txt"}, "does not exist"),
])
def test_bad_label_names_are_clear_errors(tmp_path, arguments, message):
    np.savez(tmp_path / "data.npz", images=np.zeros((3, 2, 2), np.uint8), labels=np.array([0, 1, 2]))
    if "label_names_file" in arguments:
        arguments = dict(arguments, label_names_file=str(tmp_path / arguments["label_names_file"]))
        (tmp_path / "names.txt").write_text("a\nb\nc\n")
    with pytest.raises(BuildError, match=message):
        _build(tmp_path / "data.npz", tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists()


def test_label_names_need_a_source_with_integer_labels(tmp_path):
    np.savez(tmp_path / "unlabeled.npz", images=np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(BuildError, match="has no labels"):
        _build(tmp_path / "unlabeled.npz", tmp_path / "out", label_names=["a", "b"])
    for name in ("cat", "dog"):
        tiny.save_image(tmp_path / "pets" / name / "0.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(BuildError, match="class folders"):
        _build(tmp_path / "pets", tmp_path / "out", label_names=["a", "b"])
