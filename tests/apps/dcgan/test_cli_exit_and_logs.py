"""The DCGAN commands as a new user runs them: no error lines on a CPU, a prompt exit after SIGTERM.

The subprocesses get the user's environment minus any TF_* / CUDA_VISIBLE_DEVICES
setting, so the defaults of `common.command_environment` are what is tested.
"""

import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 240
TINY = ["--image_size=16", "--channels=1", "--base_filters=4", "--latent_dim=8", "--batch_size=4"]
# SIGTERM to exit: the checkpoint of a tiny model takes well under a second; the
# teardown this bound catches took 30-60 s. Generous for a loaded machine.
EXIT_BOUND_SECONDS = 20


def _start(*args, env_overrides=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_") and k != "CUDA_VISIBLE_DEVICES"}
    env.update(env_overrides or {})
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _logged_steps(model_dir):
    path = os.path.join(model_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["step"] for line in f if line.endswith("\n")]


def _error_lines(stderr):
    """Lines TensorFlow's C++ logging marks as errors (E<date> ...) or worse (F...)."""
    return [line for line in stderr.splitlines() if line[:1] in ("E", "F") and line[1:5].isdigit()]


def test_sigterm_exit_time_and_quiet_stderr(tmp_path):
    """Train until metrics.jsonl shows two steps (its lines are written as they come: --log_every is
    far away), SIGTERM, and time the exit; then export the run. Neither prints an error line."""
    model_dir = str(tmp_path / "run")
    train = _start("apps.dcgan.train", f"--model_dir={model_dir}", "--steps=100000", "--log_every=10000", *TINY)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while len(_logged_steps(model_dir)) < 2 and train.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert train.poll() is None, train.communicate()[1][-3000:]
    assert len(_logged_steps(model_dir)) >= 2, "no metrics.jsonl lines while training"
    signalled = time.monotonic()
    train.send_signal(signal.SIGTERM)
    try:
        out, err = train.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        train.kill()
        raise
    seconds = time.monotonic() - signalled
    assert train.returncode == 128 + signal.SIGTERM, err[-3000:]
    reached = max(_logged_steps(model_dir))
    assert os.path.exists(os.path.join(model_dir, f"ckpt-{reached}.index"))
    assert seconds < EXIT_BOUND_SECONDS, f"exit took {seconds:.1f} s after SIGTERM"
    assert _error_lines(err) == [], err[-3000:]

    # Every log line shown (TF_CPP_MIN_LOG_LEVEL=0): the signatures' inputs need no renaming, so
    # TensorFlow's INFO line "contains input name(s) 800, 802, ... with unsupported characters" is absent.
    export = _start("apps.dcgan.export", f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'export'}",
                    env_overrides={"TF_CPP_MIN_LOG_LEVEL": "0"})
    out, err = export.communicate(timeout=TIMEOUT_SECONDS)
    assert export.returncode == 0, err[-3000:]
    assert _error_lines(err) == [], err[-3000:]
    assert "Writing fingerprint" in err  # INFO lines are shown
    assert "unsupported characters" not in err
