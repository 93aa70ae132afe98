"""The DiscoGAN export and translate commands on a run directory and a folder of images written here."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from PIL import Image

from apps.discogan.config import DiscoGANConfig
from apps.discogan.model import build_model
from common.training import checkpointing
from common.export import translator_export
from common.export import translator_commands
from common.training.runtime_config import RuntimeConfig, resolved_config, write_config
from common.export.generator_export import DEFAULT_PARITY_ATOL

TINY = DiscoGANConfig(image_size=16, base_filters=4)


def _flag_values(define, argv):
    flag_values = flags.FlagValues()
    define(flag_values)
    flag_values(["prog", *argv])
    return flag_values


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A model directory as training leaves it: config.json and a checkpoint (step 5) whose generator weights
    and batch-norm moving statistics differ from a fresh build's."""
    model_dir = str(tmp_path_factory.mktemp("run"))
    model = build_model(TINY)
    rng = np.random.default_rng(0)
    for network in model.translators().values():
        for variable in network.weights:
            noise = rng.normal(0, 0.05, variable.shape).astype(np.float32)
            variable.assign(np.abs(variable.numpy() + noise) if "variance" in variable.path else variable + noise)
    write_config(model_dir, resolved_config("discogan", TINY, RuntimeConfig(model_dir=model_dir)))
    manager = tf.train.CheckpointManager(checkpointing.inference_checkpoint(model), model_dir, max_to_keep=1,
                                         checkpoint_name="ckpt")
    manager.save(checkpoint_number=5)
    return model_dir, model


def _photos(folder):
    folder.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(folder / "odd.png")
    Image.fromarray(rng.integers(0, 256, (12, 10), dtype=np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 256, (32, 16, 3), dtype=np.uint8)).save(folder / "exact.png")
    return folder


def test_export_parity_then_translate_with_export_and_with_checkpoint(run_dir, tmp_path):
    model_dir, model = run_dir
    export_dir = str(tmp_path / "export")
    translator_commands.export_main(["prog"], "discogan", DiscoGANConfig, build_model, flag_values=_flag_values(
        translator_commands.define_export_flags, [f"--model_dir={model_dir}", f"--export_dir={export_dir}"]))
    with open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["metadata"]["app"] == "discogan" and info["metadata"]["step"] == 5
    assert info["size_multiple"] == 16 and info["translators"] == ["a_to_b", "b_to_a"]
    # The export holds the checkpoint's weights and moving statistics (inference mode): it matches the saved
    # model, not a fresh build.
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))
    assert set(loaded.signatures) >= {"a_to_b", "b_to_a", "a_to_b_float", "b_to_a_float", "serving_default"}
    images = np.random.default_rng(2).integers(0, 256, (2, 16, 48, 3), dtype=np.uint8)
    fresh = build_model(TINY).translators()
    for key, network in model.translators().items():
        floats = translator_export.uint8_to_float(images)
        served_float = loaded.signatures[key + "_float"](images=floats)["images"].numpy()
        np.testing.assert_allclose(served_float, network(floats, training=False), atol=DEFAULT_PARITY_ATOL["float32"])  # the export's own parity bound
        assert np.abs(served_float - fresh[key](floats, training=False).numpy()).max() > 1e-2
        served = loaded.signatures[key](images=tf.constant(images))["images"].numpy().astype(int)
        expected = translator_export.images_to_uint8(network(floats, training=False)).numpy()
        assert np.max(np.abs(served - expected)) <= 1, key
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 16"):
        loaded.signatures["a_to_b"](images=tf.zeros((1, 16, 24, 3), tf.uint8))

    inputs, out = _photos(tmp_path / "photos"), tmp_path / "out"

    def translate(*argv):
        translator_commands.translate_main(["prog"], "discogan", DiscoGANConfig, build_model, flag_values=_flag_values(
            translator_commands.define_translate_flags, [f"--input_dir={inputs}", f"--output_dir={out}", *argv]))

    translate(f"--export_dir={export_dir}", "--direction=b_to_a")
    names = ["exact.png", "gray.png", "odd.png"]
    assert sorted(os.listdir(out)) == names
    assert {name: Image.open(out / name).size for name in names} == {
        "odd.png": (30, 20), "gray.png": (10, 12), "exact.png": (16, 32)}
    from_export = {name: np.asarray(Image.open(out / name)) for name in names}
    # A 32x16 image needs no padding: its output is exactly the b_to_a signature's.
    exact = np.asarray(Image.open(inputs / "exact.png"))[None]
    np.testing.assert_array_equal(from_export["exact.png"], loaded.signatures["b_to_a"](images=exact)["images"][0])

    with pytest.raises(SystemExit) as refused:  # existing outputs are not overwritten
        translate(f"--model_dir={model_dir}", "--direction=b_to_a")
    assert refused.value.code == 2
    translate(f"--model_dir={model_dir}", "--direction=b_to_a", "--overwrite")
    for name in names:  # the checkpoint and the SavedModel translate alike
        difference = np.abs(np.asarray(Image.open(out / name)).astype(int) - from_export[name].astype(int))
        assert difference.max() <= 1, name
