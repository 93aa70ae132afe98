"""The dataset classifier: trains on scikit-learn digits, is reused until the data changes, reloads safely."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from common.evaluation import classifier
from common.evaluation import reference_stats

_OPTIONS = dict(epochs=8, width=16, feature_dim=32, learning_rate=3e-3, batch_size=64, verbose=0)


@pytest.fixture(scope="module")
def digits_dataset(tmp_path_factory):
    """scikit-learn digits (8x8, 1797 images) as a dataset folder with a 20% test split."""
    from tfrecords.build import build_dataset

    folder = tmp_path_factory.mktemp("digits")
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    np.savez(folder / "digits.npz", images=images, labels=digits.target)
    manifest = build_dataset(source=str(folder / "digits.npz"), output=str(folder / "dataset"), kind="npz",
                             channels=1, test_fraction=0.2, num_workers=1, progress=False)
    return os.path.dirname(manifest)


@pytest.fixture(scope="module")
def trained(digits_dataset, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("classifier") / "digits.keras")
    model, info = classifier.get_or_train_classifier(digits_dataset, path, **_OPTIONS)
    return model, info, path


def test_classifier_reaches_high_test_accuracy_on_digits(trained, digits_dataset):
    _, info, path = trained
    assert info["test_accuracy"] >= 0.9
    with open(path + ".json") as file:
        sidecar = json.load(file)
    assert sidecar == info
    assert sidecar["dataset_checksum"] == reference_stats.dataset_checksum(digits_dataset)
    assert sidecar["num_classes"] == 10 and sidecar["image_shape"] == [8, 8, 1]


def test_classifier_is_reused_until_dataset_or_settings_change(trained, digits_dataset):
    _, info, path = trained
    trained_at = os.path.getmtime(path)
    _, again = classifier.get_or_train_classifier(digits_dataset, path, **_OPTIONS)
    assert again == info and os.path.getmtime(path) == trained_at  # reused, not retrained
    checksum, settings = info["dataset_checksum"], info["settings"]
    assert classifier.find_reusable_classifier(path, dataset_checksum=checksum, settings=settings) is not None
    assert classifier.find_reusable_classifier(path, dataset_checksum=checksum,
                                               settings=dict(settings, epochs=2)) is None
    assert classifier.find_reusable_classifier(path, dataset_checksum="rebuilt-dataset", settings=settings) is None


def test_saved_classifier_reloads_in_safe_mode_and_extracts_features(trained):
    model, info, path = trained
    digits = load_digits()
    images = (digits.images[:64, ..., None] / 16.0 * 2.0 - 1.0).astype(np.float32)
    reloaded, reloaded_info = classifier.load_classifier(path)  # safe_mode=True inside
    assert reloaded_info == info
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-5)
    extractor = classifier.classifier_features(reloaded, info=info)
    outputs = extractor(images)
    assert outputs["features"].shape == (64, 32) and extractor.num_classes == 10
    assert extractor.name.startswith("dataset-classifier-")
    assert (outputs["probabilities"].argmax(axis=1) == digits.target[:64]).mean() >= 0.9
    with pytest.raises(classifier.ClassifierError, match="No classifier"):
        classifier.load_classifier(path.replace("digits.keras", "absent.keras"))


def test_classifier_refuses_unlabeled_data_and_one_class():
    unlabeled = tf.data.Dataset.from_tensor_slices({"image": np.zeros((4, 8, 8, 1), np.float32)}).batch(2)
    with pytest.raises(classifier.ClassifierError, match="no labels"):
        classifier.train_classifier(unlabeled, unlabeled, num_classes=2, epochs=1)
    with pytest.raises(classifier.ClassifierError, match="at least 2 classes"):
        classifier.build_classifier((8, 8, 1), 1)
