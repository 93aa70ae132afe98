"""The WGAN-GP command line in a subprocess: --helpfull lists the runtime and WGAN-GP flags."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_helpfull_lists_runtime_and_wgan_gp_flags():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-m", "apps.wgan_gp.train", "--helpfull"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 1, result.stderr[-2000:]  # absl's help flags exit with status 1
    for flag in ("data", "model_dir", "steps", "precision", "strategy", "penalty_weight", "one_sided_penalty",
                 "critic_steps", "critic_normalization", "learning_rate", "beta_1"):
        assert f"--{flag}:" in result.stdout or f"--[no]{flag}:" in result.stdout, flag
