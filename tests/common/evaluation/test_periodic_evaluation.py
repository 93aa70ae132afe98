"""PeriodicEvaluation: scalars every N steps, the best checkpoint kept only when the metric improves.

The best-keeping logic is driven step by step with an `evaluate_fn` returning
scripted values and a one-layer model whose weights encode the step; one test
runs the callback inside `runtime.train` on a tiny DCGAN with a real
`evaluate_generator` and a small fixed feature network, and restores the kept
checkpoint with the evaluate command.
"""

import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from common.training import callbacks as callbacks_lib
from common.training import checkpointing
from common.evaluation import periodic_evaluation
from common.evaluation import evaluate_command
from common.training.runtime_config import RuntimeConfig


def scalar_events(model_dir) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of the evaluation TensorBoard run."""
    found: dict[str, dict[int, float]] = {}
    for path in glob.glob(os.path.join(model_dir, "tensorboard", "eval", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    return found


def step_model():
    """A Dense layer whose kernel we set to the step number, to see which step a checkpoint holds."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    return model


def drive(callback, model, steps):
    """Runs the callback's hooks as fit would, with the model's kernel = step at every step."""
    callback.set_model(model)
    callback.on_train_begin()
    for step in steps:
        model.layers[0].kernel.assign([[float(step)]])
        callback.on_train_batch_end(step - 1, {callbacks_lib.STEP_KEY: step, callbacks_lib.NONFINITE_KEY: -1})
    callback.on_train_end()


def scripted(values_by_step, calls):
    def evaluate_fn(model):
        step = int(model.layers[0].kernel.numpy()[0, 0])
        calls.append(step)
        return {"fid": values_by_step[step], "kid_mean": 0.5 * values_by_step[step], "mode_coverage": {"x": 1}}
    return evaluate_fn


def restored_step(model_dir) -> int:
    model = step_model()
    path = checkpointing.restore_latest(lambda: checkpointing.inference_checkpoint(model),
                                        os.path.join(model_dir, "best"), partial=True, quarantine=False)
    assert path is not None
    return int(model.layers[0].kernel.numpy()[0, 0])


def test_best_checkpoint_follows_the_minimum_and_scalars_are_written(tmp_path):
    model_dir = str(tmp_path)
    values = {2: 5.0, 4: 3.0, 6: 4.0, 8: float("nan"), 10: 2.0, 12: 2.0}
    calls = []
    callback = periodic_evaluation.PeriodicEvaluation(2, model_dir=model_dir, evaluate_fn=scripted(values, calls))
    best_json = os.path.join(model_dir, "best", "best.json")
    kept = []
    callback.set_model(step_model())
    callback.on_train_begin()
    for step in range(1, 13):
        callback.model.layers[0].kernel.assign([[float(step)]])
        callback.on_train_batch_end(step - 1, {callbacks_lib.STEP_KEY: step, callbacks_lib.NONFINITE_KEY: -1})
        if step % 2 == 0:
            with open(best_json) as file:
                kept.append(json.load(file)["step"])
    callback.on_train_end()

    assert calls == [2, 4, 6, 8, 10, 12]  # every 2 steps, nothing in between
    assert kept == [2, 4, 4, 4, 10, 10]  # improves at 2, 4, 10; 6 worse, NaN never, 12 only equal
    with open(best_json) as file:
        best = json.load(file)
    assert (best["metric"], best["mode"], best["value"], best["step"]) == ("fid", "min", 2.0, 10)
    assert best["results"] == {"fid": 2.0, "kid_mean": 1.0}
    assert restored_step(model_dir) == 10  # the checkpoint holds the weights of step 10
    assert len(glob.glob(os.path.join(model_dir, "best", "ckpt-*.index"))) == 1
    events = scalar_events(model_dir)
    assert set(events) == {"eval/fid", "eval/kid_mean"}
    assert events["eval/fid"][4] == 3.0 and events["eval/kid_mean"][6] == 2.0
    assert sorted(events["eval/fid"]) == [2, 4, 6, 8, 10, 12]
    history = [json.loads(line) for line in open(os.path.join(model_dir, "eval", "history.jsonl"))]
    assert [h["step"] for h in history] == [2, 4, 6, 8, 10, 12]


def test_maximised_metric_resume_and_nonfinite_steps(tmp_path):
    model_dir = str(tmp_path)
    values = {3: 0.4, 6: 0.7, 9: 0.6, 12: 0.65, 15: 0.9}
    calls = []

    def evaluate_fn(model):
        step = int(model.layers[0].kernel.numpy()[0, 0])
        calls.append(step)
        return {"precision": values[step], "recall": 0.1}

    first = periodic_evaluation.PeriodicEvaluation(3, model_dir=model_dir, evaluate_fn=evaluate_fn, metric="precision")
    assert first.mode == "max"
    drive(first, step_model(), range(1, 10))
    assert first.best["step"] == 6 and restored_step(model_dir) == 6

    # A resumed run (new callback, steps from 10) reads best.json: 0.65 at step 12 does not replace 0.7.
    resumed = periodic_evaluation.PeriodicEvaluation(3, model_dir=model_dir, evaluate_fn=evaluate_fn, metric="precision")
    model = step_model()
    resumed.set_model(model)
    resumed.on_train_begin()
    for step in range(10, 16):
        model.layers[0].kernel.assign([[float(step)]])
        nonfinite = 15 if step == 15 else -1  # the runtime rolls back this step: no evaluation
        resumed.on_train_batch_end(0, {callbacks_lib.STEP_KEY: step, callbacks_lib.NONFINITE_KEY: nonfinite})
    assert calls == [3, 6, 9, 12]
    assert resumed.best["step"] == 6 and restored_step(model_dir) == 6


def test_rejects_unknown_mode_and_missing_metric(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        periodic_evaluation.PeriodicEvaluation(1, model_dir=str(tmp_path), evaluate_fn=lambda m: {}, metric="sharpness")
    callback = periodic_evaluation.PeriodicEvaluation(1, model_dir=str(tmp_path), evaluate_fn=lambda m: {"fid": 1.0},
                                                metric="kid")
    callback.set_model(step_model())
    with pytest.raises(KeyError, match="kid_mean"):
        callback.evaluate(1)


def test_flags_build_nothing_when_off_and_report_missing_weights(tmp_path):
    flag_values = flags.FlagValues()
    periodic_evaluation.define_eval_flags(flag_values)
    flag_values(["prog"])
    run = RuntimeConfig(model_dir=str(tmp_path))
    assert periodic_evaluation.callbacks_from_flags(run, None, flag_values) == []
    flag_values(["prog", "--eval_every=5", "--eval_feature_network=fid_inception", "--eval_metric=kid"])
    with pytest.raises(evaluate_command.EvaluateAppError, match="--eval_fid_weights="):
        periodic_evaluation.callbacks_from_flags(run, None, flag_values)


def test_in_training_evaluation_from_flags_keeps_a_checkpoint_the_evaluate_command_restores(tmp_path):
    from tests.common.evaluation.test_evaluate_command import TINY, build_fields, train_tiny_dcgan, write_halves_dataset

    data = write_halves_dataset(str(tmp_path / "data"), count=40)
    model_dir = str(tmp_path / "run")
    flag_values = flags.FlagValues()
    periodic_evaluation.define_eval_flags(flag_values)
    flag_values(["train", "--eval_every=1", "--eval_num_samples=20", "--eval_metric=fid", "--eval_train_classifier",
                 f"--eval_classifier_path={tmp_path / 'classifier.keras'}"])
    run = RuntimeConfig(data=data, model_dir=model_dir, seed=0)
    from apps.dcgan.config import DCGANConfig

    (callback,) = periodic_evaluation.callbacks_from_flags(run, DCGANConfig(**TINY), flag_values,
                                                     cache_dir=str(tmp_path / "stats"), verbose=0,
                                                     classifier_epochs=2, classifier_width=8,
                                                     classifier_feature_dim=16)
    assert os.path.isfile(tmp_path / "classifier.keras")  # trained before training starts
    train_tiny_dcgan(data, model_dir, steps=2, extra_callbacks=[callback])

    assert [step for step, _ in callback.history] == [1, 2]
    fids = dict(callback.history)
    with open(os.path.join(model_dir, "best", "best.json")) as file:
        best = json.load(file)
    assert best["step"] == min(fids, key=fids.get) and best["value"] == min(fids.values())
    events = scalar_events(model_dir)
    assert set(events["eval/fid"]) == {1, 2}
    assert {"eval/precision", "eval/recall", "eval/density", "eval/coverage", "eval/kid_mean",
            "eval/inception_score_mean"} <= set(events)

    model, path = evaluate_command.restore_model(model_dir, build_fields, checkpoint="best")
    assert path.endswith(os.path.join("best", f"ckpt-{best['step']}"))
    # The kept weights reproduce the kept FID (same noise, same real statistics).
    assert callback.evaluate_fn(model)["fid"] == pytest.approx(best["value"], rel=1e-4)


def test_class_rows_are_named_by_the_label_names_given_to_the_builder(tmp_path):
    """--label_names -> manifest -> describe() -> eval/class_share/<name> rows and the evaluate table."""
    import numpy as np

    from common.data import reader
    from common.evaluation import metrics, scoring
    from tfrecords.build import build_dataset

    np.savez(tmp_path / "data.npz", images=np.zeros((6, 4, 4), np.uint8), labels=np.array([0, 1, 2, 0, 1, 2]))
    data = os.path.dirname(build_dataset(source=str(tmp_path / "data.npz"), output=str(tmp_path / "data"),
                                         label_names=["airplane", "automobile", "bird"], num_workers=1,
                                         progress=False))
    names = reader.describe(data).labels
    assert names == ["airplane", "automobile", "bird"]
    coverage = metrics.mode_coverage(np.array([0, 0, 2, 2, 2, 2, 2, 2]), 3)

    model_dir = str(tmp_path / "run")
    callback = periodic_evaluation.PeriodicEvaluation(
        2, model_dir=model_dir, evaluate_fn=lambda model: {"fid": 1.0, "mode_coverage": coverage}, class_names=names)
    drive(callback, step_model(), [1, 2])
    events = scalar_events(model_dir)
    assert events["eval/class_share/airplane"][2] == 0.25
    assert events["eval/class_share/automobile"][2] == 0.0
    assert events["eval/class_share/bird"][2] == 0.75
    assert events["eval/modes_covered"][2] == 2.0

    table = evaluate_command.format_table({"mode_coverage": coverage,
                                           "class_shares": scoring.class_shares(coverage, names)})
    assert "modes covered" in table and "2 of 3" in table
    assert [line.split()[:3] for line in table.splitlines() if line.startswith("class ")] == [
        ["class", "airplane", "25.0%"], ["class", "automobile", "0.0%"], ["class", "bird", "75.0%"]]
    # Without names (or with names that do not fit the classifier's classes) the rows carry the index.
    assert list(scoring.class_shares(coverage, None)) == ["0", "1", "2"]
    assert list(scoring.class_shares(coverage, ["a", "b"])) == ["0", "1", "2"]


class ValueClassifier:
    """A dataset-classifier stand-in over 3 classes: an image of value v (all pixels) is class v - 1.

    Features: v plus seeded noise, so that each class has a spread and intra-FID is defined.
    """

    name, resize, has_probabilities, num_classes = "value-classifier", "none", True, 3

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def __call__(self, images):
        values = np.asarray(images)[:, 0, 0, 0]
        classes = np.clip(np.round(values).astype(int) - 1, 0, 2)
        return {"features": (values[:, None] + self.rng.normal(scale=0.1, size=(len(values), 1))).astype(np.float32),
                "probabilities": np.eye(3)[classes]}

    def extract(self, batches, num_samples, *, keep_features=True, keep_probabilities=True):
        from common.evaluation import feature_networks

        images, labels = next(iter(batches))
        features = self(images)["features"][:num_samples].astype(np.float64)
        return feature_networks.ExtractedFeatures(
            features=features, mean=features.mean(0), cov=np.cov(features.T).reshape(1, 1), count=len(features),
            probabilities=None, labels=np.asarray(labels[:num_samples]))

    def describe(self):
        return {"network": self.name, "resize": self.resize, "feature_dim": 1, "num_classes": 3}


def test_conditional_models_are_sampled_with_labels_and_logged_with_conditional_accuracy(tmp_path):
    from tests.common.evaluation.test_evaluate_command import LabelEchoModel

    labels = np.arange(30) % 3
    real = [(np.ones((30, 2, 2, 1), np.float32) * (labels + 1.0)[:, None, None, None], labels)]
    evaluate_fn = periodic_evaluation.make_evaluate_fn(real, ValueClassifier(), 30, batch_size=10, num_classes=3)
    model = LabelEchoModel()
    results = evaluate_fn(model)
    assert model.traced and model.traced[0][0] == "sample"  # sampled through model.sample(z, labels)
    assert results["class_accuracy"] == 1.0  # LabelEchoModel draws exactly the requested class
    assert results["class_accuracy_by_class"]["per_class"] == [1.0, 1.0, 1.0]
    assert sorted(results["intra_fid"]["per_class"]) == [0, 1, 2]

    model_dir = str(tmp_path / "run")
    callback = periodic_evaluation.PeriodicEvaluation(2, model_dir=model_dir, evaluate_fn=lambda m: results,
                                                      class_names=["cat", "dog", "eel"])
    drive(callback, step_model(), [1, 2])
    events = scalar_events(model_dir)
    assert events["eval/conditional_accuracy"][2] == 1.0
    assert events["eval/conditional_accuracy/dog"][2] == 1.0
    assert events["eval/class_share/eel"][2] == pytest.approx(1 / 3)
    assert events["eval/intra_fid"][2] == pytest.approx(results["intra_fid"]["mean"])
    assert "eval/class_accuracy" not in events  # logged once, as conditional_accuracy


def test_conditional_app_of_another_class_count_is_refused_before_the_classifier_is_built(tmp_path):
    import dataclasses

    from tests.common.evaluation.test_evaluate_command import write_halves_dataset

    @dataclasses.dataclass(frozen=True)
    class ConditionalConfig:
        num_classes: int = 3
        image_size: int = 16
        channels: int = 1

    data = write_halves_dataset(str(tmp_path / "data"), count=16)
    flag_values = flags.FlagValues()
    periodic_evaluation.define_eval_flags(flag_values)
    classifier_path = tmp_path / "classifier.keras"
    flag_values(["train", "--eval_every=1", "--eval_num_samples=20", "--eval_train_classifier",
                 f"--eval_classifier_path={classifier_path}"])
    run = RuntimeConfig(data=data, model_dir=str(tmp_path / "run"), seed=0)
    with pytest.raises(evaluate_command.EvaluateAppError, match=r"generates 3 classes, but .* has 2"):
        periodic_evaluation.callbacks_from_flags(run, ConditionalConfig(), flag_values, verbose=0)
    assert not classifier_path.exists()
