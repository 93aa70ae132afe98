"""The AC-GAN command lines in subprocesses on the offline default digits: train, export, refuse
unlabelled data.

The network is tiny (the digits' 32x32 grayscale, narrow widths). That a
resumed run takes exactly the uninterrupted run's steps is checked in-process
below (`runtime.train`); the resume command itself in tests/apps/dcgan.
"""

import io
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from apps.acgan.config import ACGANConfig
from apps.acgan.model import build_model, make_optimizers
from common.training import runtime
from common.training.runtime_config import RuntimeConfig
from tests.apps.labelled_export import assert_labelled_export
from tests.common.data.test_reader import write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 240
TINY = ["--image_size=32", "--channels=1", "--generator_filters=8,8,4", "--discriminator_filters=4,8",
        "--discriminator_strides=2,2", "--latent_dim=8", "--batch_size=10", "--log_every=1"]


def _run(*args):
    # CPU only, without probing for a GPU (whose failing cuInit would log an error line where a GPU exists).
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", TF_ENABLED_DEVICE_TYPES="CPU")
    try:
        done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True, capture_output=True, check=False,
                              timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"timed out: {error}") from None
    return done.returncode, done.stdout, done.stderr


def _error_lines(stderr):
    """Lines TensorFlow's C++ logging marks as errors (E<date> ...) or worse (F...)."""
    return [line for line in stderr.splitlines() if line[:1] in ("E", "F") and line[1:5].isdigit()]


def _metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return {record.pop("step"): record for record in map(json.loads, f)}


def test_train_on_default_digits_class_rows_and_export(tmp_path):
    model_dir = str(tmp_path / "run")
    command = ["apps.acgan.train", f"--model_dir={model_dir}", *TINY, "--sample_every=2", "--num_samples=20"]
    code, out, err = _run(*command, "--steps=2")
    assert code == 0, err[-3000:]
    assert f"Training acgan for 2 steps into {model_dir}" in out
    # The discriminator's conv1 (with a bias) feeds a LeakyReLU: no "remapper failed" (MaximumLeakyReLU), no error.
    assert _error_lines(err) == [], err[-3000:]
    logged = _metrics(model_dir)
    assert sorted(logged) == [1, 2]
    for name in ("d_loss", "g_loss", "d_class_loss", "g_class_loss", "real_class_accuracy", "fake_class_accuracy"):
        assert np.isfinite(logged[2][name]), name
    grids = []
    for path in tf.io.gfile.glob(os.path.join(model_dir, "tensorboard", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            grids += [tf.image.decode_png(v.tensor.string_val[2]).shape for v in event.summary.value
                      if v.tag == "samples"]
    assert grids and grids[-1][:2] == (10 * 32, 2 * 32)  # one row per class, 20 samples // 10 classes columns

    # The run exports labelled signatures that refuse unknown classes (an exact resume is tested in-process
    # below, the resume command in tests/apps/dcgan).
    export_dir = str(tmp_path / "export")
    code, out, err = _run("apps.acgan.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    assert code == 0, err[-3000:]
    assert "Exported step 2" in out
    assert_labelled_export(export_dir, num_classes=10, image_shape=(32, 32, 1))


def test_unlabelled_data_is_refused_before_training(tmp_path):
    data = str(tmp_path / "faces")
    write_dataset(data, count=4, size=(32, 32), num_shards=1)
    code, _out, err = _run("apps.acgan.train", f"--data={data}", f"--model_dir={tmp_path / 'run'}", *TINY,
                          "--steps=1")
    assert code == 2
    assert "is class-conditional" in err and "has none" in err and "--source=path/to/classes" in err
    assert not os.path.exists(tmp_path / "run" / "ckpt-0.index")


CONFIG = ACGANConfig(image_size=32, channels=1, generator_filters=(8, 8, 4), discriminator_filters=(4, 8),
                     discriminator_strides=(2, 2), latent_dim=8, batch_size=10, seed=3)


def _train(model_dir, steps):
    run = RuntimeConfig(data=None, model_dir=str(model_dir), batch_size=10, steps=steps, seed=3, log_every=1,
                        checkpoint_every=100, sample_every=0, strategy="default")
    return runtime.train(
        app="acgan", config=CONFIG, run=run, build_model=build_model,
        build_optimizers=lambda config: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(config))),
        stream=io.StringIO())


def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    straight = _train(tmp_path / "straight", 2)
    _train(tmp_path / "resumed", 1)
    resumed = _train(tmp_path / "resumed", 2)
    assert resumed.start_step == 1 and resumed.step == 2
    assert _metrics(tmp_path / "straight")[2] == _metrics(tmp_path / "resumed")[2]
    for a, b in zip(straight.model.variables, resumed.model.variables):  # dropout and noise state included
        np.testing.assert_array_equal(a.numpy(), b.numpy())
