"""The DCGAN commands as a new user runs them: no error lines on a CPU, a prompt exit after SIGTERM.

The subprocesses get the user's environment minus any TF_* / CUDA_VISIBLE_DEVICES
setting (`tests.commands`), so the defaults of `common.command_environment` are what is tested.
"""

import json
import os
import signal
import subprocess
import time

from tests.commands import error_lines, start_command

TIMEOUT_SECONDS = 240
TINY = ["--image_size=16", "--channels=1", "--base_filters=4", "--latent_dim=8", "--batch_size=4"]
# SIGTERM to exit, the bound at the default configs: what the tiny run needs is the rest of a
# step of milliseconds and the write of a checkpoint of a few kilobytes (together well under a second
# on a loaded 2-core machine); the teardown this bound also catches took 30-60 s.
EXIT_BOUND_SECONDS = 10


def _logged_steps(model_dir):
    path = os.path.join(model_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["step"] for line in f if line.endswith("\n")]


def test_sigterm_exit_time_and_quiet_stderr(tmp_path):
    """Train until metrics.jsonl shows two steps (its lines are written as they come: --log_every is
    far away), SIGTERM, and time the exit; then export and evaluate the run. None prints an error line."""
    model_dir = str(tmp_path / "run")
    train = start_command("apps.dcgan.train", f"--model_dir={model_dir}", "--steps=100000", "--log_every=10000", *TINY)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while len(_logged_steps(model_dir)) < 2 and train.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert train.poll() is None, train.communicate()[1][-3000:]
    assert len(_logged_steps(model_dir)) >= 2, "no metrics.jsonl lines while training"
    signalled = time.monotonic()
    train.send_signal(signal.SIGTERM)
    try:
        _out, err = train.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        train.kill()
        raise
    seconds = time.monotonic() - signalled
    assert train.returncode == 128 + signal.SIGTERM, err[-3000:]
    reached = max(_logged_steps(model_dir))
    assert os.path.exists(os.path.join(model_dir, f"ckpt-{reached}.index"))
    assert seconds < EXIT_BOUND_SECONDS, f"exit took {seconds:.1f} s after SIGTERM"
    assert error_lines(err) == [], err[-3000:]

    # Every log line shown (TF_CPP_MIN_LOG_LEVEL=0): the signatures' inputs need no renaming, so
    # TensorFlow's INFO line "contains input name(s) 800, 802, ... with unsupported characters" is absent.
    export = start_command("apps.dcgan.export", f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'export'}",
                           env_overrides={"TF_CPP_MIN_LOG_LEVEL": "0"})
    _out, err = export.communicate(timeout=TIMEOUT_SECONDS)
    assert export.returncode == 0, err[-3000:]
    assert error_lines(err) == [], err[-3000:]
    assert "Writing fingerprint" in err  # INFO lines are shown
    assert "unsupported characters" not in err

    # Scored in the features of a dataset classifier trained for one epoch on the default digits.
    evaluate = start_command("apps.dcgan.evaluate", f"--model_dir={model_dir}", "--num_samples=64", "--batch_size=32",
                             "--classifier_epochs=1", f"--classifier_path={tmp_path / 'classifier.keras'}",
                             f"--cache_dir={tmp_path / 'cache'}", f"--output={tmp_path / 'eval.json'}")
    _out, err = evaluate.communicate(timeout=TIMEOUT_SECONDS)
    assert evaluate.returncode == 0, err[-3000:]
    assert os.path.exists(tmp_path / "eval.json")
    assert error_lines(err) == [], err[-3000:]
