"""Builds a sharded TFRecord dataset with a JSON manifest from images, idx files or NumPy arrays.

    python -m tfrecords.build --source=path/to/images --output=data/faces

The records follow `tfrecords/schema.py`; tfrecords/README.md describes the
source kinds, the conversions, the resize policies and the manifest.

How a build runs:
1. check every argument and the output folder, before any image is read;
2. list the inputs (`tfrecords/sources.py`; with `paired`, as aligned pairs
   of two domains), carve a test split with `seed` when `test_fraction` is
   set and the source has none;
3. when `channels` is not given, read every image header to infer it
   (1 if every image is grayscale, else 3);
4. per split, shuffle the inputs with `seed`, decode, convert and encode them
   (`tfrecords/images.py`) in spawned worker processes, or in this process
   when there is one worker; collect the results in input order into a
   staging file; bad inputs are skipped and the build stops as soon as more
   than `max_bad_fraction` of them are bad;
5. write each split as shards of consecutive examples (`_shard_count`:
   ceil(bytes / shard_size_mb), raised to `min_shards` when the split has
   at least MIN_EXAMPLES_PER_SHARD examples for each), hash them, write
   the manifest last;
6. rename the finished `<output>.partial` folder to `<output>`; an old dataset
   being overwritten is removed only after that.

Shard bytes depend only on the inputs and the arguments (seed included), never
on the number of workers.

Paired builds (`paired=True`) treat each pair as one unit: the shuffle before
sharding and the test-split carve permute pairs, the two records of a pair
are written next to each other (A then B) in one shard, shard boundaries fall
between pairs, and an input that cannot be read drops its partner too (listed
in `skipped`). The manifest then holds `"paired": true`.

Conventions followed: sharded TFRecords named like TFDS files
(`name-split-00000-of-00004`), feature keys in the style of the TF Model Garden
decoders (`schema.py`), centre crop then Lanczos resize as in NVlabs
StyleGAN's `dataset_tool.py`. Deviations: the manifest (not TFDS's
`dataset_info.json`) describes the dataset, and bad inputs are skipped and
listed instead of stopping the build, up to `max_bad_fraction`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime
import hashlib
import math
import multiprocessing
import os
import re
import shutil
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from tfrecords import images, schema, sources
from tfrecords.errors import BuildError
from tfrecords.progress import ProgressBar

__all__ = ["BuildError", "build_dataset", "define_flags", "main", "parse_image_size"]

PARTIAL_SUFFIX = ".partial"
OLD_SUFFIX = ".old"
STAGING_SUFFIX = ".staging"
SPLIT_ORDER = ("train", "test", "validation")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FILE_CHUNK = 32
_ARRAY_CHUNK = 256
_EXAMPLE_OVERHEAD = 160  # Bytes of a serialized example besides the image: keys, sizes, source id, framing.
DEFAULT_MIN_SHARDS = 16
MIN_EXAMPLES_PER_SHARD = 256


# ----------------------------------------------------------------------------- arguments


def parse_image_size(value: int | str | Sequence[int] | None) -> tuple[int, int] | None:
    """(height, width) from 64, "64", "64x48" (height x width) or (64, 48)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            parts = [int(p) for p in value.lower().replace(",", "x").split("x")]
        elif isinstance(value, (int, np.integer)):
            parts = [int(value)]
        else:
            parts = [int(p) for p in value]
    except (TypeError, ValueError):
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise BuildError(f"image_size must be a positive int or HxW (e.g. 64 or 64x48), got {value!r}.")
    return parts[0], parts[1]


def _check_arguments(args: dict[str, Any]) -> dict[str, Any]:
    """Validated, normalised options; BuildError for anything a user got wrong."""
    if not args["output"]:
        raise BuildError("No output given: pass --output=folder for the dataset to create.")
    name = args["name"] or os.path.basename(os.path.normpath(args["output"]))
    if not _NAME_RE.match(name):
        raise BuildError(f"Dataset name {name!r} is not usable in shard file names; pass --name using "
                         "letters, digits, '_', '.' and '-'.")
    size = parse_image_size(args["image_size"])
    policy = args["resize_policy"]
    if policy not in images.RESIZE_POLICIES:
        raise BuildError(f"resize_policy must be one of {', '.join(images.RESIZE_POLICIES)}; got {policy!r}.")
    if policy != "keep" and size is None:
        raise BuildError(f"resize_policy={policy} needs an image size: pass --image_size=64 or --image_size=HxW.")
    if policy == "keep" and size is not None:
        raise BuildError("image_size is only used with --resize_policy=resize, center_crop or pad; "
                         "pass one of them, or drop --image_size to keep the source sizes.")
    channels = args["channels"]
    if channels is not None and channels not in schema.CHANNEL_COUNTS:
        raise BuildError(f"channels must be 1, 3 or 4 (or unset to infer); got {channels!r}.")
    if args["image_format"] not in schema.IMAGE_FORMATS:
        raise BuildError(f"image_format must be png or jpeg; got {args['image_format']!r}.")
    if args["image_format"] == "jpeg" and channels == 4:
        raise BuildError("JPEG cannot store an alpha channel: use --image_format=png with --channels=4, "
                         "or --channels=3.")
    if not 1 <= int(args["jpeg_quality"]) <= 100:
        raise BuildError(f"jpeg_quality must be in 1..100; got {args['jpeg_quality']}.")
    if not 0.0 <= args["test_fraction"] < 1.0:
        raise BuildError(f"test_fraction must be in [0, 1); got {args['test_fraction']}.")
    if int(args["seed"]) < 0:
        raise BuildError(f"seed must be a non-negative integer; got {args['seed']}.")
    if not args["shard_size_mb"] > 0:
        raise BuildError(f"shard_size_mb must be positive; got {args['shard_size_mb']}.")
    if not isinstance(args["min_shards"], (int, np.integer)) or args["min_shards"] < 1:
        raise BuildError(f"min_shards must be a positive integer (1 turns the minimum off); got {args['min_shards']!r}.")
    if args["num_workers"] is not None and int(args["num_workers"]) < 1:
        raise BuildError(f"num_workers must be at least 1 (1 encodes in this process); got {args['num_workers']}.")
    if not 0.0 <= args["max_bad_fraction"] <= 1.0:
        raise BuildError(f"max_bad_fraction must be in [0, 1]; got {args['max_bad_fraction']}.")
    if args["label_names"] is not None and args["label_names_file"] is not None:
        raise BuildError("Give the class names once: --label_names=a,b,c or --label_names_file=names.txt, not both.")
    sources.check_label_names(args["label_names"])
    if args["domains"] is not None and len(args["domains"]) != 2:
        raise BuildError(f"domains takes exactly two folders (a_dir,b_dir); got {list(args['domains'])}.")
    return {"name": name, "image_size": size, "channels": channels}


# ----------------------------------------------------------------------------- output safety


def _is_builder_file(name: str) -> bool:
    """Files this builder writes into a dataset or partial folder."""
    return (name in (schema.MANIFEST_NAME, schema.MANIFEST_NAME + ".tmp")
            or name.endswith(STAGING_SUFFIX)
            or schema.parse_shard_filename(name) is not None)


def _output_state(output: str, overwrite: bool) -> str:
    """"absent", "empty" or "dataset" (replaceable); BuildError when the folder must be left alone."""
    if not os.path.lexists(output):
        return "absent"
    if not os.path.isdir(output) or os.path.islink(output):
        raise BuildError(f"Output {output} exists and is not a folder; choose another --output.")
    entries = sorted(os.listdir(output))
    if not entries:
        return "empty"
    ours = [e for e in entries if _is_builder_file(e) and os.path.isfile(os.path.join(output, e))]
    foreign = [e for e in entries if e not in ours]
    if not ours:
        raise BuildError(f"Output {output} is a folder that holds other files ({', '.join(entries[:3])}, ...), "
                         "not a dataset; it is never overwritten. Choose a new or empty --output folder.")
    if foreign:
        raise BuildError(f"Output {output} holds a dataset and also other files ({', '.join(foreign[:3])}); "
                         "those would be lost, so it is never overwritten. Move them away or choose another --output.")
    if not overwrite:
        raise BuildError(f"Output {output} already holds a dataset. Pass --overwrite to replace it (the old one is "
                         "removed only once the new one is complete), or choose another --output.")
    return "dataset"


def _check_leftover(folder: str) -> bool:
    """Whether a partial/old folder of an earlier build exists; BuildError if it holds anything else."""
    if not os.path.lexists(folder):
        return False
    entries = os.listdir(folder) if os.path.isdir(folder) and not os.path.islink(folder) else None
    if entries is None or not all(_is_builder_file(e) for e in entries):
        raise BuildError(f"{folder} exists and is not a leftover of this builder; move it away and build again.")
    return True


def _remove_stale(folder: str) -> None:
    """Removes a leftover partial/old folder of an earlier (interrupted) build."""
    if _check_leftover(folder):
        shutil.rmtree(folder)


def _publish(partial: str, output: str, overwrite: bool) -> None:
    """Moves the finished dataset into place; an old dataset goes only after the new one is in place."""
    state = _output_state(output, overwrite)
    if state == "absent":
        os.rename(partial, output)
    elif state == "empty":
        os.rmdir(output)
        os.rename(partial, output)
    else:
        old = output + OLD_SUFFIX
        _remove_stale(old)
        os.rename(output, old)
        os.rename(partial, output)
        shutil.rmtree(old)


# ----------------------------------------------------------------------------- workers


class _Workers:
    """Runs a function over tasks in worker processes, yielding results in task order."""

    def __init__(self, num_workers: int):
        self.num_workers = num_workers
        self.executor: concurrent.futures.ProcessPoolExecutor | None = None

    def __enter__(self) -> "_Workers":
        return self

    def __exit__(self, *exc) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)

    def map(self, function: Callable, tasks: Sequence[Any]) -> Iterator[Any]:
        if self.num_workers <= 1 or len(tasks) <= 1 or not _workers_can_start():
            for task in tasks:
                yield function(task)
            return
        if self.executor is None:
            # spawn: the parent may have TensorFlow loaded, which does not survive fork().
            self.executor = concurrent.futures.ProcessPoolExecutor(
                self.num_workers, mp_context=multiprocessing.get_context("spawn"))
        pending: collections.deque = collections.deque()
        submitted = yielded = 0
        try:
            while yielded < len(tasks):
                while submitted < len(tasks) and submitted - yielded < 2 * self.num_workers:
                    pending.append(self.executor.submit(function, tasks[submitted]))
                    submitted += 1
                result = pending.popleft().result()
                yielded += 1
                yield result
        except concurrent.futures.process.BrokenProcessPool as error:
            # Workers that cannot start (an unguarded calling script) or that died: the results
            # are the same when computed here, so the build goes on in this process.
            print(f"tfrecords.build: worker processes failed ({error}); encoding in this process instead. "
                  "Scripts calling build_dataset need an `if __name__ == \"__main__\":` guard to use workers.",
                  file=sys.stderr)
            self.num_workers = 1
            for index in range(yielded, len(tasks)):
                yield function(tasks[index])
        finally:
            for future in pending:
                future.cancel()


def _workers_can_start() -> bool:
    """False when spawned workers could not import the main module (code read from stdin)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return getattr(main, "__spec__", None) is not None or path is None or os.path.exists(path)


def _default_num_workers(source: sources.Source) -> int:
    """One worker per 1000 image files or 20000 array rows, at most one per CPU core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_worker = 20000 if source.arrays else 1000
    return max(1, min(cores, math.ceil(source.num_inputs / per_worker)))


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# ----------------------------------------------------------------------------- building


class _BadInputs:
    """Counts bad inputs and stops the build once more than the allowed fraction is bad."""

    def __init__(self, total: int, max_fraction: float, skipped: list[dict]):
        self.total, self.max_fraction, self.skipped, self.count = total, max_fraction, skipped, 0

    def add(self, path: str, reason: str) -> None:
        self.count += 1
        self.skipped.append({"path": path, "reason": reason})
        if self.count > self.max_fraction * self.total:
            examples = "; ".join(f"{s['path']}: {s['reason']}" for s in self.skipped[-3:])
            raise BuildError(
                f"{self.count} of {self.total} inputs are bad, more than max_bad_fraction={self.max_fraction} "
                f"(latest: {examples}). Fix or remove the bad files, or raise --max_bad_fraction to skip them. "
                "No dataset was written."
            )


def _whole_units(items: Iterable[tuple[sources.Record, tuple]], group: int,
                 bad: _BadInputs) -> Iterator[tuple[sources.Record, tuple]]:
    """The (record, worker result) items of the units whose inputs all succeeded, in order.

    A unit is `group` consecutive items: one input, or the two inputs of a
    pair. A failed input ("bad", reason) is counted by `bad`; the other inputs
    of its unit are dropped with it and listed as skipped, without counting
    as bad.
    """
    unit: list[tuple[sources.Record, tuple]] = []
    for item in items:
        unit.append(item)
        if len(unit) < group:
            continue
        failed = [record for record, result in unit if result[0] == "bad"]
        if not failed:
            yield from unit
        else:
            for record, result in unit:
                if result[0] == "bad":
                    bad.add(record.source_id, result[1])
            for record, result in unit:
                if result[0] != "bad":
                    bad.skipped.append({"path": record.source_id,
                                        "reason": f"its pair partner {failed[0].source_id} is bad"})
        unit = []


def _carve_test_split(splits: dict[str, list], test_fraction: float, seed: int, group: int = 1) -> dict[str, list]:
    """Moves round(test_fraction * units) units of the train split, chosen with `seed`, into a test split.

    A unit is `group` consecutive records: one input, or the two of a pair.
    """
    if test_fraction <= 0:
        return splits
    if "test" in splits:
        raise BuildError("The source already has a test split; drop --test_fraction (it only carves a test split "
                         "from sources without one).")
    train = splits["train"]
    units = len(train) // group
    count = max(1, round(units * test_fraction))
    if count >= units:
        what = f"{units} pairs" if group > 1 else str(units)
        raise BuildError(f"test_fraction={test_fraction} leaves no training examples out of {what}; lower it.")
    chosen = set(np.random.default_rng([seed, 0x7E57]).permutation(units)[:count].tolist())
    carved = dict(splits)
    carved["train"] = [r for i, r in enumerate(train) if i // group not in chosen]
    carved["test"] = [r for i, r in enumerate(train) if i // group in chosen]
    return carved


def _split_order(splits: Iterable[str]) -> list[str]:
    return sorted(splits, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))


def _infer_channels(source: sources.Source, workers: _Workers, bad: _BadInputs, progress: bool) -> int:
    """1 if every input is grayscale, else 3; drops inputs whose header is unreadable (with their partners)."""
    if source.arrays:
        gray = all(a.ndim == 3 or a.shape[-1] == 1 for a in source.arrays.values())
        return 1 if gray else 3
    all_gray = True
    bar = ProgressBar(source.num_inputs, "reading headers", progress)
    for split in _split_order(source.splits):
        record_chunks = _chunks(source.splits[split], _FILE_CHUNK * 4)
        probed = _worker_results(workers, images.probe_chunk, record_chunks,
                                 [[r.path for r in chunk] for chunk in record_chunks], bar)
        kept = []
        for record, result in _whole_units(probed, _unit_size(source), bad):
            kept.append(record)
            all_gray = all_gray and result[1]
        source.splits[split] = kept
    bar.close()
    return 1 if all_gray else 3


def _worker_results(workers: _Workers, function: Callable, record_chunks: Sequence[Sequence[sources.Record]],
                    tasks: Sequence[Any], bar: ProgressBar) -> Iterator[tuple[sources.Record, tuple]]:
    """(record, result) per record, in order: `function` runs on the task of each chunk of records in `workers`."""
    for chunk, results in zip(record_chunks, workers.map(function, tasks)):
        yield from zip(chunk, results)
        bar.update(len(chunk))


def _unit_size(source: sources.Source) -> int:
    """Records that move together: 2 for the pairs of a paired source, else 1."""
    return 2 if source.paired else 1


def _encode_split(split: str, records: list[sources.Record], source: sources.Source, options: dict,
                  staging: str, workers: _Workers, bad: _BadInputs, bar: ProgressBar) -> list[tuple]:
    """Encodes a split's images into `staging`, in seeded shuffled order of units (inputs, or pairs).

    Returns per kept input (record, encoded length, height, width), in staging order.
    """
    group = _unit_size(source)
    order = np.random.default_rng([options["seed"], zlib.crc32(split.encode())]).permutation(len(records) // group)
    records = [records[unit * group + member] for unit in order for member in range(group)]
    chunk_size = _ARRAY_CHUNK if source.arrays else _FILE_CHUNK
    record_chunks = _chunks(records, chunk_size)
    worker_options = {k: options[k] for k in ("channels", "resize_policy", "image_size", "image_format",
                                              "jpeg_quality")}

    def task(chunk):
        inputs = [r.path if r.path is not None else source.arrays[r.array[0]][r.array[1]] for r in chunk]
        return inputs, worker_options

    encoded = _worker_results(workers, images.encode_chunk, record_chunks, _LazyTasks(record_chunks, task), bar)
    kept = []
    with open(staging, "wb") as out:
        for record, (_, data, height, width) in _whole_units(encoded, group, bad):
            out.write(data)
            kept.append((record, len(data), height, width))
    return kept


class _LazyTasks(Sequence):
    """Tasks built when a worker needs them, so array rows are copied chunk by chunk."""

    def __init__(self, chunks, make):
        self.chunks, self.make = chunks, make

    def __len__(self):
        return len(self.chunks)

    def __getitem__(self, index):
        return self.make(self.chunks[index])


def _write_shards(folder: str, name: str, split: str, staging: str, kept: list[tuple], options: dict,
                  shard_bytes: float, bar: ProgressBar, group: int = 1) -> list[dict]:
    """Writes the staged images as examples into shards of consecutive examples; returns manifest entries.

    The shard count is `_shard_count`; shards hold whole units of `group`
    examples (a pair when 2).
    """
    import tensorflow as tf

    units = len(kept) // group
    estimate = sum(length for _, length, _, _ in kept) + _EXAMPLE_OVERHEAD * len(kept)
    num_shards = _shard_count(units, estimate, shard_bytes, options["min_shards"])
    entries = []
    with open(staging, "rb") as staged:
        for index in range(num_shards):
            start, end = index * units // num_shards * group, (index + 1) * units // num_shards * group
            file = schema.shard_filename(name, split, index, num_shards)
            path = os.path.join(folder, file)
            with tf.io.TFRecordWriter(path) as writer:
                for record, length, height, width in kept[start:end]:
                    example = schema.make_example(
                        staged.read(length), options["image_format"], height, width, options["channels"],
                        record.source_id, label=record.label, domain=record.domain, captions=record.captions)
                    writer.write(example)
            bar.update(end - start)
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            entries.append({"file": file, "count": end - start, "sha256": digest.hexdigest()})
    return entries


def _shard_count(units: int, estimated_bytes: int, shard_bytes: float, min_shards: int) -> int:
    """Shards of a split of `units` examples (or pairs) and about `estimated_bytes`.

    ceil(bytes / shard_bytes), so no shard is much larger than asked; raised to
    `min_shards` when every shard still gets at least MIN_EXAMPLES_PER_SHARD
    units (less data gets as many such shards as it fills, at least one), so
    that distributed readers can deal whole files to up to `min_shards` input
    pipelines; never more shards than units.
    """
    by_size = math.ceil(estimated_bytes / shard_bytes)
    by_readers = min(min_shards, units // MIN_EXAMPLES_PER_SHARD)
    return min(units, max(1, by_size, by_readers))


def _counts(records: list[sources.Record], names: list[str] | None, field: str) -> dict[str, int] | None:
    if names is None:
        return None
    counter = collections.Counter(getattr(r, field) for r in records)
    return {n: counter.get(i, 0) for i, n in enumerate(names)}


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def build_dataset(
    source: str | None = None,
    output: str | None = None,
    kind: str = "auto",
    name: str | None = None,
    domains: Sequence[str] | None = None,
    captions: str | None = None,
    labels: str | None = None,
    label_names: Sequence[str] | None = None,
    label_names_file: str | None = None,
    image_size: tuple[int, int] | int | str | None = None,
    resize_policy: str = "keep",
    channels: int | None = None,
    image_format: str = "png",
    jpeg_quality: int = 95,
    test_fraction: float = 0.0,
    seed: int = 0,
    shard_size_mb: float = 64.0,
    min_shards: int = DEFAULT_MIN_SHARDS,
    num_workers: int | None = None,
    max_bad_fraction: float = 0.01,
    overwrite: bool = False,
    progress: bool = True,
    paired: bool = False,
) -> str:
    """Builds a dataset folder at `output` and returns the path of its manifest.json.

    Args are the CLI flags of the same names (`python -m tfrecords.build --helpfull`).
    `image_size` is an int, (height, width) or "HxW". `paired` stores a
    two-domain source as aligned pairs (module docstring). `label_names` is a
    list of class names for an idx or npz source, in label-index order
    (`label_names_file`: a text file of them, one per line); they go into the
    manifest's `labels`. Raises BuildError, with
    what was wrong and what to do, for anything the user can fix; nothing is
    left at `output` when the build fails.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # A spawned worker is importing the calling script, which calls build_dataset unguarded:
        # stop here, before touching any folder; the parent then encodes in its own process.
        raise BuildError("build_dataset was called while a worker process was starting; guard the calling "
                         "script with `if __name__ == \"__main__\":`.")
    source, output, captions, labels, label_names_file = (
        None if path is None else os.fspath(path) for path in (source, output, captions, labels, label_names_file))
    label_names = list(label_names) if label_names is not None and not isinstance(label_names, str) else label_names
    domains = [os.fspath(d) for d in domains] if domains else None
    arguments = dict(
        source=source, output=output, kind=kind, name=name, domains=domains,
        captions=captions, labels=labels, label_names=label_names, label_names_file=label_names_file,
        image_size=image_size, resize_policy=resize_policy, channels=channels,
        image_format=image_format, jpeg_quality=jpeg_quality, test_fraction=test_fraction, seed=seed,
        shard_size_mb=shard_size_mb, min_shards=min_shards, num_workers=num_workers,
        max_bad_fraction=max_bad_fraction, overwrite=overwrite, progress=progress, paired=bool(paired))
    checked = _check_arguments(arguments)
    name, size, channels = checked["name"], checked["image_size"], checked["channels"]
    output = os.path.normpath(output)
    _output_state(output, overwrite)
    partial = output + PARTIAL_SUFFIX
    for leftover in (partial, output + OLD_SUFFIX):
        _check_leftover(leftover)
    for folder in [source, *(domains or [])]:
        if folder and os.path.isdir(folder) and _inside(output, folder):
            raise BuildError(f"Output {output} is inside the source folder {folder}; it would be read as input "
                             "by the next build. Choose an --output outside the source.")

    if label_names_file is not None:
        label_names = sources.read_label_names_file(label_names_file)
    found = sources.discover(source, kind=kind, domains=tuple(domains) if domains else None,
                             captions=captions, labels=labels, paired=bool(paired), label_names=label_names)
    if found.num_inputs == 0:
        hint = f" ({len(found.skipped)} other files were found, e.g. {found.skipped[0]['path']}: " \
               f"{found.skipped[0]['reason']})" if found.skipped else ""
        raise BuildError(f"No images found in {source or domains}{hint}. Supported image extensions: "
                         f"{', '.join(sorted(images.IMAGE_EXTENSIONS))}.")
    found.splits = _carve_test_split(found.splits, test_fraction, int(seed), _unit_size(found))
    skipped = list(found.skipped)
    bad = _BadInputs(found.num_inputs, max_bad_fraction, skipped)

    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    _remove_stale(partial)
    with _Workers(_default_num_workers(found) if num_workers is None else int(num_workers)) as workers:
        if channels is None:
            channels = _infer_channels(found, workers, bad, progress)
        options = dict(channels=channels, resize_policy=resize_policy, image_size=size, image_format=image_format,
                       jpeg_quality=int(jpeg_quality), seed=int(seed), min_shards=int(min_shards))
        os.mkdir(partial)
        try:
            staged = {}
            bar = ProgressBar(found.num_inputs, "encoding", progress)
            for split in _split_order(found.splits):
                staging = os.path.join(partial, split + STAGING_SUFFIX)
                staged[split] = (staging, _encode_split(split, found.splits[split], found, options, staging,
                                                        workers, bad, bar))
            bar.close()
            manifest_splits, all_sizes = {}, []
            for split, (staging, kept) in staged.items():
                if not kept:
                    raise BuildError(f"The {split} split has no usable images; see the skipped inputs, fix the "
                                     "source and build again.")
                records = [k[0] for k in kept]
                manifest_splits[split] = {
                    "count": len(kept),
                    "per_class": _counts(records, found.labels, "label"),
                    "per_domain": _counts(records, found.domains, "domain"),
                }
                empty = [d for d, n in (manifest_splits[split]["per_domain"] or {}).items() if n == 0]
                if empty:
                    raise BuildError(f"Domain {empty[0]} has no usable images in the {split} split; an unpaired "
                                     "dataset needs images of both domains in every split.")
                all_sizes.extend((height, width) for _, _, height, width in kept)
            bar = ProgressBar(sum(len(kept) for _, kept in staged.values()), "writing shards", progress)
            for split, (staging, kept) in staged.items():
                manifest_splits[split]["shards"] = _write_shards(partial, name, split, staging, kept, options,
                                                                 shard_size_mb * 1024 * 1024, bar, _unit_size(found))
                os.remove(staging)
            bar.close()
            heights, widths = [h for h, _ in all_sizes], [w for _, w in all_sizes]
            manifest = {
                "schema_version": schema.SCHEMA_VERSION,
                "name": name,
                "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "source": {"kind": found.kind, "path": os.path.abspath(found.path)},
                "builder_args": arguments,
                "image": {
                    "channels": channels,
                    "format": image_format,
                    "height": heights[0] if min(heights) == max(heights) else None,
                    "width": widths[0] if min(widths) == max(widths) else None,
                    "resize_policy": resize_policy,
                    "min_height": min(heights), "max_height": max(heights),
                    "min_width": min(widths), "max_width": max(widths),
                },
                "labels": found.labels,
                "domains": found.domains,
                "has_captions": found.has_captions,
                "splits": manifest_splits,
                "skipped": skipped,
            }
            if found.paired:
                manifest["paired"] = True
            schema.write_manifest(partial, manifest)
            _publish(partial, output, overwrite)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    if progress:
        total = sum(s["count"] for s in manifest_splits.values())
        shards = sum(len(s["shards"]) for s in manifest_splits.values())
        print(f"Wrote {total} examples in {shards} shards to {output}; skipped {len(skipped)} inputs "
              f"(listed in the manifest).", file=sys.stderr)
    return os.path.join(output, schema.MANIFEST_NAME)


# ----------------------------------------------------------------------------- command line


def define_flags() -> None:
    """Declares the command-line flags; all optional so that importing this module never needs them."""
    from absl import flags

    flags.DEFINE_string("source", None, "Folder of images, idx(.gz) images file, or .npz file.")
    flags.DEFINE_string("output", None, "Dataset folder to create.")
    flags.DEFINE_enum("kind", "auto", list(sources.KINDS), "Source kind; auto detects it (see tfrecords/README.md).")
    flags.DEFINE_string("name", None, "Dataset name used in shard file names; default: the output folder's name.")
    flags.DEFINE_list("domains", None, "Two domain folders a_dir,b_dir for image-to-image translation.")
    flags.DEFINE_string("captions", None, "Captions file (JSON object or name<TAB>caption lines).")
    flags.DEFINE_string("labels", None, "idx labels file (magic 2049) for --kind=idx with an idx images --source.")
    flags.DEFINE_list("label_names", None, "Class names of an idx or npz source, in label-index order, e.g. "
                      "airplane,automobile,bird (labels otherwise are named \"0\", \"1\", ...).")
    flags.DEFINE_string("label_names_file", None, "Text file of class names, one per line in label-index order "
                        "(instead of --label_names).")
    flags.DEFINE_string("image_size", None, "Target size, 64 or HxW such as 64x48; needs a --resize_policy.")
    flags.DEFINE_enum("resize_policy", "keep", list(images.RESIZE_POLICIES),
                      "keep sizes, resize (stretch), center_crop, or pad to --image_size.")
    flags.DEFINE_enum("channels", "infer", ["infer", "1", "3", "4"],
                      "Channels stored; infer = 1 if every image is grayscale, else 3.")
    flags.DEFINE_enum("image_format", "png", list(schema.IMAGE_FORMATS), "png (lossless) or jpeg.")
    flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality 1..100 for --image_format=jpeg.")
    flags.DEFINE_float("test_fraction", 0.0, "Fraction carved into a test split when the source has none.")
    flags.DEFINE_integer("seed", 0, "Seed of the test split carve and of the shuffle before sharding.")
    flags.DEFINE_float("shard_size_mb", 64.0, "Target shard size in MiB.")
    flags.DEFINE_integer("min_shards", DEFAULT_MIN_SHARDS,
                         f"Shards per split at least (when each gets {MIN_EXAMPLES_PER_SHARD}+ examples), so that "
                         "multi-worker reading can give every input pipeline its own files; 1 = by size only.")
    flags.DEFINE_integer("num_workers", None, "Encoding processes; 1 = in this process; default: one per 1000 "
                         "image files (20000 array rows), at most one per CPU core.")
    flags.DEFINE_float("max_bad_fraction", 0.01, "Fail if more than this fraction of image inputs are unreadable.")
    flags.DEFINE_bool("overwrite", False, "Replace an existing dataset at --output (only once the new one is done).")
    flags.DEFINE_bool("progress", True, "Show a progress bar on stderr.")
    flags.DEFINE_bool("paired", False, "Two-domain builds: store aligned pairs, matching each image of domain A with "
                      "the image of the same path (any extension) in domain B, e.g. a/001.jpg with b/001.png; read "
                      "them with common.data.reader.load_paired.")


def main(argv: list[str]) -> None:
    from absl import app, flags

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    try:
        path = build_dataset(
            source=FLAGS.source, output=FLAGS.output, kind=FLAGS.kind, name=FLAGS.name,
            domains=FLAGS.domains, captions=FLAGS.captions, labels=FLAGS.labels, label_names=FLAGS.label_names,
            label_names_file=FLAGS.label_names_file, image_size=FLAGS.image_size,
            resize_policy=FLAGS.resize_policy, channels=None if FLAGS.channels == "infer" else int(FLAGS.channels),
            image_format=FLAGS.image_format, jpeg_quality=FLAGS.jpeg_quality, test_fraction=FLAGS.test_fraction,
            seed=FLAGS.seed, shard_size_mb=FLAGS.shard_size_mb, min_shards=FLAGS.min_shards, num_workers=FLAGS.num_workers,
            max_bad_fraction=FLAGS.max_bad_fraction, overwrite=FLAGS.overwrite, progress=FLAGS.progress,
            paired=FLAGS.paired)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"\ninterrupted: nothing was written to {FLAGS.output}.", file=sys.stderr)
        sys.exit(130)
    print(path)


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
