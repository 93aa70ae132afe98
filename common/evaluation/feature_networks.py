"""Feature networks for sample-quality metrics, and batch-by-batch feature extraction.

A `FeatureExtractor` wraps a Keras model mapping preprocessed images to
``[features]`` or ``[features, logits]``; it takes images in [-1, 1] (NHWC, 1 or 3
channels), resizes them to the network's input size and returns NumPy arrays.
`FeatureExtractor.extract` streams a dataset or a sample function through it in
batches (see `common.evaluation.metrics.FeatureAccumulator`).

Networks:

1. `inception_v3_features`: `keras.applications.InceptionV3(include_top=False,
   pooling="avg")`, 2048-d pool features, ImageNet weights from the standard Keras
   download (cached in ~/.keras/models) or a local .h5 file. No class probabilities,
   so no Inception Score. Its numbers are NOT comparable with published FIDs: the
   Keras weights are a different training of InceptionV3.
2. `fid_inception_features`: the 2015-12-05 TensorFlow Inception graph that
   published FID and IS numbers use (TTUR, Heusel et al. 2017; weights as released
   by pytorch-fid, `pt_inception-2015-12-05-6726825d.pth`). It differs from the Keras
   InceptionV3 in three places, reproduced here after pytorch-fid's FIDInceptionA/C/E_1/E_2:
   the pooling branch of Mixed_5b..5d, 6b..6e and 7b is a 3x3 average pool that
   excludes padding from the count (Keras/TF "same" average pooling already does);
   the pooling branch of Mixed_7c is a 3x3 max pool; and the head has 1008 classes.
   Outputs the 2048-d pool3 features and 1008-way softmax (for IS). Weights are read
   by `common.evaluation.torch_weights` without PyTorch and without executing pickle code.
3. The dataset classifier lives in `common.evaluation.classifier`.
4. The contrastive (SimCLR) encoder of unlabelled datasets lives in `common.evaluation.contrastive`.

All networks are built in float32 whatever the global Keras dtype policy.

Resize: bilinear `tf.image.resize(..., method="bilinear", antialias=False)` to 299x299.
This equals pytorch-fid's `F.interpolate(mode="bilinear", align_corners=False)`
(half-pixel centres, no anti-aliasing). Downscaling large images without
anti-aliasing aliases (Parmar et al. 2022, clean-fid); pass ``antialias=True`` to
filter, and note the FID is then not comparable with pytorch-fid numbers. The
resize method is part of every extractor's `resize` string and of the cache key of
`common.evaluation.reference_stats`. Grayscale images are repeated to 3 channels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any, Callable, Iterable

import numpy as np

from common.evaluation import metrics
from common.evaluation.torch_weights import read_state_dict

__all__ = [
    "FeatureNetworkError",
    "FeatureExtractor",
    "ExtractedFeatures",
    "inception_v3_features",
    "build_fid_inception",
    "load_fid_inception_weights",
    "fid_inception_state_dict",
    "fid_inception_features",
    "FID_INCEPTION_URL",
]

FID_INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                     "pt_inception-2015-12-05-6726825d.pth")
KERAS_INCEPTION_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


class FeatureNetworkError(ValueError):
    """A feature network cannot be built or fed as asked."""


@contextlib.contextmanager
def float32_policy():
    """Builds layers in float32 even when training set a mixed-precision global policy."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@dataclasses.dataclass
class ExtractedFeatures:
    """What `FeatureExtractor.extract` collected."""

    features: np.ndarray | None          # [N, D] float32, when kept
    mean: np.ndarray                     # [D] float64
    cov: np.ndarray                      # [D, D] float64
    count: int
    probabilities: np.ndarray | None     # [N, C] float64, when the network has a classifier head
    labels: np.ndarray | None            # [N] int, when the source gave labels


class FeatureExtractor:
    """Images in [-1, 1] -> features (and class probabilities) from a Keras model.

    Args:
      model: Keras model taking preprocessed images and returning ``features`` or
        ``[features, logits]``.
      name: network identifier used in reports and reference-statistics cache keys.
      input_size: (H, W) images are resized to; None keeps them as they come.
      antialias: passed to `tf.image.resize`.
      channels: channels the model expects (1 or 3).
    """

    def __init__(self, model, *, name: str, input_size: tuple[int, int] | None, antialias: bool = False,
                 channels: int = 3):
        import tensorflow as tf

        self.model, self.name, self.antialias, self.channels = model, name, antialias, channels
        self.input_size = None if input_size is None else tuple(int(s) for s in input_size)
        outputs = model.outputs if isinstance(model.outputs, (list, tuple)) else [model.outputs]
        self.has_probabilities = len(outputs) == 2
        self.feature_dim = int(outputs[0].shape[-1])
        self.num_classes = int(outputs[1].shape[-1]) if self.has_probabilities else None
        self._forward = tf.function(self._preprocess_and_run, reduce_retracing=True)

    @property
    def resize(self) -> str:
        """How images are resized before the network, as recorded with every result."""
        if self.input_size is None:
            return "none"
        height, width = self.input_size
        return f"tf.image.resize bilinear {height}x{width} antialias={self.antialias}"

    def describe(self) -> dict:
        return {"network": self.name, "resize": self.resize, "feature_dim": self.feature_dim,
                "num_classes": self.num_classes}

    def _preprocess_and_run(self, images):
        import tensorflow as tf

        images = tf.cast(images, tf.float32)
        if self.input_size is not None and tuple(images.shape[1:3]) != self.input_size:
            images = tf.image.resize(images, self.input_size, method="bilinear", antialias=self.antialias)
        if images.shape[-1] == 1 and self.channels == 3:
            images = tf.repeat(images, 3, axis=-1)
        outputs = self.model(images, training=False)
        return outputs if isinstance(outputs, (list, tuple)) else [outputs]

    def __call__(self, images) -> dict:
        """{'features': [B, D] float32, 'probabilities': [B, C] float64 or None}."""
        shape = tuple(np.shape(images))
        if len(shape) != 4 or shape[-1] not in (1, 3) or (shape[-1] == 3 and self.channels == 1):
            raise FeatureNetworkError(
                f"{self.name} takes NHWC images with {self.channels} channel(s) (1-channel images are "
                f"repeated for 3-channel networks), got shape {shape}.")
        outputs = self._forward(images)
        result = {"features": outputs[0].numpy().astype(np.float32), "probabilities": None}
        if self.has_probabilities:
            logits = outputs[1].numpy().astype(np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            exp = np.exp(logits)
            result["probabilities"] = exp / exp.sum(axis=1, keepdims=True)
        return result

    def extract(self, batches: Iterable[Any], num_samples: int, *, keep_features: bool = True,
                keep_probabilities: bool = True) -> ExtractedFeatures:
        """Runs `num_samples` images from `batches` through the network, batch by batch.

        `batches` yields dicts with "image" (and optionally "label", as
        `common.data.reader.load_dataset` does), (images, labels) tuples, or image arrays.
        Memory holds one batch plus the [num_samples, D] feature matrix (none of it
        with keep_features=False: the float64 mean/covariance are updated in place).
        """
        accumulator = metrics.FeatureAccumulator(num_samples, keep_features=keep_features)
        probabilities, labels, count = [], [], 0
        for batch in batches:
            images, batch_labels = _split_batch(batch)
            images = images[: num_samples - count]
            outputs = self(images)
            accumulator.add(outputs["features"])
            if keep_probabilities and outputs["probabilities"] is not None:
                probabilities.append(outputs["probabilities"])
            if batch_labels is not None:
                labels.append(np.asarray(batch_labels)[: len(outputs["features"])])
            count += len(outputs["features"])
            if count >= num_samples:
                break
        if count < num_samples:
            raise FeatureNetworkError(
                f"The data ran out after {count} images; {num_samples} were asked for. Use a repeating "
                "dataset or ask for fewer samples.")
        mean, cov = accumulator.moments()
        return ExtractedFeatures(
            features=accumulator.features if keep_features else None, mean=mean, cov=cov, count=count,
            probabilities=np.concatenate(probabilities) if probabilities else None,
            labels=np.concatenate(labels).astype(np.int64) if labels else None)


def _split_batch(batch) -> tuple[Any, Any]:
    if isinstance(batch, dict):
        if "image" not in batch:
            raise FeatureNetworkError(f"Dataset elements are dicts without an 'image' key: {sorted(batch)}.")
        labels = batch.get("label")
        return _as_numpy(batch["image"]), None if labels is None else _as_numpy(labels)
    if isinstance(batch, (tuple, list)):
        return _as_numpy(batch[0]), _as_numpy(batch[1]) if len(batch) > 1 else None
    return _as_numpy(batch), None


def _as_numpy(value):
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


# ---------------------------------------------------------------------------
# Keras InceptionV3
# ---------------------------------------------------------------------------


def inception_v3_features(weights: str | None = "imagenet", *, input_size: int = 299,
                          antialias: bool = False) -> FeatureExtractor:
    """Keras InceptionV3 pool features (2048-d).

    Args:
      weights: "imagenet" (standard download, cached), a path to the no-top .h5
        weights file, or None (random; for tests only).
      input_size: square size images are resized to; 299 for metrics (>= 75).
    """
    import keras

    if weights not in ("imagenet", None) and not os.path.isfile(str(weights)):
        raise FeatureNetworkError(
            f"InceptionV3 weights file {weights} does not exist. Pass the path of "
            f"{KERAS_INCEPTION_NOTOP_FILE}, or weights='imagenet' to download it.")
    if input_size < 75:
        raise FeatureNetworkError(f"Keras InceptionV3 needs inputs of at least 75x75, got {input_size}.")
    try:
        with float32_policy():
            model = keras.applications.InceptionV3(
                include_top=False, pooling="avg", weights=weights, input_shape=(input_size, input_size, 3))
    except Exception as error:  # get_file raises a bare Exception on network errors
        if weights != "imagenet":
            raise
        raise FeatureNetworkError(
            f"Could not download the Keras InceptionV3 ImageNet weights ({error}). On a machine without "
            f"internet, copy {KERAS_INCEPTION_NOTOP_FILE} into ~/.keras/models/ or pass its path as "
            "weights=...; or use the FID reference network (fid_inception_features) or the dataset "
            "classifier (common.evaluation.classifier) instead.") from None
    tag = "imagenet" if weights == "imagenet" else ("random" if weights is None else "file")
    return FeatureExtractor(model, name=f"keras-inception-v3-{tag}-pool2048",
                            input_size=(input_size, input_size), antialias=antialias)


# ---------------------------------------------------------------------------
# FID reference Inception (2015-12-05 graph, pytorch-fid layout)
# ---------------------------------------------------------------------------


def _conv_bn(x, name: str, filters: int, kernel, strides=1, padding="valid"):
    """torchvision BasicConv2d: conv without bias, batch norm (eps 1e-3), ReLU; named as in the .pth."""
    import keras

    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                            name=f"{name}.conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name=f"{name}.bn")(x)
    return keras.layers.ReLU(name=f"{name}.relu")(x)


def _avg_pool_exclude_padding(x, name):
    import keras

    # TF "same" average pooling divides by the number of non-padded inputs (count_include_pad=False).
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _inception_a(x, name, pool_features):
    import keras

    branch1x1 = _conv_bn(x, f"{name}.branch1x1", 64, 1)
    branch5x5 = _conv_bn(x, f"{name}.branch5x5_1", 48, 1)
    branch5x5 = _conv_bn(branch5x5, f"{name}.branch5x5_2", 64, 5, padding="same")
    branch3x3dbl = _conv_bn(x, f"{name}.branch3x3dbl_1", 64, 1)
    branch3x3dbl = _conv_bn(branch3x3dbl, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    branch3x3dbl = _conv_bn(branch3x3dbl, f"{name}.branch3x3dbl_3", 96, 3, padding="same")
    branch_pool = _avg_pool_exclude_padding(x, f"{name}.avg_pool")
    branch_pool = _conv_bn(branch_pool, f"{name}.branch_pool", pool_features, 1)
    return keras.layers.Concatenate(name=name)([branch1x1, branch5x5, branch3x3dbl, branch_pool])


def _inception_b(x, name):
    import keras

    branch3x3 = _conv_bn(x, f"{name}.branch3x3", 384, 3, strides=2)
    branch3x3dbl = _conv_bn(x, f"{name}.branch3x3dbl_1", 64, 1)
    branch3x3dbl = _conv_bn(branch3x3dbl, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    branch3x3dbl = _conv_bn(branch3x3dbl, f"{name}.branch3x3dbl_3", 96, 3, strides=2)
    branch_pool = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.max_pool")(x)
    return keras.layers.Concatenate(name=name)([branch3x3, branch3x3dbl, branch_pool])


def _inception_c(x, name, channels_7x7):
    import keras

    c7 = channels_7x7
    branch1x1 = _conv_bn(x, f"{name}.branch1x1", 192, 1)
    branch7x7 = _conv_bn(x, f"{name}.branch7x7_1", c7, 1)
    branch7x7 = _conv_bn(branch7x7, f"{name}.branch7x7_2", c7, (1, 7), padding="same")
    branch7x7 = _conv_bn(branch7x7, f"{name}.branch7x7_3", 192, (7, 1), padding="same")
    branch7x7dbl = _conv_bn(x, f"{name}.branch7x7dbl_1", c7, 1)
    branch7x7dbl = _conv_bn(branch7x7dbl, f"{name}.branch7x7dbl_2", c7, (7, 1), padding="same")
    branch7x7dbl = _conv_bn(branch7x7dbl, f"{name}.branch7x7dbl_3", c7, (1, 7), padding="same")
    branch7x7dbl = _conv_bn(branch7x7dbl, f"{name}.branch7x7dbl_4", c7, (7, 1), padding="same")
    branch7x7dbl = _conv_bn(branch7x7dbl, f"{name}.branch7x7dbl_5", 192, (1, 7), padding="same")
    branch_pool = _avg_pool_exclude_padding(x, f"{name}.avg_pool")
    branch_pool = _conv_bn(branch_pool, f"{name}.branch_pool", 192, 1)
    return keras.layers.Concatenate(name=name)([branch1x1, branch7x7, branch7x7dbl, branch_pool])


def _inception_d(x, name):
    import keras

    branch3x3 = _conv_bn(x, f"{name}.branch3x3_1", 192, 1)
    branch3x3 = _conv_bn(branch3x3, f"{name}.branch3x3_2", 320, 3, strides=2)
    branch7x7x3 = _conv_bn(x, f"{name}.branch7x7x3_1", 192, 1)
    branch7x7x3 = _conv_bn(branch7x7x3, f"{name}.branch7x7x3_2", 192, (1, 7), padding="same")
    branch7x7x3 = _conv_bn(branch7x7x3, f"{name}.branch7x7x3_3", 192, (7, 1), padding="same")
    branch7x7x3 = _conv_bn(branch7x7x3, f"{name}.branch7x7x3_4", 192, 3, strides=2)
    branch_pool = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.max_pool")(x)
    return keras.layers.Concatenate(name=name)([branch3x3, branch7x7x3, branch_pool])


def _inception_e(x, name, pool: str):
    import keras

    branch1x1 = _conv_bn(x, f"{name}.branch1x1", 320, 1)
    branch3x3 = _conv_bn(x, f"{name}.branch3x3_1", 384, 1)
    branch3x3 = keras.layers.Concatenate(name=f"{name}.branch3x3")([
        _conv_bn(branch3x3, f"{name}.branch3x3_2a", 384, (1, 3), padding="same"),
        _conv_bn(branch3x3, f"{name}.branch3x3_2b", 384, (3, 1), padding="same"),
    ])
    branch3x3dbl = _conv_bn(x, f"{name}.branch3x3dbl_1", 448, 1)
    branch3x3dbl = _conv_bn(branch3x3dbl, f"{name}.branch3x3dbl_2", 384, 3, padding="same")
    branch3x3dbl = keras.layers.Concatenate(name=f"{name}.branch3x3dbl")([
        _conv_bn(branch3x3dbl, f"{name}.branch3x3dbl_3a", 384, (1, 3), padding="same"),
        _conv_bn(branch3x3dbl, f"{name}.branch3x3dbl_3b", 384, (3, 1), padding="same"),
    ])
    if pool == "avg":  # FIDInceptionE_1
        branch_pool = _avg_pool_exclude_padding(x, f"{name}.avg_pool")
    else:  # FIDInceptionE_2: the 2015 graph max-pools here
        branch_pool = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}.max_pool")(x)
    branch_pool = _conv_bn(branch_pool, f"{name}.branch_pool", 192, 1)
    return keras.layers.Concatenate(name=name)([branch1x1, branch3x3, branch3x3dbl, branch_pool])


def build_fid_inception(input_size: int = 299):
    """The FID reference Inception in Keras: inputs in [-1, 1], outputs [pool3 (2048), logits (1008)].

    Layer names are the PyTorch state-dict prefixes (e.g. "Mixed_7c.branch_pool.conv"),
    so `load_fid_inception_weights` maps names one to one. Weights are random until loaded.
    """
    with float32_policy():
        return _build_fid_inception(input_size)


def _build_fid_inception(input_size: int):
    import keras

    inputs = keras.Input((input_size, input_size, 3), name="images")
    x = _conv_bn(inputs, "Conv2d_1a_3x3", 32, 3, strides=2)
    x = _conv_bn(x, "Conv2d_2a_3x3", 32, 3)
    x = _conv_bn(x, "Conv2d_2b_3x3", 64, 3, padding="same")
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool1")(x)
    x = _conv_bn(x, "Conv2d_3b_1x1", 80, 1)
    x = _conv_bn(x, "Conv2d_4a_3x3", 192, 3)
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool2")(x)
    x = _inception_a(x, "Mixed_5b", 32)
    x = _inception_a(x, "Mixed_5c", 64)
    x = _inception_a(x, "Mixed_5d", 64)
    x = _inception_b(x, "Mixed_6a")
    for name, channels_7x7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = _inception_c(x, name, channels_7x7)
    x = _inception_d(x, "Mixed_7a")
    x = _inception_e(x, "Mixed_7b", pool="avg")
    x = _inception_e(x, "Mixed_7c", pool="max")
    pool3 = keras.layers.GlobalAveragePooling2D(name="pool3")(x)
    logits = keras.layers.Dense(1008, name="fc")(pool3)
    return keras.Model(inputs, [pool3, logits], name="fid_inception_2015_12_05")


def _torch_layout(model) -> dict[str, tuple[Any, Callable[[np.ndarray], np.ndarray]]]:
    """state-dict name -> (keras variable, torch-array -> keras-array converter)."""
    import keras

    to_keras_kernel = lambda w: np.transpose(w, (2, 3, 1, 0))  # (out,in,kh,kw) -> (kh,kw,in,out)  # noqa: E731
    same = lambda w: w  # noqa: E731
    layout = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layout[layer.name + ".weight"] = (layer.kernel, to_keras_kernel)
        elif isinstance(layer, keras.layers.BatchNormalization):
            prefix = layer.name
            layout[prefix + ".weight"] = (layer.gamma, same)
            layout[prefix + ".bias"] = (layer.beta, same)
            layout[prefix + ".running_mean"] = (layer.moving_mean, same)
            layout[prefix + ".running_var"] = (layer.moving_variance, same)
        elif isinstance(layer, keras.layers.Dense):
            layout[layer.name + ".weight"] = (layer.kernel, np.transpose)  # (out,in) -> (in,out)
            layout[layer.name + ".bias"] = (layer.bias, same)
    return layout


def load_fid_inception_weights(model, weights: str | dict[str, np.ndarray]) -> None:
    """Loads a pytorch-fid state dict (.pth / .npz path, or name -> array) into `build_fid_inception()`.

    Every expected array must be present with the right shape; all problems are
    reported at once before any variable is assigned. `num_batches_tracked`
    counters are ignored.
    """
    state = read_state_dict(weights) if isinstance(weights, (str, os.PathLike)) else dict(weights)
    layout = _torch_layout(model)
    missing = [name for name in layout if name not in state]
    wrong_shapes = []
    for name, (variable, convert) in layout.items():
        if name in state:
            converted_shape = np.shape(convert(np.asarray(state[name])))
            if tuple(converted_shape) != tuple(variable.shape):
                wrong_shapes.append(f"{name}: file {np.shape(state[name])}, network expects the torch "
                                    f"layout of {tuple(variable.shape)}")
    if missing or wrong_shapes:
        raise FeatureNetworkError(
            "These weights are not the FID Inception (pt_inception-2015-12-05-6726825d.pth): "
            f"{len(missing)} arrays missing (e.g. {missing[:3]}), {len(wrong_shapes)} with the wrong shape "
            f"(e.g. {wrong_shapes[:2]}). Download {FID_INCEPTION_URL}.")
    for name, (variable, convert) in layout.items():
        variable.assign(convert(np.asarray(state[name], dtype=np.float32)))


def fid_inception_state_dict(model) -> dict[str, np.ndarray]:
    """The model's weights as a pytorch-fid state dict (name -> array in torch layout)."""
    inverse = {4: (3, 2, 0, 1), 2: (1, 0)}
    state = {}
    for name, (variable, _) in _torch_layout(model).items():
        value = np.asarray(variable.numpy())
        state[name] = np.transpose(value, inverse[value.ndim]) if value.ndim in inverse else value
    return state


def fid_inception_features(weights_path: str | None, *, antialias: bool = False) -> FeatureExtractor:
    """The FID reference Inception with pytorch-fid's weights, as a FeatureExtractor.

    Args:
      weights_path: `pt_inception-2015-12-05-6726825d.pth` (or a .npz of the same arrays).
    """
    if not weights_path or not os.path.isfile(weights_path):
        raise FeatureNetworkError(
            f"The FID reference Inception needs its weights file; {weights_path!r} is not a file. Download "
            f"{FID_INCEPTION_URL} (95 MB) on a machine with internet and pass its path. Without it, use "
            "inception_v3_features() or the dataset classifier (numbers then are not comparable with papers).")
    model = build_fid_inception()
    load_fid_inception_weights(model, weights_path)
    return FeatureExtractor(model, name="fid-inception-2015-12-05-pool3", input_size=(299, 299),
                            antialias=antialias)
