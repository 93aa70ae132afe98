"""The CycleGAN export and translate commands on a run directory and a folder of images written here."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from PIL import Image

from apps.cyclegan.config import CycleGANConfig
from apps.cyclegan.model import build_model
from common.training import checkpointing
from common.export import translator_export
from common.export import translator_commands
from common.training.runtime_config import RuntimeConfig, resolved_config, write_config

TINY = CycleGANConfig(image_size=16, base_filters=4, num_residual_blocks=1, discriminator_layers=2, pool_size=2)


def _flag_values(define, argv):
    flag_values = flags.FlagValues()
    define(flag_values)
    flag_values(["prog", *argv])
    return flag_values


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A model directory as training leaves it: config.json and a checkpoint of perturbed weights (step 7)."""
    model_dir = str(tmp_path_factory.mktemp("run"))
    model = build_model(TINY)
    rng = np.random.default_rng(0)
    for variable in model.generator_weights:
        variable.assign(variable.numpy() + rng.normal(0, 0.05, variable.shape).astype(np.float32))
    write_config(model_dir, resolved_config("cyclegan", TINY, RuntimeConfig(model_dir=model_dir)))
    manager = tf.train.CheckpointManager(checkpointing.inference_checkpoint(model), model_dir, max_to_keep=1,
                                         checkpoint_name="ckpt")
    manager.save(checkpoint_number=7)
    return model_dir, model


def _photos(folder):
    folder.mkdir()
    rng = np.random.default_rng(1)
    # Textured images (a constant image makes instance normalization amplify rounding noise).
    Image.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)).save(folder / "odd.png")
    Image.fromarray(rng.integers(0, 256, (9, 6), dtype=np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 256, (20, 16, 4), dtype=np.uint8)).save(folder / "alpha.png")
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / "photo.jpg", quality=95)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_export_then_translate_with_export_and_with_checkpoint(run_dir, tmp_path):
    model_dir, model = run_dir
    export_dir = str(tmp_path / "export")
    translator_commands.export_main(["prog"], "cyclegan", CycleGANConfig, build_model, flag_values=_flag_values(
        translator_commands.define_export_flags, [f"--model_dir={model_dir}", f"--export_dir={export_dir}"]))
    with open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["metadata"]["app"] == "cyclegan" and info["metadata"]["step"] == 7
    assert (info["size_multiple"], info["min_size"]) == (4, 8)
    # The export holds the checkpoint's (perturbed) weights: it matches the model that was saved.
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))
    images = np.random.default_rng(2).integers(0, 256, (1, 12, 20, 3), dtype=np.uint8)
    for key, network in model.translators().items():
        served = loaded.signatures[key](images=tf.constant(images))["images"].numpy().astype(int)
        expected = translator_export.images_to_uint8(network(translator_export.uint8_to_float(images))).numpy()
        assert np.max(np.abs(served - expected)) <= 1, key

    inputs, out = _photos(tmp_path / "photos"), tmp_path / "out"

    def translate(*argv):
        translator_commands.translate_main(["prog"], "cyclegan", CycleGANConfig, build_model, flag_values=_flag_values(
            translator_commands.define_translate_flags, [f"--input_dir={inputs}", f"--output_dir={out}", *argv]))

    translate(f"--export_dir={export_dir}", "--direction=b_to_a")
    names = ["alpha.png", "gray.png", "odd.png", "photo.png"]
    assert sorted(os.listdir(out)) == names
    sizes = {name: Image.open(out / name).size for name in names}
    assert sizes == {"odd.png": (17, 13), "gray.png": (6, 9), "alpha.png": (16, 20), "photo.png": (24, 24)}
    from_export = {name: np.asarray(Image.open(out / name)) for name in names}
    assert all(image.shape[-1] == 3 and image.dtype == np.uint8 for image in from_export.values())
    # A 24x24 image needs no padding: its output is exactly the b_to_a signature's.
    photo = tf.io.decode_jpeg(tf.io.read_file(str(inputs / "photo.jpg")))[None]  # TF's decoder, as translate
    np.testing.assert_array_equal(from_export["photo.png"], loaded.signatures["b_to_a"](images=photo)["images"][0])

    with pytest.raises(SystemExit) as refused:
        translate(f"--model_dir={model_dir}", "--direction=b_to_a")
    assert refused.value.code == 2
    for name in names:  # nothing was overwritten
        np.testing.assert_array_equal(np.asarray(Image.open(out / name)), from_export[name])
    translate(f"--model_dir={model_dir}", "--direction=b_to_a", "--overwrite")
    for name in names:  # the checkpoint and the SavedModel translate alike
        difference = np.abs(np.asarray(Image.open(out / name)).astype(int) - from_export[name].astype(int))
        assert difference.max() <= 1, name

    translate(f"--export_dir={export_dir}", "--direction=a_to_b", "--overwrite", "--resize_to=8")
    assert Image.open(out / "odd.png").size == (10, 8) and Image.open(out / "photo.png").size == (8, 8)


def test_bad_invocations_fail_before_loading_a_model(run_dir, tmp_path, capsys):
    model_dir, _ = run_dir
    empty = tmp_path / "empty"
    empty.mkdir()

    def translate(*argv):
        with pytest.raises(SystemExit) as failed:
            translator_commands.translate_main(["prog"], "cyclegan", CycleGANConfig, build_model,
                                           flag_values=_flag_values(translator_commands.define_translate_flags, argv))
        assert failed.value.code == 2
        return capsys.readouterr().err

    assert "exactly one of --model_dir" in translate(f"--input_dir={empty}", f"--output_dir={tmp_path}")
    assert "holds no .png" in translate(f"--input_dir={empty}", f"--output_dir={tmp_path / 'o'}",
                                        f"--model_dir={model_dir}")
    assert "is not a folder" in translate(f"--input_dir={tmp_path / 'missing'}", f"--output_dir={tmp_path / 'o'}",
                                          f"--model_dir={model_dir}")
    assert "neither a SavedModel" in translate(f"--input_dir={_photos(tmp_path / 'p')}",
                                               f"--output_dir={tmp_path / 'o'}", f"--export_dir={empty}")
    with pytest.raises(SystemExit):
        translator_commands.export_main(["prog"], "cyclegan", CycleGANConfig, build_model, flag_values=_flag_values(
            translator_commands.define_export_flags, [f"--model_dir={empty}", f"--export_dir={tmp_path / 'e'}"]))
    assert "config.json" in capsys.readouterr().err
