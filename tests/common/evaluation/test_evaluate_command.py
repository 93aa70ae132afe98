"""The evaluate command (common.evaluation.evaluate_command, apps.dcgan.evaluate) on a tiny DCGAN run.

A labelled 16x16 grayscale dataset (two classes: bright top or bright bottom half)
is written here, a DCGAN with 4 base filters trains for 2 steps with the runtime,
and a classifier with 8 filters is trained for one epoch: the numbers are
meaningless, the plumbing (flags, files, keys, errors) is what is checked.
"""

import dataclasses
import glob
import io
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from apps.dcgan.config import DCGANConfig
from apps.dcgan.model import build_model, make_optimizers
from common.data import reader as data_lib
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
    others = [evaluate_command.classifier_settings(tiny_run["data"], 16, 1, **{name: value})[1]
              for name, value in (("width", 32), ("blocks_per_stage", 2), ("feature_dim", 64), ("epochs", 5))]
    assert len({fingerprint, *others}) == 5


def test_classifier_flags_reach_the_settings_fingerprint_and_cached_path(tiny_run, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    flag_values = flags.FlagValues()
    evaluate_command.define_evaluate_flags(flag_values)
    flag_values(["evaluate", f"--model_dir={tiny_run['model_dir']}", "--classifier_width=32",
                 "--classifier_blocks_per_stage=2", "--classifier_feature_dim=64", "--classifier_epochs=5"])
    parsed = evaluate_command.options_from_flags(flag_values)
    assert (parsed.classifier_width, parsed.classifier_blocks_per_stage, parsed.classifier_feature_dim,
            parsed.classifier_epochs) == (32, 2, 64, 5)
    settings, fingerprint = evaluate_command.classifier_settings(
        tiny_run["data"], 16, 1, epochs=5, width=32, blocks_per_stage=2, feature_dim=64)
    assert (settings.width, settings.blocks_per_stage, settings.feature_dim, settings.epochs) == (32, 2, 64, 5)

    def refused_path(**overrides):
        # With training refused, the error names the cached file the settings lead to, before any work.
        values = {"model_dir": tiny_run["model_dir"], "classifier_path": None, "train_classifier": False,
                  "cache_dir": tiny_run["cache"], "verbose": 0}
        values.update(overrides)
        with pytest.raises(evaluate_command.EvaluateAppError, match="is cached at") as error:
            evaluate_command.run_evaluation(evaluate_command.EvaluateOptions(**values), build_fields)
        return str(error.value)

    assert f"-{fingerprint}.keras" in refused_path(**{field: getattr(parsed, field) for field in (
        "classifier_width", "classifier_blocks_per_stage", "classifier_feature_dim", "classifier_epochs")})
    default = evaluate_command.classifier_settings(tiny_run["data"], 16, 1)[1]
    assert f"-{default}.keras" in refused_path()
    for field, value in (("classifier_width", 32), ("classifier_blocks_per_stage", 2),
                         ("classifier_feature_dim", 64)):
        message = refused_path(**{field: value})
        assert f"-{default}.keras" not in message and "-16x16x1-" in message


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


def test_contrastive_encoder_is_trained_once_scores_with_bounds_and_reports_no_inception_score(tiny_run, tmp_path):
    path = str(tmp_path / "encoder.keras")
    contrastive = dict(feature_network="contrastive", contrastive_path=path, contrastive_batch_size=16,
                       contrastive_epochs=1)
    stream = io.StringIO()
    report = evaluate_command.run_evaluation(
        options(tiny_run, bounds=True, verbose=1, output=str(tmp_path / "c.json"), **contrastive), build_fields,
        stream=stream)
    text = stream.getvalue()
    assert "training one into" in text and "Measured" in text and "Contrastive encoder trained in" in text
    assert (report["feature_network"], report["contrastive_path"]) == ("contrastive", path)
    assert report["network"].startswith(f"contrastive-encoder-{report['contrastive_fingerprint']}-")
    assert report["contrastive_retrieval_images"] == 20  # the whole test split
    assert 0.0 <= report["contrastive_retrieval_accuracy"] <= 1.0
    assert report["inception_score_mean"] is None and "mode_coverage" not in report
    table = text.split("Contrastive encoder trained in")[1]
    assert "Inception Score" not in table and "retrieval accuracy" in table and "floor (real test images)" in table
    floor, ceiling = report["floor"], report["ceiling"]
    assert floor["fid"] < ceiling["fid"] and floor["inception_score_mean"] is None
    # The second use loads the encoder; refusing to train is checked before any work.
    stream = io.StringIO()
    again = evaluate_command.run_evaluation(options(tiny_run, verbose=1, output=str(tmp_path / "d.json"),
                                                    **contrastive), build_fields, stream=stream)
    assert "training one" not in stream.getvalue() and again["network"] == report["network"]
    missing = str(tmp_path / "none" / "encoder.keras")
    with pytest.raises(evaluate_command.EvaluateAppError, match="training one is turned off. Pass --train_contrastive"):
        evaluate_command.run_evaluation(options(tiny_run, **{**contrastive, "contrastive_path": missing},
                                                train_contrastive=False), build_fields)
    too_few = r"60 training images, fewer than one batch of 256; .* at most 60, a multiple of 4 \(--contrastive_batch"
    with pytest.raises(evaluate_command.EvaluateAppError, match=too_few):
        evaluate_command.run_evaluation(options(tiny_run, feature_network="contrastive", contrastive_path=missing),
                                        build_fields)
    assert not os.path.exists(missing)
    # A file of this dataset whose sidecar is not a contrastive encoder's (as a classifier's) is refused.
    other = str(tmp_path / "other.keras")
    shutil.copy(path, other)
    with open(path + ".json") as file:
        sidecar = json.load(file)
    with open(other + ".json", "w") as file:
        json.dump({key: value for key, value in sidecar.items() if key != "kind"}, file)
    with pytest.raises(evaluate_command.EvaluateAppError, match="is not a contrastive encoder"):
        evaluate_command.run_evaluation(options(tiny_run, **{**contrastive, "contrastive_path": other}), build_fields)


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
                 "--classifier_path:", "--[no]train_classifier:", "--classifier_epochs:", "--classifier_width:",
                 "--classifier_blocks_per_stage:", "--classifier_feature_dim:", "--split:", "--[no]ema:", "--batch_size:",
                 "--seed:", "--output:", "--checkpoint:", "--[no]bounds:", "--contrastive_path:",
                 "--[no]train_contrastive:", "--contrastive_epochs:", "--contrastive_batch_size:"):
        assert flag in process.stdout, flag


# --------------------------------------------------------------------------- class-conditional models


@dataclasses.dataclass(frozen=True)
class TinyCGANConfig:
    """A class-conditional app's config: it has `num_classes`."""

    num_classes: int = 2
    latent_dim: int = 4
    image_size: int = 16
    channels: int = 1
    seed: int = 0


class TinyCGAN(keras.Model):
    """A class-conditional GAN following the contract: `generator([z, labels])`, `sample(z, labels)`."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.latent_dim = config.num_classes, config.latent_dim
        z, labels = keras.Input((config.latent_dim,)), keras.Input((), dtype="int32")
        joined = keras.layers.Concatenate()([z, keras.layers.Embedding(config.num_classes, 4)(labels)])
        images = keras.layers.Reshape((16, 16, 1))(keras.layers.Dense(256, activation="tanh")(joined))
        self.generator = keras.Model([z, labels], images, name="generator")
        self.discriminator = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
                                               keras.layers.Dense(1)], name="discriminator")
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self.loss_tracker = keras.metrics.Mean(name="d_loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    def train_step(self, batch):
        images, labels = batch["image"], tf.cast(batch["label"], tf.int32)
        z = keras.random.normal((tf.shape(images)[0], self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator([z, labels], training=True)
            loss = (tf.reduce_mean(tf.nn.softplus(-self.discriminator(images)))
                    + tf.reduce_mean(tf.nn.softplus(self.discriminator(fake))))
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        return {"d_loss": self.loss_tracker.result()}

    def sample(self, z, labels, training=False):
        return self.generator([z, labels], training=training)


def build_cgan_fields(fields):
    return TinyCGAN(TinyCGANConfig(**fields))


@pytest.fixture(scope="module")
def conditional_run(tiny_run):
    """A two-step class-conditional run on the two-class halves dataset (sample grids on)."""
    model_dir = os.path.join(tiny_run["root"], "conditional_run")
    run = RuntimeConfig(data=tiny_run["data"], model_dir=model_dir, batch_size=8, steps=2, log_every=1,
                        checkpoint_every=1000, sample_every=2, num_samples=4, strategy="default",
                        precision="float32")
    runtime.train(app="tiny_cgan", config=TinyCGANConfig(), run=run, build_model=TinyCGAN,
                  build_optimizers=lambda c: {"g_optimizer": keras.optimizers.Adam(1e-3),
                                              "d_optimizer": keras.optimizers.Adam(1e-3)},
                  stream=io.StringIO())
    return model_dir


class LabelEchoModel:
    """A conditional stand-in whose images hold their label: 1 + label from `sample`, 10 + label from the
    raw generator; it records the structure of every call it is traced with."""

    num_classes, latent_dim = 3, 2

    def __init__(self, ema=True):
        self.ema = object() if ema else None
        self.traced = []

    def _images(self, labels, offset):
        return tf.ones((tf.shape(labels)[0], 2, 2, 1)) * tf.reshape(tf.cast(labels, tf.float32) + offset,
                                                                     (-1, 1, 1, 1))

    def sample(self, z, labels, training=False):
        self.traced.append(("sample", z.shape[-1], labels.dtype, training))
        return self._images(labels, 1.0)

    def generator(self, inputs, training=False):
        z, labels = inputs
        self.traced.append(("generator", z.shape[-1], labels.dtype, training))
        return self._images(labels, 10.0)


def test_make_sample_fn_passes_the_requested_labels_to_conditional_models():
    model = LabelEchoModel()
    sample_fn = evaluate_command.make_sample_fn(model, seed=1)
    images = np.asarray(sample_fn(4, np.array([2, 0, 1, 2])))
    np.testing.assert_array_equal(images[:, 0, 0, 0], [3.0, 1.0, 2.0, 3.0])
    assert model.traced[0] == ("sample", 2, tf.int32, False)
    raw = evaluate_command.make_sample_fn(model, use_ema=False, seed=1)
    np.testing.assert_array_equal(np.asarray(raw(2, [1, 0]))[:, 0, 0, 0], [11.0, 10.0])
    assert model.traced[-1] == ("generator", 2, tf.int32, False)
    with pytest.raises(ValueError, match="class-conditional .* needs the requested labels"):
        sample_fn(4)
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        sample_fn(2, [0, 3])
    # evaluate_generator's balanced requests reach the model: every class of 3, 4 times in 12 samples.
    from common.evaluation import scoring

    requested = []
    echo = evaluate_command.make_sample_fn(LabelEchoModel(), seed=0)

    def recording(count, labels):
        images = echo(count, labels)
        requested.extend(np.asarray(images)[:, 0, 0, 0].astype(int) - 1)
        return images

    class Flat:
        name, resize, has_probabilities, num_classes = "flat", "none", False, None

        def __call__(self, images):
            return {"features": np.asarray(images).reshape(len(images), -1)[:, :1]
                    + np.random.default_rng(len(images)).normal(size=(len(images), 1))}

        def extract(self, batches, num_samples, **kwargs):
            raise AssertionError("reference is given")

        def describe(self):
            return {"network": self.name, "resize": self.resize}

    from common.evaluation import reference_stats

    features = np.random.default_rng(0).normal(size=(12, 1))
    reference = reference_stats.ReferenceStats(mean=features.mean(0), cov=np.cov(features.T).reshape(1, 1),
                                               count=12, network="flat", resize="none", dataset_checksum="",
                                               split="train", num_samples=12, features=features,
                                               labels=np.arange(12) % 3)
    scoring.evaluate_generator(recording, None, Flat(), 12, batch_size=5, num_classes=3, conditional=True,
                               reference=reference, metrics_to_compute=["fid", "intra_fid"])
    assert sorted(requested) == [0] * 4 + [1] * 4 + [2] * 4


def test_conditional_evaluation_reports_accuracy_intra_fid_and_a_per_class_table(tiny_run, conditional_run,
                                                                                 tmp_path):
    stream = io.StringIO()
    output = str(tmp_path / "conditional.json")
    report = evaluate_command.run_evaluation(
        options(tiny_run, model_dir=conditional_run, train_classifier=True, output=output), build_cgan_fields,
        stream=stream)
    with open(output) as file:
        saved = json.load(file)
    assert saved["conditional"] is True and saved["num_classes"] == 2
    assert saved["settings"]["conditional"] is True
    rows = saved["per_class"]
    assert [(row["class"], row["name"], row["requested"]) for row in rows] == [(0, "0", 32), (1, "1", 32)]
    for row in rows:
        assert 0.0 <= row["conditional_accuracy"] <= 1.0 and 0.0 <= row["share"] <= 1.0
        assert np.isfinite(row["intra_fid"]) and row["intra_fid"] >= 0
    # Overall accuracy is the requested-count weighted mean of the per-class ones; the shares add up to 1.
    assert saved["conditional_accuracy"] == pytest.approx(sum(r["conditional_accuracy"] for r in rows) / 2)
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    assert saved["intra_fid_mean"] == pytest.approx(sum(row["intra_fid"] for row in rows) / 2)
    assert saved["conditional_accuracy_unavailable"] is None
    assert 0.0 <= saved["classifier_test_accuracy"] <= 1.0
    assert "mode_coverage" not in saved  # unconditional models report the class histogram instead
    assert report["per_class"] == rows
    table = stream.getvalue()
    for text in ("conditional accuracy (2 classes)", "intra-FID (mean over classes)", "classifier test accuracy",
                 "class  conditional accuracy  intra-FID  share classified as it"):
        assert text in table, text
    assert evaluate_command.per_class_table(rows) in table


def test_conditional_report_without_the_dataset_classifier_says_why_accuracy_is_missing():
    results = {"intra_fid": {"mean": 2.5, "per_class": {0: 2.0, 2: 3.0}, "skipped_classes": [1]}}
    section = evaluate_command.conditional_report(results, 3, ["cat", "dog", "eel"], "inception_v3")
    assert section["conditional_accuracy"] is None
    assert "inception_v3 is not the dataset classifier" in section["conditional_accuracy_unavailable"]
    assert [(row["name"], row["intra_fid"], row["conditional_accuracy"]) for row in section["per_class"]] == [
        ("cat", 2.0, None), ("dog", None, None), ("eel", 3.0, None)]
    table = evaluate_command.format_table({"fid": 1.0, **section})
    assert "n/a (the feature network inception_v3 is not the dataset classifier" in table
    assert "2.500 (classes left out, with fewer than 2 real or generated samples: 1)" in table
    assert "1 dog" in table and "2 eel" in table


def test_conditional_class_count_mismatch_is_refused_before_sampling(tiny_run, conditional_run, tmp_path):
    copy = str(tmp_path / "three_classes")
    shutil.copytree(conditional_run, copy)
    config_path = os.path.join(copy, "config.json")
    with open(config_path) as file:
        saved = json.load(file)
    saved["model"]["num_classes"] = 3
    with open(config_path, "w") as file:
        json.dump(saved, file)
    built = []
    with pytest.raises(evaluate_command.EvaluateAppError, match=r"generates 3 classes, but .* has 2 \(0, 1\)"):
        evaluate_command.run_evaluation(options(tiny_run, model_dir=copy), lambda f: built.append(f))
    assert not built  # refused before the model was built
    info = data_lib.describe(tiny_run["data"])
    with pytest.raises(evaluate_command.EvaluateAppError, match="classifier at c.keras has 5 outputs"):
        evaluate_command.check_conditional_evaluation(2, data=tiny_run["data"], dataset_info=info, num_samples=64,
                                                      classifier_classes=5, classifier_path="c.keras")
    with pytest.raises(evaluate_command.EvaluateAppError, match="--num_samples=3 gives fewer than 2 samples"):
        evaluate_command.check_conditional_evaluation(2, data=tiny_run["data"], dataset_info=info, num_samples=3)
    unlabelled = dataclasses.replace(info, has_labels=False, labels=None)
    with pytest.raises(evaluate_command.EvaluateAppError, match="class-conditional .* has no labels"):
        evaluate_command.check_conditional_evaluation(2, data=tiny_run["data"], dataset_info=unlabelled,
                                                      num_samples=64)


def test_conditional_run_writes_a_sample_grid(conditional_run):
    tags = set()
    for path in glob.glob(os.path.join(conditional_run, "tensorboard", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    assert "samples" in tags
