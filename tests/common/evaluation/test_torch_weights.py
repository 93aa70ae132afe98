"""The .pth reader on files written here byte by byte (PyTorch is not installed)."""

import pickle
import struct
import zipfile

import numpy as np
import pytest

from common.evaluation import torch_weights


# Pickle opcodes (protocol 2), as torch.save emits them for a state dict.
def _text(s):
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _int(i):
    return b"J" + struct.pack("<i", i)  # BININT


def _tuple(items):
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"  # GLOBAL


_EMPTY_ORDERED_DICT = _global("collections", "OrderedDict") + b")R"  # OrderedDict(()) via REDUCE


def _state_dict_pickle(tensors, legacy=False):
    """tensors: list of (name, storage_key, storage_numel, offset, size, stride)."""
    out = b"\x80\x02" + _EMPTY_ORDERED_DICT
    for name, key, numel, offset, size, stride in tensors:
        pid = [_text("storage"), _global("torch", "FloatStorage"), _text(key), _text("cpu"), _int(numel)]
        if legacy:
            pid.append(b"N")  # no view
        args = [_tuple(pid) + b"Q",  # BINPERSID
                _int(offset), _tuple([_int(s) for s in size]), _tuple([_int(s) for s in stride]),
                b"\x89", _EMPTY_ORDERED_DICT]  # requires_grad=False, backward_hooks
        out += _text(name) + _global("torch._utils", "_rebuild_tensor_v2") + _tuple(args) + b"R" + b"s"
    # torch also stores the module metadata as an attribute, set by BUILD.
    out += b"}" + _text("_metadata") + _EMPTY_ORDERED_DICT + b"s" + b"b"
    return out + b"."


_STORAGES = {"0": np.arange(6, dtype=np.float32) - 2.5, "1": np.linspace(0, 1, 20, dtype=np.float32)}
_TENSORS = [
    ("conv.weight", "0", 6, 0, (2, 3, 1, 1), (3, 1, 1, 1)),
    ("bn.running_mean", "1", 20, 2, (2, 3), (3, 1)),     # offset into a shared storage
    ("fc.weight", "1", 20, 2, (3, 2), (1, 3)),           # transposed view of the same elements
]
_EXPECTED = {
    "conv.weight": _STORAGES["0"].reshape(2, 3, 1, 1),
    "bn.running_mean": _STORAGES["1"][2:8].reshape(2, 3),
    "fc.weight": _STORAGES["1"][2:8].reshape(2, 3).T,
}


def _write_zip_pth(path, data_pkl, storages):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", b"3\n")
        archive.writestr("archive/byteorder", b"little")
        for key, values in storages.items():
            archive.writestr(f"archive/data/{key}", values.astype("<f4").tobytes())


def _write_legacy_pth(path, data_pkl, storages):
    with open(path, "wb") as file:
        file.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
        file.write(pickle.dumps(1001, protocol=2))
        file.write(pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                 "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))
        file.write(data_pkl)
        file.write(pickle.dumps(sorted(storages), protocol=2))
        for key in sorted(storages):
            file.write(struct.pack("<q", storages[key].size) + storages[key].astype("<f4").tobytes())


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_reads_tensors_of_a_pth(tmp_path, layout):
    path = str(tmp_path / "weights.pth")
    if layout == "zip":
        _write_zip_pth(path, _state_dict_pickle(_TENSORS), _STORAGES)
    else:
        _write_legacy_pth(path, _state_dict_pickle(_TENSORS, legacy=True), _STORAGES)
    state = torch_weights.read_state_dict(path)
    assert list(state) == list(_EXPECTED)
    for name, expected in _EXPECTED.items():
        assert state[name].dtype == np.float32
        np.testing.assert_array_equal(state[name], expected)


def test_reads_npz_of_named_arrays(tmp_path):
    path = str(tmp_path / "weights.npz")
    np.savez(path, **_EXPECTED)
    state = torch_weights.read_state_dict(path)
    for name, expected in _EXPECTED.items():
        np.testing.assert_array_equal(state[name], expected)


@pytest.mark.parametrize("payload", [
    b"\x80\x02" + _global("os", "system") + _text("echo unsafe") + b"\x85R.",
    pickle.dumps(eval, protocol=4),  # STACK_GLOBAL builtins.eval
])
def test_refuses_pickles_that_import_other_globals(tmp_path, payload):
    path = str(tmp_path / "malicious.pth")
    _write_zip_pth(path, payload, {})
    with pytest.raises(torch_weights.UnsafePickleError, match="refused to load the global"):
        torch_weights.read_state_dict(path)


def test_refuses_legacy_header_with_globals(tmp_path):
    path = str(tmp_path / "malicious_legacy.pth")
    with open(path, "wb") as file:
        file.write(b"\x80\x02" + _global("os", "system") + _text("echo unsafe") + b"\x85R.")
    with pytest.raises(torch_weights.UnsafePickleError, match="os.system"):
        torch_weights.read_state_dict(path)


def test_clear_errors_for_missing_truncated_and_out_of_bounds(tmp_path):
    with pytest.raises(torch_weights.WeightsFileError, match="does not exist"):
        torch_weights.read_state_dict(str(tmp_path / "absent.pth"))
    truncated = str(tmp_path / "truncated.pth")
    _write_zip_pth(truncated, _state_dict_pickle(_TENSORS), {"0": _STORAGES["0"][:3], "1": _STORAGES["1"]})
    with pytest.raises(torch_weights.WeightsFileError, match="bytes"):
        torch_weights.read_state_dict(truncated)
    out_of_bounds = str(tmp_path / "bounds.pth")
    _write_zip_pth(out_of_bounds, _state_dict_pickle([("w", "0", 6, 4, (2, 3), (3, 1))]), _STORAGES)
    with pytest.raises(torch_weights.WeightsFileError, match="reads past"):
        torch_weights.read_state_dict(out_of_bounds)
