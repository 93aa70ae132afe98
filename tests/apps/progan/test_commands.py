"""ProGAN through the runtime on the offline digits at tiny widths, growing 4 -> 8: one trace of the
step per phase (none per fade step), alpha and resolution logged per step, a run interrupted in the middle
of the 8x8 fade and resumed ends bit-identical to an uninterrupted one, a restored checkpoint samples in
its phase at its alpha, and the export command's SavedModel matches the restored moving average. The train
command trains its whole schedule when --steps is not given, and prints no error line."""

import glob
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from apps.progan import model as progan_model
from apps.progan.config import ProGANConfig
from apps.progan.model import build_model, make_optimizers
from common.evaluation import evaluate_command
from common.training import checkpointing, runtime
from common.training.runtime_config import RuntimeConfig
from tests.commands import error_lines, start_command
from tests.tolerances import NETWORK_RTOL, assert_close_to_scale

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 300
# Phases: 4x4 steps [0, 2); 8x8 (batch 2) from 2, fading over [2, 6).
CONFIG = ProGANConfig(image_size=8, channels=1, latent_dim=8, fmap_base=16, fmap_max=8, batch_size=4,
                      batch_sizes="8:2", fade_images=8, stable_images=8, minibatch_group_size=2, seed=2)
STEPS = 6


def _train(model_dir, steps):
    run = RuntimeConfig(model_dir=str(model_dir), batch_size=4, steps=steps, seed=2, log_every=1,
                        checkpoint_every=1, keep_checkpoints=20, sample_every=0, strategy="default",
                        precision="float32")
    return runtime.train(
        app="progan", config=CONFIG, run=run, build_model=build_model,
        build_optimizers=lambda c: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c))),
        stages=CONFIG.schedule(lambda phase: runtime.image_dataset_fn(
            run.replace(batch_size=phase.batch_size, seed=run.seed + phase.index), CONFIG)),
        stream=io.StringIO())


def _metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as file:
        return [json.loads(line) for line in file]


def test_growing_run_traces_once_per_phase_resumes_exactly_and_exports(tmp_path, monkeypatch):
    traces = []
    step = progan_model.ProGAN.train_step

    def counted(self, batch):
        traces.append(self.phase.resolution)  # runs when the step is traced, not per step
        return step(self, batch)

    monkeypatch.setattr(progan_model.ProGAN, "train_step", counted)
    straight = _train(tmp_path / "straight", STEPS)
    assert traces == [4, 8]
    logs = _metrics(str(tmp_path / "straight"))
    schedule = CONFIG.schedule()
    assert [line["step"] for line in logs] == list(range(1, STEPS + 1))
    for line in logs:  # logged step n is global step n - 1
        phase = schedule.phase_at(line["step"] - 1)
        assert line["resolution"] == phase.resolution
        assert line["alpha"] == np.float32(phase.alpha(line["step"] - 1)), line

    # The run as it was after step 4 (8x8 at alpha 1/2), resumed to step 6.
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    for path in glob.glob(str(tmp_path / "resumed" / "ckpt-[56]*")):
        os.remove(path)
    kept = [p for p in checkpointing.list_checkpoints(str(tmp_path / "resumed")) if os.path.exists(p + ".index")]
    assert os.path.basename(kept[-1]) == "ckpt-4", kept
    checkpointing._write_state_file(str(tmp_path / "resumed"), kept)
    traces.clear()
    resumed = _train(tmp_path / "resumed", STEPS)
    assert resumed.start_step == 4 and resumed.step == STEPS and traces == [8]

    def state(model):
        return model.variables + model.g_optimizer.variables + model.d_optimizer.variables

    assert len(state(straight.model)) == len(state(resumed.model))
    for a, b in zip(state(straight.model), state(resumed.model)):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert _metrics(str(tmp_path / "resumed"))[-2:] == logs[-2:]

    # A restored checkpoint samples in the phase of its step, at the alpha of its last step, at full size.
    model, path = runtime.restore_app_for_inference(str(tmp_path / "resumed"), ProGANConfig, build_model)
    assert checkpointing.checkpoint_step(path) == STEPS
    sample_fn = evaluate_command.make_sample_fn(model)  # calls prepare_sampling
    assert model.ema.shadow.resolution == 8 and float(model.ema.shadow.alpha.numpy()) == 0.75
    assert sample_fn(3).shape == (3, 8, 8, 1)
    _check_export(tmp_path, str(tmp_path / "resumed"), model)


def _check_export(root, model_dir, model):
    """The export command on ``model_dir``; its SavedModel against the restored average in this process."""
    export_dir = str(root / "export")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-m", "apps.progan.export", f"--model_dir={model_dir}",
                           f"--export_dir={export_dir}"], cwd=ROOT, env=env, text=True, capture_output=True,
                          timeout=TIMEOUT_SECONDS, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["metadata"]["app"] == "progan" and info["metadata"]["ema"] and info["metadata"]["step"] == STEPS
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))
    z = tf.constant(np.random.default_rng(5).standard_normal((4, 8)).astype(np.float32))
    exported = loaded.signatures["generate_float"](z=z)["images_float"].numpy()
    expected = model.ema.shadow(z, training=False).numpy()
    assert exported.shape == (4, 8, 8, 1)
    # Two graphs of the same float32 network: NETWORK_RTOL of the images' scale (a linear output, not tanh).
    assert_close_to_scale(exported, expected, rtol=NETWORK_RTOL)
    sampled = loaded.signatures["sample"](seed=tf.constant(1, tf.int64), count=tf.constant(2, tf.int32))
    assert sampled["images"].shape == (2, 8, 8, 1) and sampled["images"].dtype == tf.uint8


def test_train_command_trains_its_whole_schedule_by_default_without_error_lines(tmp_path):
    # 4x4 for 1 step, then 8x8: 1 fade step and 1 stable step; no --steps: the schedule's 3.
    model_dir = tmp_path / "run"
    done = start_command("apps.progan.train", f"--model_dir={model_dir}", "--image_size=8", "--channels=1",
                         "--latent_dim=8", "--fmap_base=8", "--fmap_max=4", "--batch_size=4", "--batch_sizes=",
                         "--minibatch_group_size=2", "--fade_images=4", "--stable_images=4", "--sample_every=2",
                         "--num_samples=4")
    stdout, stderr = done.communicate(timeout=TIMEOUT_SECONDS)
    assert done.returncode == 0, stderr[-3000:]
    assert "Training progan for 3 steps" in stdout
    assert error_lines(stderr) == [], "\n".join(error_lines(stderr))  # no remapper failure of a biased LeakyReLU
    assert [(line["resolution"], line["alpha"]) for line in _metrics(str(model_dir))] == [
        (4.0, 1.0), (8.0, 0.0), (8.0, 1.0)]


def test_epochs_are_refused_for_a_run_in_phases(tmp_path):
    run = RuntimeConfig(model_dir=str(tmp_path / "run"), batch_size=4, epochs=1, strategy="default",
                        precision="float32")
    with pytest.raises(runtime.ConfigError, match="--epochs does not apply"):
        runtime.train(app="progan", config=CONFIG, run=run, build_model=build_model,
                      build_optimizers=lambda c: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c))),
                      stages=CONFIG.schedule(lambda phase: runtime.image_dataset_fn(run, CONFIG)),
                      stream=io.StringIO())
    assert not os.path.exists(tmp_path / "run")  # refused before anything was written
