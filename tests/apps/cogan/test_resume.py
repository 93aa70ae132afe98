"""A resumed CoGAN run takes the steps an uninterrupted one takes (common.training.runtime.train with the pair data)."""

import io
import json
import os

import numpy as np

from apps.cogan.config import CoGANConfig
from apps.cogan.data import pair_dataset_fn
from apps.cogan.model import build_model, make_optimizers
from common.training import runtime
from common.training.runtime_config import RuntimeConfig
from tests.common.data.test_reader import write_dataset

CONFIG = CoGANConfig(image_size=28, width_divisor=16, latent_dim=8, batch_size=2, seed=3)


def train(data, model_dir, steps):
    run = RuntimeConfig(data=data, model_dir=str(model_dir), batch_size=2, steps=steps, seed=3, log_every=1,
                        checkpoint_every=100, sample_every=0, strategy="default")
    return runtime.train(
        app="cogan", config=CONFIG, run=run, build_model=build_model,
        build_optimizers=lambda config: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(config))),
        dataset_fn=pair_dataset_fn(run, CONFIG), stream=io.StringIO())


def metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return {record.pop("step"): record for record in map(json.loads, f)}


def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    data = str(tmp_path / "digits")
    write_dataset(data, count=10, size=(28, 28), num_shards=1)
    straight = train(data, tmp_path / "straight", steps=2)
    train(data, tmp_path / "resumed", steps=1)
    resumed = train(data, tmp_path / "resumed", steps=2)
    assert resumed.start_step == 1 and resumed.step == straight.step == 2
    uninterrupted, continued = metrics(tmp_path / "straight"), metrics(tmp_path / "resumed")
    for step in (2,):
        for name in ("d_loss", "g_loss", "d_loss_a", "g_loss_b", "d_grad_norm"):
            assert continued[step][name] == uninterrupted[step][name], (step, name)
    for a, b in zip(straight.model.variables, resumed.model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
