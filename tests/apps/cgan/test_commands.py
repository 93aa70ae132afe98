"""The CGAN commands on the offline default digits: train with a class-row grid, resume exactly, export, evaluate."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from apps.cgan.config import CGANConfig
from apps.cgan.model import build_model, make_optimizers
from common.training import runtime
from common.training.runtime_config import RuntimeConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 300
# The paper's MLP at small widths; the digits are resized to 28x28 by the reader.
TINY = ["--g_z_units=8", "--g_label_units=8", "--g_joint_units=16", "--d_x_units=8", "--d_label_units=4",
        "--d_joint_units=8", "--latent_dim=8", "--batch_size=20", "--log_every=1", "--precision=float32"]


def _run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True, capture_output=True, check=False,
                          timeout=TIMEOUT_SECONDS)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cgan")
    model_dir = str(root / "run")
    code, out, err = _run("apps.cgan.train", f"--model_dir={model_dir}", *TINY, "--steps=2", "--sample_every=2",
                          "--num_samples=30")
    assert code == 0, err[-3000:]
    return root, model_dir, out


def test_train_writes_one_grid_row_per_class_of_uniform_noise(trained_run):
    _, model_dir, out = trained_run
    assert f"Training cgan for 2 steps into {model_dir}" in out
    shapes = []
    for path in tf.io.gfile.glob(os.path.join(model_dir, "tensorboard", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            shapes += [tf.image.decode_png(v.tensor.string_val[2]).shape for v in event.summary.value
                       if v.tag == "samples"]
    assert shapes and shapes[-1][:2] == (10 * 28, 3 * 28)  # 10 digits, 30 // 10 columns


def test_export_takes_labels_refuses_bad_ones_and_samples_from_the_uniform_prior(trained_run):
    root, model_dir, _ = trained_run
    export_dir = str(root / "export")
    code, out, err = _run("apps.cgan.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    assert code == 0, err[-3000:]
    assert "Exported step 2" in out
    with open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")) as file:
        info = json.load(file)
    assert (info["num_classes"], info["latent_distribution"], info["label_names"][3]) == (10, "uniform", "3")
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))
    sampled = loaded.signatures["sample"](labels=tf.constant([0, 9, 9], tf.int32), seed=tf.constant(5, tf.int64))
    assert sampled["images"].shape == (3, 28, 28, 1) and sampled["images"].dtype == tf.uint8
    z = sampled["z"].numpy()
    assert z.min() >= 0.0 and z.max() < 1.0  # the generator's training prior
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 10\)"):
        loaded.signatures["generate_float"](z=tf.zeros([1, 8]), labels=tf.constant([10], tf.int32))


def test_evaluate_reports_conditional_accuracy_per_class(trained_run):
    root, model_dir, _ = trained_run
    output = str(root / "eval.json")
    code, _out, err = _run("apps.cgan.evaluate", f"--model_dir={model_dir}", "--num_samples=40", "--batch_size=20",
                          f"--classifier_path={root / 'classifier.keras'}", "--classifier_epochs=1",
                          f"--cache_dir={root / 'cache'}", f"--output={output}")
    assert code == 0, err[-3000:]
    with open(output) as file:
        report = json.load(file)
    assert report["conditional"] and report["num_classes"] == 10
    assert 0.0 <= report["conditional_accuracy"] <= 1.0
    assert [row["class"] for row in report["per_class"]] == list(range(10))


def _train(model_dir, steps):
    config = CGANConfig(g_z_units=8, g_label_units=8, g_joint_units=16, d_x_units=8, d_label_units=4,
                        d_joint_units=8, latent_dim=8, seed=3)
    run = RuntimeConfig(model_dir=str(model_dir), batch_size=20, steps=steps, seed=3, log_every=1,
                        checkpoint_every=100, sample_every=0, strategy="default", precision="float32")
    return runtime.train(
        app="cgan", config=config, run=run, build_model=build_model,
        build_optimizers=lambda c: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c))),
        stream=io.StringIO())


def test_resumed_run_takes_the_uninterrupted_runs_steps(tmp_path):
    straight = _train(tmp_path / "straight", 3)
    _train(tmp_path / "resumed", 1)
    resumed = _train(tmp_path / "resumed", 3)
    assert resumed.start_step == 1 and resumed.step == 3
    # Weights, dropout and label/noise generator state; optimizer slots and iteration counts.
    def state(model):
        return model.variables + model.g_optimizer.variables + model.d_optimizer.variables

    assert len(state(straight.model)) == len(state(resumed.model)) > len(straight.model.variables)
    for a, b in zip(state(straight.model), state(resumed.model)):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
