"""Train commands whose discriminator has a LeakyReLU right after a convolution with a bias: no error lines.

With oneDNN on a CPU, TensorFlow's grappler remapper fuses Conv2D + BiasAdd +
LeakyRelu although the LeakyRelu's gradient reads the BiasAdd, and logs
"remapper failed" as an error on every start; these networks use
`common.nn.layers.MaximumLeakyReLU` there. One step of each command, tiny, in
the user's environment minus any TF_* / CUDA_VISIBLE_DEVICES setting (the
defaults of `common.command_environment`), must print no error line on stderr.
AC-GAN, ADC-GAN, SAGAN and CycleGAN, whose discriminators have the same
layers, are checked by the train runs of their own command tests
(tests/apps/acgan, tests/apps/adcgan, tests/apps/sagan,
tests/apps/cyclegan/test_cli_exit_and_logs.py); the ReLUs after residual sums
of the BigGAN discriminators by tests/common/nn/test_biggan_networks.py.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfrecords.build import build_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_SECONDS = 300
TRANSLATOR = ["--image_size=16", "--base_filters=4", "--num_residual_blocks=1", "--discriminator_layers=2",
              "--pool_size=2", "--batch_size=1"]
COMMANDS = {
    "csgan": TRANSLATOR,  # PatchGAN c1: biased, no instance normalisation
    # Every critic convolution has a bias without layer normalisation.
    "wgan_gp": ["--image_size=16", "--channels=1", "--base_filters=4", "--latent_dim=8", "--batch_size=4",
                "--critic_normalization=none"],
}
# A notice with another cause, printed by WGAN-GP on the offline default digits: the grouping of critic
# batches (`common.models.critic_training`) transposes the int32 labels in its tf.data map, and oneDNN's
# layout rewrite of that Transpose logs that it keeps int32 on Eigen.
OTHER_CAUSES = {"wgan_gp": ("oneDNN supports DT_INT32 only on platforms with AVX-512",)}


def _error_lines(stderr):
    """Lines TensorFlow's C++ logging marks as errors (E<date> ...) or worse (F...)."""
    return [line for line in stderr.splitlines() if line[:1] in ("E", "F") and line[1:5].isdigit()]


@pytest.fixture(scope="module")
def two_domains(tmp_path_factory):
    """A two-domain dataset of five 20x20 RGB images per domain."""
    root = tmp_path_factory.mktemp("two_domains")
    rng = np.random.default_rng(0)
    for domain in ("a", "b"):
        os.makedirs(root / domain)
        for index in range(5):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(root / domain / f"{index}.png")
    build_dataset(domains=[str(root / "a"), str(root / "b")], output=str(root / "data"), num_workers=1,
                  progress=False)
    return str(root / "data")


@pytest.mark.parametrize("app", sorted(COMMANDS))
def test_one_training_step_prints_no_error_line(app, tmp_path, request):
    data = [f"--data={request.getfixturevalue('two_domains')}"] if app in ("cyclegan", "csgan") else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_") and k != "CUDA_VISIBLE_DEVICES"}
    command = [sys.executable, "-m", f"apps.{app}.train", f"--model_dir={tmp_path / 'run'}", *data, *COMMANDS[app],
               "--steps=1", "--sample_every=0"]
    done = subprocess.run(command, cwd=ROOT, env=env, text=True, capture_output=True, timeout=TIMEOUT_SECONDS,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Training {app} for 1 steps" in done.stdout
    errors = [line for line in _error_lines(done.stderr)
              if not any(notice in line for notice in OTHER_CAUSES.get(app, ()))]
    assert errors == [], "\n".join(errors)
