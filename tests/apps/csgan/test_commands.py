"""The CSGAN commands: train flags of CSGANConfig, export and translate of a run directory.

(The train command's process-level path is CycleGAN's, `common.training.translator_training.main`,
run with --dry_run in tests/apps/cyclegan/test_train.py.)"""

import os

import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image

from apps.csgan.config import CSGANConfig
from apps.csgan.model import build_model
from common.training import checkpointing
from common.export import translator_export
from common.export import translator_commands
from common.training.flags import dataclass_from_flags, define_dataclass_flags, define_runtime_flags
from common.training.runtime_config import RuntimeConfig, resolved_config, write_config

TINY = CSGANConfig(image_size=16, base_filters=4, num_residual_blocks=1, discriminator_layers=2, pool_size=2,
                   cs_weight=5.0)


def _flag_values(define, argv):
    flag_values = flags.FlagValues()
    define(flag_values)
    flag_values(["prog", *argv])
    return flag_values


def test_train_flags_of_the_config():
    flag_values = flags.FlagValues()
    define_runtime_flags(flag_values=flag_values, module_name="apps.csgan.train")
    define_dataclass_flags(CSGANConfig, flag_values=flag_values, module_name="apps.csgan.train")
    flag_values(["prog", "--cs_stop_cycled_gradient", "--image_size=64"])
    config = dataclass_from_flags(CSGANConfig, flag_values=flag_values)
    assert config.cs_weight == 30.0 and config.cs_stop_cycled_gradient and config.cycle_weight == 10.0
    assert flag_values["batch_size"].value == 1  # the paper's batch size becomes the runtime default


def test_export_and_translate(tmp_path):
    model_dir = str(tmp_path / "run")
    os.makedirs(model_dir)
    model = build_model(TINY)
    rng = np.random.default_rng(0)
    for variable in model.generator_weights:
        variable.assign(variable.numpy() + rng.normal(0, 0.05, variable.shape).astype(np.float32))
    write_config(model_dir, resolved_config("csgan", TINY, RuntimeConfig(model_dir=model_dir)))
    tf.train.CheckpointManager(checkpointing.inference_checkpoint(model), model_dir, max_to_keep=1,
                               checkpoint_name="ckpt").save(checkpoint_number=3)

    export_dir = str(tmp_path / "export")
    translator_commands.export_main(["prog"], "csgan", CSGANConfig, build_model, flag_values=_flag_values(
        translator_commands.define_export_flags, [f"--model_dir={model_dir}", f"--export_dir={export_dir}"]))
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))
    images = np.random.default_rng(1).integers(0, 256, (1, 8, 12, 3), dtype=np.uint8)
    for key, network in model.translators().items():
        served = loaded.signatures[key](images=tf.constant(images))["images"].numpy().astype(int)
        expected = translator_export.images_to_uint8(network(translator_export.uint8_to_float(images))).numpy()
        assert np.max(np.abs(served - expected)) <= 1, key

    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(rng.integers(0, 256, (10, 14, 3), dtype=np.uint8)).save(inputs / "x.png")
    translator_commands.translate_main(["prog"], "csgan", CSGANConfig, build_model, flag_values=_flag_values(
        translator_commands.define_translate_flags,
        [f"--model_dir={model_dir}", f"--input_dir={inputs}", f"--output_dir={tmp_path / 'out'}"]))
    assert Image.open(tmp_path / "out" / "x.png").size == (14, 10)
