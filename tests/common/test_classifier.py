"""The dataset classifier: trains on scikit-learn digits, saves, reloads in safe mode, extracts features."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from common import classifier, reference_stats


@pytest.fixture(scope="module")
def digits_classifier():
    digits = load_digits()
    images = (digits.images[..., None] / 16.0 * 2.0 - 1.0).astype(np.float32)  # 8x8 in [-1, 1]
    labels = digits.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:1400], order[1400:]
    train_ds = tf.data.Dataset.from_tensor_slices({"image": images[train], "label": labels[train]})
    train_ds = train_ds.shuffle(1400, seed=0).batch(64)
    test_ds = tf.data.Dataset.from_tensor_slices((images[test], labels[test])).batch(128)
    model, accuracy = classifier.train_classifier(train_ds, test_ds, num_classes=10, epochs=8, width=16,
                                                  feature_dim=32, learning_rate=3e-3)
    return model, accuracy, images[test], labels[test]


def test_classifier_reaches_high_test_accuracy_on_digits(digits_classifier):
    _, accuracy, _, _ = digits_classifier
    assert accuracy >= 0.9


def test_saved_classifier_reloads_in_safe_mode_with_sidecar(digits_classifier, tmp_path):
    model, accuracy, test_images, test_labels = digits_classifier
    path = str(tmp_path / "digits_classifier.keras")
    classifier.save_classifier(model, path, test_accuracy=accuracy, dataset_checksum="abc123",
                               settings={"epochs": 8})
    with open(path + ".json") as file:
        sidecar = json.load(file)
    assert sidecar["dataset_checksum"] == "abc123" and sidecar["test_accuracy"] == pytest.approx(accuracy)
    assert sidecar["num_classes"] == 10 and sidecar["image_shape"] == [8, 8, 1]
    reloaded, info = classifier.load_classifier(path)
    np.testing.assert_allclose(reloaded.predict(test_images[:16], verbose=0),
                               model.predict(test_images[:16], verbose=0), rtol=1e-5, atol=1e-5)
    extractor = classifier.classifier_features(reloaded, info=info)
    outputs = extractor(test_images)
    assert outputs["features"].shape == (len(test_images), 32)
    assert extractor.num_classes == 10 and extractor.name.startswith("dataset-classifier-")
    # Its softmax classifies the held-out digits as well as the trained model did.
    assert (outputs["probabilities"].argmax(axis=1) == test_labels).mean() == pytest.approx(accuracy, abs=1e-6)
    with pytest.raises(classifier.ClassifierError, match="No classifier"):
        classifier.load_classifier(str(tmp_path / "absent.keras"))


def test_classifier_refuses_unlabeled_data_and_one_class():
    unlabeled = tf.data.Dataset.from_tensor_slices({"image": np.zeros((4, 8, 8, 1), np.float32)}).batch(2)
    with pytest.raises(classifier.ClassifierError, match="no labels"):
        classifier.train_classifier(unlabeled, unlabeled, num_classes=2, epochs=1)
    with pytest.raises(classifier.ClassifierError, match="at least 2 classes"):
        classifier.build_classifier((8, 8, 1), 1)


def test_get_or_train_classifier_reuses_file_until_the_dataset_changes(tmp_path):
    from tfrecords.build import build_dataset

    digits = load_digits()
    keep = digits.target < 3
    images = (digits.images[keep][:150] * (255.0 / 16.0)).astype(np.uint8)[..., None]
    np.savez(tmp_path / "small.npz", images=images, labels=digits.target[keep][:150])
    dataset = str(tmp_path / "small")
    build_dataset(source=str(tmp_path / "small.npz"), output=dataset, kind="npz", channels=1, test_fraction=0.2,
                  progress=False)
    path = str(tmp_path / "clf" / "small.keras")
    options = dict(epochs=1, width=8, feature_dim=8, batch_size=32, verbose=0)
    _, first = classifier.get_or_train_classifier(dataset, path, **options)
    assert first["dataset_checksum"] and first["num_classes"] == 3
    trained_at = os.path.getmtime(path)
    _, second = classifier.get_or_train_classifier(dataset, path, **options)
    assert second == first and os.path.getmtime(path) == trained_at  # reused, not retrained
    settings = second["settings"]
    assert classifier.find_reusable_classifier(path, dataset_checksum=first["dataset_checksum"],
                                               settings=settings) is not None
    assert classifier.find_reusable_classifier(path, dataset_checksum=first["dataset_checksum"],
                                               settings=dict(settings, epochs=2)) is None
    with open(os.path.join(dataset, "manifest.json"), "a") as manifest:
        manifest.write("\n")  # any change to the manifest changes the checksum
    assert reference_stats.dataset_checksum(dataset) != first["dataset_checksum"]
    assert classifier.find_reusable_classifier(path, dataset_checksum=reference_stats.dataset_checksum(dataset),
                                               settings=settings) is None
