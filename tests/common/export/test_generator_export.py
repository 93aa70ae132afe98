"""Tests of common/export/generator_export.py: TF Serving layout, signatures, parity, errors."""
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.export import generator_export
from common.export.generator_export import ExportError
from tests.log_capture import absl_messages

# A SavedModel's graph may fuse ops or sum in another order than the Keras layers called
# eagerly: its float images agree to the tolerance the export's own parity check uses.
PARITY_ATOL = generator_export.DEFAULT_PARITY_ATOL["float32"]


def assert_uint8_within(served, expected_float, atol):
    """Served uint8 images are the quantised float images up to a float difference of ``atol``:
    a value within ``atol`` of a rounding boundary may round either way (the mapping is monotone)."""
    low = generator_export.images_to_uint8(expected_float - atol).numpy()
    high = generator_export.images_to_uint8(expected_float + atol).numpy()
    assert served.dtype == np.uint8 and np.all((low <= served) & (served <= high))

LATENT_DIM = 8


def build_generator(channels=3, latent_dim=LATENT_DIM, seed=0, noise_stddev=None):
    """Tiny DCGAN-shaped generator: z [B, 8] -> images [B, 8, 8, channels] in [-1, 1].

    Batch-norm moving statistics are set away from (0, 1) so that inference
    mode (moving statistics) and training mode (batch statistics) differ.
    `noise_stddev` adds unseeded noise at inference: a generator that is not a
    function of z, which no export can reproduce.
    """
    keras.utils.set_random_seed(seed)
    z = keras.Input((latent_dim,), name="z")
    x = keras.layers.Dense(4 * 4 * 8, use_bias=False)(z)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Reshape((4, 4, 8))(x)
    x = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    if noise_stddev is not None:
        x = UnseededNoise(noise_stddev)(x)
    x = keras.layers.Conv2DTranspose(channels, 3, padding="same")(x)
    images = keras.layers.Activation("tanh", dtype="float32")(x)
    generator = keras.Model(z, images, name="tiny_generator")
    rng = np.random.default_rng(seed)
    for layer in generator.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.3, size).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size).astype("float32"))
    return generator


class UnseededNoise(keras.layers.Layer):
    """Adds fresh Gaussian noise on every call, also at inference."""

    def __init__(self, stddev, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev

    def call(self, x):
        return x + tf.random.normal(tf.shape(x), stddev=self.stddev, dtype=x.dtype)


@pytest.fixture(scope="module")
def rgb_export(tmp_path_factory):
    """One float32 RGB export shared by the read-only tests."""
    generator = build_generator(channels=3)
    export_dir = str(tmp_path_factory.mktemp("rgb"))
    with absl_messages() as messages:
        path = generator_export.export_generator(
            generator, export_dir, metadata={"app": "tiny", "step": np.int64(7)}, max_sample_count=16
        )
    rgb_export_messages.extend(messages)
    return generator, export_dir, path, tf.saved_model.load(path)


rgb_export_messages = []  # what TensorFlow logged (INFO and above) while `rgb_export` was written


def test_signature_inputs_need_no_renaming(rgb_export):
    """The variables a signature reads are captured under valid argument names, so the SavedModel
    writer renames none of them (it would log "contains input name(s) 800, 802, ... with unsupported
    characters")."""
    assert any("fingerprint" in message for message in rgb_export_messages)  # INFO lines were collected
    assert not [m for m in rgb_export_messages if "unsupported characters" in m]


def test_images_to_uint8_hand_values():
    images = tf.constant([-1.0, 0.0, 1.0, -1.5, 1.5, -0.99, 0.5, 127.0 / 127.5 - 1.0])
    # (x + 1) * 127.5: 0, 127.5 -> 128 (half to even), 255, clip 0, clip 255,
    # 1.275 -> 1, 191.25 -> 191, 127 -> 127.
    assert generator_export.images_to_uint8(images).numpy().tolist() == [0, 128, 255, 0, 255, 1, 191, 127]
    assert generator_export.images_to_uint8(images).dtype == tf.uint8


def test_sample_latents_is_stateless_philox_normal():
    z = generator_export.sample_latents(5, 3, LATENT_DIM)
    expected = tf.random.stateless_normal([3, LATENT_DIM], seed=[5, 0], alg="philox")
    np.testing.assert_array_equal(z.numpy(), expected.numpy())
    np.testing.assert_array_equal(generator_export.sample_latents(5, 2, LATENT_DIM).numpy(), z.numpy()[:2])
    assert not np.allclose(generator_export.sample_latents(6, 3, LATENT_DIM).numpy(), z.numpy())


def test_signatures_names_dtypes_shapes(rgb_export):
    _, _, path, loaded = rgb_export
    assert set(loaded.signatures.keys()) == {"serving_default", "sample", "generate_float"}

    for name in ("serving_default", "generate_float"):
        inputs = loaded.signatures[name].structured_input_signature[1]
        assert list(inputs) == ["z"]
        assert inputs["z"].dtype == tf.float32 and inputs["z"].shape.as_list() == [None, LATENT_DIM]
    outputs = loaded.signatures["serving_default"].structured_outputs
    assert list(outputs) == ["images"]
    assert outputs["images"].dtype == tf.uint8 and outputs["images"].shape.as_list() == [None, 8, 8, 3]
    outputs = loaded.signatures["generate_float"].structured_outputs
    assert list(outputs) == ["images_float"]
    assert outputs["images_float"].dtype == tf.float32
    assert outputs["images_float"].shape.as_list() == [None, 8, 8, 3]

    sample = loaded.signatures["sample"]
    inputs = sample.structured_input_signature[1]
    assert inputs["seed"].dtype == tf.int64 and inputs["seed"].shape.rank == 0
    assert inputs["count"].dtype == tf.int32 and inputs["count"].shape.rank == 0
    outputs = sample.structured_outputs
    assert set(outputs) == {"images", "z"}
    assert outputs["images"].dtype == tf.uint8
    assert outputs["z"].dtype == tf.float32 and outputs["z"].shape.as_list() == [None, LATENT_DIM]


def test_layout_metadata_and_inference_mode(rgb_export):
    generator, export_dir, path, loaded = rgb_export
    assert path == os.path.join(export_dir, "1")
    assert sorted(os.listdir(export_dir)) == ["1"]
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(path, "variables"))
    info = generator_export.read_export_info(path)
    assert info["latent_dim"] == LATENT_DIM and info["image_shape"] == [8, 8, 3]
    assert info["compute_dtype"] == "float32" and info["version"] == 1
    assert info["metadata"] == {"app": "tiny", "step": 7}
    assert info["parity"]["generate_float"]["max_abs_diff"] <= 1e-5
    assert info["parity"]["serving_default"]["uint8_mismatches"] == 0

    z = generator_export.sample_latents(1, 4, LATENT_DIM)
    served = loaded.signatures["generate_float"](z=z)["images_float"].numpy()
    np.testing.assert_allclose(served, generator(z, training=False).numpy(), atol=PARITY_ATOL)
    # Moving statistics, not batch statistics: training mode gives other images.
    # A training-mode call also updates the moving statistics, so they are restored.
    weights = generator.get_weights()
    assert np.max(np.abs(served - generator(z, training=True).numpy())) > 1e-2
    generator.set_weights(weights)


def test_parity_in_fresh_process_with_only_tensorflow(rgb_export, tmp_path):
    generator, _, path, _ = rgb_export
    z = generator_export.sample_latents(3, 5, LATENT_DIM).numpy()
    np.save(tmp_path / "z.npy", z)
    # Keras and this repository are made unimportable in the child process.
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["keras"] = None
        sys.path = [p for p in sys.path if p not in ("", ".") and "work/main" not in p]
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({path!r})
        z = tf.constant(np.load("z.npy"))
        np.save("images.npy", loaded.signatures["serving_default"](z=z)["images"].numpy())
        np.save("images_float.npy", loaded.signatures["generate_float"](z=z)["images_float"].numpy())
        out = loaded.signatures["sample"](seed=tf.constant(3, tf.int64), count=tf.constant(5))
        np.save("sample_images.npy", out["images"].numpy())
        np.save("sample_z.npy", out["z"].numpy())
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]

    expected_float = generator(tf.constant(z), training=False).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "images_float.npy"), expected_float, atol=PARITY_ATOL)
    assert_uint8_within(np.load(tmp_path / "images.npy"), expected_float, PARITY_ATOL)
    np.testing.assert_array_equal(np.load(tmp_path / "sample_z.npy"), z)
    # The same SavedModel on the same z in the same process: the same bytes.
    np.testing.assert_array_equal(np.load(tmp_path / "sample_images.npy"), np.load(tmp_path / "images.npy"))


def test_sample_signature_is_reproducible(rgb_export):
    _, _, _, loaded = rgb_export
    sample = loaded.signatures["sample"]

    def draw(seed, count=3):
        return sample(seed=tf.constant(seed, tf.int64), count=tf.constant(count))

    first, again, other = draw(11), draw(11), draw(12)
    np.testing.assert_array_equal(first["images"].numpy(), again["images"].numpy())
    np.testing.assert_array_equal(first["z"].numpy(), generator_export.sample_latents(11, 3, LATENT_DIM).numpy())
    assert first["images"].shape == (3, 8, 8, 3)
    assert np.any(first["images"].numpy() != other["images"].numpy())


def test_wrong_latent_size_rank_and_dtype_are_named(rgb_export):
    _, _, _, loaded = rgb_export
    for name in ("serving_default", "generate_float"):
        serving = loaded.signatures[name]
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"z must have shape \[batch, 8\] \(latent_dim=8\)"):
            serving(z=tf.zeros([2, 5]))
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor z \[8\] is not compatible with expected shape \[\?,8\]"):
            serving(z=tf.zeros([8]))
        with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor but is a double tensor"):
            serving(z=tf.zeros([2, 8], tf.float64))


@pytest.mark.parametrize(
    "count, message",
    [(0, "count must be at least 1"), (-3, "count must be at least 1"), (17, "count must be at most 16")],
)
def test_sample_count_out_of_range_is_named(rgb_export, count, message):
    _, _, _, loaded = rgb_export
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures["sample"](seed=tf.constant(1, tf.int64), count=tf.constant(count))


def test_versions_auto_increment_and_overwrite_only_with_flag(tmp_path):
    generator = build_generator(channels=1)
    export_dir = str(tmp_path / "model")
    os.makedirs(os.path.join(export_dir, "notes"))  # non-numeric folders are not versions
    assert generator_export.export_generator(generator, export_dir, parity_check=False) == os.path.join(export_dir, "1")
    assert generator_export.export_generator(generator, export_dir, version=5, parity_check=False).endswith("5")
    assert generator_export.export_generator(generator, export_dir, parity_check=False).endswith("6")
    assert sorted(generator_export.version_dirs(export_dir)) == [1, 5, 6]

    before = generator_export.read_export_info(os.path.join(export_dir, "5"))
    with pytest.raises(ExportError, match="Version 5 already exists.*overwrite=True"):
        generator_export.export_generator(generator, export_dir, version=5, metadata={"run": "second"})
    assert generator_export.read_export_info(os.path.join(export_dir, "5")) == before

    path = generator_export.export_generator(
        generator, export_dir, version=5, overwrite=True, parity_check=False, metadata={"run": "second"}
    )
    assert generator_export.read_export_info(path)["metadata"] == {"run": "second"}
    assert generator_export.read_export_info(path)["image_shape"] == [8, 8, 1]
    assert sorted(os.listdir(export_dir)) == ["1", "5", "6", "notes"]  # no temporary folders left


def test_failed_parity_leaves_no_version_folder(tmp_path):
    generator = build_generator(noise_stddev=1.0)
    export_dir = str(tmp_path / "model")
    with pytest.raises(ExportError, match=r"Parity check failed.*max \|diff\| = [0-9.e-]+ \(tolerance 1e-05\).*uint8 values differ"):
        generator_export.export_generator(generator, export_dir)
    assert os.listdir(export_dir) == []


def test_check_parity_rejects_other_weights(rgb_export):
    _, _, path, _ = rgb_export
    with pytest.raises(ExportError, match="signature 'serving_default': [0-9]+ of 768 uint8 values differ"):
        generator_export.check_parity(build_generator(channels=3, seed=1), path)


@pytest.mark.parametrize("policy, compute_dtype", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_mixed_precision_generator_exports_with_float32_boundary(tmp_path, policy, compute_dtype):
    keras.mixed_precision.set_global_policy(policy)
    try:
        generator = build_generator(channels=3)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert generator.layers[1].compute_dtype == compute_dtype
    path = generator_export.export_generator(generator, str(tmp_path / "model"))
    assert generator_export.read_export_info(path)["compute_dtype"] == compute_dtype

    loaded = tf.saved_model.load(path)
    serving = loaded.signatures["generate_float"]
    assert serving.structured_input_signature[1]["z"].dtype == tf.float32
    assert serving.structured_outputs["images_float"].dtype == tf.float32
    z = generator_export.sample_latents(2, 4, LATENT_DIM)
    served = serving(z=z)["images_float"].numpy()
    np.testing.assert_allclose(served, generator(z, training=False).numpy(), atol=generator_export.DEFAULT_PARITY_ATOL[compute_dtype])
    # The SavedModel computes in 16 bits: a float32 copy of the weights differs.
    float32_generator = build_generator(channels=3)
    float32_generator.set_weights(generator.get_weights())
    assert np.max(np.abs(served - float32_generator(z, training=False).numpy())) > 1e-4


def test_generator_built_under_mirrored_strategy_exports_outside_its_scope(tmp_path):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        generator = build_generator(channels=1)
        with pytest.raises(ExportError, match="outside a distribution strategy"):
            generator_export.export_generator(generator, str(tmp_path / "model"))
    path = generator_export.export_generator(generator, str(tmp_path / "model"))
    assert path == str(tmp_path / "model" / "1")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_dim": 4}, "latent_dim=4 does not match the generator's input shape"),
        ({"version": 0}, "version must be a positive integer"),
        ({"metadata": {"checkpoint": object()}}, "metadata must be JSON-serializable.*object value"),
        ({"max_sample_count": 0}, "max_sample_count must be a positive integer"),
    ],
)
def test_invalid_arguments_fail_before_writing(tmp_path, kwargs, message):
    export_dir = str(tmp_path / "model")
    with pytest.raises(ExportError, match=message):
        generator_export.export_generator(build_generator(channels=1), export_dir, **kwargs)
    assert not os.path.exists(export_dir) or os.listdir(export_dir) == []


# ---------------------------------------------------------------- class-conditional generators

NUM_CLASSES = 3


def build_conditional_generator(num_classes=NUM_CLASSES, latent_dim=LATENT_DIM, seed=0):
    """Tiny class-conditional generator: [z [B, 8], labels int32 [B]] -> images [B, 4, 4, 2] in [-1, 1].

    The label's embedding is concatenated with z, so the labels move every pixel.
    """
    keras.utils.set_random_seed(seed)
    z = keras.Input((latent_dim,), name="z")
    labels = keras.Input((), dtype="int32", name="labels")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(num_classes, 4)(labels))
    x = keras.layers.Concatenate()([z, embedded])
    x = keras.layers.Dense(4 * 4 * 2)(x)
    x = keras.layers.Reshape((4, 4, 2))(x)
    images = keras.layers.Activation("tanh", dtype="float32")(x)
    return keras.Model([z, labels], images, name="tiny_conditional_generator")


@pytest.fixture(scope="module")
def conditional_export(tmp_path_factory):
    """One float32 class-conditional export shared by the read-only tests."""
    generator = build_conditional_generator()
    export_dir = str(tmp_path_factory.mktemp("conditional"))
    path = generator_export.export_generator(
        generator, export_dir, num_classes=NUM_CLASSES, label_names=["cat", "dog", "fox"], max_sample_count=6
    )
    return generator, export_dir, path, tf.saved_model.load(path)


def test_conditional_signatures_names_dtypes_shapes(conditional_export):
    _, _, _, loaded = conditional_export
    assert set(loaded.signatures.keys()) == {"serving_default", "sample", "generate_float"}
    for name in ("serving_default", "generate_float"):
        inputs = loaded.signatures[name].structured_input_signature[1]
        assert sorted(inputs) == ["labels", "z"]
        assert inputs["z"].dtype == tf.float32 and inputs["z"].shape.as_list() == [None, LATENT_DIM]
        assert inputs["labels"].dtype == tf.int32 and inputs["labels"].shape.as_list() == [None]
    assert loaded.signatures["serving_default"].structured_outputs["images"].dtype == tf.uint8
    assert loaded.signatures["serving_default"].structured_outputs["images"].shape.as_list() == [None, 4, 4, 2]
    assert list(loaded.signatures["generate_float"].structured_outputs) == ["images_float"]
    assert loaded.signatures["generate_float"].structured_outputs["images_float"].dtype == tf.float32

    sample = loaded.signatures["sample"]
    inputs = sample.structured_input_signature[1]
    assert sorted(inputs) == ["labels", "seed"]
    assert inputs["labels"].dtype == tf.int32 and inputs["labels"].shape.as_list() == [None]
    assert inputs["seed"].dtype == tf.int64 and inputs["seed"].shape.rank == 0
    assert set(sample.structured_outputs) == {"images", "z"}
    assert sample.structured_outputs["images"].dtype == tf.uint8
    assert sample.structured_outputs["z"].dtype == tf.float32
    assert sample.structured_outputs["z"].shape.as_list() == [None, LATENT_DIM]


def test_conditional_signatures_match_in_process_generator(conditional_export):
    generator, _, _, loaded = conditional_export
    z = generator_export.sample_latents(1, 5, LATENT_DIM)
    labels = tf.constant([0, 1, 2, 0, 1], tf.int32)
    expected = generator([z, labels], training=False).numpy()

    served_float = loaded.signatures["generate_float"](z=z, labels=labels)["images_float"].numpy()
    np.testing.assert_allclose(served_float, expected, atol=PARITY_ATOL)
    assert_uint8_within(loaded.signatures["serving_default"](z=z, labels=labels)["images"].numpy(), expected, PARITY_ATOL)

    sampled = loaded.signatures["sample"](labels=labels, seed=tf.constant(7, tf.int64))
    sample_z = generator_export.sample_latents(7, 5, LATENT_DIM)
    np.testing.assert_array_equal(sampled["z"].numpy(), sample_z.numpy())
    assert sampled["images"].shape == (5, 4, 4, 2)
    assert_uint8_within(sampled["images"].numpy(), generator([sample_z, labels], training=False).numpy(), PARITY_ATOL)


def test_changing_only_the_labels_changes_the_images(conditional_export):
    _, _, _, loaded = conditional_export
    z = generator_export.sample_latents(2, 3, LATENT_DIM)
    generate = loaded.signatures["generate_float"]
    images = {label: generate(z=z, labels=tf.fill([3], label))["images_float"].numpy() for label in range(NUM_CLASSES)}
    for a, b in ((0, 1), (1, 2), (0, 2)):
        assert np.max(np.abs(images[a] - images[b])) > 1e-2

    sample = loaded.signatures["sample"]
    first = sample(labels=tf.constant([0, 0], tf.int32), seed=tf.constant(3, tf.int64))
    other = sample(labels=tf.constant([2, 2], tf.int32), seed=tf.constant(3, tf.int64))
    np.testing.assert_array_equal(first["z"].numpy(), other["z"].numpy())
    assert np.any(first["images"].numpy() != other["images"].numpy())


@pytest.mark.parametrize("bad_label", [-1, NUM_CLASSES])
@pytest.mark.parametrize("signature", ["serving_default", "generate_float", "sample"])
def test_label_outside_range_is_refused_by_the_signature(conditional_export, bad_label, signature):
    _, _, _, loaded = conditional_export
    labels = tf.constant([0, bad_label], tf.int32)
    # Names K and the range; an embedding's own out-of-range error says neither "num_classes" nor "class ids".
    message = r"labels must be class ids in \[0, 3\) \(num_classes=3\): each label must satisfy 0 <= label <= 2"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        if signature == "sample":
            loaded.signatures["sample"](labels=labels, seed=tf.constant(1, tf.int64))
        else:
            loaded.signatures[signature](z=tf.zeros([2, LATENT_DIM]), labels=labels)


@pytest.mark.parametrize("signature", ["serving_default", "generate_float"])
def test_labels_and_z_batch_mismatch_is_refused(conditional_export, signature):
    _, _, _, loaded = conditional_export
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must hold one class id per row of z"):
        loaded.signatures[signature](z=tf.zeros([2, LATENT_DIM]), labels=tf.constant([0, 1, 2], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"z must have shape \[batch, 8\] \(latent_dim=8\)"):
        loaded.signatures[signature](z=tf.zeros([2, 5]), labels=tf.constant([0, 1], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a int32 tensor but is a int64 tensor"):
        loaded.signatures[signature](z=tf.zeros([2, LATENT_DIM]), labels=tf.constant([0, 1], tf.int64))


@pytest.mark.parametrize(
    "count, message",
    [(0, "labels must hold at least 1 class id"), (7, "labels must hold at most 6 class ids per request")],
)
def test_conditional_sample_count_out_of_range_is_named(conditional_export, count, message):
    _, _, _, loaded = conditional_export
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures["sample"](labels=tf.zeros([count], tf.int32), seed=tf.constant(1, tf.int64))


def test_conditional_export_info_and_parity_report(conditional_export):
    _, export_dir, path, _ = conditional_export
    assert path == os.path.join(export_dir, "1")
    info = generator_export.read_export_info(path)
    assert info["num_classes"] == NUM_CLASSES and info["label_names"] == ["cat", "dog", "fox"]
    assert info["latent_dim"] == LATENT_DIM and info["image_shape"] == [4, 4, 2]
    assert sorted(info["signatures"]["sample"]["inputs"]) == ["labels", "seed"]
    assert info["signatures"]["serving_default"]["inputs"]["labels"] == "int32 [batch], class ids in [0, 3)"
    parity = info["parity"]
    assert parity["num_classes"] == NUM_CLASSES
    assert parity["labels"] == [0, 1, 2, 0]  # arange(PARITY_COUNT) % K
    assert parity["generate_float"]["max_abs_diff"] <= PARITY_ATOL
    assert parity["serving_default"]["uint8_mismatches"] == 0
    assert parity["sample"]["uint8_mismatches"] == 0 and parity["sample"]["z_max_abs_diff"] == 0.0


def test_unconditional_export_info_has_no_class_fields(rgb_export):
    info = generator_export.read_export_info(rgb_export[2])
    assert "num_classes" not in info and "label_names" not in info and "labels" not in info["parity"]


def test_check_parity_of_conditional_export(conditional_export):
    generator, _, path, _ = conditional_export
    report = generator_export.check_parity(generator, path, num_classes=NUM_CLASSES, count=5)
    assert report["labels"] == [0, 1, 2, 0, 1]
    with pytest.raises(ExportError, match=r"Parity check failed.*labels \[0, 1, 2, 0\].*signature 'serving_default'"):
        generator_export.check_parity(build_conditional_generator(seed=1), path, num_classes=NUM_CLASSES)
    with pytest.raises(ExportError, match=r"takes the inputs \['labels', 'z'\], not \['z'\]: it was exported with class labels"):
        generator_export.check_parity(build_generator(channels=2), path)


@pytest.mark.parametrize(
    "conditional, kwargs, message",
    [
        (False, {"num_classes": 3}, r"num_classes=3 was passed, but the generator takes one input \(z"),
        (True, {}, r"takes two inputs .* class-conditional \(\[z, labels\]\): pass num_classes=K"),
        (True, {"num_classes": 0}, "num_classes must be a positive integer"),
        (True, {"num_classes": 3, "label_names": ["cat", "dog"]}, "label_names must be a list of num_classes=3 strings"),
        (False, {"label_names": ["cat"]}, "label_names names the classes of a class-conditional generator"),
        (True, {"num_classes": 3, "latent_dim": 4}, "latent_dim=4 does not match"),
    ],
)
def test_num_classes_that_does_not_fit_the_generator_is_refused_before_writing(tmp_path, conditional, kwargs, message):
    generator = build_conditional_generator() if conditional else build_generator(channels=1)
    export_dir = str(tmp_path / "model")
    with pytest.raises(ExportError, match=message):
        generator_export.export_generator(generator, export_dir, **kwargs)
    assert not os.path.exists(export_dir)
