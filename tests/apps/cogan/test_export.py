"""Pair export of CoGAN (common/export/pair_export.py): TF Serving layout, the pair signature, parity."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from apps.cogan.config import CoGANConfig
from apps.cogan.model import build_model
from common.export import pair_export
from common.export.generator_export import ExportError, images_to_uint8, sample_latents
from common.export.generator_export import DEFAULT_PARITY_ATOL
from tests.log_capture import absl_messages

TINY = dict(width_divisor=16, latent_dim=8, image_size=28)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = build_model(CoGANConfig(seed=3, **TINY))
    # Move the batch-norm statistics away from their initial values, so that
    # serving in inference mode is checked against the moving statistics.
    model.generator(np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32), training=True)
    export_dir = str(tmp_path_factory.mktemp("export"))
    with absl_messages() as messages:
        path = pair_export.export_pair_generator(model.generator, export_dir, metadata={"app": "cogan", "step": 7})
    export_messages.extend(messages)
    return model, export_dir, path


export_messages = []  # what TensorFlow logged (INFO and above) while `exported` was written


def test_signature_inputs_need_no_renaming(exported):
    """The generator's variables are captured under valid argument names: nothing is renamed
    ("contains input name(s) ... with unsupported characters")."""
    assert any("fingerprint" in message for message in export_messages)  # INFO lines were collected
    assert not [m for m in export_messages if "unsupported characters" in m]


def test_layout_and_export_info(exported):
    model, export_dir, path = exported
    assert path == os.path.join(export_dir, "1")
    assert sorted(os.listdir(export_dir)) == ["1"]  # no temporary folder left
    assert os.path.isfile(os.path.join(path, "saved_model.pb")) and os.path.isdir(os.path.join(path, "variables"))
    info = json.load(open(os.path.join(path, "assets.extra", "export_info.json")))
    assert info["latent_dim"] == 8 and info["image_shape_a"] == info["image_shape_b"] == [28, 28, 1]
    assert info["metadata"] == {"app": "cogan", "step": 7}
    assert set(info["signatures"]) == {"serving_default", "sample", "generate_pair_float"}
    parity = info["parity"]
    for name in ("images_a", "images_b"):
        assert parity[name]["max_abs_diff"] <= 1e-5
        assert parity[name]["serving_uint8_mismatches"] == parity[name]["sample_uint8_mismatches"] == 0


def test_serving_default_returns_the_pair_of_one_z(exported):
    model, _, path = exported
    loaded = tf.saved_model.load(path)
    z = np.random.default_rng(5).standard_normal((3, 8)).astype(np.float32)
    outputs = loaded.signatures["serving_default"](z=tf.constant(z))
    assert set(outputs) == {"images_a", "images_b"}
    expected_a = images_to_uint8(model.networks.generator_a(z, training=False)).numpy()
    expected_b = images_to_uint8(model.networks.generator_b(z, training=False)).numpy()
    for name, expected in (("images_a", expected_a), ("images_b", expected_b)):
        assert outputs[name].dtype == tf.uint8 and outputs[name].shape == (3, 28, 28, 1)
        assert np.abs(outputs[name].numpy().astype(int) - expected.astype(int)).max() <= 1
    assert not np.array_equal(outputs["images_a"].numpy(), outputs["images_b"].numpy())
    floats = loaded.signatures["generate_pair_float"](z=tf.constant(z))
    np.testing.assert_allclose(floats["images_b_float"], model.networks.generator_b(z, training=False), atol=DEFAULT_PARITY_ATOL["float32"])  # the export's own parity bound


def test_sample_signature_draws_the_documented_latents(exported):
    model, _, path = exported
    loaded = tf.saved_model.load(path)
    sampled = loaded.signatures["sample"](seed=tf.constant(11, tf.int64), count=tf.constant(4, tf.int32))
    np.testing.assert_array_equal(sampled["z"], sample_latents(11, 4, 8))
    served = loaded.signatures["serving_default"](z=sampled["z"])
    np.testing.assert_array_equal(sampled["images_a"], served["images_a"])
    np.testing.assert_array_equal(sampled["images_b"], served["images_b"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="count must be at most 1024"):
        loaded.signatures["sample"](seed=tf.constant(1, tf.int64), count=tf.constant(5000, tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"z must have shape \[batch, 8\]"):
        loaded.signatures["serving_default"](z=tf.zeros([1, 5]))


def test_versions_overwrite_and_parity_failure(exported, tmp_path):
    model, export_dir, _ = exported
    with pytest.raises(ExportError, match="Version 1 already exists"):
        pair_export.export_pair_generator(model.generator, export_dir, version=1)
    with pytest.raises(ExportError, match="one latent input"):
        pair_export.export_pair_generator(model.networks.discriminator_a, str(tmp_path / "bad"))
    with pytest.raises(ExportError, match="must return a pair"):
        pair_export.export_pair_generator(model.networks.generator_a, str(tmp_path / "bad"))
    assert not os.path.exists(tmp_path / "bad" / "1")
    # A generator that no longer matches the SavedModel fails the parity check.
    other = build_model(CoGANConfig(seed=4, **TINY))
    with pytest.raises(ExportError, match="Parity check failed"):
        pair_export.check_pair_parity(other.generator, os.path.join(export_dir, "1"))
