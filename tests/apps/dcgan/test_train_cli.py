"""The DCGAN command lines in subprocesses: --helpfull, SIGTERM then resume, export, refused change.

A subprocess pays the TensorFlow import (5-10 s), so the checks are grouped
into few processes and independent ones run at the same time. The network is
tiny (16x16 grayscale, 4 base filters) and trains on the offline default
dataset (no --data).
"""

import json
import os
import signal
import subprocess
import sys
import time

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


def test_helpfull_of_train_and_export():
    train, export = _start("apps.dcgan.train", "--helpfull"), _start("apps.dcgan.export", "--helpfull")
    code, out, err = _finish(train)
    assert code == 1, err[-2000:]  # absl's help flags exit with status 1
    for flag in ("--data", "--model_dir", "--batch_size", "--steps", "--epochs", "--seed", "--precision",
                 "--strategy", "--steps_per_execution", "--jit_compile", "--log_every", "--checkpoint_every",
                 "--sample_every", "--on_nan", "--profile_steps", "--dry_run", "--image_size", "--latent_dim",
                 "--ema_decay"):
        assert flag in out, flag
    code, out, err = _finish(export)
    assert code == 1, err[-2000:]
    for flag in ("--model_dir", "--export_dir", "--version", "--overwrite", "--[no]ema"):
        assert flag in out, flag


def test_sigterm_saves_a_checkpoint_and_the_same_command_resumes(tmp_path):
    model_dir = str(tmp_path / "run")
    train = _start("apps.dcgan.train", f"--model_dir={model_dir}", "--steps=100000", "--log_every=1",
                   "--ema_decay=0.9", *TINY)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while len(_logged_steps(model_dir)) < 2 and train.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    train.send_signal(signal.SIGTERM)
    code, out, err = _finish(train)
    assert code == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM received" in err
    reached = max(_logged_steps(model_dir))
    assert os.path.exists(os.path.join(model_dir, f"ckpt-{reached}.index"))

    resume = _start("apps.dcgan.train", f"--model_dir={model_dir}", f"--steps={reached + 2}", "--log_every=1",
                    "--ema_decay=0.9", *TINY)
    code, out, err = _finish(resume)
    assert code == 0, err[-3000:]
    assert f"Resuming dcgan from ckpt-{reached} (step {reached} of {reached + 2})" in out
    assert _logged_steps(model_dir)[-2:] == [reached + 1, reached + 2]

    export_dir = str(tmp_path / "export")
    export = _start("apps.dcgan.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    changed = _start("apps.dcgan.train", f"--model_dir={model_dir}", "--dry_run", "--ema_decay=0.9",
                     *TINY[:-2], "--latent_dim=16", TINY[-1])
    code, out, err = _finish(changed)
    assert code == 2, err[-3000:]
    assert '"latent_dim": 16' in out  # the dry run printed the resolved config first
    assert "--latent_dim: 8 in the model directory, 16 now" in err
    code, out, err = _finish(export)
    assert code == 0, err[-3000:]
    assert f"Exported step {reached + 2} (EMA generator)" in out
    info = json.load(open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")))
    assert info["metadata"]["step"] == reached + 2 and info["metadata"]["ema"] is True
