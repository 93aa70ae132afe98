"""The environment defaults of the commands: set before TensorFlow loads, never over a user's value."""

import logging
import os
import subprocess
import sys

from common import command_environment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _record(pathname, level):
    return logging.LogRecord("absl", level, pathname, 1, "message", None, None)


def test_tensorflow_info_records_are_dropped_and_everything_else_kept():
    tf_module = os.path.join("site-packages", "tensorflow", "python", "checkpoint", "functional_saver.py")
    own_module = os.path.join(ROOT, "common", "data", "reader.py")
    keep = command_environment._hide_tensorflow_info
    assert not keep(_record(tf_module, logging.INFO))
    assert keep(_record(tf_module, logging.WARNING))
    assert keep(_record(own_module, logging.INFO))


def _environment_of_command(env_overrides, remove=()):
    """TF_* variables as seen by a `python -m apps...` module, from a subprocess that never imports TensorFlow."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_") and k not in remove}
    env.update(env_overrides)
    code = ("import os, sys; from common import command_environment as c; "
            "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), os.environ.get('TF_ENABLED_DEVICE_TYPES'), "
            "c.has_gpu_runtime(), 'tensorflow' in sys.modules)")
    # `python -m apps.<module>` imports apps/__init__.py with sys.argv[0] == "-m": emulate with runpy.
    runner = ("import sys; sys.argv = ['-m']; import apps; sys.argv = ['x']; exec(%r)" % code)
    out = subprocess.run([sys.executable, "-c", runner], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    return out


def test_command_defaults_and_user_values_win():
    level, devices, gpu, tf_loaded = _environment_of_command({})
    assert level == "1" and tf_loaded == "False"
    assert devices == ("None" if gpu == "True" else "CPU")
    level, devices, _, _ = _environment_of_command({"TF_CPP_MIN_LOG_LEVEL": "0", "TF_ENABLED_DEVICE_TYPES": "CPU,GPU"})
    assert (level, devices) == ("0", "CPU,GPU")


def test_importing_apps_from_a_program_changes_nothing():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    out = subprocess.run([sys.executable, "-c", "import os, apps; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["None"]


def test_apply_defaults_does_nothing_once_tensorflow_is_loaded():
    import tensorflow  # noqa: F401  (loaded by the test process anyway)

    environ = {}
    assert command_environment.apply_defaults(environ) == {} and environ == {}
