"""Faults injected into the files of a training run, shared by tests/faults and the fault campaign.

Each function damages files in place the way storage does: a run of zeroed
bytes (a bad sector, an incomplete copy), flipped bits, a truncated file, a
deleted file. Offsets default to the middle of the file so that the damage
lands in tensor bytes, not in a header only.
"""

from __future__ import annotations

import glob
import os

import numpy as np


def checkpoint_file(model_dir, step: int, part: str) -> str:
    """The `.data` or `.index` file of `ckpt-<step>` in `model_dir`."""
    pattern = os.path.join(str(model_dir), f"ckpt-{step}.data-*" if part == "data" else f"ckpt-{step}.index")
    (path,) = glob.glob(pattern)
    return path


def zero_bytes(path: str, count: int = 64, offset: int | None = None) -> None:
    size = os.path.getsize(path)
    count = min(count, size)
    offset = (size - count) // 2 if offset is None else offset
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\0" * count)


def flip_bits(path: str, count: int = 8, seed: int = 0) -> list[int]:
    """Flips `count` single bits at random byte positions in the middle half of the file; returns the positions."""
    size = os.path.getsize(path)
    rng = np.random.default_rng(seed)
    positions = sorted(int(p) for p in rng.integers(size // 4, max(size // 4 + 1, 3 * size // 4), count))
    with open(path, "r+b") as f:
        for position in positions:
            f.seek(position)
            byte = f.read(1)[0]
            f.seek(position)
            f.write(bytes([byte ^ (1 << int(rng.integers(8)))]))
    return positions


def truncate(path: str, fraction: float = 0.5) -> None:
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * fraction))


def delete(path: str) -> None:
    os.remove(path)


def damage(kind: str, model_dir, step: int, seed: int = 0) -> str:
    """Applies one of CHECKPOINT_DAMAGES to `ckpt-<step>`; returns the damaged file."""
    part, how = kind.split(":")
    path = checkpoint_file(model_dir, step, part)
    if how == "zero":
        zero_bytes(path)
    elif how == "flip":
        flip_bits(path, seed=seed)
    elif how == "truncate":
        truncate(path)
    elif how == "delete":
        delete(path)
    else:
        raise ValueError(f"unknown damage {kind!r}")
    return path


CHECKPOINT_DAMAGES = ("data:zero", "data:flip", "data:truncate", "index:zero", "index:flip", "index:truncate",
                      "data:delete")


def listing(directory) -> dict[str, tuple[int, float]]:
    """relative path -> (size, mtime) of every file under `directory`."""
    found = {}
    for root, _, files in os.walk(str(directory)):
        for name in files:
            path = os.path.join(root, name)
            stat = os.stat(path)
            found[os.path.relpath(path, str(directory))] = (stat.st_size, stat.st_mtime_ns)
    return found
