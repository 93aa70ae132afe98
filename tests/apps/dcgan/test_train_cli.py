"""The DCGAN command lines in subprocesses: --helpfull, SIGTERM, resume, export.

A subprocess pays the TensorFlow import (5-10 s), so the checks are grouped
into few processes and independent ones run at the same time. The network is
tiny (16x16 grayscale, 4 base filters) and trains on the offline default
dataset (no --data).
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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 180
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


def test_helpfull_sigterm_checkpoint_resume_and_export(tmp_path):
    """1. --helpfull of both CLIs while a run starts; SIGTERM after two steps -> a checkpoint
    at the step reached and exit status 143. 2. The same command with more steps resumes
    from it while the export CLI exports a copy of the interrupted run's directory."""
    model_dir = str(tmp_path / "run")
    command = ["apps.dcgan.train", f"--model_dir={model_dir}", "--log_every=1", "--ema_decay=0.9",
               "--decay_start_fraction=0.5", "--real_label=0.9", *TINY]
    train = _start(*command, "--steps=100000")
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
    train.send_signal(signal.SIGTERM)
    code, out, err = _finish(train)
    assert code == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM received" in err and "Run the same command again to resume" in err
    reached = max(_logged_steps(model_dir))
    assert os.path.exists(os.path.join(model_dir, f"ckpt-{reached}.index"))

    snapshot, export_dir = str(tmp_path / "snapshot"), str(tmp_path / "export")
    shutil.copytree(model_dir, snapshot)
    resume = _start(*command, f"--steps={reached + 2}")
    export = _start("apps.dcgan.export", f"--model_dir={snapshot}", f"--export_dir={export_dir}")
    code, out, err = _finish(resume)
    assert code == 0, err[-3000:]
    assert f"Resuming dcgan from ckpt-{reached} (step {reached} of {reached + 2})" in out
    assert _logged_steps(model_dir)[-2:] == [reached + 1, reached + 2]
    code, out, err = _finish(export)
    assert code == 0, err[-3000:]
    assert f"Exported step {reached} (EMA generator)" in out
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
