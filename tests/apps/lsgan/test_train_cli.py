"""`python -m apps.lsgan.train --helpfull` in a subprocess: every runtime and LSGANConfig flag is declared."""

import dataclasses
import os
import subprocess
import sys

from apps.lsgan.config import LSGANConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_helpfull_lists_runtime_model_and_eval_flags():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-m", "apps.lsgan.train", "--helpfull"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 1, result.stderr[-2000:]  # absl's help flags exit with status 1
    names = [field.name for field in dataclasses.fields(LSGANConfig)]
    names += ["data", "model_dir", "steps", "precision", "strategy", "dry_run", "eval_every"]
    for name in names:
        assert f"--{name}:" in result.stdout or f"--[no]{name}:" in result.stdout, name
