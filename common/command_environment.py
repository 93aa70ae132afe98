"""Environment defaults of the command-line entry points, set before TensorFlow loads.

TensorFlow reads these variables once, when it is imported, so they are set by
the packages of the commands (`apps/__init__.py`, `tfrecords/__init__.py`)
while Python locates a `python -m apps.<name>.<command>` (or
`python -m tfrecords.build`) module, before that module imports TensorFlow.
Each is a default: a variable already in the environment is never changed.

- `TF_CPP_MIN_LOG_LEVEL=1`: TensorFlow's C++ INFO lines (oneDNN, CPU
  instruction and buffer-size notices) are hidden; its warnings and errors
  still show. When this default applies, TensorFlow's Python INFO lines
  (checkpoint sharding times, SavedModel asset paths and fingerprints) are
  hidden too: the
  `tensorflow` logger is set to WARNING, and the `absl` logger drops INFO
  records of TensorFlow's modules.
- `TF_ENABLED_DEVICE_TYPES=CPU`, only on Linux when the NVIDIA driver library
  (`libcuda.so.1`) cannot be loaded and no TensorFlow device plugin is
  installed: TensorFlow then skips probing for a GPU, whose failing `cuInit`
  call is otherwise logged as an error on every start of a CPU-only machine.
  A machine with the driver, or with any device plugin, keeps every device.

`TF_CPP_MIN_LOG_LEVEL=0` (or any explicit value) shows every line again,
C++ and Python; setting `TF_ENABLED_DEVICE_TYPES` yourself keeps the GPU probe.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import sys

QUIET_LOG_LEVEL = "1"  # TF_CPP_MIN_LOG_LEVEL: 0 all, 1 hides INFO, 2 also WARNING, 3 also ERROR


def has_gpu_runtime() -> bool:
    """Whether TensorFlow could find an accelerator here: the NVIDIA driver loads, or a device plugin exists.

    Loading `libcuda.so.1` is what TensorFlow itself does first; the library
    stays loaded, so TensorFlow's own load finds it in place.
    """
    if not sys.platform.startswith("linux"):
        return True  # no CUDA probe to avoid; leave every platform's devices alone
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        pass
    for entry in sys.path:
        if entry and glob.glob(os.path.join(entry, "tensorflow-plugins", "*.so")):
            return True
    return False


def _hide_tensorflow_info(record: logging.LogRecord) -> bool:
    """A filter of the `absl` logger: False (drop) for INFO and below logged from TensorFlow's own modules.

    Some TensorFlow modules log through absl's logger rather than `tensorflow`'s;
    absl INFO lines of other code (this project's included) still show.
    """
    return record.levelno >= logging.WARNING or f"{os.sep}tensorflow{os.sep}" not in record.pathname


def apply_defaults(environ=None) -> dict:
    """Sets the defaults the module docstring lists; returns the variables it set.

    Does nothing once TensorFlow is imported (the values would be read too late).
    """
    environ = os.environ if environ is None else environ
    if "tensorflow" in sys.modules:
        return {}
    applied = {}
    if "TF_CPP_MIN_LOG_LEVEL" not in environ:
        applied["TF_CPP_MIN_LOG_LEVEL"] = environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_LOG_LEVEL
        logging.getLogger("tensorflow").setLevel(logging.WARNING)
        from absl import logging as absl_logging  # absl's own logger class, not a plain one named "absl"

        absl_logging.get_absl_logger().addFilter(_hide_tensorflow_info)
    if "TF_ENABLED_DEVICE_TYPES" not in environ and not has_gpu_runtime():
        applied["TF_ENABLED_DEVICE_TYPES"] = environ["TF_ENABLED_DEVICE_TYPES"] = "CPU"
    return applied


def apply_defaults_for_command() -> None:
    """`apply_defaults()` when Python is locating a `-m` module to run, else nothing.

    While `python -m package.module` imports the parent packages, `sys.argv[0]`
    is "-m" (Python's documented behaviour), so a package's `__init__` calling
    this sets the defaults for its commands and leaves programs that merely
    import the package (tests, notebooks) untouched.
    """
    if sys.argv[:1] == ["-m"]:
        apply_defaults()
