"""BigGAN's run on the offline default digits with the CIFAR-10 networks at width 1 (hierarchical z, shared
embedding, EMA from step 1, two standing-statistics batches, truncated grids with a row per class): an
interrupted and resumed run ends bit-identical to an uninterrupted one; the export command writes the moving-average generator with its
standing statistics, whose signatures take labels and the truncation threshold and match the restored
model in this process (another process than the exporter's), and refuse bad labels."""

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

from apps.biggan.config import BigGANConfig
from apps.biggan.model import build_model, make_optimizers
from common.export import generator_export
from common.training import checkpointing, runtime
from common.training.runtime_config import RuntimeConfig
from tests.tolerances import NETWORK_RTOL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 300
CONFIG = BigGANConfig(architecture="cifar32", num_classes=10, channels=1, g_channels=1, d_channels=1, latent_dim=8,
                      shared_dim=4, batch_size=8, d_steps=1, accumulate=1, ema_start=1, standing_batches=2,
                      standing_batch_size=8, sample_truncation=0.5, seed=3)


def _train(model_dir, steps):
    run = RuntimeConfig(model_dir=str(model_dir), batch_size=8, steps=steps, seed=3, log_every=1,
                        checkpoint_every=1, sample_every=2, num_samples=10, strategy="default",
                        precision="float32")
    return runtime.train(
        app="biggan", config=CONFIG, run=run, build_model=build_model,
        build_optimizers=lambda c: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c))),
        stream=io.StringIO())


def test_resumed_run_continues_exactly_and_its_export_takes_labels_and_truncation(tmp_path):
    # One test, so that pytest-xdist runs the two trainings once (a module fixture may run on each worker).
    straight = _train(tmp_path / "straight", 2)
    # The run as it was after step 1 (its step-2 checkpoint removed and the state file naming the ones before,
    # so the resume takes the ordinary path, not the fall-back from a listed but missing checkpoint).
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    for path in glob.glob(str(tmp_path / "resumed" / "ckpt-2*")):
        os.remove(path)
    kept = checkpointing.list_checkpoints(str(tmp_path / "resumed"))
    kept = [path for path in kept if os.path.exists(path + ".index")]
    assert kept and os.path.basename(kept[-1]) == "ckpt-1", kept
    checkpointing._write_state_file(str(tmp_path / "resumed"), kept)
    resumed = _train(tmp_path / "resumed", 2)
    assert resumed.start_step == 1 and resumed.step == 2

    def state(model):
        return model.variables + model.g_optimizer.variables + model.d_optimizer.variables

    def kernel(generator):
        return generator.get_layer("project_sn").layer.kernel.numpy()

    # The EMA (from step 1) moved away from the live generator; the step-2 grid computed standing statistics
    # for it; every variable, the spectral-norm vectors and the statistics included, is restored.
    assert not np.array_equal(kernel(straight.model.ema.shadow), kernel(straight.model.generator))
    assert len(state(straight.model)) == len(state(resumed.model))
    for a, b in zip(state(straight.model), state(resumed.model)):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    shapes = []  # the step-2 grid: one row per class (10), num_samples // 10 = 1 column
    for path in tf.io.gfile.glob(str(tmp_path / "straight" / "tensorboard" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            shapes += [tf.image.decode_png(v.tensor.string_val[2]).shape for v in event.summary.value
                       if v.tag == "samples"]
    assert shapes and shapes[-1][:2] == (10 * 32, 32)
    _check_export(tmp_path, str(tmp_path / "resumed"))


def _check_export(root, model_dir):
    """The export command on ``model_dir``; its SavedModel against the restored model in this process."""
    export_dir = str(root / "export")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-m", "apps.biggan.export", f"--model_dir={model_dir}",
                           f"--export_dir={export_dir}"], cwd=ROOT, env=env, text=True, capture_output=True,
                          timeout=TIMEOUT_SECONDS, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["metadata"]["app"] == "biggan" and info["metadata"]["ema"] and info["truncation_input"]
    assert info["parity"]["truncated"]["psi"] == 0.5  # checked by the exporter before publishing

    # The restored average with standing statistics recomputed here, against the SavedModel loaded here.
    model, _ = runtime.restore_app_for_inference(model_dir, BigGANConfig, build_model)
    model.prepare_sampling()
    generator = model.sampling_generator()
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))
    z = tf.constant(np.random.default_rng(5).standard_normal((4, 8)).astype(np.float32) * 2)
    labels = tf.constant([0, 9, 3, 3], tf.int32)
    for psi in (0.0, 0.7):
        exported = loaded.signatures["generate_float"](z=z, labels=labels, truncation=tf.constant(psi))
        used_z = generator_export.truncate_latents(z, psi)
        expected = generator([used_z, labels], training=False).numpy()
        # Two graphs of the same float32 network: within NETWORK_RTOL of the image scale (tanh, |x| <= 1).
        np.testing.assert_allclose(exported["images_float"].numpy(), expected, rtol=0, atol=NETWORK_RTOL)
    sampled = loaded.signatures["sample"](labels=tf.constant([2, 7, 7], tf.int32), seed=tf.constant(1, tf.int64),
                                          truncation=tf.constant(0.4))
    assert sampled["images"].shape == (3, 32, 32, 1) and sampled["images"].dtype == tf.uint8
    assert np.max(np.abs(sampled["z"].numpy())) <= 0.4
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 10\)"):
        loaded.signatures["serving_default"](z=z[:1], labels=tf.constant([10], tf.int32), truncation=tf.constant(0.0))
