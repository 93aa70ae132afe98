"""The ADC-GAN train command in a subprocess on the offline default digits, resumed one step further and
exported; the BigGAN backbone's train flags."""

import json
import os
import subprocess
import sys

import numpy as np

from tests.apps.labelled_export import assert_labelled_export

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TIMEOUT_SECONDS = 240
TINY = ["--image_size=32", "--channels=1", "--generator_filters=8,8,4", "--discriminator_filters=4,8",
        "--discriminator_strides=2,2", "--latent_dim=8", "--batch_size=10", "--log_every=1", "--sample_every=0"]


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


def test_train_on_default_digits_resume_and_export(tmp_path):
    model_dir = str(tmp_path / "run")
    command = ["apps.adcgan.train", f"--model_dir={model_dir}", *TINY]
    code, out, err = _run(*command, "--steps=2")
    assert code == 0, err[-3000:]
    assert f"Training adcgan for 2 steps into {model_dir}" in out
    # The discriminator's conv1 (with a bias) feeds a LeakyReLU: no "remapper failed" (MaximumLeakyReLU), no error.
    assert _error_lines(err) == [], err[-3000:]
    logged = _metrics(model_dir)
    for name in ("d_loss", "g_loss", "d_class_loss", "g_class_loss", "real_class_accuracy", "fake_class_accuracy"):
        assert np.isfinite(logged[2][name]), name
    with open(os.path.join(model_dir, "config.json")) as f:
        saved = json.load(f)["model"]
    assert saved["loss"] == "hinge" and saved["adc_lambda"] == 1.0 and saved["num_classes"] == 10

    code, out, err = _run(*command, "--steps=3")
    assert code == 0, err[-3000:]
    assert "Resuming adcgan from ckpt-2 (step 2 of 3)" in out
    assert sorted(_metrics(model_dir)) == [1, 2, 3]

    # The resumed run exports labelled signatures that refuse unknown classes.
    export_dir = str(tmp_path / "export")
    code, out, err = _run("apps.adcgan.export", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    assert code == 0, err[-3000:]
    assert "Exported step 3" in out
    assert_labelled_export(export_dir, num_classes=10, image_shape=(32, 32, 1))


def test_biggan_backbone_flags_make_its_config():
    """In-process: the train command's flags select the BigGAN backbone and its settings (its step, export and
    remapper-quiet ReLUs are tested in test_model.py and tests/common/nn/test_biggan_networks.py)."""
    from absl import flags

    from apps.adcgan.config import ADCGANConfig
    from common.training import flags as runtime_flags

    flag_values = flags.FlagValues()
    runtime_flags.define_runtime_flags(flag_values=flag_values)
    runtime_flags.define_dataclass_flags(ADCGANConfig, flag_values=flag_values)
    flag_values(["train", "--image_size=32", "--channels=1", "--backbone=biggan", "--biggan_generator_widths=8,8,8,8",
                 "--biggan_discriminator_widths=8,8,8,8", "--latent_dim=8", "--d_steps=2", "--reuse_fakes=false",
                 "--beta_1=0", "--adam_epsilon=1e-8", "--batch_size=10"])
    config = runtime_flags.dataclass_from_flags(ADCGANConfig, flag_values=flag_values)
    assert config.backbone == "biggan" and config.d_steps == 2 and not config.reuse_fakes
    assert tuple(config.biggan_generator_widths) == (8, 8, 8, 8) and config.biggan_discriminator_downsamples == 2
    assert (config.beta_1, config.adam_epsilon) == (0.0, 1e-8)
