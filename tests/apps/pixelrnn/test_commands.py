"""PixelRNN through the runtime and its commands on the offline digits at 8x8: a resumed run ends bit-identical
to an uninterrupted one; evaluate computes the split's exact likelihood (checked against the model) and times
samples; the export's signatures reproduce the model (its parity check, and here by hand); the train and
export commands run, with sample grids, without an error line."""

import io
import json
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from apps.pixelrnn.config import PixelRNNConfig
from apps.pixelrnn.serving import export_pixelrnn
from apps.pixelrnn.model import build_model, make_optimizers
from common.evaluation import evaluate_command, likelihood_evaluation
from common.export import generator_export
from common.training import checkpointing, runtime
from common.training.runtime_config import RuntimeConfig, field_defaults
from tests.commands import error_lines, start_command
from tests.tolerances import reduction_rtol

TIMEOUT_SECONDS = 300
CONFIG = PixelRNNConfig(model="pixelcnn", image_size=8, channels=1, hidden=4, num_layers=2, output_features=0,
                        batch_size=4, ema_decay=0.5, seed=3)
STEPS = 4


def _train(model_dir, steps, config=CONFIG):
    run = RuntimeConfig(model_dir=str(model_dir), batch_size=config.batch_size, steps=steps, seed=3, log_every=1,
                        checkpoint_every=1, keep_checkpoints=20, sample_every=0, strategy="default",
                        precision="float32")
    return runtime.train(app="pixelrnn", config=config, run=run, build_model=build_model,
                         build_optimizers=lambda c: {"optimizer": make_optimizers(c)}, stream=io.StringIO())


def _metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as file:
        return [json.loads(line) for line in file]


def _evaluate(argv):
    flag_values = flags.FlagValues()
    likelihood_evaluation.define_likelihood_flags(flag_values)
    flag_values(["evaluate", *argv])
    return likelihood_evaluation.run_likelihood_evaluation(
        flag_values, lambda fields: build_model(PixelRNNConfig(**fields)), field_defaults(PixelRNNConfig),
        stream=io.StringIO())


def test_resume_is_exact_evaluate_matches_the_model_and_the_export_reproduces_it(tmp_path):
    straight = _train(tmp_path / "straight", STEPS)
    logs = _metrics(str(tmp_path / "straight"))
    assert len(logs) == STEPS and all(np.isfinite(line["bits_per_dim"]) for line in logs)
    # The run as it was after step 2, resumed to step 4.
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    kept = [p for p in checkpointing.list_checkpoints(str(tmp_path / "resumed"))
            if checkpointing.checkpoint_step(p) <= 2]
    for path in checkpointing.list_checkpoints(str(tmp_path / "resumed")):
        if path not in kept:
            for file in tf.io.gfile.glob(path + ".*"):
                os.remove(file)
    checkpointing._write_state_file(str(tmp_path / "resumed"), kept)
    resumed = _train(tmp_path / "resumed", STEPS)
    assert resumed.start_step == 2 and resumed.step == STEPS
    state = lambda model: model.variables + model.optimizer.variables  # noqa: E731
    assert len(state(straight.model)) == len(state(resumed.model))
    for a, b in zip(state(straight.model), state(resumed.model)):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert _metrics(str(tmp_path / "resumed"))[-2:] == logs[-2:]

    # evaluate: the test split's likelihood from the moving average, and timed samples with a grid.
    model_dir = str(tmp_path / "resumed")
    report = _evaluate([f"--model_dir={model_dir}", "--batch_size=32", "--num_samples=3", "--sample_batch_size=2"])
    assert report["step"] == STEPS and report["ema"] and report["split"] == "test"
    model, _ = runtime.restore_app_for_inference(model_dir, PixelRNNConfig, build_model)
    dataset = evaluate_command.real_dataset(None, "test", 8, 1, 1000, 0)
    images = np.concatenate([batch["image"].numpy() for batch in dataset])
    assert report["images"] == len(images)
    nll = model.negative_log_likelihood(images, network=model.inference_network).numpy().astype(np.float64)
    assert report["nll_nats"] == pytest.approx(nll.mean(), rel=reduction_rtol(64 * 256))
    assert report["bits_per_dim"] == pytest.approx(report["nll_nats"] / (64 * math.log(2.0)), rel=1e-12)
    assert report["sampling"]["samples"] == 3 and report["sampling"]["seconds_per_image"] > 0
    assert os.path.exists(report["samples_png"])
    trained = _evaluate([f"--model_dir={model_dir}", "--noema", "--max_images=10",
                         f"--output={tmp_path / 'trained.json'}"])
    assert trained["images"] == 10 and not trained["ema"]
    # --noema scores the trained weights: the same first 10 images of the seeded order, another network.
    by_network = {name: model.negative_log_likelihood(images[:10], network=network).numpy().astype(np.float64).mean()
                  for name, network in (("trained", model.network), ("ema", model.inference_network))}
    assert trained["nll_nats"] == pytest.approx(by_network["trained"], rel=reduction_rtol(64 * 256))
    # After 4 steps the two networks' NLLs differ by about 0.1 nats; float32 rounding of these sums is ~1e-4.
    gap = abs(by_network["trained"] - by_network["ema"])
    assert gap > 0 and abs(trained["nll_nats"] - by_network["trained"]) < 0.1 * gap

    # export: the parity check passed, and by hand: log_prob is the model's, sample is its loop on sample_latents.
    written = export_pixelrnn(model, str(tmp_path / "export"), metadata={"step": STEPS})
    with open(os.path.join(written, "assets.extra", "export_info.json")) as file:
        info = json.load(file)
    assert info["parity"]["sample"]["beyond_rounding"] == 0 and info["latent_dim"] == 64
    loaded = tf.saved_model.load(written)
    assert sorted(loaded.signatures) == ["generate", "log_prob", "sample", "serving_default"]
    uint8 = np.round((images[:5] + 1.0) * 127.5).astype(np.uint8)
    served = loaded.signatures["log_prob"](images=tf.constant(uint8))["nll_nats"].numpy()
    np.testing.assert_allclose(served, nll[:5], rtol=reduction_rtol(64 * 256))
    sampled = loaded.signatures["sample"](seed=tf.constant(9, tf.int64), count=tf.constant(2, tf.int32))
    z = generator_export.sample_latents(9, 2, 64, "uniform")
    np.testing.assert_array_equal(sampled["z"].numpy(), z.numpy())
    levels = np.round((model.sample(z).numpy() + 1.0) * 127.5)
    differing = levels != sampled["images"].numpy()
    assert differing.mean() < 0.05  # one graph against another: only near-tie draws may differ
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 64"):
        loaded.signatures["sample"](seed=tf.constant(1, tf.int64), count=tf.constant(65, tf.int32))


def test_train_and_export_commands_write_sample_grids_and_a_model_without_error_lines(tmp_path):
    model_dir = tmp_path / "run"
    done = start_command("apps.pixelrnn.train", f"--model_dir={model_dir}", "--image_size=8", "--channels=1",
                         "--output=bernoulli", "--model=pixelcnn", "--hidden=2", "--num_layers=2",
                         "--output_features=0", "--batch_size=4", "--steps=2", "--sample_every=2", "--num_samples=4")
    stdout, stderr = done.communicate(timeout=TIMEOUT_SECONDS)
    assert done.returncode == 0, stderr[-3000:]
    assert "Training pixelrnn for 2 steps" in stdout
    assert error_lines(stderr) == [], "\n".join(error_lines(stderr))
    logs = _metrics(str(model_dir))
    assert [line["step"] for line in logs] == [1, 2] and all(line["nll"] > 0 for line in logs)
    events = tf.io.gfile.glob(str(model_dir / "tensorboard" / "**" / "events.*")) or tf.io.gfile.glob(
        str(model_dir / "tensorboard" / "events.*"))
    tags = set()
    for path in events:
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    assert "samples" in tags, tags
    done = start_command("apps.pixelrnn.export", f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'export'}")
    stdout, stderr = done.communicate(timeout=TIMEOUT_SECONDS)
    assert done.returncode == 0, stderr[-3000:]
    assert "Exported step 2 (network) to" in stdout
    assert error_lines(stderr) == [], "\n".join(error_lines(stderr))
    assert sorted(tf.saved_model.load(str(tmp_path / "export" / "1")).signatures) == [
        "generate", "log_prob", "sample", "serving_default"]
