"""The CoGAN command lines in subprocesses: train on a dataset written here, export.

A subprocess pays the TensorFlow import, so there are two: a 2-step run and
its export. (That a resumed run logs the losses of an uninterrupted one is
checked in-process, in test_resume.py; the resume command in tests/apps/dcgan.)
"""

import json
import os
import subprocess
import sys

import tensorflow as tf

from tests.common.data.test_reader import write_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 240
TINY = ["--image_size=28", "--width_divisor=16", "--latent_dim=8", "--batch_size=2", "--log_every=1",
        "--pairing=invert", "--sample_every=2", "--num_samples=4"]


def _start(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process):
    try:
        out, err = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"timed out:\n{out[-2000:]}\n{err[-2000:]}")
    return process.returncode, out, err


def _metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    return {record.pop("step"): record for record in records}


def test_train_and_export(tmp_path):
    data = str(tmp_path / "digits")
    write_dataset(data, count=10, size=(28, 28), num_shards=1)
    model_dir, export_dir = str(tmp_path / "run"), str(tmp_path / "export")
    command = ["apps.cogan.train", f"--data={data}", f"--model_dir={model_dir}", *TINY]

    code, out, err = _finish(_start(*command, "--steps=2"))
    assert code == 0, err[-3000:]
    assert f"Training cogan for 2 steps into {model_dir}" in out
    assert sorted(_metrics(model_dir)) == [1, 2]
    assert os.listdir(os.path.join(model_dir, "tensorboard"))  # losses and the side-by-side samples

    # An exact resume is tested in-process (test_resume.py), the resume command in tests/apps/dcgan.
    code, out, err = _finish(_start("apps.cogan.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}"))
    assert code == 0, err[-3000:]
    assert "Exported step 2 (coupled generator, pairing invert)" in out
    info = json.load(open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")))
    assert info["metadata"]["step"] == 2 and info["metadata"]["pairing"] == "invert"
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))
    pair = loaded.signatures["serving_default"](z=tf.zeros([2, 8]))
    assert pair["images_a"].shape == pair["images_b"].shape == (2, 28, 28, 1)
