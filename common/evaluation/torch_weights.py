"""Reads PyTorch state-dict files (.pth) into NumPy arrays without PyTorch and without running their code.

A `.pth` written by `torch.save(state_dict)` is a pickle whose only globals are
`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and storage classes
such as `torch.FloatStorage`; tensor bytes are stored outside the pickle. Two
container layouts exist:

- zip (torch >= 1.6): a zip archive `<root>/data.pkl`, `<root>/data/<key>` (raw
  storage bytes), optionally `<root>/byteorder`; the pickle's persistent ids are
  `('storage', StorageClass, key, location, numel)`.
- legacy (torch < 1.6, e.g. files released in 2019): consecutive pickles (magic
  number, protocol version, system info, the object, the sorted storage keys)
  followed by every storage as an int64 element count and its raw bytes; the
  persistent ids are `('storage', StorageClass, key, location, numel, view)`.

Both are parsed with a `pickle.Unpickler` whose `find_class` returns only this
module's own stand-ins for the names above and refuses every other global (for
example `os.system` or `builtins.eval`) with `UnsafePickleError`. Nothing from the
file is imported or called, and PyTorch is never imported.

A `.npz` of the same named arrays (written with `numpy.savez`, read with
`allow_pickle=False`) is accepted everywhere a `.pth` is.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import Any

import numpy as np

__all__ = ["WeightsFileError", "UnsafePickleError", "read_state_dict", "read_pth"]


class WeightsFileError(ValueError):
    """A weights file is missing, unreadable or not a state dict."""


class UnsafePickleError(WeightsFileError):
    """A pickle asks for a global outside the small set a state dict needs."""


_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",  # widened to float32 on read
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C


class _StorageType:
    """Stands in for `torch.<Name>Storage`: remembers the element dtype only."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]

    @property
    def item_size(self) -> int:
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize

    def from_bytes(self, raw: bytes, numel: int, big_endian: bool) -> np.ndarray:
        if self.dtype == "bfloat16":
            as_uint = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2", count=numel)
            return (as_uint.astype(np.uint32) << 16).view(np.float32)
        dtype = np.dtype(self.dtype).newbyteorder(">" if big_endian else "<")
        return np.frombuffer(raw, dtype=dtype, count=numel).astype(np.dtype(self.dtype).newbyteorder("="))


class _Storage:
    """A storage referenced by a persistent id; its array is filled in after unpickling."""

    def __init__(self, storage_type: _StorageType, key: str, numel: int):
        self.storage_type, self.key, self.numel = storage_type, key, int(numel)
        self.array: np.ndarray | None = None
        self.view: tuple[_Storage, int, int] | None = None  # (root, offset, size) for legacy views

    def resolved(self) -> np.ndarray:
        if self.view is not None:
            root, offset, size = self.view
            return root.resolved()[offset:offset + size]
        if self.array is None:
            raise WeightsFileError(f"Storage {self.key!r} is referenced by the pickle but missing from the file.")
        return self.array


class _PendingTensor:
    """What `_rebuild_tensor_v2(storage, offset, size, stride, ...)` returns here."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _Storage):
            raise WeightsFileError("A tensor in the pickle is not backed by a storage persistent id.")
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def to_numpy(self) -> np.ndarray:
        flat = self.storage.resolved()
        if len(self.size) != len(self.stride) or any(s < 0 for s in self.stride):
            raise WeightsFileError(f"Tensor of size {self.size} has invalid strides {self.stride}.")
        if 0 in self.size:
            return np.zeros(self.size, dtype=flat.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if self.offset < 0 or last >= flat.shape[0]:
            raise WeightsFileError(
                f"Tensor of size {self.size} at offset {self.offset} reads past its storage of {flat.shape[0]} "
                "elements; the file is corrupt.")
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=tuple(s * item for s in self.stride), writeable=False)
        return np.array(view)  # contiguous copy


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_SAFE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a state dict uses, each to a stand-in defined in this module."""

    def __init__(self, file, source: str, allow_storages: bool = True):
        super().__init__(file)
        self.source = source
        self.allow_storages = allow_storages
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS and self.allow_storages:
            return _SAFE_GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES and self.allow_storages:
            return _StorageType(name)
        raise UnsafePickleError(
            f"{self.source}: refused to load the global {module}.{name}. A weights file needs only tensors, "
            "OrderedDict and torch storage classes; this one asks to import or call something else, which "
            "could run code. Not loaded. Use the published weights file, or convert it to .npz with a "
            "trusted PyTorch install (numpy.savez(path, **{k: v.numpy() for k, v in state_dict.items()})).")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise WeightsFileError(f"{self.source}: unsupported persistent id {pid!r:.200}.")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = _Storage(storage_type, key, numel)
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # legacy view into a root storage: (view_key, offset, size)
            view_key, offset, size = view
            child = _Storage(storage_type, str(view_key), int(size))
            child.view = (storage, int(offset), int(size))
            return child
        return storage


def _resolve(obj: Any) -> Any:
    if isinstance(obj, _PendingTensor):
        return obj.to_numpy()
    if isinstance(obj, dict):
        return collections.OrderedDict((key, _resolve(value)) for key, value in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(value) for value in obj)
    return obj


def _read_zip(path: str) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl")]
        if len(pickles) != 1:
            raise WeightsFileError(f"{path}: a zip .pth holds exactly one data.pkl; found {len(pickles)}.")
        root = pickles[0][: -len("data.pkl")]
        big_endian = False
        if root + "byteorder" in names:
            big_endian = archive.read(root + "byteorder").strip() == b"big"
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path)
        obj = unpickler.load()
        for key, storage in unpickler.storages.items():
            entry = f"{root}data/{key}"
            if entry not in names:
                raise WeightsFileError(f"{path}: storage {entry} is referenced by data.pkl but missing.")
            raw = archive.read(entry)
            needed = storage.numel * storage.storage_type.item_size
            if len(raw) < needed:
                raise WeightsFileError(f"{path}: storage {entry} holds {len(raw)} bytes, {needed} expected.")
            storage.array = storage.storage_type.from_bytes(raw, storage.numel, big_endian)
    return obj


def _read_legacy(path: str) -> Any:
    with open(path, "rb") as file:
        header = _RestrictedUnpickler(file, path, allow_storages=False)
        try:
            magic = header.load()
        except UnsafePickleError:
            raise
        except Exception as error:  # not a pickle at all
            raise WeightsFileError(f"{path}: neither a zip nor a legacy .pth file ({error}).") from None
        if magic != _LEGACY_MAGIC_NUMBER:
            raise WeightsFileError(f"{path}: not a PyTorch file (wrong magic number).")
        header.load()  # protocol version
        sys_info = header.load()
        big_endian = isinstance(sys_info, dict) and sys_info.get("little_endian") is False
        unpickler = _RestrictedUnpickler(file, path)
        obj = unpickler.load()
        keys = _RestrictedUnpickler(file, path, allow_storages=False).load()
        for key in keys:
            storage = unpickler.storages.get(str(key))
            if storage is None:
                raise WeightsFileError(f"{path}: storage {key!r} is listed but not referenced.")
            (numel,) = struct.unpack(">q" if big_endian else "<q", file.read(8))
            raw = file.read(numel * storage.storage_type.item_size)
            if numel < storage.numel or len(raw) < storage.numel * storage.storage_type.item_size:
                raise WeightsFileError(f"{path}: storage {key!r} is truncated.")
            storage.array = storage.storage_type.from_bytes(raw, storage.numel, big_endian)
    return obj


def read_pth(path: str) -> Any:
    """The object a .pth holds, with every tensor as a NumPy array."""
    if not os.path.isfile(path):
        raise WeightsFileError(f"Weights file {path} does not exist.")
    obj = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    return _resolve(obj)


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """Name -> array from a .pth (zip or legacy) or .npz state dict.

    A checkpoint dict holding the weights under "state_dict" is unwrapped.
    """
    if not os.path.isfile(path):
        raise WeightsFileError(f"Weights file {path} does not exist.")
    if path.endswith(".npz"):
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except ValueError as error:
            raise WeightsFileError(f"{path}: not a .npz of plain arrays ({error}).") from None
    state = read_pth(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsFileError(f"{path}: holds a {type(state).__name__}, not a state dict of named tensors.")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, np.ndarray)}
    if not tensors:
        raise WeightsFileError(f"{path}: holds no tensors.")
    return tensors
