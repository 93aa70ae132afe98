"""An interrupted and resumed CycleGAN run logs the same losses as an uninterrupted one.

Steps 3 and 4 draw from full image histories (capacity 2, one image per step),
so they depend on the restored history images, counters and random stream, as
well as on the weights, optimizer moments and data position. Both runs take the
same ops on the same inputs in one process, so the losses agree bit for bit.
"""

import json
import os

import keras

from common.training import runtime
from common.training import translator_training
from common.training.runtime_config import RuntimeConfig
from tests.apps.cyclegan.test_train import TINY, _build_eager, _write_domains
from apps.cyclegan.model import make_optimizers


class StopAfter(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.g_optimizer.iterations.numpy()) >= self.step:
            self.model.stop_training = True


def _train(data, model_dir, stop_after=None):
    run = RuntimeConfig(data=data, model_dir=model_dir, batch_size=1, steps=4, log_every=1, sample_every=0,
                        checkpoint_every=100)
    options = translator_training.train_options(run, TINY, make_optimizers)
    if stop_after:
        options["extra_callbacks"].append(StopAfter(stop_after))
    runtime.train(app="cyclegan", config=TINY, run=run, build_model=_build_eager, **options,
                  stream=open(os.devnull, "w"))
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return {record["step"]: record for record in map(json.loads, f)}


def test_resume_reproduces_the_uninterrupted_losses(tmp_path):
    data = _write_domains(tmp_path)
    straight = _train(data, str(tmp_path / "straight"))
    _train(data, str(tmp_path / "resumed"), stop_after=2)
    assert os.path.exists(tmp_path / "resumed" / "ckpt-2.index")
    resumed = _train(data, str(tmp_path / "resumed"))
    assert sorted(straight) == sorted(resumed) == [1, 2, 3, 4]
    for step in (3, 4):
        for name in ("g_loss", "cycle_a", "identity_b", "d_a_loss", "d_b_loss", "d_a_fake", "d_b_fake"):
            assert resumed[step][name] == straight[step][name], (step, name)  # bit for bit
