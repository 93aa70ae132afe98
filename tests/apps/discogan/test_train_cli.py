"""The DiscoGAN train command in subprocesses, on a tiny two-domain dataset built in tmp_path.

A subprocess pays the TensorFlow import (5-10 s) and traces the step, so only
the run and its resumption are subprocesses; the input pipeline, the bad-input
errors and the flags are checked in-process.
"""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from apps.discogan.config import DiscoGANConfig
from apps.discogan.model import build_model
from common.export import translator_commands
from tests.tfrecords.tiny_sources import save_image
from tfrecords.build import build_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 400  # per subprocess; generous because the CPUs are shared
TINY = ["--image_size=16", "--base_filters=4", "--batch_size=2", "--log_every=1"]


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
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["step"] for line in f if line.endswith("\n")]


def _two_domain_dataset(tmp_path, domains=("color", "gray")):
    """Six 20x20 images per domain (A: random colours; B: their grey copies); returns the dataset folder."""
    rng = np.random.default_rng(0)
    folders = []
    for domain in domains:
        folder = tmp_path / "sources" / domain
        for index in range(6):
            pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
            if domain == "gray":
                pixels = np.repeat(pixels.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
            save_image(str(folder / f"{index}.png"), pixels)
        folders.append(str(folder))
    output = str(tmp_path / "dataset")
    build_dataset(domains=folders, output=output, num_workers=1, progress=False)
    return output


def test_trains_and_resumes(tmp_path):
    data = _two_domain_dataset(tmp_path)
    model_dir = str(tmp_path / "run")
    command = ["apps.discogan.train", f"--data={data}", f"--model_dir={model_dir}", *TINY]

    code, out, err = _finish(_start(*command, "--steps=2"))
    assert code == 0, err[-3000:]
    assert "Training discogan for 2 steps" in out
    assert _logged_steps(model_dir) == [1, 2]
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        first = json.loads(f.readline())
    for name in ("g_loss", "d_loss", "recon_a", "recon_b", "gan_a", "gan_b", "d_loss_a", "d_loss_b"):
        assert np.isfinite(first[name]), name
    with open(os.path.join(model_dir, "config.json")) as f:
        saved = json.load(f)
    assert saved["app"] == "discogan" and saved["model"]["reconstruction_distance"] == "mse"

    code, out, err = _finish(_start(*command, "--steps=3", "--sample_every=0"))
    assert code == 0, err[-3000:]
    assert "Resuming discogan from ckpt-2 (step 2 of 3)" in out
    assert _logged_steps(model_dir) == [1, 2, 3]
    assert os.path.exists(os.path.join(model_dir, "ckpt-3.index"))
    tags = set()
    for events in glob.glob(os.path.join(model_dir, "tensorboard", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(events):
            tags.update(value.tag for value in event.summary.value)
    assert {"a_to_b", "b_to_a"} <= tags  # image rows real | translated | reconstructed

    # The training checkpoint restores into a model built for inference and exports.
    export_dir = str(tmp_path / "export")
    flag_values = flags.FlagValues()
    translator_commands.define_export_flags(flag_values)
    flag_values(["prog", f"--model_dir={model_dir}", f"--export_dir={export_dir}"])
    translator_commands.export_main(["prog"], "discogan", DiscoGANConfig, build_model, flag_values=flag_values)
    with open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")) as f:
        assert json.load(f)["metadata"]["step"] == 3


def test_input_options_and_flags(tmp_path):
    """In-process: the dataset function's batches, a one-domain dataset's error, epochs, the flags."""
    from apps.discogan.data import num_train_examples, train_options
    from common.training import flags as runtime_flags
    from common.data.reader import DataError
    from common.training.runtime_config import ConfigError, RuntimeConfig

    data = _two_domain_dataset(tmp_path)
    config = DiscoGANConfig(image_size=16, base_filters=4)
    options = train_options(RuntimeConfig(data=data, batch_size=2, seed=0), config)
    context = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1)
    batch = next(iter(options["dataset_fn"](context)))
    assert set(batch) == {"a", "b"} and batch["a"].shape == (2, 16, 16, 3) and batch["b"].shape == (2, 16, 16, 3)
    assert float(tf.reduce_min(batch["a"])) >= -1.0 and float(tf.reduce_max(batch["a"])) <= 1.0
    gray = batch["b"].numpy()
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-6)  # domain B holds the grey images
    assert options["num_examples"]() == num_train_examples(data) == 6

    single = str(tmp_path / "single")
    build_dataset(source=str(tmp_path / "sources" / "color"), output=single, num_workers=1, progress=False)
    with pytest.raises(DataError, match="does not hold exactly two domains"):
        train_options(RuntimeConfig(data=single, batch_size=2), config)["dataset_fn"](context)
    flag_values = flags.FlagValues()
    runtime_flags.define_runtime_flags(flag_values=flag_values)
    runtime_flags.define_dataclass_flags(DiscoGANConfig, flag_values=flag_values)
    flag_values(["train", "--image_size=40", "--reconstruction_distance=huber"])
    assert flag_values["reconstruction_distance"].value == "huber"
    assert flag_values["batch_size"].default == 64  # the config's default wins over the runtime's
    with pytest.raises(ConfigError, match="image_size must be a multiple of 16"):
        runtime_flags.dataclass_from_flags(DiscoGANConfig, flag_values=flag_values)
    flag_values["image_size"].value = 32
    config = runtime_flags.dataclass_from_flags(DiscoGANConfig, flag_values=flag_values)
    assert (config.image_size, config.reconstruction_distance) == (32, "huber")
