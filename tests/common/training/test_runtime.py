"""Tests of common.training.runtime with a tiny GAN that follows the model protocol.

The tiny GAN (8x8 grayscale images, one Dense layer per network) lives here so
the runtime is tested without any app's code; `python -m tests.common.training.test_runtime
--model_dir=...` runs it through the runtime as a script for the subprocess tests.
"""

from __future__ import annotations

import dataclasses
import glob
import io
import json
import os
from typing import ClassVar

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers, ops

from common.training import checkpointing
from common.training import runtime
from common.training.runtime_config import RuntimeConfig

IMAGE_SIZE = 8
NUM_IMAGES = 64


@dataclasses.dataclass(frozen=True)
class TinyConfig:
    latent_dim: int = 4
    image_size: int = IMAGE_SIZE
    learning_rate: float = 1e-2
    seed: int = 0
    noise: str = "normal"  # "normal": SeedGenerator noise; "data": noise read off the real images
    optimizer: str = "adam"  # "sgd" makes a wrong gradient scale visible after one step


class TinyGAN(keras.Model):
    """A non-saturating GAN with one Dense layer per network, following the model protocol."""

    def __init__(self, generator, discriminator, config, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.config = config
        self.latent_dim = config.latent_dim
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")

    @property
    def metrics(self):
        return [self.g_loss_tracker, self.d_loss_tracker]

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    def _noise(self, real_images):
        batch = ops.shape(real_images)[0]
        if self.config.noise == "data":
            return ops.reshape(real_images, (batch, -1))[:, : self.latent_dim]
        return keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)

    def train_step(self, batch):
        real_images = batch["image"]
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        z = self._noise(real_images)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(self.generator(z, training=True), training=True)
            d_loss = ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))
            scaled = self.d_optimizer.scale_loss(d_loss / replicas)
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        z = self._noise(real_images)
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(z, training=True), training=True)
            g_loss = ops.mean(ops.softplus(-fake_logits))
            scaled = self.g_optimizer.scale_loss(g_loss / replicas)
        variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        self.g_loss_tracker.update_state(g_loss)
        self.d_loss_tracker.update_state(d_loss)
        return {"g_loss": self.g_loss_tracker.result(), "d_loss": self.d_loss_tracker.result()}

    def sample(self, z, training=False):
        return self.generator(z, training=training)


def build_tiny_gan(config) -> TinyGAN:
    if isinstance(config, dict):
        config = TinyConfig(**config)
    size = config.image_size
    generator = keras.Sequential(
        [keras.Input((config.latent_dim,)), layers.Dense(size * size),
         layers.Reshape((size, size, 1)), layers.Activation("tanh", dtype="float32")],
        name="generator")
    discriminator = keras.Sequential(
        [keras.Input((size, size, 1)), layers.Flatten(), layers.Dense(1, dtype="float32")],
        name="discriminator")
    return TinyGAN(generator, discriminator, config)


def tiny_optimizers(config):
    def make():
        if config.optimizer == "sgd":
            return keras.optimizers.SGD(config.learning_rate)
        return keras.optimizers.Adam(config.learning_rate, beta_1=0.5)

    return {"g_optimizer": make(), "d_optimizer": make()}


def tiny_images(nonfinite_at: int | None = None) -> np.ndarray:
    images = np.random.default_rng(0).uniform(-1, 1, (NUM_IMAGES, IMAGE_SIZE, IMAGE_SIZE, 1)).astype(np.float32)
    if nonfinite_at is not None:
        images[nonfinite_at] = np.inf
    return images


def tiny_dataset_fn(batch_size: int, *, shuffle_seed: int | None = 0, nonfinite_at: int | None = None):
    """Deterministic repeated in-memory dataset of per-replica batches of {"image": ...}."""
    images = tiny_images(nonfinite_at)

    def dataset_fn(context: tf.distribute.InputContext):
        dataset = tf.data.Dataset.from_tensor_slices({"image": images})
        dataset = dataset.shard(context.num_input_pipelines, context.input_pipeline_id)
        if shuffle_seed is not None:
            dataset = dataset.shuffle(NUM_IMAGES, seed=shuffle_seed, reshuffle_each_iteration=True)
        return dataset.repeat().batch(context.get_per_replica_batch_size(batch_size), drop_remainder=True)

    return dataset_fn


def run_tiny(model_dir, *, config=TinyConfig(), dataset_fn=None, stream=None, **run_options):
    # float32 unless a test asks for another policy: --precision=auto would pick bfloat16 on some CPUs
    # and float32 on others, and the comparisons of these tests are written for float32.
    options = dict(model_dir=str(model_dir), batch_size=4, steps=4, log_every=1, checkpoint_every=2,
                   sample_every=2, num_samples=4, strategy="default", precision="float32")
    options.update(run_options)
    run = RuntimeConfig(**options)
    return runtime.train(
        app="tiny", config=config, run=run, build_model=build_tiny_gan, build_optimizers=tiny_optimizers,
        dataset_fn=dataset_fn or tiny_dataset_fn(run.batch_size), num_examples=lambda: NUM_IMAGES,
        stream=stream or io.StringIO())


def read_metrics(model_dir) -> dict[int, dict]:
    """step -> logged values; a resumed run's lines override earlier ones for the same step."""
    records = {}
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            records[record.pop("step")] = record
    return records


def weights(model):
    return [np.array(v) for v in model.variables]


def tensorboard_tags(model_dir) -> set[str]:
    tags = set()
    for path in glob.glob(os.path.join(str(model_dir), "tensorboard", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_interrupted_and_resumed_run_matches_uninterrupted_run(tmp_path):
    full = run_tiny(tmp_path / "full", steps=6)
    assert (full.start_step, full.step) == (0, 6)
    first = run_tiny(tmp_path / "resumed", steps=3)
    assert first.step == 3
    resumed = run_tiny(tmp_path / "resumed", steps=6, checkpoint_every=5)  # intervals may change
    assert (resumed.start_step, resumed.step) == (3, 6)

    full_log, resumed_log = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "resumed")
    assert sorted(full_log) == list(range(1, 7))
    for step in range(1, 7):
        assert resumed_log[step] == full_log[step], step  # bitwise equal losses
    assert len({round(full_log[s]["d_loss"], 6) for s in full_log}) == 6  # the losses do move
    for a, b in zip(weights(full.model), weights(resumed.model)):
        np.testing.assert_array_equal(a, b)

    saved = json.load(open(tmp_path / "resumed" / "config.json"))
    assert saved["app"] == "tiny" and saved["model"]["latent_dim"] == 4
    assert saved["runtime"]["steps"] == 6 and saved["runtime"]["checkpoint_every"] == 5
    steps = [checkpointing.checkpoint_step(p) for p in checkpointing.list_checkpoints(tmp_path / "full")]
    assert steps == [2, 4, 6]  # keep_checkpoints=3 dropped step 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished two-step run (2 steps = 0.125 epochs of 64 images at batch 4), shared read-only."""
    model_dir = tmp_path_factory.mktemp("trained")
    result = run_tiny(model_dir, steps=None, epochs=0.125, log_every=1, sample_every=2, profile_steps="2,2")
    return model_dir, result


def test_epochs_convert_to_steps_and_tensorboard_has_every_summary(trained):
    model_dir, result = trained
    assert result.step == 2
    assert {"g_loss", "d_loss", "images_per_second", "learning_rate/g_optimizer",
            "learning_rate/d_optimizer", "samples", "_hparams_/session_start_info"} <= tensorboard_tags(model_dir)
    assert glob.glob(str(model_dir / "profile" / "plugins" / "profile" / "*" / "*.xplane.pb"))


def test_model_dir_of_an_incompatible_config_is_refused(trained):
    model_dir, _ = trained
    before = {name: os.path.getmtime(model_dir / name) for name in os.listdir(model_dir)}
    with pytest.raises(runtime.ConfigMismatchError, match=r"--latent_dim: 4 in the model directory, 8 now"):
        run_tiny(model_dir, steps=3, config=TinyConfig(latent_dim=8))
    with pytest.raises(runtime.ConfigMismatchError, match=r"--batch_size: 4 .* 8 now"):
        run_tiny(model_dir, steps=3, batch_size=8)
    assert {name: os.path.getmtime(model_dir / name) for name in os.listdir(model_dir)} == before


def test_dry_run_prints_config_and_writes_nothing(tmp_path, trained):
    out = io.StringIO()
    assert run_tiny(tmp_path / "new", dry_run=True, stream=out) is None
    printed = json.loads(out.getvalue())
    assert printed["runtime"]["batch_size"] == 4 and printed["model"]["latent_dim"] == 4
    assert not (tmp_path / "new").exists()
    out = io.StringIO()
    run_tiny(trained[0], steps=5, dry_run=True, stream=out)
    assert "Would resume" in out.getvalue() and "from step 2" in out.getvalue()


def test_restore_for_inference_loads_the_latest_generator(trained):
    model_dir, result = trained
    restored = runtime.restore_for_inference(str(model_dir), build_tiny_gan)
    z = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.array(restored.sample(z)), np.array(result.model.sample(z)))


@dataclasses.dataclass(frozen=True)
class LaterConfig(TinyConfig):
    """TinyConfig plus a field its saved runs lack, which had another value before it existed."""

    latent_dim: int = 7  # today's default differs from the run's: config.json's 4 must win
    added_later: str = "now"
    VALUES_BEFORE_FIELD: ClassVar[dict] = {"added_later": "before"}


def test_an_app_restores_a_run_written_before_a_field_with_the_value_it_had(trained):
    model_dir, result = trained
    assert "added_later" not in runtime.read_saved_config(str(model_dir))["model"]
    built = []

    def build(config):
        built.append(config)
        return build_tiny_gan(config)

    restored, path = runtime.restore_app_for_inference(str(model_dir), LaterConfig, build)
    assert [(config.added_later, config.latent_dim) for config in built] == [("before", 4)]
    assert checkpointing.checkpoint_step(path) == result.step
    z = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.array(restored.sample(z)), np.array(result.model.sample(z)))


def test_an_app_refuses_another_apps_run(trained):
    @dataclasses.dataclass(frozen=True)
    class OtherConfig:
        latent_dim: int = 4

    with pytest.raises(runtime.ConfigError, match="config.json does not fit OtherConfig"):
        runtime.restore_app_for_inference(str(trained[0]), OtherConfig, build_tiny_gan)


def test_truncated_latest_checkpoint_falls_back_to_previous(tmp_path, caplog):
    run_tiny(tmp_path, steps=4, checkpoint_every=2)
    (data_file,) = glob.glob(str(tmp_path / "ckpt-4.data-*"))
    with open(data_file, "r+b") as f:
        f.truncate(os.path.getsize(data_file) // 2)
    with caplog.at_level("WARNING"):
        result = run_tiny(tmp_path, steps=5)
    assert result.start_step == 2 and result.step == 5
    assert "ckpt-4" in caplog.text and "could not be read" in caplog.text
    assert glob.glob(str(tmp_path / "corrupt" / "ckpt-4.*"))
    assert [checkpointing.checkpoint_step(p) for p in checkpointing.list_checkpoints(tmp_path)] == [2, 4, 5]


def test_bad_options_fail_before_work(tmp_path):
    with pytest.raises(ValueError, match="--batch_size must be a positive number"):
        run_tiny(tmp_path / "a", batch_size=0)
    with pytest.raises(ValueError, match="either --steps or --epochs"):
        run_tiny(tmp_path / "b", steps=3, epochs=1.0)
    with pytest.raises(ValueError, match="--profile_steps"):
        run_tiny(tmp_path / "c", profile_steps="5")
    assert not os.listdir(tmp_path)


@dataclasses.dataclass(frozen=True)
class ConditionalTinyConfig(TinyConfig):
    """The config of a class-conditional app: it has `num_classes`."""

    num_classes: int = 3


def build_npz_dataset(folder, *, labels: bool) -> str:
    """A 16-image 8x8 grayscale dataset built with the suite's builder, with labels 0/1 or without any."""
    from tfrecords.build import build_dataset

    os.makedirs(folder, exist_ok=True)
    arrays = {"images": np.random.default_rng(0).integers(0, 255, (16, IMAGE_SIZE, IMAGE_SIZE)).astype(np.uint8)}
    if labels:
        arrays["labels"] = np.arange(16) % 2
    np.savez(os.path.join(folder, "images.npz"), **arrays)
    manifest = build_dataset(source=os.path.join(folder, "images.npz"), output=os.path.join(folder, "dataset"),
                             kind="npz", num_workers=1, progress=False)
    return os.path.dirname(manifest)


def test_conditional_app_refuses_a_dataset_without_labels_before_any_work(tmp_path):
    data = build_npz_dataset(str(tmp_path / "unlabelled"), labels=False)
    built = []

    def build(config):
        built.append(config)
        return build_tiny_gan(config)

    for dry_run in (False, True):
        run = RuntimeConfig(data=data, model_dir=str(tmp_path / "run"), batch_size=4, steps=2, strategy="default",
                            precision="float32", dry_run=dry_run)
        with pytest.raises(runtime.ConfigError) as caught:
            runtime.train(app="tiny", config=ConditionalTinyConfig(), run=run, build_model=build,
                          build_optimizers=tiny_optimizers, stream=io.StringIO())
        message = str(caught.value)
        assert "class-conditional (--num_classes=3)" in message and "has none" in message
        for way in ("python -m tfrecords.build", "--kind=class_folders", "`labels` array", "--labels=",
                    "--label_names=a,b,c"):
            assert way in message, way
    assert not built and not (tmp_path / "run").exists()
    # The same dataset trains an unconditional app.
    runtime.check_dataset_labels(RuntimeConfig(data=data), TinyConfig())


def test_conditional_app_refuses_a_dataset_of_another_class_count(tmp_path):
    data = build_npz_dataset(str(tmp_path / "labelled"), labels=True)
    run = RuntimeConfig(data=data, model_dir=str(tmp_path / "run"), batch_size=4, steps=2, strategy="default",
                        precision="float32")
    with pytest.raises(runtime.ConfigError, match=r"--num_classes=3, but .* has 2 classes \(0, 1\)\. Pass "
                                                  r"--num_classes=2"):
        runtime.train(app="tiny", config=ConditionalTinyConfig(), run=run, build_model=build_tiny_gan,
                      build_optimizers=tiny_optimizers, stream=io.StringIO())
    assert not (tmp_path / "run").exists()
    runtime.check_dataset_labels(run, ConditionalTinyConfig(num_classes=2))  # the right count passes


NAN_POSITION = 13  # image index; batch 4, no shuffle -> the 4th batch, step 4


def test_nonfinite_loss_stops_with_intact_last_good_checkpoint(tmp_path):
    dataset_fn = tiny_dataset_fn(4, shuffle_seed=None, nonfinite_at=NAN_POSITION)
    with pytest.raises(runtime.NonFiniteLossError, match=r"step 4 .*last good checkpoint is step 2") as caught:
        run_tiny(tmp_path, steps=8, checkpoint_every=2, dataset_fn=dataset_fn)
    assert caught.value.step == 4
    assert [checkpointing.checkpoint_step(p) for p in checkpointing.list_checkpoints(tmp_path)] == [0, 2]
    assert max(read_metrics(tmp_path)) == 3  # the non-finite step is not logged as a result
    model = runtime.restore_for_inference(str(tmp_path), build_tiny_gan)
    assert all(np.isfinite(w).all() for w in weights(model))


def test_nonfinite_loss_in_a_multi_step_call_is_located_exactly(tmp_path):
    dataset_fn = tiny_dataset_fn(4, shuffle_seed=None, nonfinite_at=NAN_POSITION)
    with pytest.raises(runtime.NonFiniteLossError) as caught:
        run_tiny(tmp_path, steps=8, steps_per_execution=3, checkpoint_every=3, dataset_fn=dataset_fn)
    assert caught.value.step == 4 and caught.value.last_good_step == 3


def test_nonfinite_loss_rolls_back_and_continues(tmp_path):
    dataset_fn = tiny_dataset_fn(4, shuffle_seed=None, nonfinite_at=NAN_POSITION)
    out = io.StringIO()
    result = run_tiny(tmp_path, steps=6, checkpoint_every=2, dataset_fn=dataset_fn, on_nan="rollback",
                      max_rollbacks=1, stream=out)
    assert result.step == 6 and result.rollbacks == 1
    assert "rolled back to step 2" in out.getvalue()
    log = read_metrics(tmp_path)
    assert sorted(log) == list(range(1, 7))
    assert all(np.isfinite(v) for record in log.values() for v in record.values())
    assert all(np.isfinite(w).all() for w in weights(result.model))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_one_step_per_mixed_precision_policy(tmp_path, policy):
    result = run_tiny(tmp_path, steps=1, precision=policy)
    model = result.model
    assert keras.mixed_precision.dtype_policy().name == "float32"  # reset after the run
    compute = "float16" if policy == "mixed_float16" else "bfloat16"
    assert model.generator.layers[0].compute_dtype == compute
    assert model.generator.layers[0].kernel.dtype == "float32"
    wrapped = isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert wrapped == (policy == "mixed_float16")
    assert ("loss_scale/g_optimizer" in tensorboard_tags(tmp_path)) == wrapped
    assert np.isfinite(list(result.last_logs.values())).all()


def test_auto_precision_is_resolved_logged_stored_and_kept_on_resume(tmp_path):
    from common.training import precision as precision_lib

    out = io.StringIO()
    run_tiny(tmp_path / "auto", steps=1, precision="auto", stream=out)
    chosen, reason = precision_lib.choose_precision()
    assert f"Precision: {chosen} (--precision=auto: {reason})." in out.getvalue()
    assert json.load(open(tmp_path / "auto" / "config.json"))["runtime"]["precision"] == chosen

    # A run started with an explicit policy resumes under auto with that policy, whatever auto picks here.
    other = "mixed_float16" if chosen != "mixed_float16" else "float32"
    run_tiny(tmp_path / "explicit", steps=1, precision=other)
    out = io.StringIO()
    resumed = run_tiny(tmp_path / "explicit", steps=2, precision="auto", stream=out)
    assert resumed.step == 2
    assert f"Precision: {other} (--precision=auto: the precision the run in --model_dir was started with)." \
        in out.getvalue()
    assert json.load(open(tmp_path / "explicit" / "config.json"))["runtime"]["precision"] == other


def test_jit_compile_is_on_with_deterministic_ops_and_resumes_exactly(tmp_path):
    out = io.StringIO()
    full = run_tiny(tmp_path / "full", steps=4, jit_compile=True, stream=out)
    assert full.model.jit_compile is True
    assert "XLA: the training step is compiled with jit_compile=True." in out.getvalue()
    from tensorflow.python.framework import config as tf_config

    assert tf_config.is_op_determinism_enabled()
    run_tiny(tmp_path / "resumed", steps=2, jit_compile=True)
    resumed = run_tiny(tmp_path / "resumed", steps=4, jit_compile=True)
    full_log, resumed_log = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "resumed")
    assert sorted(full_log) == [1, 2, 3, 4]
    for step in range(1, 5):
        assert resumed_log[step] == full_log[step], step  # XLA's CPU kernels are fixed: bitwise equal
    for a, b in zip(weights(full.model), weights(resumed.model)):
        np.testing.assert_array_equal(a, b)


def test_jit_compile_of_an_op_without_a_deterministic_xla_kernel_is_refused_with_the_way_out(tmp_path):
    def build_pooling_gan(config):
        model = build_tiny_gan(config)
        size = config.image_size
        model.discriminator = keras.Sequential(  # max pooling's gradient has no deterministic XLA kernel
            [keras.Input((size, size, 1)), layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(1, dtype="float32")],
            name="discriminator")
        return model

    run = RuntimeConfig(model_dir=str(tmp_path), batch_size=4, steps=2, sample_every=0, strategy="default",
                        precision="float32", jit_compile=True)
    with pytest.raises(runtime.ConfigError, match="--nojit_compile to keep exact resume, or --nodeterministic"):
        runtime.train(app="tiny", config=TinyConfig(), run=run, build_model=build_pooling_gan,
                      build_optimizers=tiny_optimizers, dataset_fn=tiny_dataset_fn(4), stream=io.StringIO())
    assert not os.path.exists(tmp_path / "ckpt-1.index")  # refused before any step was trained


def _report_a_gpu(monkeypatch):
    """Makes TensorFlow's logical device listing report one GPU beside this machine's devices."""
    real = tf.config.list_logical_devices

    def list_logical_devices(device_type=None):
        if device_type == "GPU":
            return [tf.config.LogicalDevice(name="/device:GPU:0", device_type="GPU")]
        return real(device_type)

    monkeypatch.setattr(tf.config, "list_logical_devices", list_logical_devices)


def test_jit_compile_with_deterministic_ops_is_refused_on_a_gpu_before_anything_is_written(tmp_path, monkeypatch):
    _report_a_gpu(monkeypatch)
    out = io.StringIO()
    with pytest.raises(runtime.ConfigError, match="refused on GPUs") as refused:
        run_tiny(tmp_path / "run", steps=2, jit_compile=True, stream=out)
    assert "--nojit_compile to keep exact resume, or --nodeterministic" in str(refused.value)
    assert not os.path.exists(tmp_path / "run")  # no config.json, no checkpoint
    assert "XLA:" not in out.getvalue()


def test_jit_compile_on_a_gpu_is_accepted_without_deterministic_ops_and_xla_off_is_never_refused(monkeypatch):
    _report_a_gpu(monkeypatch)
    runtime._check_jit_compile(RuntimeConfig(model_dir="unused", jit_compile=True, deterministic=False))
    runtime._check_jit_compile(RuntimeConfig(model_dir="unused", jit_compile=False, deterministic=True))
    with pytest.raises(runtime.ConfigError, match="refused on GPUs"):
        runtime._check_jit_compile(RuntimeConfig(model_dir="unused", jit_compile=True, deterministic=True))


class _NoXlaLayer(layers.Layer):
    """An identity layer that declares it cannot run under XLA (as Keras layers with host-side ops do)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_jit = False

    def call(self, inputs):
        return inputs


@pytest.mark.parametrize("deterministic", [True, False])
def test_jit_compile_of_a_model_with_a_layer_without_xla_support_is_refused(tmp_path, deterministic):
    def build_gan_with_a_layer_without_xla(config):
        model = build_tiny_gan(config)
        size = config.image_size
        model.discriminator = keras.Sequential(
            [keras.Input((size, size, 1)), _NoXlaLayer(), layers.Flatten(), layers.Dense(1, dtype="float32")],
            name="discriminator")
        return model

    from tensorflow.python.framework import config as tf_config

    run = RuntimeConfig(model_dir=str(tmp_path / "run"), batch_size=4, steps=2, sample_every=0, strategy="default",
                        precision="float32", jit_compile=True, deterministic=deterministic)
    with pytest.raises(runtime.ConfigError, match="TinyGAN cannot be compiled with XLA"):
        runtime.train(app="tiny", config=TinyConfig(), run=run, build_model=build_gan_with_a_layer_without_xla,
                      build_optimizers=tiny_optimizers, dataset_fn=tiny_dataset_fn(4), stream=io.StringIO())
    assert not os.path.exists(tmp_path / "run" / "ckpt-0.index")  # refused before the first checkpoint
    if deterministic:
        assert tf_config.is_op_determinism_enabled()  # turned back on after the compile that declined XLA


if __name__ == "__main__":
    # Subprocess entry point: `python -m tests.common.training.test_runtime --model_dir=... --steps=...`.
    from absl import app
    from absl import flags as absl_flags

    from common.training import flags as runtime_flags

    runtime_flags.define_runtime_flags({"batch_size": 4, "log_every": 1})
    runtime_flags.define_dataclass_flags(TinyConfig)
    absl_flags.DEFINE_boolean("shuffle_data", True, "Shuffle the in-memory images.")

    def main(argv):
        runtime_flags.check_no_positional_args(argv)
        run = runtime_flags.runtime_config_from_flags()
        config = runtime_flags.dataclass_from_flags(TinyConfig)
        if run.data:  # a dataset of IMAGE_SIZE x IMAGE_SIZE grayscale images, read by the suite's reader
            from common.data import reader

            dataset_fn = runtime.image_dataset_fn(run, config)
            num_examples = lambda: reader.describe(run.data).num_examples["train"]  # noqa: E731
        else:
            dataset_fn = tiny_dataset_fn(run.batch_size, shuffle_seed=0 if absl_flags.FLAGS.shuffle_data else None)
            num_examples = lambda: NUM_IMAGES  # noqa: E731
        with runtime.exit_on_user_error(end_process_after_signal=True):
            runtime.train(app="tiny", config=config, run=run, build_model=build_tiny_gan,
                          build_optimizers=tiny_optimizers, dataset_fn=dataset_fn, num_examples=num_examples)

    app.run(main)
