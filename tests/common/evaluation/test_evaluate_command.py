"""The evaluate command (common.evaluation.evaluate_command, apps.dcgan.evaluate) on a tiny DCGAN run.

A labelled 16x16 grayscale dataset (two classes: bright top or bright bottom half)
is written here, a DCGAN with 4 base filters trains for 2 steps with the runtime,
and a classifier with 8 filters is trained for one epoch: the numbers are
meaningless, the plumbing (flags, files, keys, errors) is what is checked.
"""

import glob
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from apps.dcgan.config import DCGANConfig
from apps.dcgan.model import build_model, make_optimizers
from common.evaluation import classifier
from common.evaluation import evaluate_command
from common.training import runtime
from common.training.runtime_config import RuntimeConfig, field_defaults

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = dict(image_size=16, channels=1, base_filters=4, latent_dim=8, batch_size=8, ema_decay=0.9)
REPORT_KEYS = {"fid", "kid_mean", "kid_std", "inception_score_mean", "inception_score_std", "precision", "recall",
               "density", "coverage", "num_real", "num_generated", "feature_network", "network", "resize",
               "checkpoint_step", "checkpoint", "ema", "data", "split", "seed", "classifier_path",
               "classifier_test_accuracy", "settings"}


def build_fields(fields):
    return build_model(DCGANConfig(**fields))


def write_halves_dataset(folder, count=80):
    """Images bright in the top (label 0) or bottom (label 1) half, plus noise; 25% test split."""
    from tfrecords.build import build_dataset

    rng = np.random.default_rng(0)
    labels = np.arange(count) % 2
    images = rng.integers(0, 60, size=(count, 16, 16, 1)).astype(np.uint8)
    for index, label in enumerate(labels):
        rows = slice(0, 8) if label == 0 else slice(8, 16)
        images[index, rows] += 180
    os.makedirs(folder, exist_ok=True)
    np.savez(os.path.join(folder, "halves.npz"), images=images, labels=labels)
    manifest = build_dataset(source=os.path.join(folder, "halves.npz"), output=os.path.join(folder, "dataset"),
                             kind="npz", channels=1, test_fraction=0.25, num_workers=1, progress=False)
    return os.path.dirname(manifest)


def train_tiny_dcgan(data, model_dir, steps=2, extra_callbacks=None):
    config = DCGANConfig(**TINY)
    run = RuntimeConfig(data=data, model_dir=str(model_dir), batch_size=8, steps=steps, log_every=1,
                        checkpoint_every=1000, sample_every=0, strategy="default")
    return runtime.train(app="dcgan", config=config, run=run, build_model=build_model,
                         build_optimizers=lambda c: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c))),
                         extra_callbacks=extra_callbacks, stream=open(os.devnull, "w"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    data = write_halves_dataset(str(root / "data"))
    model_dir = str(root / "run")
    train_tiny_dcgan(data, model_dir)
    return dict(root=str(root), data=data, model_dir=model_dir, classifier=str(root / "classifier.keras"),
                cache=str(root / "stats"))


def options(tiny_run, **overrides):
    values = dict(model_dir=tiny_run["model_dir"], num_samples=64, batch_size=32, classifier_epochs=1,
                  classifier_width=8, classifier_feature_dim=16, classifier_path=tiny_run["classifier"],
                  cache_dir=tiny_run["cache"], verbose=0)
    values.update(overrides)
    return evaluate_command.EvaluateOptions(**values)


def test_evaluate_writes_every_metric_with_sane_values(tiny_run, capsys):
    report = evaluate_command.run_evaluation(options(tiny_run, train_classifier=True), build_fields)
    output = os.path.join(tiny_run["model_dir"], "eval", "step-2-classifier.json")
    assert report["output"] == output
    with open(output) as file:
        saved = json.load(file)
    assert REPORT_KEYS <= set(saved)
    assert saved["feature_network"] == "classifier"  # "auto" picks the classifier: labels and a test split
    assert saved["network"].startswith("dataset-classifier-")
    assert saved["resize"] == "none" or saved["resize"].startswith("tf.image.resize bilinear 16x16")
    assert (saved["checkpoint_step"], saved["ema"], saved["split"]) == (2, True, "train")
    assert saved["data"] == tiny_run["data"]  # taken from the run's config.json
    assert (saved["num_generated"], saved["num_real"]) == (64, 60)  # the train split has 60 images
    assert saved["fid"] > 0 and np.isfinite(saved["fid"])
    assert saved["kid_std"] >= 0 and np.isfinite(saved["kid_mean"])
    assert 1.0 <= saved["inception_score_mean"] <= 2.0 + 1e-6  # two classes
    for key in ("precision", "recall", "coverage"):
        assert 0.0 <= saved[key] <= 1.0, key
    assert saved["density"] >= 0
    assert 0.0 <= saved["classifier_test_accuracy"] <= 1.0
    assert sum(saved["mode_coverage"]["histogram"]) == 64
    table = capsys.readouterr().out
    for label in ("FID", "KID", "Inception Score", "precision", "recall", "density", "coverage", "real samples",
                  "generated samples", "feature network", "resize", "checkpoint step"):
        assert label in table, label

    # Same seed, same noise, cached real statistics and classifier: identical numbers; --noema differs.
    again_path = os.path.join(tiny_run["root"], "again.json")
    again = evaluate_command.run_evaluation(options(tiny_run, output=again_path), build_fields)
    assert again["fid"] == pytest.approx(saved["fid"], rel=1e-6) and again["settings"]["reference_reused"]
    raw = evaluate_command.run_evaluation(options(tiny_run, ema=False, output=again_path), build_fields)
    assert raw["ema"] is False and raw["fid"] != pytest.approx(saved["fid"], rel=1e-6)


def test_user_errors_are_reported_before_any_work(tiny_run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(evaluate_command.EvaluateAppError, match="no config.json"):
        evaluate_command.run_evaluation(options(tiny_run, model_dir=str(empty)), build_fields)
    no_checkpoint = tmp_path / "no_checkpoint"
    no_checkpoint.mkdir()
    with open(os.path.join(tiny_run["model_dir"], "config.json")) as file:
        (no_checkpoint / "config.json").write_text(file.read())
    with pytest.raises(evaluate_command.EvaluateAppError, match="no checkpoint yet; train first"):
        evaluate_command.run_evaluation(options(tiny_run, model_dir=str(no_checkpoint)), build_fields)
    with pytest.raises(evaluate_command.EvaluateAppError, match="no best checkpoint"):
        evaluate_command.run_evaluation(options(tiny_run, checkpoint="best"), build_fields)
    with pytest.raises(evaluate_command.EvaluateAppError, match="is not a checkpoint"):
        evaluate_command.run_evaluation(options(tiny_run, checkpoint=str(tmp_path / "ckpt-9")), build_fields)
    with pytest.raises(evaluate_command.EvaluateAppError, match="fid_weights=path/pt_inception-2015-12-05"):
        evaluate_command.run_evaluation(options(tiny_run, feature_network="fid_inception"), build_fields)
    with pytest.raises(evaluate_command.EvaluateAppError, match="is not a file"):
        evaluate_command.run_evaluation(options(tiny_run, feature_network="fid_inception",
                                            fid_weights=str(tmp_path / "missing.pth")), build_fields)
    missing = str(tmp_path / "none" / "classifier.keras")
    with pytest.raises(evaluate_command.EvaluateAppError, match="training one is turned off. Pass --train_classifier"):
        evaluate_command.run_evaluation(options(tiny_run, classifier_path=missing, train_classifier=False),
                                        build_fields)
    assert not os.path.exists(missing)
    with pytest.raises(evaluate_command.EvaluateAppError, match="has no split 'validation'"):
        evaluate_command.run_evaluation(options(tiny_run, split="validation"), build_fields)
    # Errors a user can cause are ConfigErrors: the CLI prints them and exits with status 2.
    assert issubclass(evaluate_command.EvaluateAppError, runtime.ConfigError)


def test_restore_model_by_checkpoint_path_matches_the_newest(tiny_run):
    newest, newest_path = evaluate_command.restore_model(tiny_run["model_dir"], build_fields)
    chosen, chosen_path = evaluate_command.restore_model(tiny_run["model_dir"], build_fields,
                                                     checkpoint=os.path.join(tiny_run["model_dir"], "ckpt-2"))
    assert newest_path.endswith("ckpt-2") and chosen_path.endswith("ckpt-2")
    for a, b in zip(newest.generator.get_weights() + newest.ema.shadow.get_weights(),
                    chosen.generator.get_weights() + chosen.ema.shadow.get_weights()):
        np.testing.assert_array_equal(a, b)
    first, _ = evaluate_command.restore_model(tiny_run["model_dir"], build_fields,
                                          checkpoint=os.path.join(tiny_run["model_dir"], "ckpt-0"))
    assert any(not np.array_equal(a, b) for a, b in zip(first.generator.get_weights(),
                                                        newest.generator.get_weights()))


def copy_as_run_before_reuse_fakes(model_dir, destination):
    """A copy of a run whose config.json lacks `reuse_fakes`, as runs written before the field existed.

    Such runs drew fresh z for the generator step (DCGANConfig.VALUES_BEFORE_FIELD):
    evaluating one must rebuild that model, not today's default (reuse_fakes=True).
    """
    shutil.copytree(model_dir, destination)
    config_path = os.path.join(destination, "config.json")
    with open(config_path) as f:
        saved = json.load(f)
    del saved["model"]["reuse_fakes"]
    with open(config_path, "w") as f:
        json.dump(saved, f)
    return str(destination)


def test_restore_model_gives_fields_a_run_predates_their_earlier_values(tiny_run, tmp_path):
    model_dir = copy_as_run_before_reuse_fakes(tiny_run["model_dir"], tmp_path / "old_run")
    built = []

    def build_recording(fields):
        built.append(DCGANConfig(**fields))
        return build_model(built[-1])

    defaults = field_defaults(DCGANConfig)
    evaluate_command.restore_model(model_dir, build_recording, model_defaults=defaults)
    evaluate_command.restore_model(model_dir, build_recording, checkpoint=os.path.join(model_dir, "ckpt-2"),
                               model_defaults=defaults)
    assert [config.reuse_fakes for config in built] == [False, False]
    assert DCGANConfig().reuse_fakes  # today's default, which the run never used
    assert built[0].latent_dim == TINY["latent_dim"]  # config.json's values still win


def test_default_classifier_path_is_keyed_by_dataset_size_and_fingerprint(monkeypatch, tmp_path, tiny_run):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = evaluate_command.default_classifier_path("mnist", "ab" * 32, 32, 1, "0123456789abcdef")
    assert path == str(tmp_path / "gansuite" / "classifiers" / f"mnist-{'ab' * 8}-32x32x1-0123456789abcdef.keras")
    assert path != evaluate_command.default_classifier_path("mnist", "ab" * 32, 64, 1, "0123456789abcdef")
    # The fingerprint follows the recommended settings for the data and every override of them.
    settings, fingerprint = evaluate_command.classifier_settings(tiny_run["data"], 16, 1)
    assert settings.augmentation == "auto" and settings.blocks_per_stage == 1
    assert fingerprint == classifier.classifier_fingerprint(settings, (16, 16, 1), 2)
    assert fingerprint != evaluate_command.classifier_settings(tiny_run["data"], 16, 1, width=8)[1]
    assert fingerprint != evaluate_command.classifier_settings(tiny_run["data"], 16, 1, epochs=3)[1]
    assert fingerprint != evaluate_command.classifier_settings(tiny_run["data"], 12, 1)[1]


def test_first_use_trains_the_classifier_with_an_estimate_and_a_progress_bar(tiny_run, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    stream = io.StringIO()
    report = evaluate_command.run_evaluation(
        options(tiny_run, classifier_path=None, classifier_epochs=3, verbose=1, output=str(tmp_path / "r.json")),
        build_fields, stream=stream)
    text = stream.getvalue()
    cached = glob.glob(str(tmp_path / "gansuite" / "classifiers" / "dataset-*-16x16x1-*.keras"))
    assert [report["classifier_path"]] == cached
    assert report["classifier_fingerprint"] in cached[0]
    assert "training one into" in text and "Measured" in text and "ms per batch" in text
    assert "3/3" in text  # the progress bar counts the batches of all epochs
    assert "Classifier trained in" in text
    # The second use finds it: no training.
    stream = io.StringIO()
    evaluate_command.run_evaluation(
        options(tiny_run, classifier_path=None, classifier_epochs=3, verbose=1, output=str(tmp_path / "r.json")),
        build_fields, stream=stream)
    assert "training one" not in stream.getvalue()


def test_bounds_score_real_test_images_and_uniform_noise(tiny_run, tmp_path):
    stream = io.StringIO()
    report = evaluate_command.run_evaluation(options(tiny_run, train_classifier=True, bounds=True,
                                                     output=str(tmp_path / "b.json")), build_fields, stream=stream)
    floor, ceiling = report["floor"], report["ceiling"]
    assert (floor["source"], floor["num_generated"]) == ("real test images", 20)  # the whole test split
    assert (ceiling["source"], ceiling["num_generated"]) == ("uniform noise", 64)
    assert floor["fid"] < ceiling["fid"]
    assert floor["precision"] >= ceiling["precision"] and floor["recall"] >= ceiling["recall"]
    with open(tmp_path / "b.json") as file:
        assert json.load(file)["floor"]["fid"] == pytest.approx(floor["fid"], rel=1e-12)
    table = stream.getvalue()
    assert "floor (real test images)" in table and "ceiling (uniform noise)" in table


def test_main_reads_flags_and_exits_with_status_2_on_user_errors(tiny_run, capsys, tmp_path):
    # The run predates `reuse_fakes`: main rebuilds it with the value the field had then.
    model_dir = copy_as_run_before_reuse_fakes(tiny_run["model_dir"], tmp_path / "old_run")
    built = []

    def build_recording(config):
        built.append(config)
        return build_model(config)

    def evaluate(flag_values):
        return evaluate_command.main(["evaluate"], config_class=DCGANConfig, build_model=build_recording,
                                 flag_values=flag_values)

    flag_values = flags.FlagValues()
    evaluate_command.define_evaluate_flags(flag_values)
    output = os.path.join(tiny_run["root"], "flags.json")
    flag_values(["evaluate", f"--model_dir={model_dir}", "--num_samples=20", "--batch_size=20",
                 f"--output={output}", f"--classifier_path={tiny_run['classifier']}", "--train_classifier",
                 "--classifier_epochs=1", f"--cache_dir={tiny_run['cache']}", "--seed=3", "--noema"])
    report = evaluate(flag_values)
    assert [config.reuse_fakes for config in built] == [False]
    with open(output) as file:
        saved = json.load(file)
    assert (saved["num_generated"], saved["seed"], saved["ema"], saved["checkpoint_step"]) == (20, 3, False, 2)
    assert report["fid"] == saved["fid"]
    flag_values.unparse_flags()
    flag_values(["evaluate", f"--model_dir={model_dir}", "--feature_network=fid_inception"])
    with pytest.raises(SystemExit) as exit_info:
        evaluate(flag_values)
    assert exit_info.value.code == 2
    assert "--fid_weights=" in capsys.readouterr().err


def test_cli_helpfull_lists_the_flags():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    process = subprocess.run([sys.executable, "-m", "apps.dcgan.evaluate", "--helpfull"], cwd=ROOT, env=env,
                             text=True, capture_output=True, timeout=180)
    assert process.returncode == 1, process.stderr[-2000:]  # absl's help flags exit with status 1
    for flag in ("--model_dir:", "--data:", "--num_samples:", "--feature_network:", "--fid_weights:",
                 "--classifier_path:", "--[no]train_classifier:", "--split:", "--[no]ema:", "--batch_size:",
                 "--seed:", "--output:", "--checkpoint:", "--[no]bounds:"):
        assert flag in process.stdout, flag
