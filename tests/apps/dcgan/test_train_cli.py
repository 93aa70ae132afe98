"""The DCGAN command lines as a new user runs them: --helpfull, SIGTERM, resume, export, evaluate.

A subprocess pays the TensorFlow import (5-10 s), so the checks are grouped
into few processes and independent ones run at the same time. The network is
tiny (16x16 grayscale, 4 base filters) and trains on the offline default
dataset (no --data). The train, export and evaluate commands get the user's
environment minus any TF_* / CUDA_VISIBLE_DEVICES setting (`tests.commands`),
so the defaults of `common.command_environment` are what is tested: no error
line on a CPU.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from tests.commands import error_lines, start_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 240
# SIGTERM to exit, the bound at the default configs (BUILD.md, "Time from SIGTERM to exit"): what the
# tiny run needs is the rest of a step of milliseconds and the write of a checkpoint of a few kilobytes
# (together well under a second on a loaded 2-core machine); the teardown this bound also catches took 30-60 s.
EXIT_BOUND_SECONDS = 10
TINY = ["--image_size=16", "--channels=1", "--base_filters=4", "--latent_dim=8", "--batch_size=4"]


def _start(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process, timeout=TIMEOUT_SECONDS):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"timed out:\n{out[-2000:]}\n{err[-2000:]}")
    return process.returncode, out, err


def _logged_steps(model_dir):
    path = os.path.join(model_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line)["step"] for line in f if line.endswith("\n")]


def test_helpfull_sigterm_resume_export_and_evaluate(tmp_path):
    """1. --helpfull of both CLIs while a run starts; SIGTERM after two steps -> exit within
    EXIT_BOUND_SECONDS with status 143 and a checkpoint at the step reached. 2. The same command with
    more steps resumes from it while export (every log line shown) and evaluate read a copy of the
    interrupted run's directory. No train, export or evaluate process prints an error line."""
    model_dir = str(tmp_path / "run")
    command = ["apps.dcgan.train", f"--model_dir={model_dir}", "--log_every=1", "--ema_decay=0.9",
               "--decay_start_fraction=0.5", "--real_label=0.9", *TINY]
    train = start_command(*command, "--steps=100000")
    helps = [_start("apps.dcgan.train", "--helpfull"), _start("apps.dcgan.export", "--helpfull")]

    code, out, err = _finish(helps[0])
    assert code == 1, err[-2000:]  # absl's help flags exit with status 1
    for flag in ("data", "model_dir", "batch_size", "steps", "epochs", "seed", "precision", "strategy",
                 "steps_per_execution", "jit_compile", "log_every", "checkpoint_every", "sample_every", "on_nan",
                 "profile_steps", "dry_run", "image_size", "latent_dim", "ema_decay"):
        assert f"--{flag}:" in out or f"--[no]{flag}:" in out, flag
    code, out, err = _finish(helps[1])
    assert code == 1, err[-2000:]
    for flag in ("--model_dir:", "--export_dir:", "--version:", "--[no]overwrite:", "--[no]ema:"):
        assert flag in out, flag

    deadline = time.monotonic() + TIMEOUT_SECONDS
    while len(_logged_steps(model_dir)) < 2 and train.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert train.poll() is None, train.communicate()[1][-3000:]
    assert len(_logged_steps(model_dir)) >= 2, "no metrics.jsonl lines while training"
    signalled = time.monotonic()
    train.send_signal(signal.SIGTERM)
    code, out, err = _finish(train)
    seconds = time.monotonic() - signalled
    assert code == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM received" in err and "Run the same command again to resume" in err
    assert seconds < EXIT_BOUND_SECONDS, f"exit took {seconds:.1f} s after SIGTERM"
    assert error_lines(err) == [], err[-3000:]
    reached = max(_logged_steps(model_dir))
    assert os.path.exists(os.path.join(model_dir, f"ckpt-{reached}.index"))

    snapshot, export_dir = str(tmp_path / "snapshot"), str(tmp_path / "export")
    shutil.copytree(model_dir, snapshot)
    resume = _start(*command, f"--steps={reached + 2}")
    # Every log line shown (TF_CPP_MIN_LOG_LEVEL=0): the signatures' inputs need no renaming, so
    # TensorFlow's INFO line "contains input name(s) 800, 802, ... with unsupported characters" is absent.
    export = start_command("apps.dcgan.export", f"--model_dir={snapshot}", f"--export_dir={export_dir}",
                           env_overrides={"TF_CPP_MIN_LOG_LEVEL": "0"})
    # Scored in the features of a dataset classifier trained for one epoch on the default digits.
    evaluate = start_command("apps.dcgan.evaluate", f"--model_dir={snapshot}", "--num_samples=64", "--batch_size=32",
                             "--classifier_epochs=1", f"--classifier_path={tmp_path / 'classifier.keras'}",
                             f"--cache_dir={tmp_path / 'cache'}", f"--output={tmp_path / 'eval.json'}")
    code, out, err = _finish(resume)
    assert code == 0, err[-3000:]
    assert f"Resuming dcgan from ckpt-{reached} (step {reached} of {reached + 2})" in out
    assert _logged_steps(model_dir)[-2:] == [reached + 1, reached + 2]
    code, out, err = _finish(export)
    assert code == 0, err[-3000:]
    assert f"Exported step {reached} (EMA generator)" in out
    assert error_lines(err) == [], err[-3000:]
    assert "Writing fingerprint" in err  # INFO lines are shown
    assert "unsupported characters" not in err
    code, out, err = _finish(evaluate)
    assert code == 0, err[-3000:]
    assert os.path.exists(tmp_path / "eval.json")
    assert error_lines(err) == [], err[-3000:]
    saved = json.load(open(os.path.join(model_dir, "config.json")))
    assert saved["model"]["decay_start_fraction"] == 0.5 and saved["model"]["real_label"] == 0.9
    # --decay_start_fraction spans the command's --steps: the constant 2e-4 of the
    # 100,000-step run, then 0 at the last step of the resumed (reached + 2)-step run.
    rates = {}
    for path in glob.glob(os.path.join(model_dir, "tensorboard", "**", "events.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "learning_rate/g_optimizer":
                    rates[event.step] = float(tf.make_ndarray(value.tensor))
    assert rates[1] == pytest.approx(2e-4) and rates[reached + 2] == pytest.approx(0.0), rates
    info = json.load(open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")))
    assert info["metadata"]["step"] == reached and info["metadata"]["ema"] is True
