"""Numeric precision of a training run through Keras dtype policies.

Follows Micikevicius et al. 2018, "Mixed Precision Training"
(https://arxiv.org/abs/1710.03740): layers compute in float16 or bfloat16 while
variables stay float32; with float16 the loss is multiplied by a dynamic loss
scale before differentiation so small gradients do not underflow, and the
gradients are divided by it again before they are applied.

In Keras 3 that is `keras.mixed_precision.set_dtype_policy(...)` for the layers
and `keras.optimizers.LossScaleOptimizer` for the scaling. A custom
`train_step` calls `optimizer.scale_loss(loss)` before taking gradients
(identity for a plain optimizer) and `apply_gradients` unscales, skips the
update if a gradient is not finite, and adapts the scale. bfloat16 has the
float32 exponent range and needs no loss scaling. Apps keep discriminator
logits and loss math in float32 (final layers with `dtype="float32"`).

`--precision=auto` (the default) picks the policy that is fast on the
hardware at hand (`choose_precision`): mixed_float16 on GPUs with tensor cores
(compute capability 7.0 or newer), mixed_bfloat16 on CPUs with native bfloat16
arithmetic (x86 AVX512_BF16 or AMX-BF16, Arm BF16) when oneDNN is on, float32
otherwise. A bfloat16 policy on a CPU without those instructions runs its
convolutions through emulated conversions, several times slower than float32;
float16 on a CPU has no fast kernels at all: both get a warning
(`slow_precision_warning`). A resumed run keeps the precision it was started
with, whatever `auto` would pick on the machine it resumes on.
"""

from __future__ import annotations

import contextlib
import os
import platform

import keras
import tensorflow as tf

from common.training.runtime_config import AUTO_PRECISION, PRECISIONS

# CPU feature flags (Linux /proc/cpuinfo names) of native bfloat16 arithmetic.
NATIVE_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
TENSOR_CORE_COMPUTE_CAPABILITY = (7, 0)


@contextlib.contextmanager
def dtype_policy(precision: str):
    """Sets the global Keras dtype policy for the block and restores the previous one after."""
    if precision not in PRECISIONS or precision == AUTO_PRECISION:
        raise ValueError(f"precision must be a resolved policy ({', '.join(p for p in PRECISIONS if p != AUTO_PRECISION)}), "
                         f"got {precision!r}; resolve 'auto' with choose_precision first.")
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def wrap_optimizer(optimizer: keras.optimizers.Optimizer, precision: str) -> keras.optimizers.Optimizer:
    """The optimizer wrapped in a dynamic LossScaleOptimizer under mixed_float16, else unchanged."""
    if precision == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def loss_scale(optimizer) -> float | None:
    """The current dynamic loss scale of a LossScaleOptimizer, None for other optimizers."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return float(keras.ops.convert_to_numpy(optimizer.dynamic_scale))
    return None


def learning_rate(optimizer) -> float:
    """The optimizer's current learning rate (a schedule evaluated at its iteration count)."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags the OS reports (Linux: the `flags` / `Features` lines); empty if unknown."""
    try:
        with open(cpuinfo_path) as f:
            text = f.read()
    except OSError:
        return frozenset()
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def onednn_enabled(environ=None) -> bool:
    """Whether TensorFlow's oneDNN CPU kernels (which carry the fast bfloat16 paths) are on."""
    environ = os.environ if environ is None else environ
    value = environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is None:
        return platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64")
    return value.strip().lower() not in ("0", "false", "no", "off")


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """Compute capability of every visible GPU ((0, 0) where TensorFlow does not report one)."""
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability", (0, 0))))
    return capabilities


def choose_precision(*, gpu_capabilities=None, flags=None, onednn=None) -> tuple[str, str]:
    """(policy, reason) for `--precision=auto` on this machine (arguments override what is detected)."""
    gpu_capabilities = gpu_compute_capabilities() if gpu_capabilities is None else list(gpu_capabilities)
    if gpu_capabilities:
        if all(tuple(c) >= TENSOR_CORE_COMPUTE_CAPABILITY for c in gpu_capabilities):
            shown = ", ".join(f"{c[0]}.{c[1]}" for c in gpu_capabilities)
            return "mixed_float16", f"GPUs with tensor cores (compute capability {shown})"
        return "float32", "a GPU without tensor cores (compute capability below 7.0)"
    flags = cpu_flags() if flags is None else frozenset(flags)
    onednn = onednn_enabled() if onednn is None else onednn
    native = sorted(NATIVE_BFLOAT16_FLAGS & flags)
    if native and onednn:
        return "mixed_bfloat16", f"no GPU; the CPU has native bfloat16 ({', '.join(native)}) and oneDNN is on"
    if native:
        return "float32", ("no GPU; the CPU has native bfloat16 but oneDNN is off (TF_ENABLE_ONEDNN_OPTS=0), "
                           "so bfloat16 would run without its fast kernels")
    return "float32", "no GPU and no native bfloat16 on this CPU"


def slow_precision_warning(precision: str, *, gpu_capabilities=None, flags=None, onednn=None) -> str | None:
    """A warning when `precision` is known to be slow on this machine, else None."""
    gpu_capabilities = gpu_compute_capabilities() if gpu_capabilities is None else list(gpu_capabilities)
    if gpu_capabilities:
        if precision == "mixed_float16" and not all(
                tuple(c) >= TENSOR_CORE_COMPUTE_CAPABILITY for c in gpu_capabilities):
            return ("--precision=mixed_float16 on a GPU without tensor cores is rarely faster than float32 "
                    "and adds loss scaling; consider --precision=float32.")
        return None
    if precision == "mixed_float16":
        return ("--precision=mixed_float16 on a CPU: there are no fast float16 CPU kernels, so this runs "
                "several times slower than float32. Use --precision=auto or float32.")
    if precision == "mixed_bfloat16":
        flags = cpu_flags() if flags is None else frozenset(flags)
        onednn = onednn_enabled() if onednn is None else onednn
        if not (NATIVE_BFLOAT16_FLAGS & flags) or not onednn:
            return ("--precision=mixed_bfloat16 on a CPU without native bfloat16 instructions (or with oneDNN "
                    "off) emulates them and runs several times slower than float32. Use --precision=auto or float32.")
    return None
