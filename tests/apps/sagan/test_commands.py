"""The SAGAN commands on the offline default digits with the CIFAR-10 networks at a tiny width: train with
a class-row grid, export with labelled signatures that match the generator and refuse bad labels;
and a resumed run that restores every variable, the spectral norms' vectors and the attention scales
included."""

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

from apps.sagan.config import SAGANConfig
from apps.sagan.model import build_model, make_optimizers
from common.training import checkpointing, runtime
from common.training.runtime_config import RuntimeConfig
from tests.commands import error_lines
from tests.tolerances import NETWORK_RTOL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 300
TINY = ["--architecture=cifar32", "--num_classes=10", "--channels=1", "--g_channels=2", "--d_channels=2",
        "--latent_dim=8", "--batch_size=10", "--log_every=1", "--precision=float32"]


def _run(*args):
    # CPU only, without probing for a GPU (whose failing cuInit would log an error line where a GPU exists).
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", TF_ENABLED_DEVICE_TYPES="CPU")
    try:
        done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True, capture_output=True,
                              check=False, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"timed out: {error}") from None
    return done.returncode, done.stdout, done.stderr


def _metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return {record.pop("step"): record for record in map(json.loads, f)}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sagan")
    model_dir = str(root / "run")
    code, out, err = _run("apps.sagan.train", f"--model_dir={model_dir}", *TINY, "--steps=2", "--sample_every=2",
                          "--num_samples=30")
    assert code == 0, err[-3000:]
    # D's ReLUs read residual sums: no "remapper failed" (common.nn.layers.MaximumLeakyReLU), no error line.
    assert error_lines(err) == [], err[-3000:]
    return root, model_dir, out


def test_train_logs_the_losses_and_attention_scales_and_a_grid_row_per_class(trained_run):
    _, model_dir, out = trained_run
    assert f"Training sagan for 2 steps into {model_dir}" in out
    logged = _metrics(model_dir)
    for name in ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"):
        assert np.isfinite(logged[2][name]), name
    # Adam's first step moves gamma by the network's learning rate (TTUR: D 4e-4, G 1e-4).
    assert abs(logged[1]["g_attention_gamma"]) == pytest.approx(1e-4, rel=1e-2)
    assert abs(logged[1]["d_attention_gamma"]) == pytest.approx(4e-4, rel=1e-2)
    with open(os.path.join(model_dir, "config.json")) as f:
        saved = json.load(f)["model"]
    assert saved["architecture"] == "cifar32" and saved["g_attention"] is None and saved["num_classes"] == 10
    shapes = []
    for path in tf.io.gfile.glob(os.path.join(model_dir, "tensorboard", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            shapes += [tf.image.decode_png(v.tensor.string_val[2]).shape for v in event.summary.value
                       if v.tag == "samples"]
    assert shapes and shapes[-1][:2] == (10 * 32, 3 * 32)  # 10 digits down, 30 // 10 columns across


def test_export_matches_the_generator_for_the_same_labels_and_refuses_bad_ones(trained_run):
    root, model_dir, _ = trained_run
    export_dir = str(root / "export")
    code, _out, err = _run("apps.sagan.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    assert code == 0, err[-3000:]
    with open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["num_classes"] == 10 and info["metadata"]["app"] == "sagan" and info["label_names"][7] == "7"
    assert info["parity"]["labels"] == [0, 1, 2, 3]  # checked by the export before the version was published
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))
    model, _ = runtime.restore_app_for_inference(model_dir, SAGANConfig, build_model)
    z = np.random.default_rng(5).standard_normal((4, 8)).astype(np.float32)
    labels = np.array([0, 9, 3, 3], np.int32)
    exported = loaded.signatures["generate_float"](z=tf.constant(z), labels=tf.constant(labels))["images_float"]
    np.testing.assert_allclose(exported.numpy(), model.sample(z, labels).numpy(), rtol=0, atol=NETWORK_RTOL)
    sampled = loaded.signatures["sample"](labels=tf.constant([2, 7], tf.int32), seed=tf.constant(1, tf.int64))
    assert sampled["images"].shape == (2, 32, 32, 1) and sampled["images"].dtype == tf.uint8
    for bad in ([10], [-1]):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 10\)"):
            loaded.signatures["sample"](labels=tf.constant(bad, tf.int32), seed=tf.constant(1, tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 10\)"):
        loaded.signatures["serving_default"](z=tf.constant(z[:1]), labels=tf.constant([12], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError):  # one label for two latents
        loaded.signatures["generate_float"](z=tf.constant(z[:2]), labels=tf.constant([1], tf.int32))


def _train(model_dir, steps):
    config = SAGANConfig(architecture="cifar32", num_classes=10, channels=1, g_channels=2, d_channels=2,
                         latent_dim=8, batch_size=10, seed=3)
    run = RuntimeConfig(model_dir=str(model_dir), batch_size=10, steps=steps, seed=3, log_every=1,
                        checkpoint_every=1, sample_every=0, strategy="default", precision="float32")
    return runtime.train(
        app="sagan", config=config, run=run, build_model=build_model,
        build_optimizers=lambda c: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c))),
        stream=io.StringIO())


def test_resumed_run_restores_spectral_norm_vectors_and_continues_exactly(tmp_path):
    straight = _train(tmp_path / "straight", 3)
    # The run as it was after step 1 (the later checkpoints removed and the state file naming the ones kept).
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    for path in glob.glob(str(tmp_path / "resumed" / "ckpt-[23]*")):
        os.remove(path)
    kept = [p for p in checkpointing.list_checkpoints(str(tmp_path / "resumed")) if os.path.exists(p + ".index")]
    assert os.path.basename(kept[-1]) == "ckpt-1", kept
    checkpointing._write_state_file(str(tmp_path / "resumed"), kept)
    resumed = _train(tmp_path / "resumed", 3)
    assert resumed.start_step == 1 and resumed.step == 3
    fresh = build_model(straight.model.config)

    def state(model):
        return model.variables + model.g_optimizer.variables + model.d_optimizer.variables

    vectors = [v for v in straight.model.variables if v.name == "vector_u"]
    assert len(vectors) > 20  # every SN layer of G and D, the attention blocks' included
    # The vectors moved in training (one power step per training call), so restoring them is tested.
    assert all(not np.array_equal(v.numpy(), f.numpy()) for v, f in zip(straight.model.variables, fresh.variables)
               if v.name == "vector_u")
    assert len(state(straight.model)) == len(state(resumed.model))
    for a, b in zip(state(straight.model), state(resumed.model)):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
