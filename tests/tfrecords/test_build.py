"""Manifest, bad inputs, output safety, interrupted builds, deterministic sharding and the command line."""

import hashlib
import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.commands import error_lines, start_command
from tests.tfrecords import tiny_sources as tiny
from tfrecords import schema
from tfrecords.build import BuildError, build_dataset
from tfrecords.progress import ProgressBar

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _build(source, output, **kwargs):
    kwargs.setdefault("num_workers", 1)
    kwargs.setdefault("progress", False)
    return build_dataset(source=str(source), output=str(output), **kwargs)


def _folder(path, count, seed=0, size=(6, 6)):
    rng = np.random.default_rng(seed)
    for index in range(count):
        tiny.save_image(path / f"{index:03d}.png", tiny.random_pixels(rng, *size))
    return path


def _add_bad_files(folder):
    (folder / "zero.png").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a jpeg")
    good = (folder / "000.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / ".hidden.png").write_bytes(b"")  # Dotfiles are ignored, not skipped.
    (folder / "notes.txt").write_text("not an image file")


def _shard_bytes(manifest_path):
    folder = os.path.dirname(manifest_path)
    manifest = schema.read_manifest(manifest_path)
    return {s["file"]: open(os.path.join(folder, s["file"]), "rb").read()
            for split in manifest["splits"].values() for s in split["shards"]}


def test_manifest_follows_the_contract(tmp_path):
    _folder(tmp_path / "src", 12)
    manifest_path = _build(tmp_path / "src", tmp_path / "faces", shard_size_mb=1e-4, seed=5, test_fraction=0.25)
    assert manifest_path == str(tmp_path / "faces" / "manifest.json")
    manifest = schema.read_manifest(manifest_path)
    assert set(manifest) == {"schema_version", "name", "created", "source", "builder_args", "image", "labels",
                             "domains", "has_captions", "splits", "skipped"}
    assert manifest["schema_version"] == schema.SCHEMA_VERSION
    assert manifest["created"].endswith("Z")
    assert manifest["source"] == {"kind": "folder", "path": str(tmp_path / "src")}
    assert manifest["builder_args"]["seed"] == 5 and manifest["builder_args"]["shard_size_mb"] == 1e-4
    assert manifest["image"] == {"channels": 3, "format": "png", "height": 6, "width": 6, "resize_policy": "keep",
                                 "min_height": 6, "max_height": 6, "min_width": 6, "max_width": 6}
    assert (manifest["labels"], manifest["domains"], manifest["has_captions"]) == (None, None, False)
    assert {s: v["count"] for s, v in manifest["splits"].items()} == {"train": 9, "test": 3}
    for split, entry in manifest["splits"].items():
        assert entry["per_class"] is None and entry["per_domain"] is None
        # 1e-4 MiB (105 bytes) is less than one example, so every example gets its own shard.
        assert len(entry["shards"]) == entry["count"]
        for index, shard in enumerate(entry["shards"]):
            assert shard["file"] == schema.shard_filename("faces", split, index, entry["count"])
            assert shard["count"] == 1
            assert len(shard["sha256"]) == 64
    first = manifest["splits"]["train"]["shards"][0]
    assert hashlib.sha256((tmp_path / "faces" / first["file"]).read_bytes()).hexdigest() == first["sha256"]
    assert sorted(os.listdir(tmp_path)) == ["faces", "src"]  # No partial folder left behind.


def test_bad_inputs_are_skipped_with_reasons(tmp_path):
    _add_bad_files(_folder(tmp_path / "src", 10))
    manifest_path = _build(tmp_path / "src", tmp_path / "out", max_bad_fraction=0.25)
    manifest = schema.read_manifest(manifest_path)
    reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == {"zero.png", "text.jpg", "truncated.png", "notes.txt"}
    assert "empty file" in reasons["zero.png"]
    assert "not an image" in reasons["text.jpg"]
    assert "truncated" in reasons["truncated.png"]
    assert "not an image file" in reasons["notes.txt"]
    assert manifest["splits"]["train"]["count"] == 10
    assert {e["source_id"] for e in tiny.read_split(manifest_path)} == {f"{i:03d}.png" for i in range(10)}


@pytest.mark.parametrize("channels", [None, 3])  # With and without the header pass of channel inference.
def test_too_many_bad_inputs_fail_and_leave_nothing(tmp_path, channels):
    _add_bad_files(_folder(tmp_path / "src", 10))
    with pytest.raises(BuildError, match="max_bad_fraction"):
        _build(tmp_path / "src", tmp_path / "out", channels=channels)  # 3 of 13 bad > 0.01.
    assert sorted(os.listdir(tmp_path)) == ["src"]


def test_existing_dataset_needs_overwrite_and_is_replaced_only_when_complete(tmp_path):
    _folder(tmp_path / "src", 4)
    first = _build(tmp_path / "src", tmp_path / "out")
    before = _shard_bytes(first)
    with pytest.raises(BuildError, match="--overwrite"):
        _build(tmp_path / "src", tmp_path / "out", seed=1)
    assert _shard_bytes(first) == before

    # A failing build with --overwrite (here: a truncated file found while encoding) keeps the old dataset.
    broken = _folder(tmp_path / "broken", 4)
    good = (broken / "000.png").read_bytes()
    (broken / "001.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(BuildError, match="max_bad_fraction"):
        _build(broken, tmp_path / "out", overwrite=True, channels=3)
    assert _shard_bytes(first) == before
    assert sorted(os.listdir(tmp_path)) == ["broken", "out", "src"]

    _folder(tmp_path / "src", 6, seed=9)
    replaced = _build(tmp_path / "src", tmp_path / "out", overwrite=True)
    assert schema.read_manifest(replaced)["splits"]["train"]["count"] == 6
    assert sorted(os.listdir(tmp_path)) == ["broken", "out", "src"]


def test_foreign_folders_are_never_overwritten(tmp_path):
    _folder(tmp_path / "src", 2)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(BuildError, match="never overwritten"):
        _build(tmp_path / "src", tmp_path / "mine", overwrite=True)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"

    _build(tmp_path / "src", tmp_path / "ds")
    (tmp_path / "ds" / "notes.md").write_text("mine too")
    with pytest.raises(BuildError, match="other files"):
        _build(tmp_path / "src", tmp_path / "ds", overwrite=True)
    assert (tmp_path / "ds" / "notes.md").exists()

    (tmp_path / "empty").mkdir()
    assert os.path.exists(_build(tmp_path / "src", tmp_path / "empty"))
    with pytest.raises(BuildError, match="inside the source"):
        _build(tmp_path / "src", tmp_path / "src" / "out")


def test_same_seed_gives_identical_shards_for_any_worker_count(tmp_path):
    _folder(tmp_path / "src", 40, size=(4, 4))
    one = _build(tmp_path / "src", tmp_path / "one", seed=7, shard_size_mb=2e-3, num_workers=1)
    two = _build(tmp_path / "src", tmp_path / "two", seed=7, shard_size_mb=2e-3, num_workers=2)
    bytes_one, bytes_two = _shard_bytes(one), _shard_bytes(two)
    assert len(bytes_one) > 2
    assert {k.replace("two-", "one-"): v for k, v in bytes_two.items()} == bytes_one
    manifest_one, manifest_two = schema.read_manifest(one), schema.read_manifest(two)
    assert [s["sha256"] for s in manifest_one["splits"]["train"]["shards"]] == \
        [s["sha256"] for s in manifest_two["splits"]["train"]["shards"]]

    # Records are serialized with sorted feature keys, so bytes do not depend on the process's string hashing.
    for record in tf.data.TFRecordDataset(tiny.shard_files(manifest_one, str(tmp_path / "one"), "train")):
        raw = record.numpy()
        assert raw == tf.train.Example.FromString(raw).SerializeToString(deterministic=True)

    other = _build(tmp_path / "src", tmp_path / "other", seed=8, shard_size_mb=2e-3)
    order = [e["source_id"] for e in tiny.read_split(one)]
    other_order = [e["source_id"] for e in tiny.read_split(other)]
    assert sorted(order) == sorted(other_order) and order != other_order
    assert order != sorted(order)  # Shuffled before sharding.


def test_killed_build_leaves_no_complete_looking_dataset(tmp_path):
    rng = np.random.default_rng(0)
    source = tmp_path / "src"
    for index in range(80):  # About 0.3 s of encoding after the staging file appears.
        tiny.save_image(source / f"{index:03d}.png", tiny.random_pixels(rng, 96, 96), compress_level=0)
    output = tmp_path / "out"
    command = [sys.executable, "-m", "tfrecords.build", f"--source={source}", f"--output={output}",
               "--num_workers=1", "--channels=3", "--noprogress"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = tmp_path / "out.partial" / "train.staging"
    deadline = time.monotonic() + 60
    while not staging.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert staging.exists(), "the build ended before it could be interrupted"
    assert not output.exists()
    assert not (tmp_path / "out.partial" / "manifest.json").exists()
    # The next build clears the leftover and completes.
    _build(source, output, channels=3)
    assert not (tmp_path / "out.partial").exists()
    assert schema.read_manifest(str(output))["splits"]["train"]["count"] == 80


def test_cli_helpfull_lists_the_flags(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfrecords.build", "--helpfull"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr  # absl exits with 1 after printing help.
    for flag in ("--source", "--output", "--kind", "--resize_policy", "--shard_size_mb", "--max_bad_fraction",
                 "--[no]overwrite", "--jpeg_quality", "--num_workers", "--domains", "--captions", "--labels",
                 "--label_names", "--label_names_file", "--min_shards"):
        assert flag in result.stdout


def test_cli_reports_user_errors_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfrecords.build", f"--source={tmp_path / 'missing'}",
                             f"--output={tmp_path / 'out'}"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "error: Source" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_progress_bar_shows_count_rate_and_eta():
    stream = io.StringIO()
    bar = ProgressBar(10, "encoding", stream=stream, log_interval=0.0)
    bar.start -= 2.0  # Two seconds ago.
    bar.update(4)
    line = stream.getvalue().strip().splitlines()[-1]
    assert line.startswith("encoding 4/10  40.0%")
    assert "img/s" in line and "ETA 00:03" in line  # 2 img/s, 6 left.


@pytest.mark.parametrize("units,estimated_mb,min_shards,expected", [
    (100, 0.1, 16, 1),          # small: never shards of trivially few examples
    (255, 0.1, 16, 1),
    (256 * 3, 0.1, 16, 3),      # as many shards of >= 256 examples as the split fills
    (60_000, 47.0, 16, 16),     # MNIST train: 16 shards although it fits in one by size
    (10_000, 8.0, 16, 16),
    (60_000, 47.0, 1, 1),       # --min_shards=1: by size only, as before
    (200_000, 19 * 64.0 - 1, 16, 19),  # large: size wins
    (3, 1000.0, 16, 3),         # never more shards than examples
])
def test_default_shard_count_suits_multi_worker_reading(units, estimated_mb, min_shards, expected):
    from tfrecords.build import _shard_count

    assert _shard_count(units, int(estimated_mb * 2**20), 64 * 2**20, min_shards) == expected


def test_a_split_of_enough_examples_gets_min_shards_by_default(tmp_path):
    np.savez(tmp_path / "data.npz", images=np.zeros((900, 2, 2), np.uint8), labels=np.arange(900) % 2)
    manifest = schema.read_manifest(_build(tmp_path / "data.npz", tmp_path / "out", test_fraction=0.1))
    train, test = manifest["splits"]["train"], manifest["splits"]["test"]
    assert [s["count"] for s in train["shards"]] == [270, 270, 270]  # 810 // 256 = 3 shards, a few KiB each
    assert [s["count"] for s in test["shards"]] == [90]
    manifest = schema.read_manifest(_build(tmp_path / "data.npz", tmp_path / "one", min_shards=1))
    assert len(manifest["splits"]["train"]["shards"]) == 1
    with pytest.raises(BuildError, match="min_shards must be a positive integer"):
        _build(tmp_path / "data.npz", tmp_path / "bad", min_shards=0)


def test_cli_stores_label_names_and_min_shards(tmp_path):
    np.savez(tmp_path / "data.npz", images=np.zeros((4, 2, 2), np.uint8), labels=np.array([0, 1, 2, 1]))
    result = subprocess.run([sys.executable, "-m", "tfrecords.build", f"--source={tmp_path / 'data.npz'}",
                             f"--output={tmp_path / 'out'}", "--label_names=airplane,automobile,bird",
                             "--min_shards=2", "--noprogress"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    manifest = schema.read_manifest(str(tmp_path / "out"))
    assert manifest["labels"] == ["airplane", "automobile", "bird"]
    assert manifest["builder_args"]["min_shards"] == 2


def test_cli_on_a_folder_prints_no_error_lines(tmp_path):
    """With the command's default environment (tests.commands), a build of a small folder logs no E/F lines."""
    rng = np.random.default_rng(0)
    for index in range(6):
        tiny.save_image(tmp_path / "src" / f"{index}.png", tiny.random_pixels(rng, 8, 8))
    build = start_command("tfrecords.build", f"--source={tmp_path / 'src'}", f"--output={tmp_path / 'out'}",
                          "--num_workers=1", "--noprogress")
    _out, err = build.communicate(timeout=120)
    assert build.returncode == 0, err[-3000:]
    assert schema.read_manifest(str(tmp_path / "out"))["splits"]["train"]["count"] >= 1
    assert error_lines(err) == [], err[-3000:]
