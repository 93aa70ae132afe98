"""Feature networks: shapes with random weights, the FID Inception layout and weight mapping, extraction."""

import keras
import numpy as np
import pytest

from common.evaluation import feature_networks
from common.evaluation import torch_weights


@pytest.fixture(scope="module")
def fid_inception():
    return feature_networks.build_fid_inception()


def test_fid_inception_outputs_pool3_and_1008_logits(fid_inception):
    extractor = feature_networks.FeatureExtractor(fid_inception, name="fid-random", input_size=(299, 299))
    # A 32x32 grayscale batch is resized to 299x299 and repeated to 3 channels.
    outputs = extractor(np.zeros((1, 32, 32, 1), np.float32))
    assert outputs["features"].shape == (1, 2048)
    assert outputs["probabilities"].shape == (1, 1008)
    np.testing.assert_allclose(outputs["probabilities"].sum(), 1.0, rtol=1e-9)
    assert extractor.resize == "tf.image.resize bilinear 299x299 antialias=False"


def test_fid_inception_parameter_count_matches_torchvision(fid_inception):
    # torchvision inception_v3: 27,161,264 parameters with the auxiliary head (3,326,696)
    # and 1000 classes; the FID graph has no auxiliary head and 1008 classes (+8 * 2049).
    trainable = sum(int(np.prod(w.shape)) for w in fid_inception.trainable_weights)
    assert trainable == 27_161_264 - 3_326_696 + 8 * 2049


def test_fid_inception_pooling_branches_follow_the_2015_graph(fid_inception):
    pooling = {layer.name: type(layer).__name__ for layer in fid_inception.layers
               if "pool" in type(layer).__name__.lower() and layer.name.startswith("Mixed")}
    assert pooling["Mixed_5b.avg_pool"] == "AveragePooling2D"
    assert pooling["Mixed_6e.avg_pool"] == "AveragePooling2D"
    assert pooling["Mixed_7b.avg_pool"] == "AveragePooling2D"   # FIDInceptionE_1
    assert pooling["Mixed_7c.max_pool"] == "MaxPooling2D"       # FIDInceptionE_2
    # The average pool excludes padding from the count (count_include_pad=False):
    # the corner of a ones-and-zeros map averages its 4 in-bounds values, not 9.
    layer = fid_inception.get_layer("Mixed_5b.avg_pool")
    x = np.zeros((1, 3, 3, 1), np.float32)
    x[0, 0, 0, 0] = 4.0
    assert float(layer(x)[0, 0, 0, 0]) == pytest.approx(1.0)


def test_fid_inception_weights_map_from_torch_layout(fid_inception):
    rng = np.random.default_rng(0)
    state = {name: rng.normal(size=value.shape).astype(np.float32)
             for name, value in feature_networks.fid_inception_state_dict(fid_inception).items()}
    assert len(state) == 94 * 5 + 2  # 94 conv+bn units (conv weight + 4 bn arrays) and the fc layer
    feature_networks.load_fid_inception_weights(fid_inception, state)
    # torch conv (out, in, kh, kw) -> keras (kh, kw, in, out); a (1, 7) kernel keeps its orientation.
    np.testing.assert_array_equal(fid_inception.get_layer("Conv2d_1a_3x3.conv").kernel.numpy(),
                                  state["Conv2d_1a_3x3.conv.weight"].transpose(2, 3, 1, 0))
    kernel_1x7 = fid_inception.get_layer("Mixed_6b.branch7x7_2.conv").kernel.numpy()
    assert kernel_1x7.shape == (1, 7, 128, 128)
    np.testing.assert_array_equal(kernel_1x7, state["Mixed_6b.branch7x7_2.conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(fid_inception.get_layer("Mixed_7c.branch_pool.bn").moving_variance.numpy(),
                                  state["Mixed_7c.branch_pool.bn.running_var"])
    np.testing.assert_array_equal(fid_inception.get_layer("fc").kernel.numpy(), state["fc.weight"].T)
    # Round trip.
    for name, value in feature_networks.fid_inception_state_dict(fid_inception).items():
        np.testing.assert_array_equal(value, state[name])


def test_fid_inception_weights_errors_name_the_problem(fid_inception):
    state = feature_networks.fid_inception_state_dict(fid_inception)
    del state["Mixed_5b.branch1x1.conv.weight"]
    state["fc.weight"] = np.zeros((1000, 2048), np.float32)  # torchvision ImageNet head, not the FID graph
    with pytest.raises(feature_networks.FeatureNetworkError, match="1 arrays missing.*1 with the wrong shape"):
        feature_networks.load_fid_inception_weights(fid_inception, state)
    with pytest.raises(feature_networks.FeatureNetworkError, match="pt_inception-2015-12-05"):
        feature_networks.fid_inception_features(None)
    with pytest.raises(torch_weights.WeightsFileError):
        feature_networks.load_fid_inception_weights(fid_inception, "/nonexistent/weights.pth")


def test_keras_inception_v3_pool_features_shape():
    # Metrics resize to 299; the shape check runs the backbone at its minimum 75x75 to save time.
    extractor = feature_networks.inception_v3_features(weights=None, input_size=75)
    outputs = extractor(np.zeros((2, 32, 32, 3), np.float32))
    assert outputs["features"].shape == (2, 2048) and outputs["probabilities"] is None
    assert extractor.resize == "tf.image.resize bilinear 75x75 antialias=False"
    with pytest.raises(feature_networks.FeatureNetworkError, match="does not exist"):
        feature_networks.inception_v3_features(weights="/nonexistent/inception.h5")


def _tiny_extractor():
    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(3, kernel_initializer="ones")(flat)
    return feature_networks.FeatureExtractor(keras.Model(inputs, [flat, logits]), name="tiny", input_size=None,
                                             channels=1)


def test_extract_streams_batches_and_labels():
    images = np.random.default_rng(1).uniform(-1, 1, size=(10, 4, 4, 1)).astype(np.float32)
    labels = np.arange(10) % 3
    batches = [{"image": images[i:i + 4], "label": labels[i:i + 4]} for i in range(0, 10, 4)]
    extracted = _tiny_extractor().extract(batches, 9)
    np.testing.assert_allclose(extracted.features, images[:9].reshape(9, 16))
    np.testing.assert_allclose(extracted.mean, images[:9].reshape(9, 16).mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(extracted.labels, labels[:9])
    assert extracted.probabilities.shape == (9, 3)
    with pytest.raises(feature_networks.FeatureNetworkError, match="ran out after 10"):
        _tiny_extractor().extract(batches, 20)
    with pytest.raises(feature_networks.FeatureNetworkError, match="channel"):
        _tiny_extractor()(np.zeros((1, 4, 4, 3), np.float32))


def test_feature_networks_build_in_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        with feature_networks.float32_policy():
            layer = keras.layers.Dense(2)
        assert layer.compute_dtype == "float32"
        assert keras.config.dtype_policy().name == "mixed_float16"  # restored afterwards
    finally:
        keras.config.set_dtype_policy("float32")
