"""Faults during a run: kill -9, SIGTERM/SIGINT in a step and in an evaluation, a damaged TFRecord shard, NaN.

Runs use the tiny GAN of tests.common.training.test_runtime. Signals are
sent by the process to itself from a callback, so they land at a chosen
point; kill -9 needs a process of its own (two, started together, killed at
steps drawn from a seeded generator). `tests/benchmarks/fault_campaign.py`
repeats these on real app runs with more trials and signals sent from outside.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from common.evaluation import periodic_evaluation
from common.training import runtime
from tests.common.data.test_reader import write_dataset
from common.training.runtime_config import RuntimeConfig
from tests.common.training import test_runtime
from tests.common.training.test_runtime import NAN_POSITION, tiny_dataset_fn
from tests.faults import injection

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBPROCESS_TIMEOUT = 180
REFERENCE_STEPS = 80


def run_tiny(model_dir, *, extra_callbacks=None, dataset_fn=None, **run_options):
    """`test_runtime.run_tiny` with extra callbacks, reading `data` through the runtime's reader when given."""
    options = dict(model_dir=str(model_dir), batch_size=4, log_every=1, num_samples=4, strategy="default")
    options.update(run_options)
    run = RuntimeConfig(**options)
    config = test_runtime.TinyConfig()
    if dataset_fn is None:
        dataset_fn = runtime.image_dataset_fn(run, config) if run.data else tiny_dataset_fn(run.batch_size)
    return runtime.train(
        app="tiny", config=config, run=run, build_model=test_runtime.build_tiny_gan,
        build_optimizers=test_runtime.tiny_optimizers, dataset_fn=dataset_fn, extra_callbacks=extra_callbacks,
        stream=io.StringIO())


def logged(model_dir) -> list[dict]:
    """Every complete line of metrics.jsonl, in order (a line cut by kill -9 is left out)."""
    path = os.path.join(model_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """step -> losses of an uninterrupted run (a checkpoint every 3 steps)."""
    model_dir = tmp_path_factory.mktemp("reference")
    run_tiny(model_dir, steps=REFERENCE_STEPS, checkpoint_every=3, sample_every=0)
    return {line.pop("step"): line for line in logged(model_dir)}


def assert_losses_match(model_dir, reference):
    """Every logged line, of the interrupted and the resumed run alike, equals the uninterrupted run's."""
    lines = logged(model_dir)
    assert lines
    for line in lines:
        step = line.pop("step")
        assert line == reference[step], step


def test_kill_9_at_random_steps_resumes_with_the_uninterrupted_losses(tmp_path, reference):
    kill_after = random.Random(18).sample(range(4, 30), 2)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    runs = []
    for trial, steps in enumerate(kill_after):
        model_dir = str(tmp_path / f"trial{trial}")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.common.training.test_runtime", f"--model_dir={model_dir}",
             "--steps=100000", "--checkpoint_every=3", "--sample_every=0", "--strategy=default"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        runs.append((model_dir, steps, process))
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    running = list(runs)
    while running and time.monotonic() < deadline:  # kill each as soon as it has logged its step
        for run in list(running):
            model_dir, steps, process = run
            if len(logged(model_dir)) >= steps or process.poll() is not None:
                process.kill()
                running.remove(run)
        time.sleep(0.005)
    for model_dir, steps, process in runs:
        process.kill()
        _, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
        assert process.returncode == -signal.SIGKILL, err[-2000:]
        killed_at = max(line["step"] for line in logged(model_dir))
        assert steps <= killed_at < REFERENCE_STEPS - 3
        result = run_tiny(model_dir, steps=killed_at + 3, checkpoint_every=3, sample_every=0)
        assert result.start_step <= killed_at and result.start_step % 3 == 0
        assert result.step == killed_at + 3
        assert_losses_match(model_dir, reference)


class SignalAt(keras.callbacks.Callback):
    """Sends `signum` to this process as training step `step` begins."""

    def __init__(self, step: int, signum: int):
        super().__init__()
        self.step, self.signum = step, signum

    def on_train_batch_begin(self, batch, logs=None):
        if batch + 1 == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("during", ["step", "evaluation"])
def test_a_signal_saves_the_current_step_and_exits_cleanly(tmp_path, reference, capsys, signum, during):
    model_dir = tmp_path / "run"
    if during == "step":
        callback = SignalAt(5, signum)
    else:
        def evaluate_fn(model):
            os.kill(os.getpid(), signum)  # arrives while the evaluation of step 4 is still running
            return {"fid": 1.0}

        callback = periodic_evaluation.PeriodicEvaluation(4, model_dir=str(model_dir), evaluate_fn=evaluate_fn)
    with pytest.raises(SystemExit) as exited, runtime.exit_on_user_error():
        run_tiny(model_dir, steps=20, checkpoint_every=3, sample_every=0, extra_callbacks=[callback])
    assert exited.value.code == 128 + signum
    expected = 5 if during == "step" else 4
    assert f"{signal.Signals(signum).name} received: saved a checkpoint at step {expected}" in capsys.readouterr().err
    assert os.path.exists(model_dir / f"ckpt-{expected}.index")
    assert max(line["step"] for line in logged(model_dir)) == expected
    result = run_tiny(model_dir, steps=8, checkpoint_every=3, sample_every=0)
    assert (result.start_step, result.step) == (expected, 8)
    assert_losses_match(model_dir, reference)


def test_a_damaged_tfrecord_shard_is_named_before_the_first_step_or_when_it_is_read(tmp_path, capsys):
    data = str(tmp_path / "data")
    write_dataset(data, count=12, channels=1, num_shards=2)
    (shard,) = [os.path.join(data, name) for name in os.listdir(data) if "train-00000" in name]
    injection.zero_bytes(shard, count=32)

    # A dataset folder: the manifest's sha256 catches the damage before anything is built.
    with pytest.raises(SystemExit) as exited, runtime.exit_on_user_error():
        run_tiny(tmp_path / "checked", data=data, steps=6, sample_every=0)
    assert exited.value.code == 2
    message = capsys.readouterr().err
    assert f"Shard {shard} fails its sha256 checksum" in message
    assert not (tmp_path / "checked").exists()

    # A glob of shards has no checksums: the record check names the file when the damaged records are read.
    pattern = os.path.join(data, "*.tfrecord")
    with pytest.raises(SystemExit) as exited, runtime.exit_on_user_error():
        run_tiny(tmp_path / "glob", data=pattern, steps=6, sample_every=0)
    assert exited.value.code == 2
    message = capsys.readouterr().err
    assert f"{shard} is corrupt or truncated" in message and "Copy the file again or rebuild the dataset" in message
    assert "Traceback" not in message
    assert max([line["step"] for line in logged(tmp_path / "glob")], default=0) < 6


def test_nan_at_step_k_stops_naming_it_or_rolls_back_past_a_damaged_checkpoint(tmp_path, capsys):
    dataset_fn = tiny_dataset_fn(4, shuffle_seed=None, nonfinite_at=NAN_POSITION)  # step 4's batch holds an Inf
    with pytest.raises(SystemExit) as exited, runtime.exit_on_user_error():
        run_tiny(tmp_path / "stop", steps=8, checkpoint_every=1, sample_every=0, dataset_fn=dataset_fn)
    assert exited.value.code == 1
    assert "Non-finite loss at step 4" in capsys.readouterr().err

    # Rollback when the newest good checkpoint (step 3) is damaged: it falls back to step 2 and goes on.
    model_dir = tmp_path / "rollback"

    class DamageCheckpoint3(keras.callbacks.Callback):
        done = False

        def on_train_batch_begin(self, batch, logs=None):
            if not self.done and os.path.exists(model_dir / "ckpt-3.index"):
                injection.damage("data:flip", model_dir, 3)
                self.done = True

    result = run_tiny(model_dir, steps=8, checkpoint_every=1, sample_every=0, dataset_fn=dataset_fn,
                      on_nan="rollback", max_rollbacks=1, extra_callbacks=[DamageCheckpoint3()])
    assert result.step == 8 and result.rollbacks == 1
    assert sorted(os.listdir(model_dir / "corrupt")) == ["ckpt-3.data-00000-of-00001", "ckpt-3.index"]
    lines = logged(model_dir)
    assert [line["step"] for line in lines] == [1, 2, 3, 3, 4, 5, 6, 7, 8]
    assert all(np.isfinite(v) for line in lines for v in line.values())
