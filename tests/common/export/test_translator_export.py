"""export_translators: TF Serving layout, uint8 in/out at any size divisible by the multiple, parity, refusals."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.export import translator_export
from common.nn.translation_networks import build_resnet_generator
from common.export.generator_export import DEFAULT_PARITY_ATOL
from tests.log_capture import absl_messages


@pytest.fixture(scope="module")
def translators():
    return {"a_to_b": build_resnet_generator(base_filters=2, num_residual_blocks=1, seed=1, name="g"),
            "b_to_a": build_resnet_generator(base_filters=2, num_residual_blocks=1, seed=50, name="f")}


@pytest.fixture(scope="module")
def exported(translators, tmp_path_factory):
    export_dir = str(tmp_path_factory.mktemp("export"))
    with absl_messages() as messages:
        path = translator_export.export_translators(translators, export_dir, size_multiple=4, min_size=8,
                                                    metadata={"app": "test"})
    export_messages.extend(messages)
    return export_dir, path


export_messages = []  # what TensorFlow logged (INFO and above) while `exported` was written


def test_signature_inputs_need_no_renaming(exported):
    """Each translator's variables are captured under valid argument names: nothing is renamed
    ("contains input name(s) ... with unsupported characters")."""
    assert any("fingerprint" in message for message in export_messages)  # INFO lines were collected
    assert not [m for m in export_messages if "unsupported characters" in m]


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[1])


def test_layout_signatures_and_info(exported, loaded):
    export_dir, path = exported
    assert path == os.path.join(export_dir, "1")
    assert sorted(os.listdir(export_dir)) == ["1"]  # no temporary folder left
    assert set(loaded.signatures) == {"serving_default", "a_to_b", "b_to_a", "a_to_b_float", "b_to_a_float"}
    with open(os.path.join(path, "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["kind"] == "translation" and info["translators"] == ["a_to_b", "b_to_a"]
    assert info["size_multiple"] == 4 and info["min_size"] == 8 and info["metadata"] == {"app": "test"}
    assert info["parity"]["a_to_b"]["max_abs_diff"] <= 1e-5 and info["parity"]["b_to_a"]["uint8_mismatches"] == 0


def test_uint8_in_and_out_any_size_divisible_by_four(loaded, translators):
    for height, width in ((12, 20), (8, 32)):
        images = np.random.default_rng(height).integers(0, 256, (2, height, width, 3), dtype=np.uint8)
        for key in ("a_to_b", "b_to_a"):
            served = loaded.signatures[key](images=tf.constant(images))["images"]
            assert served.dtype == tf.uint8 and served.shape == (2, height, width, 3)
            reference = translators[key](images.astype(np.float32) / 127.5 - 1.0, training=False)
            expected = np.round(np.clip((reference.numpy() + 1.0) * 127.5, 0, 255))
            assert np.max(np.abs(served.numpy().astype(np.float32) - expected)) <= 1
        default = loaded.signatures["serving_default"](images=tf.constant(images))["images"]
        np.testing.assert_array_equal(default, loaded.signatures["a_to_b"](images=tf.constant(images))["images"])
    floats = tf.random.uniform((1, 8, 12, 3), -1, 1, seed=2)
    served = loaded.signatures["b_to_a_float"](images=floats)["images"]
    np.testing.assert_allclose(served, translators["b_to_a"](floats, training=False), atol=DEFAULT_PARITY_ATOL["float32"])  # the export's own parity bound


def test_size_not_divisible_is_a_clear_error(loaded):
    for shape in ((1, 10, 12, 3), (1, 4, 8, 3)):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"multiples of 4 and at least 8") as error:
            loaded.signatures["a_to_b"](images=tf.zeros(shape, tf.uint8))
        assert f"{shape[1]}" in str(error.value) and f"{shape[2]}" in str(error.value)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 8"):
        loaded.signatures["b_to_a_float"](images=tf.zeros((1, 12, 4, 3)))


def test_versions_refusals_and_bad_arguments(exported, translators):
    export_dir, _ = exported
    with pytest.raises(translator_export.ExportError, match="already exists"):
        translator_export.export_translators(translators, export_dir, size_multiple=4, version=1, parity_check=False)
    with pytest.raises(translator_export.ExportError, match="identifier"):
        translator_export.export_translators({"serving_default": translators["a_to_b"]}, export_dir, size_multiple=4)
    with pytest.raises(translator_export.ExportError, match="size_multiple"):
        translator_export.export_translators(translators, export_dir, size_multiple=0)
    assert sorted(os.listdir(export_dir)) == ["1"]


def test_parity_failure_names_the_signature(exported, translators):
    """The exported a_to_b compared with the other generator: the check fails and names both signatures."""
    with pytest.raises(translator_export.ExportError, match=r"Parity check failed.*'a_to_b_float'.*'a_to_b'"):
        translator_export.check_parity({"a_to_b": translators["b_to_a"]}, exported[1], size_multiple=4, min_size=8)


def test_unbuilt_translator_is_refused(tmp_path):
    unbuilt = keras.Sequential([keras.layers.Conv2D(3, 1)])
    with pytest.raises(translator_export.ExportError, match="not built"):
        translator_export.export_translators({"a_to_b": unbuilt}, str(tmp_path), size_multiple=4)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("height, width, multiple, min_size", [(9, 6, 16, 0), (5, 4, 4, 8), (12, 8, 4, 0), (3, 2, 16, 16)])
def test_translate_padding_reaches_the_multiple_and_keeps_the_image(height, width, multiple, min_size):
    from common.export.translator_commands import pad_to_multiple

    image = np.arange(height * width * 3, dtype=np.float32).reshape(height, width, 3)
    padded, h, w = pad_to_multiple(tf.constant(image), multiple, min_size)
    padded = padded.numpy()
    assert (h, w) == (height, width)
    assert padded.shape[0] % multiple == 0 and padded.shape[1] % multiple == 0
    assert padded.shape[0] >= max(min_size, height) and padded.shape[1] >= max(min_size, width)
    assert padded.shape[0] - height < multiple + max(min_size - height, 0)
    np.testing.assert_array_equal(padded[:height, :width], image)  # the original sits in the top-left corner
    # Mirror padding: the row after the last one repeats an image row (reflect: the one before it).
    if padded.shape[0] > height:
        assert any(np.array_equal(padded[height, :width], image[r]) for r in range(height))


def test_translate_padding_is_numpy_reflect_when_it_fits():
    from common.export.translator_commands import pad_to_multiple

    image = np.random.default_rng(0).normal(size=(10, 7, 3)).astype(np.float32)
    padded, _, _ = pad_to_multiple(tf.constant(image), 4)
    np.testing.assert_array_equal(padded.numpy(), np.pad(image, [(0, 2), (0, 1), (0, 0)], mode="reflect"))
