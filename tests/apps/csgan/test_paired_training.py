"""CSGAN on aligned pairs (`--paired`): a training step on a tiny paired dataset, the flag, and the data checks."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from apps.csgan.config import CSGANConfig
from apps.csgan.model import CSGAN, build_model, make_optimizers
from common.data import reader
from common.training import runtime
from common.training import translator_training
from common.training.flags import dataclass_from_flags, define_dataclass_flags, define_runtime_flags
from common.training.runtime_config import RuntimeConfig, field_defaults, resolved_config
from tests.tfrecords import tiny_sources as tiny
from tfrecords.build import build_dataset

# load_size 20 = the stored size: random 16x16 crops without a resize, so pairs stay exact inverses.
TINY = CSGANConfig(image_size=16, load_size=20, base_filters=4, num_residual_blocks=1, discriminator_layers=2,
                   pool_size=2, paired=True)


class EagerCSGAN(CSGAN):
    """Runs its steps eagerly: tracing the step costs far more than one tiny step on two shared CPUs."""

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        self.run_eagerly = True


def _build_eager(config):
    model = build_model(config)
    return EagerCSGAN(model.generator_ab, model.generator_ba, model.discriminator_a, model.discriminator_b,
                      config, name="csgan")


def _write_domains(root, paired: bool) -> str:
    tiny.write_paired_domains(root, 6, size=20)
    output = root / ("paired" if paired else "unpaired")
    build_dataset(domains=[str(root / "a"), str(root / "b")], output=str(output), paired=paired,
                  test_fraction=0.34, num_workers=1, progress=False)
    return str(output)


def test_trains_on_aligned_pairs(tmp_path):
    dataset = _write_domains(tmp_path, paired=True)
    model_dir = str(tmp_path / "run")
    run = RuntimeConfig(data=dataset, model_dir=model_dir, batch_size=2, steps=1, log_every=1, sample_every=0,
                        checkpoint_every=100)
    options = translator_training.train_options(run, TINY, make_optimizers)
    batch = next(iter(options["dataset_fn"](tf.distribute.InputContext())))
    a, b = batch["a"].numpy(), batch["b"].numpy()
    assert a.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(b, -a, atol=1e-6)  # Rows are pairs: B is A's inverse, cropped and flipped alike.

    result = runtime.train(app="csgan", config=TINY, run=run, build_model=_build_eager, **options,
                           stream=open(os.devnull, "w"))
    assert result.step == 1
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        record = json.loads(f.readline())
    for name in ("g_loss", "cs_a", "cs_b", "cycle_a", "d_loss"):
        assert np.isfinite(record[name]), name
    with open(os.path.join(model_dir, "config.json")) as f:
        assert json.load(f)["model"]["paired"] is True
    # The TensorBoard rows of a paired run show pairs too.
    images_a, images_b = translator_training.fixed_images(dataset, TINY, count=2)
    np.testing.assert_allclose(images_b, -images_a, atol=2.5 / 127.5)
    # Export and translate rebuild the model from config.json the same way.
    restored = runtime.restore_for_inference(model_dir, lambda fields: build_model(CSGANConfig(**fields)))
    assert restored.config.paired


def test_paired_flag_needs_a_paired_dataset(tmp_path):
    unpaired = _write_domains(tmp_path, paired=False)
    run = RuntimeConfig(data=unpaired, model_dir=str(tmp_path / "run"), steps=1, sample_every=0)
    with pytest.raises(reader.DataError, match="Rebuild it with `python -m tfrecords.build --domains=a_dir,b_dir "
                                             "--paired"):
        translator_training.train_options(run, TINY, make_optimizers)
    with pytest.raises(reader.DataError, match="default dataset .* unpaired"):
        translator_training.train_options(run.replace(data=None), TINY, make_optimizers)
    assert not os.path.exists(tmp_path / "run")
    # The TensorBoard rows of a paired config read pairs too, so they refuse unpaired data as well.
    with pytest.raises(reader.DataError, match="not a paired dataset"):
        translator_training.fixed_images(unpaired, TINY, count=2)
    # Without --paired the same dataset trains unpaired.
    options = translator_training.train_options(run, dataclasses.replace(TINY, paired=False),
                                                 make_optimizers)
    assert set(options["dataset_fn"](tf.distribute.InputContext()).element_spec) == {"a", "b"}


def test_paired_flag_and_runs_written_before_it(tmp_path):
    flag_values = flags.FlagValues()
    define_runtime_flags(flag_values=flag_values, module_name="apps.csgan.train")
    define_dataclass_flags(CSGANConfig, flag_values=flag_values, module_name="apps.csgan.train")
    flag_values(["prog", "--paired"])
    assert dataclass_from_flags(CSGANConfig, flag_values=flag_values).paired
    assert not CSGANConfig().paired

    # A config.json written before the field existed resumes as paired=False, and only as that.
    model_dir = tmp_path / "old_run"
    model_dir.mkdir()
    run = RuntimeConfig(model_dir=str(model_dir))
    document = resolved_config("csgan", CSGANConfig(), run)
    saved = json.loads(json.dumps(document))
    del saved["model"]["paired"]
    (model_dir / "config.json").write_text(json.dumps(saved))
    defaults = field_defaults(CSGANConfig)
    assert runtime.check_model_dir(str(model_dir), document, defaults) == saved
    with pytest.raises(runtime.ConfigMismatchError, match="--paired: False in the model directory, True now"):
        runtime.check_model_dir(str(model_dir), resolved_config("csgan", TINY, run), defaults)
