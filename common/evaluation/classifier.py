"""A classifier trained on the evaluation dataset itself, as a feature network for offline metrics.

ImageNet Inception features say little about 8x8 digits or 32x32 grayscale data
and need weights from the internet. A small ResNet-style classifier trained on the
labeled dataset gives features and class probabilities that do: its penultimate
layer ("features") feeds FID/KID/precision/recall/density/coverage and its softmax
feeds the Inception Score, conditional accuracy and mode coverage. Values are only
comparable between models scored with the same classifier file; they are not the
published Inception-based numbers. This follows the practice of classifier-based
scores for small datasets (e.g. the "MNIST score" of Salimans et al. 2016 style
evaluations and mode counting with a pretrained classifier in VEEGAN/PacGAN).

Network: conv 3x3 stem, two residual stages (He et al. 2016, pre-activation
blocks without bottleneck; the second stage halves the resolution), global average
pooling, a dense "features" layer with ReLU and a dense "logits" layer. Batch
normalization uses momentum 0.9 (Keras default 0.99) so its moving statistics
settle within the few hundred steps a small dataset gets. Only
built-in Keras layers, so the saved `.keras` file loads with ``safe_mode=True``.

Saved as ``<path>.keras`` plus the sidecar ``<path>.keras.json`` holding the test
accuracy, the dataset's manifest checksum (sha256 of manifest.json) and the build
settings; `get_or_train_classifier` reuses the file when the checksum and the
settings match and trains a new one otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from common.evaluation.feature_networks import FeatureExtractor, float32_policy

__all__ = [
    "ClassifierError",
    "build_classifier",
    "train_classifier",
    "save_classifier",
    "load_classifier",
    "find_reusable_classifier",
    "get_or_train_classifier",
    "classifier_features",
]

SIDECAR_SUFFIX = ".json"


class ClassifierError(ValueError):
    """A dataset classifier cannot be trained, saved or loaded as asked."""


def _residual_block(x, filters: int, strides: int, name: str):
    import keras

    shortcut = x
    y = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn1")(x)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_shortcut")(y)
    y = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv1")(y)
    y = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn2")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def build_classifier(image_shape: tuple[int, int, int], num_classes: int, *, width: int = 32,
                     feature_dim: int = 128):
    """Small pre-activation ResNet: images in [-1, 1] -> logits; the "features" layer is penultimate."""
    import keras

    if num_classes < 2:
        raise ClassifierError(f"A classifier needs at least 2 classes, got {num_classes}.")
    inputs = keras.Input(tuple(image_shape), name="images")
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = _residual_block(x, width, 1, "stage1_block1")
    x = _residual_block(x, 2 * width, 2, "stage2_block1")
    x = keras.layers.BatchNormalization(momentum=0.9, name="final_bn")(x)
    x = keras.layers.ReLU(name="final_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    features = keras.layers.Dense(feature_dim, activation="relu", name="features")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(features)
    return keras.Model(inputs, logits, name="dataset_classifier")


def _image_label_pairs(dataset):
    """Maps dataset elements (dict with image/label, or (image, label)) to (image, label)."""
    import tensorflow as tf

    spec = dataset.element_spec
    if isinstance(spec, dict):
        if "label" not in spec:
            raise ClassifierError("The dataset has no labels; a dataset classifier needs a labeled dataset.")
        return dataset.map(lambda e: (e["image"], tf.cast(e["label"], tf.int32)))
    return dataset


def train_classifier(train_ds, test_ds, num_classes: int, epochs: int, *, steps_per_epoch: int | None = None,
                     test_steps: int | None = None, width: int = 32, feature_dim: int = 128,
                     learning_rate: float = 1e-3, seed: int = 0, verbose: int = 0) -> tuple[Any, float]:
    """Trains `build_classifier` with Adam and sparse cross-entropy; returns (model, test accuracy).

    Args:
      train_ds, test_ds: batched tf.data datasets of dicts with "image" in [-1, 1] and
        "label" (as `common.data.reader.load_dataset` yields), or of (image, label) pairs.
      steps_per_epoch, test_steps: needed when a dataset repeats forever.
    """
    import keras

    keras.utils.set_random_seed(seed)
    train_ds, test_ds = _image_label_pairs(train_ds), _image_label_pairs(test_ds)
    image_shape = tuple(train_ds.element_spec[0].shape[1:])
    if None in image_shape:
        raise ClassifierError(f"Training images need a fixed size; got shape {image_shape}. "
                              "Load the dataset with image_size=... .")
    with float32_policy():
        model = build_classifier(image_shape, num_classes, width=width, feature_dim=feature_dim)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                  jit_compile=False)  # XLA compilation costs more than it saves on a model this small
    model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=verbose)
    results = model.evaluate(test_ds, steps=test_steps, verbose=0, return_dict=True)
    return model, float(results["accuracy"])


def _sidecar(path: str) -> str:
    return path + SIDECAR_SUFFIX


def save_classifier(model, path: str, *, test_accuracy: float, dataset_checksum: str | None,
                    settings: dict | None = None) -> str:
    """Saves `<path>` (.keras) and its JSON sidecar; returns `path`."""
    if not path.endswith(".keras"):
        raise ClassifierError(f"Classifier files end in .keras, got {path}.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    model.save(path)
    info = {"test_accuracy": float(test_accuracy), "dataset_checksum": dataset_checksum,
            "num_classes": int(model.output_shape[-1]), "image_shape": list(model.input_shape[1:]),
            "settings": settings or {}}
    tmp = _sidecar(path) + ".tmp"
    with open(tmp, "w") as file:
        json.dump(info, file, indent=2, sort_keys=True)
    os.replace(tmp, _sidecar(path))
    return path


def load_classifier(path: str) -> tuple[Any, dict]:
    """(model, sidecar info); the model is loaded with safe_mode=True."""
    import keras

    if not os.path.isfile(path) or not os.path.isfile(_sidecar(path)):
        raise ClassifierError(f"No classifier at {path} (needs the .keras file and {_sidecar(path)}); "
                              "train one with get_or_train_classifier().")
    with open(_sidecar(path)) as file:
        info = json.load(file)
    model = keras.models.load_model(path, safe_mode=True, compile=False)
    return model, info


def find_reusable_classifier(path: str, *, dataset_checksum: str, settings: dict) -> tuple[Any, dict] | None:
    """(model, info) of the classifier at `path` when it was trained on this dataset with these settings."""
    if not (os.path.isfile(path) and os.path.isfile(_sidecar(path))):
        return None
    with open(_sidecar(path)) as file:
        saved = json.load(file)
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back from JSON
    if saved.get("dataset_checksum") != dataset_checksum or saved.get("settings") != settings:
        return None
    return load_classifier(path)


def get_or_train_classifier(data: str | None, path: str, *, epochs: int = 10, image_size=None,
                            channels: int | None = None, batch_size: int = 64, width: int = 32,
                            feature_dim: int = 128, learning_rate: float = 1e-3, min_accuracy: float = 0.0,
                            seed: int = 0, verbose: int = 1) -> tuple[Any, dict]:
    """The classifier of dataset `data` at `path`: reused when its manifest checksum and settings match.

    `data` is what `common.data.reader.load_dataset` takes (None = offline default dataset);
    the dataset needs labels and a "test" split. Raises ClassifierError when the
    trained accuracy is below `min_accuracy`.
    """
    from common.data import reader as data_lib
    from common.evaluation.reference_stats import dataset_checksum

    info = data_lib.describe(data)
    checksum = dataset_checksum(data)
    if not info.labels:
        raise ClassifierError(f"Dataset {data} has no labels; a dataset classifier needs a labeled dataset.")
    splits = info.num_examples or {}
    if not splits.get("test"):
        raise ClassifierError(f"Dataset {data} has no 'test' split to measure the classifier on; rebuild it "
                              "with test_fraction > 0.")
    settings = {"epochs": epochs, "image_size": image_size, "channels": channels, "batch_size": batch_size,
                "width": width, "feature_dim": feature_dim, "learning_rate": learning_rate, "seed": seed}
    reusable = find_reusable_classifier(path, dataset_checksum=checksum, settings=settings)
    if reusable is not None:
        return reusable
    options = dict(image_size=image_size, channels=channels, seed=seed)
    train_ds = data_lib.load_dataset(data, split="train", batch_size=batch_size, shuffle=True, repeat=True,
                                     **options)
    # Unbatched then batched here, so the last partial batch of the test split is scored too.
    test_ds = data_lib.load_dataset(data, split="test", batch_size=None, shuffle=False, repeat=False,
                                    **options).batch(batch_size)
    steps = max(1, int(np.ceil(splits["train"] / batch_size)))
    test_steps = max(1, int(np.ceil(splits["test"] / batch_size)))
    model, accuracy = train_classifier(train_ds, test_ds, len(info.labels), epochs, steps_per_epoch=steps,
                                       test_steps=test_steps,
                                       width=width, feature_dim=feature_dim, learning_rate=learning_rate,
                                       seed=seed, verbose=verbose)
    if accuracy < min_accuracy:
        raise ClassifierError(f"The classifier reached {accuracy:.3f} test accuracy, below the required "
                              f"{min_accuracy:.3f}; train longer (epochs) or wider (width).")
    save_classifier(model, path, test_accuracy=accuracy, dataset_checksum=checksum, settings=settings)
    with open(_sidecar(path)) as file:
        return model, json.load(file)


def classifier_features(model, *, name: str | None = None, info: dict | None = None) -> FeatureExtractor:
    """FeatureExtractor over a dataset classifier: penultimate "features" and "logits".

    Generated images are resized bilinearly to the classifier's input size when they differ.
    The name includes a digest of the sidecar `info` when given (dataset checksum,
    settings, test accuracy), so reference statistics of different classifiers never mix.
    """
    import keras

    features_model = keras.Model(model.inputs, [model.get_layer("features").output, model.output])
    if name is None:
        name = "dataset-classifier"
        if info:  # the sidecar identifies dataset, settings and the training outcome
            digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:16]
            name += f"-{digest}"
    height, width, channels = model.input_shape[1:]
    return FeatureExtractor(features_model, name=name, input_size=(height, width), channels=channels)
