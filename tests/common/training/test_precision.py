"""common.training.precision: the policy --precision=auto picks, its warnings, and the dtype-policy scope."""

import keras
import pytest

from common.training import precision

X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile
processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile
"""
ARM_CPUINFO = """processor\t: 0
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 bf16 i8mm
"""


def test_cpu_flags_reads_x86_and_arm_cpuinfo(tmp_path):
    x86, arm = tmp_path / "x86", tmp_path / "arm"
    x86.write_text(X86_CPUINFO)
    arm.write_text(ARM_CPUINFO)
    assert {"avx2", "avx512_bf16", "amx_bf16"} <= precision.cpu_flags(str(x86))
    assert "vendor_id" not in precision.cpu_flags(str(x86)) and "GenuineIntel" not in precision.cpu_flags(str(x86))
    assert {"asimd", "bf16"} <= precision.cpu_flags(str(arm))
    assert precision.cpu_flags(str(tmp_path / "missing")) == frozenset()


@pytest.mark.parametrize("value, expected", [("0", False), ("false", False), ("1", True), ("", True)])
def test_onednn_switch_follows_the_environment(value, expected):
    assert precision.onednn_enabled({"TF_ENABLE_ONEDNN_OPTS": value}) is expected


@pytest.mark.parametrize("gpus, flags, onednn, expected", [
    ([(8, 0)], {"avx2"}, True, "mixed_float16"),
    ([(7, 0), (8, 6)], set(), True, "mixed_float16"),
    ([(6, 1)], {"avx512_bf16"}, True, "float32"),  # a GPU without tensor cores
    ([], {"avx2", "avx512_bf16"}, True, "mixed_bfloat16"),
    ([], {"amx_bf16"}, True, "mixed_bfloat16"),
    ([], {"asimd", "bf16"}, True, "mixed_bfloat16"),
    ([], {"avx512_bf16"}, False, "float32"),  # oneDNN off: no fast bfloat16 kernels
    ([], {"avx2", "avx512f"}, True, "float32"),
    ([], set(), True, "float32"),
])
def test_auto_picks_the_fast_policy_for_the_hardware(gpus, flags, onednn, expected):
    chosen, reason = precision.choose_precision(gpu_capabilities=gpus, flags=flags, onednn=onednn)
    assert chosen == expected
    assert reason  # said in the log with the policy


@pytest.mark.parametrize("policy, gpus, flags, onednn, warns", [
    ("mixed_bfloat16", [], {"avx2"}, True, True),
    ("mixed_bfloat16", [], {"avx512_bf16"}, False, True),
    ("mixed_bfloat16", [], {"avx512_bf16"}, True, False),
    ("mixed_float16", [], {"avx512_bf16"}, True, True),
    ("mixed_float16", [(6, 1)], set(), True, True),
    ("mixed_float16", [(8, 0)], set(), True, False),
    ("float32", [], set(), True, False),
])
def test_a_policy_known_to_be_slow_gets_a_warning(policy, gpus, flags, onednn, warns):
    warning = precision.slow_precision_warning(policy, gpu_capabilities=gpus, flags=flags, onednn=onednn)
    assert (warning is not None) == warns
    if warns:
        assert "--precision" in warning


def test_dtype_policy_takes_only_resolved_policies():
    with pytest.raises(ValueError, match="resolve 'auto'"):
        with precision.dtype_policy("auto"):
            pass
    with precision.dtype_policy("mixed_bfloat16"):
        assert keras.mixed_precision.dtype_policy().name == "mixed_bfloat16"
    assert keras.mixed_precision.dtype_policy().name == "float32"
