"""CycleGAN training on a tiny two-domain dataset written here: metrics, TensorBoard rows, LR, checkpointed pools.

Training runs in process through the same `translator_training.train_options`
the train command passes to the runtime; the command's flags are parsed into
flag values of their own.
"""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from PIL import Image

from apps.cyclegan.config import CycleGANConfig
from apps.cyclegan.model import CycleGAN, build_model, make_optimizers
from common.training import runtime
from common.training import translator_training
from common.training.flags import dataclass_from_flags, define_dataclass_flags, define_runtime_flags
from common.training.runtime_config import RuntimeConfig
from tfrecords.build import build_dataset

TINY = CycleGANConfig(image_size=16, base_filters=4, num_residual_blocks=1, discriminator_layers=2, pool_size=2)


class EagerCycleGAN(CycleGAN):
    """Runs its steps eagerly: the traced step costs 20+ s to compile on two shared CPUs; the traced
    image history is covered by tests/common/nn/test_image_pool.py and the step math by test_model.py."""

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        self.run_eagerly = True


def _build_eager(config):
    model = build_model(config)
    return EagerCycleGAN(model.generator_ab, model.generator_ba, model.discriminator_a, model.discriminator_b,
                         config, name="cyclegan")


def _write_domains(folder):
    rng = np.random.default_rng(0)
    for domain, tint in (("a", (1.0, 0.6, 0.3)), ("b", (0.3, 0.6, 1.0))):
        os.makedirs(folder / domain)
        for index in range(5):
            image = (rng.uniform(0, 255, (20, 20, 1)) * np.array(tint)).astype(np.uint8)
            Image.fromarray(image).save(folder / domain / f"{index}.png")
    build_dataset(domains=[str(folder / "a"), str(folder / "b")], output=str(folder / "data"), test_fraction=0.4,
                  num_workers=1, progress=False)
    return str(folder / "data")


def test_train_logs_every_term_and_checkpoints_the_pools(tmp_path):
    data = _write_domains(tmp_path)
    model_dir = str(tmp_path / "run")
    run = RuntimeConfig(data=data, model_dir=model_dir, batch_size=1, steps=2, log_every=1, sample_every=1,
                        num_samples=2, checkpoint_every=100)
    options = translator_training.train_options(run, TINY, make_optimizers)
    result = runtime.train(app="cyclegan", config=TINY, run=run, build_model=_build_eager, **options,
                           stream=open(os.devnull, "w"))
    assert result.step == 2
    model = result.model
    # Learning rate: constant for step 0, then linear to 0 at step 2.
    assert float(model.g_optimizer.learning_rate) == pytest.approx(0.0)
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    for name in ("g_loss", "g_adv_ab", "g_adv_ba", "cycle_a", "cycle_b", "identity_a", "identity_b",
                 "d_loss", "d_a_loss", "d_b_loss"):
        assert all(np.isfinite(r[name]) for r in records), name
    tags = set()
    for path in glob.glob(os.path.join(model_dir, "tensorboard", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.add(value.tag)
                if value.tag == "a_to_b":
                    image = tf.make_ndarray(value.tensor)  # [width, height, encoded png]
                    shape = tf.image.decode_png(image[2]).shape
                    assert shape == (2 * 16, 3 * 16, 3)  # 2 rows of real | translated | cycled
    assert {"a_to_b", "b_to_a", "cycle_a", "learning_rate/g_optimizer"} <= tags
    # The image histories are part of the checkpoint.
    restored = runtime.restore_for_inference(model_dir, lambda fields: build_model(CycleGANConfig(**fields)))
    assert int(restored.pool_a.draws.numpy()) == 2 and int(restored.pool_b.count.numpy()) == 2
    np.testing.assert_array_equal(restored.pool_b.images.numpy(), model.pool_b.images.numpy())


def test_image_rows_are_the_networks_translations_in_inference_mode(tmp_path):
    model = build_model(TINY)
    model.compile(*make_optimizers(TINY))
    rng = np.random.default_rng(1)
    images_a, images_b = (rng.uniform(-1, 1, (3, 16, 16, 3)).astype(np.float32) for _ in range(2))
    writer = translator_training.TranslationImageWriter(str(tmp_path), images_a, images_b, every=1)
    writer.set_model(model)
    writer.on_train_begin()
    writer.write(7)
    writer.on_train_end()  # the end-of-run rows, at the generator optimizer's step (0: no update yet)
    g, f = model.generator_ab, model.generator_ba
    fake_b, fake_a = g(images_a, training=False).numpy(), f(images_b, training=False).numpy()
    expected = {"a_to_b": [images_a, fake_b, f(fake_b, training=False).numpy()],
                "b_to_a": [images_b, fake_a, g(fake_a, training=False).numpy()]}
    seen = []
    for path in glob.glob(os.path.join(str(tmp_path), "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                seen.append((value.tag, event.step))
                png = tf.image.decode_png(tf.make_ndarray(value.tensor)[2]).numpy().astype(np.float32)
                want = np.clip((np.concatenate(list(np.concatenate(expected[value.tag], axis=2)), axis=0) + 1) / 2,
                               0, 1) * 255
                assert png.shape == (3 * 16, 3 * 16, 3)
                # Encoded as uint8: one image at a time against the batch differs by float rounding only.
                np.testing.assert_allclose(png, want, atol=1.0)
    assert sorted(seen) == [("a_to_b", 0), ("a_to_b", 7), ("b_to_a", 0), ("b_to_a", 7)]


def _parsed(argv):
    flag_values = flags.FlagValues()
    define_runtime_flags(flag_values=flag_values, module_name="apps.cyclegan.train")
    define_dataclass_flags(CycleGANConfig, flag_values=flag_values, module_name="apps.cyclegan.train")
    flag_values(["prog", *argv])
    translator_training.default_data_image_size(flag_values)
    return dataclass_from_flags(CycleGANConfig, flag_values=flag_values), flag_values


def test_train_flags_and_image_size_default():
    config, flag_values = _parsed(["--base_filters=8", "--identity_weight=0"])
    assert config.image_size == 64  # no --data: the default dataset's size
    assert config.base_filters == 8 and config.identity_weight == 0.0 and config.batch_size == 1
    assert flag_values["batch_size"].value == 1  # the paper's batch size becomes the runtime default
    assert _parsed(["--data=some/folder"])[0].image_size == 256  # the paper's size for real data
    assert _parsed(["--image_size=32"])[0].image_size == 32
