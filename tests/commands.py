"""Running the suite's `python -m` commands as a new user would, for tests of their output and exit.

The subprocesses get the user's environment minus any TF_* / CUDA_VISIBLE_DEVICES
setting, so the defaults of `common.command_environment` are what is tested.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_command(*args, env_overrides=None, cwd=ROOT):
    """`python -m <args>` started with pipes for stdout and stderr (text)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_") and k != "CUDA_VISIBLE_DEVICES"}
    env.update(env_overrides or {})
    return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def error_lines(stderr):
    """Lines TensorFlow's C++ logging marks as errors (E<date> ..., e.g. E0000) or worse (F...)."""
    return [line for line in stderr.splitlines() if line[:1] in ("E", "F") and line[1:5].isdigit()]
