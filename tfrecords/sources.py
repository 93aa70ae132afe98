"""Finding the inputs of a dataset: which images, in which split, with which label, domain, captions.

Source kinds (see tfrecords/README.md for the folder layouts):

- `folder`: every image under a folder, unlabeled;
- `class_folders`: one subfolder per class, folder name = label;
- `domains`: two domains for translation, CycleGAN layout
  `trainA/ trainB/ testA/ testB/` or two folders given with `--domains`;
  with `paired`, the images of the two domains are matched into aligned
  pairs by their path inside the domain folder, extension ignored
  (`a/001.jpg` with `b/001.png`), and each split lists every pair as two
  consecutive records, A then B;
- `captions`: a folder of images and a captions file (JSON or TSV);
- `idx`: MNIST-style idx(.gz) files, or a folder holding the four MNIST files;
- `npz`: a NumPy archive with `images` (and optionally `labels`).

Split rule: a folder whose subfolders are all named `train`, `test` or
`validation` (with `train` among them) is read as splits, never as classes;
each split folder is then read by the same rules.

Discovery only lists files and reads array files; decoding happens later, in
the builder's worker processes.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import struct
from collections.abc import Sequence

import numpy as np

from tfrecords import images
from tfrecords.errors import BuildError

KINDS = ("auto", "folder", "class_folders", "domains", "captions", "idx", "npz")
SPLIT_NAMES = ("train", "test", "validation")
CYCLEGAN_FOLDERS = {"trainA": ("train", 0), "trainB": ("train", 1), "testA": ("test", 0), "testB": ("test", 1)}
CAPTION_FILE_NAMES = ("captions.json", "captions.tsv", "captions.txt")
_MNIST_RE = re.compile(r"^(train|t10k)-(images|labels)[.-]idx[13]-ubyte(\.gz)?$")
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049


@dataclasses.dataclass
class Record:
    """One input: a file (`path`) or a row of an array (`array` = (key, row))."""

    source_id: str
    path: str | None = None
    array: tuple[str, int] | None = None
    label: int | None = None
    domain: int | None = None
    captions: tuple[str, ...] | None = None


@dataclasses.dataclass
class Source:
    kind: str
    path: str
    splits: dict[str, list[Record]]
    labels: list[str] | None = None
    domains: list[str] | None = None
    has_captions: bool = False
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    skipped: list[dict] = dataclasses.field(default_factory=list)  # Listed, not counted as bad.
    paired: bool = False  # Every split is a list of pairs: records 2k (domain 0) and 2k + 1 (domain 1).

    @property
    def num_inputs(self) -> int:
        return sum(len(records) for records in self.splits.values())


# ----------------------------------------------------------------------------- folders


def _visible(names):
    return sorted(n for n in names if not n.startswith("."))


def _listdir(folder: str) -> tuple[list[str], list[str]]:
    """(subfolders, files) of a folder, sorted, dotfiles and dot-folders left out."""
    try:
        names = _visible(os.listdir(folder))
    except OSError as error:
        raise BuildError(
            f"Cannot list folder {folder} ({error.strerror}); check the path and its permissions.") from None
    subfolders = [n for n in names if os.path.isdir(os.path.join(folder, n))]
    files = [n for n in names if n not in subfolders]
    return subfolders, files


def _walk_files(folder: str) -> list[str]:
    """Every visible file below a folder, sorted by relative path."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = _visible(dirs)
        found.extend(os.path.join(root, f) for f in _visible(files))
    return sorted(found, key=lambda p: os.path.relpath(p, folder).split(os.sep))


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _image_records(folder: str, root: str, skipped: list[dict], ignore: frozenset = frozenset(),
                   **fields) -> list[Record]:
    """Records for every image file below `folder`; other files go to `skipped`."""
    records = []
    for path in _walk_files(folder):
        if os.path.abspath(path) in ignore:
            continue
        relative = _relative(path, root)
        if images.is_image_file(path):
            records.append(Record(source_id=relative, path=path, **fields))
        else:
            extension = os.path.splitext(path)[1] or "(none)"
            skipped.append({"path": relative, "reason": f"not an image file (extension {extension})"})
    return records


def split_folders(folder: str) -> dict[str, str] | None:
    """{split: folder} when the folder's subfolders are split names, else None."""
    subfolders, files = _listdir(folder)
    if not subfolders or not set(subfolders) <= set(SPLIT_NAMES) or "train" not in subfolders:
        return None
    loose = [f for f in files if images.is_image_file(f)]
    if loose:
        raise BuildError(
            f"{folder} holds split folders ({', '.join(subfolders)}) and also images at its top level "
            f"(e.g. {loose[0]}). Move those images into a split folder, or point --source at one split folder."
        )
    return {name: os.path.join(folder, name) for name in subfolders}


def _splits_or_root(folder: str) -> dict[str, str]:
    return split_folders(folder) or {"train": folder}


def _folder_kind(folder: str) -> str:
    """folder or class_folders, for a folder that is not a split folder."""
    subfolders, files = _listdir(folder)
    loose = [f for f in files if images.is_image_file(f)]
    if subfolders and loose:
        raise BuildError(
            f"{folder} holds both images ({loose[0]}, ...) and subfolders ({subfolders[0]}, ...), so it is "
            "neither a flat folder nor class folders. Pass --kind=folder to use every image below it "
            "unlabeled, or --kind=class_folders to use only the subfolders as classes."
        )
    return "class_folders" if subfolders else "folder"


def _read_folder(source: str, kind: str) -> Source:
    skipped: list[dict] = []
    splits: dict[str, list[Record]] = {}
    labels = None
    split_map = _splits_or_root(source)
    if kind == "auto":
        kinds = {_folder_kind(folder) for folder in split_map.values()}
        if len(kinds) > 1:
            raise BuildError(
                f"The split folders of {source} differ: some hold class subfolders, some images only. "
                "Give every split the same layout, or pass --kind=folder or --kind=class_folders."
            )
        kind = kinds.pop()
    if kind == "folder":
        for split, folder in split_map.items():
            splits[split] = _image_records(folder, source, skipped)
    else:
        class_folders = {split: _listdir(folder)[0] for split, folder in split_map.items()}
        labels = sorted(set().union(*class_folders.values()))
        if not labels:
            raise BuildError(f"{source} has no class subfolders; use --kind=folder for a flat folder of images.")
        for split, folder in split_map.items():
            records = []
            for name in class_folders[split]:
                for path in _walk_files(os.path.join(folder, name)):
                    relative = _relative(path, source)
                    if images.is_image_file(path):
                        records.append(Record(source_id=relative, path=path, label=labels.index(name)))
                    else:
                        extension = os.path.splitext(path)[1] or "(none)"
                        skipped.append({"path": relative, "reason": f"not an image file (extension {extension})"})
            for file in _listdir(folder)[1]:
                skipped.append({"path": _relative(os.path.join(folder, file), source),
                                "reason": "file outside the class folders"})
            splits[split] = records
    return Source(kind=kind, path=source, splits=splits, labels=labels, skipped=skipped)


def _is_cyclegan_layout(folder: str) -> bool:
    subfolders, _ = _listdir(folder)
    return bool(subfolders) and set(subfolders) <= set(CYCLEGAN_FOLDERS) and {"trainA", "trainB"} <= set(subfolders)


def _pair_key(record: Record, domain_folder: str) -> str:
    """The name that pairs an image with its counterpart: its path inside the domain folder, no extension."""
    return os.path.splitext(_relative(record.path, domain_folder))[0]


def _examples(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _pair_split(split: str, keyed: dict[int, list[tuple[str, Record]]], names: list[str]) -> list[Record]:
    """One split's records as aligned pairs, A then B, in order of their pair name.

    `keyed` maps each domain to its (pair name, record) list. Raises BuildError
    naming the files when a name occurs twice in one domain or has no partner.
    """
    tables = []
    for domain in (0, 1):
        table: dict[str, Record] = {}
        duplicates: list[str] = []
        for key, record in keyed.get(domain, []):
            if key in table:
                duplicates += [table[key].source_id, record.source_id]
            table[key] = record
        if duplicates:
            raise BuildError(
                f"--paired pairs images by their path without the extension, but domain {names[domain]} of the "
                f"{split} split has several images of one name: {_examples(sorted(set(duplicates)))}. Keep one "
                "image per name in each domain."
            )
        tables.append(table)
    unmatched = sorted(tables[0][k].source_id for k in set(tables[0]) - set(tables[1]))
    unmatched += sorted(tables[1][k].source_id for k in set(tables[1]) - set(tables[0]))
    if unmatched:
        raise BuildError(
            f"--paired needs, for every image, a partner of the same path (any extension) in the other domain "
            f"folder; {len(unmatched)} image(s) of the {split} split have none: {_examples(unmatched)}. Add the "
            "missing partners or remove these images, or build without --paired for unpaired domains."
        )
    return [tables[domain][key] for key in sorted(tables[0]) for domain in (0, 1)]


def _read_domains(source: str | None, domain_dirs: tuple[str, str] | None, paired: bool = False) -> Source:
    skipped: list[dict] = []
    keyed: dict[str, dict[int, list[tuple[str, Record]]]] = {}  # split -> domain -> [(pair name, record)]

    def add(split: str, domain: int, folder: str, root: str) -> None:
        records = _image_records(folder, root, skipped, domain=domain)
        keyed.setdefault(split, {}).setdefault(domain, []).extend((_pair_key(r, folder), r) for r in records)

    if domain_dirs is None:
        if source is None or not _is_cyclegan_layout(source):
            raise BuildError(
                f"{source} is not a two-domain folder: expected subfolders trainA/ and trainB/ "
                "(and optionally testA/ testB/), or pass --domains=a_dir,b_dir."
            )
        for sub in _listdir(source)[0]:
            split, domain = CYCLEGAN_FOLDERS[sub]
            add(split, domain, os.path.join(source, sub), source)
        root, names = source, ["A", "B"]
    else:
        resolved = []
        for folder in domain_dirs:
            if source and not os.path.isabs(folder) and os.path.isdir(os.path.join(source, folder)):
                folder = os.path.join(source, folder)
            if not os.path.isdir(folder):
                raise BuildError(f"Domain folder {folder} does not exist; --domains takes two folders, a_dir,b_dir.")
            resolved.append(os.path.normpath(folder))
        names = [os.path.basename(f) for f in resolved]
        if names[0] == names[1] or not all(names):
            names = ["A", "B"]
        for domain, folder in enumerate(resolved):
            parent = os.path.dirname(os.path.abspath(folder))  # Source ids start with the domain folder's name.
            for split, split_folder in _splits_or_root(folder).items():
                add(split, domain, split_folder, parent)
        root = source or os.path.commonpath([os.path.abspath(f) for f in resolved])
    splits: dict[str, list[Record]] = {}
    for split, by_domain in keyed.items():
        if paired:
            splits[split] = _pair_split(split, by_domain, names)
        else:
            splits[split] = [record for domain in sorted(by_domain) for _, record in by_domain[domain]]
            if domain_dirs is None:
                splits[split].sort(key=lambda r: (r.domain, r.source_id))
    return Source(kind="domains", path=root, splits=splits, domains=names, skipped=skipped, paired=paired)


# ----------------------------------------------------------------------------- captions


def read_captions(path: str) -> dict[str, list[str]]:
    """Captions per image name from a JSON object or TSV lines, see tfrecords/README.md."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise BuildError(f"Cannot read captions file {path} ({error}); it must be UTF-8 text.") from None
    captions: dict[str, list[str]] = {}
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise BuildError(f"Captions file {path} is not valid JSON ({error}).") from None
        if not isinstance(data, dict):
            raise BuildError(
                f"Captions file {path} must hold a JSON object mapping image file name to a caption "
                'or a list of captions, e.g. {"img.png": ["a cat", "a small cat"]}.'
            )
        for name, value in data.items():
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise BuildError(f"Captions file {path}: the entry for {name!r} must be a string or a list of strings.")
            captions.setdefault(name, []).extend(v.strip() for v in values if v.strip())
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            if "\t" not in line:
                raise BuildError(
                    f"Captions file {path}, line {number}: expected `image_name<TAB>caption`, got {line[:60]!r}."
                )
            name, caption = line.split("\t", 1)
            name = re.sub(r"#\d+$", "", name.strip())  # Flickr-style `img.jpg#0` numbering.
            if caption.strip():
                captions.setdefault(name, []).append(caption.strip())
    return captions


def _read_captions_source(source: str, captions_file: str | None) -> Source:
    if captions_file is None:
        found = [os.path.join(source, n) for n in CAPTION_FILE_NAMES if os.path.isfile(os.path.join(source, n))]
        if not found:
            raise BuildError(
                f"No captions file for {source}: pass --captions=path, or put captions.json or captions.tsv in it."
            )
        captions_file = found[0]
    if not os.path.isfile(captions_file):
        raise BuildError(f"Captions file {captions_file} does not exist.")
    table = read_captions(captions_file)
    ignore = frozenset({os.path.abspath(captions_file)})
    skipped: list[dict] = []
    splits: dict[str, list[Record]] = {}
    used: set[str] = set()
    for split, folder in _splits_or_root(source).items():
        records = []
        for record in _image_records(folder, source, skipped, ignore=ignore):
            keys = (record.source_id, _relative(record.path, folder), os.path.basename(record.path))
            key = next((k for k in keys if k in table), None)
            if key is None:
                skipped.append({"path": record.source_id, "reason": f"no caption in {os.path.basename(captions_file)}"})
                continue
            used.add(key)
            record.captions = tuple(table[key])
            records.append(record)
        splits[split] = records
    for name in sorted(set(table) - used):
        skipped.append({"path": name, "reason": f"named in {os.path.basename(captions_file)} but no such image"})
    return Source(kind="captions", path=source, splits=splits, has_captions=True, skipped=skipped)


# ----------------------------------------------------------------------------- arrays


def _open_maybe_gzip(path: str):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def idx_magic(path: str) -> int | None:
    try:
        with _open_maybe_gzip(path) as f:
            head = f.read(4)
    except (OSError, EOFError):
        return None
    return struct.unpack(">I", head)[0] if len(head) == 4 else None


def read_idx(path: str, expected_magic: int) -> np.ndarray:
    """The uint8 array of an idx(.gz) file; the big-endian header is checked against the data size."""
    try:
        with _open_maybe_gzip(path) as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise BuildError(f"Cannot read idx file {path} ({error}); it may be truncated, download it again.") from None
    kind = "images" if expected_magic == IDX_IMAGES_MAGIC else "labels"
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise BuildError(f"{path} is not an idx file (bad magic number); expected MNIST-style {kind}.")
    type_code, ndim = data[2], data[3]
    magic = struct.unpack(">I", data[:4])[0]
    if type_code != 0x08:
        raise BuildError(f"{path}: idx element type 0x{type_code:02x} is not supported; only unsigned bytes (0x08).")
    if magic != expected_magic and not (expected_magic == IDX_IMAGES_MAGIC and ndim == 4):
        raise BuildError(f"{path} has idx magic {magic}; {kind} files have magic {expected_magic}.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise BuildError(f"{path}: idx header is truncated.")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    size = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != size:
        raise BuildError(
            f"{path}: the header promises {size} bytes of data {tuple(shape)}, the file holds "
            f"{len(data) - header}; the file is truncated or corrupt, download it again."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _check_images_array(array: np.ndarray, where: str) -> np.ndarray:
    if array.dtype != np.uint8:
        raise BuildError(f"{where}: images must be uint8, got {array.dtype}; convert them with `.astype(np.uint8)` "
                         "after scaling to 0..255.")
    if array.ndim == 4 and array.shape[-1] not in (1, 3, 4) or array.ndim not in (3, 4):
        raise BuildError(f"{where}: images must have shape [N, H, W] or [N, H, W, C] with C in 1, 3, 4; "
                         f"got {array.shape}.")
    return array


def _label_indices(values: np.ndarray, names: list[str] | None, where: str) -> tuple[np.ndarray, list[str]]:
    """Integer label indices and label names for integer or string labels."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise BuildError(f"{where}: labels must be one-dimensional, got shape {values.shape}.")
    if values.dtype.kind in "US":
        strings = values.astype(str)
        names = names or sorted(set(strings.tolist()))
        lookup = {n: i for i, n in enumerate(names)}
        missing = sorted(set(strings.tolist()) - set(lookup))
        if missing:
            raise BuildError(f"{where}: labels {missing[:5]} are not in label_names.")
        return np.array([lookup[s] for s in strings], dtype=np.int64), names
    if values.dtype.kind not in "iu":
        raise BuildError(f"{where}: labels must be integers or strings, got {values.dtype}.")
    if values.size and values.min() < 0:
        raise BuildError(f"{where}: labels must be non-negative class indices.")
    count = int(values.max()) + 1 if values.size else 0
    if names is None:
        names = [str(i) for i in range(count)]
    elif len(names) < count:
        raise BuildError(f"{where}: {len(names)} label names but the labels go up to {count - 1} ({count} classes); "
                         "give one name per class index, in index order.")
    return values.astype(np.int64), names


def check_label_names(names: Sequence[str] | None) -> list[str] | None:
    """`names` as a list of stripped strings; BuildError for empty or repeated names."""
    if names is None:
        return None
    if isinstance(names, str):
        raise BuildError(f"label_names must be a list of names (on the command line: --label_names=a,b,c); "
                         f"got the string {names!r}.")
    names = [str(n).strip() for n in names]
    if not names:
        raise BuildError("label_names is empty; give one name per class index, e.g. --label_names=cat,dog.")
    if "" in names:
        raise BuildError(f"label_names holds an empty name (position {names.index('')}); every class needs a name.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BuildError(f"label_names repeats {repeated}; class names must be unique.")
    return names


def read_label_names_file(path: str) -> list[str]:
    """Class names from a UTF-8 text file, one per line in class-index order; blank lines are skipped."""
    if not os.path.isfile(path):
        raise BuildError(f"Label names file {path} does not exist; give a text file with one class name per line.")
    try:
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    except UnicodeDecodeError as error:
        raise BuildError(f"Label names file {path} is not UTF-8 text ({error}).") from None
    if not names:
        raise BuildError(f"Label names file {path} holds no names; write one class name per line.")
    return names


def _array_source(kind: str, path: str, parts: dict[str, tuple[np.ndarray, np.ndarray | None]],
                  label_names: list[str] | None, id_names: dict[str, str]) -> Source:
    """A Source from {split: (images, labels or None)}."""
    arrays, splits, labels_seen = {}, {}, []
    for split, (array, labels) in parts.items():
        if labels is not None and len(labels) != len(array):
            raise BuildError(f"{id_names[split]}: {len(array)} images but {len(labels)} labels; they must match.")
        labels_seen.append(labels is not None)
        arrays[split] = array
    if any(labels_seen) and not all(labels_seen):
        raise BuildError(f"{path}: some splits have labels and some do not; give labels for every split.")
    names = None
    if label_names and not all(labels_seen):
        raise BuildError(f"{path} has no labels, so there are no classes for the label names to name; "
                         + ("pass the idx labels file with --labels, or " if kind == "idx" else "")
                         + "drop --label_names.")
    if all(labels_seen):
        # One label vocabulary over every split.
        joined = np.concatenate([parts[s][1] for s in parts])
        _, names = _label_indices(joined, label_names, path)
    for split, (array, labels) in parts.items():
        indices = _label_indices(labels, names, id_names[split])[0] if labels is not None else None
        splits[split] = [
            Record(source_id=f"{id_names[split]}#{row}", array=(split, row),
                   label=None if indices is None else int(indices[row]))
            for row in range(len(array))
        ]
    return Source(kind=kind, path=path, splits=splits, labels=names, arrays=arrays)


def _read_idx_source(source: str, labels_file: str | None, label_names: list[str] | None = None) -> Source:
    if os.path.isdir(source):
        found = {}
        for name in _listdir(source)[1]:
            match = _MNIST_RE.match(name)
            if match:
                found[(match[1], match[2])] = os.path.join(source, name)
        if ("train", "images") not in found:
            raise BuildError(
                f"{source} has no MNIST files; expected train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), "
                "t10k-images-idx3-ubyte(.gz), t10k-labels-idx1-ubyte(.gz)."
            )
        parts, id_names = {}, {}
        for prefix, split in (("train", "train"), ("t10k", "test")):
            if (prefix, "images") not in found:
                continue
            image_path = found[(prefix, "images")]
            array = _check_images_array(read_idx(image_path, IDX_IMAGES_MAGIC), image_path)
            label_path = found.get((prefix, "labels"))
            parts[split] = (array, read_idx(label_path, IDX_LABELS_MAGIC) if label_path else None)
            id_names[split] = os.path.basename(image_path)
        return _array_source("idx", source, parts, label_names, id_names)
    array = _check_images_array(read_idx(source, IDX_IMAGES_MAGIC), source)
    labels = None
    if labels_file is not None:
        if not os.path.isfile(labels_file):
            raise BuildError(f"Labels file {labels_file} does not exist.")
        labels = read_idx(labels_file, IDX_LABELS_MAGIC)
    return _array_source("idx", source, {"train": (array, labels)}, label_names,
                         {"train": os.path.basename(source)})


def _read_npz(source: str, label_names: list[str] | None = None) -> Source:
    try:
        with np.load(source, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except ValueError as error:
        raise BuildError(f"{source} cannot be loaded without pickle ({error}); store plain uint8/int arrays.") from None
    except (OSError, EOFError, KeyError) as error:
        raise BuildError(f"{source} is not a readable .npz archive ({error}).") from None
    base = os.path.basename(source)
    names = contents.get("label_names")
    names = [str(n) for n in names.tolist()] if names is not None else None
    names = label_names or names
    if "images" in contents:
        parts = {"train": (_check_images_array(contents["images"], f"{source}[images]"), contents.get("labels"))}
        return _array_source("npz", source, parts, names, {"train": base})
    if "x_train" in contents:
        parts = {}
        for split in ("train", "test"):
            if f"x_{split}" in contents:
                parts[split] = (_check_images_array(contents[f"x_{split}"], f"{source}[x_{split}]"),
                                contents.get(f"y_{split}"))
        return _array_source("npz", source, parts, names, {s: f"{base}:{s}" for s in parts})
    raise BuildError(
        f"{source} has arrays {sorted(contents)}; expected `images` [N,H,W] or [N,H,W,C] uint8 (and optionally "
        "`labels`), or the Keras layout x_train/y_train/x_test/y_test."
    )


# ----------------------------------------------------------------------------- dispatch


def detect_kind(source: str) -> str:
    """The source kind auto-detection picks for a path (folder layouts in the module docstring)."""
    if os.path.isfile(source):
        if source.lower().endswith(".npz"):
            return "npz"
        if idx_magic(source) in (IDX_IMAGES_MAGIC, 0x00000804):
            return "idx"
        raise BuildError(
            f"{source} is a file but neither a .npz archive nor an idx images file (magic 2051). "
            "Point --source at a folder of images, an idx(.gz) file or a .npz file."
        )
    _, files = _listdir(source)
    if any(_MNIST_RE.match(f) for f in files):
        return "idx"
    if any(f in CAPTION_FILE_NAMES for f in files):
        return "captions"
    if _is_cyclegan_layout(source):
        return "domains"
    return "auto-folder"


def discover(source: str | None, kind: str = "auto", domains: tuple[str, str] | None = None,
             captions: str | None = None, labels: str | None = None, paired: bool = False,
             label_names: Sequence[str] | None = None) -> Source:
    """Lists the inputs of a source; raises BuildError for anything unusable.

    `label_names` names the classes of an idx or npz source by index (its
    labels are integers, or strings that the names then order); other kinds
    name their classes themselves (class folders) or have none.

    With `paired`, a two-domain source is listed as aligned pairs (see the
    module docstring); other kinds have no pairs and are refused.
    """
    if kind not in KINDS:
        raise BuildError(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    if source is None and not domains:
        raise BuildError("No source given: pass --source=path (a folder, an idx(.gz) file or a .npz file).")
    if source is not None and not os.path.exists(source):
        raise BuildError(f"Source {source} does not exist; check the path.")
    if kind == "auto":
        if domains:
            kind = "domains"
        elif captions:
            kind = "captions"
        elif labels:
            kind = "idx"
        else:
            kind = detect_kind(source)
    if labels and kind != "idx":
        raise BuildError("--labels is the idx labels file and only applies to --kind=idx.")
    if domains and kind != "domains":
        raise BuildError("--domains only applies to --kind=domains.")
    if paired and kind != "domains":
        raise BuildError(
            f"--paired pairs the images of two domains, and {source} is a {kind.replace('auto-', '')} source. "
            "Pass --domains=a_dir,b_dir, or a --source holding trainA/ trainB/ (testA/ testB/) folders."
        )
    label_names = check_label_names(label_names)
    if label_names and kind not in ("idx", "npz"):
        raise BuildError(
            f"--label_names names the integer labels of idx and npz sources; a {kind.replace('auto-', '')} source "
            "takes its class names from its class folders (rename the folders) or has no labels. "
            "Drop --label_names."
        )
    folder_kinds = ("folder", "class_folders", "captions", "domains", "auto-folder")
    if kind in folder_kinds and source and not os.path.isdir(source):
        raise BuildError(f"--kind={kind} needs a folder as --source; {source} is a file.")
    if kind == "npz":
        return _read_npz(source, label_names)
    if kind == "idx":
        return _read_idx_source(source, labels, label_names)
    if kind == "domains":
        return _read_domains(source, tuple(domains) if domains else None, paired)
    if kind == "captions":
        return _read_captions_source(source, captions)
    return _read_folder(source, "auto" if kind == "auto-folder" else kind)
