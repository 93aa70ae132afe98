"""Export of image-to-image translators as a SavedModel that TensorFlow Serving loads.

For the translation apps (CycleGAN, CSGAN, DiscoGAN): a trained model exposes
``model.translators()`` -> {"a_to_b": keras.Model, "b_to_a": keras.Model}
mapping images in [-1, 1] to images in [-1, 1], and ``model.size_multiple``,
the number the height and width of an input must be divisible by.
`export_translators` writes them in TF Serving's layout, exactly as
`common.export.generator_export` does for generators:

    <export_dir>/<version>/saved_model.pb, variables/, assets.extra/export_info.json

Signatures, one pair per translator key (the first key is also `serving_default`):

    <key>(images: uint8 [batch, H, W, C]) -> images: uint8 [batch, H, W, C]
    <key>_float(images: float32 [batch, H, W, C] in [-1, 1]) -> images: float32 [batch, H, W, C]

H and W may be any multiples of `size_multiple` of at least `min_size`
(default `size_multiple`; 8 for CycleGAN's generator, whose reflection padding
needs 2 pixels after the two stride-2 convolutions); other sizes fail with an
InvalidArgument error naming the size sent. uint8 pixels map to
`x / 127.5 - 1` on the way in and back with `common.export.generator_export.images_to_uint8`
(`round_half_to_even(clip((y + 1) * 127.5, 0, 255))`) on the way out. The
translators run with ``training=False`` (instance normalization has no moving
statistics, so this changes nothing for CycleGAN) and compute in their own
dtype; the signatures cast at the boundary.

Every export is written to a hidden temporary folder, loaded back in a fresh
`tf.saved_model.load`, compared with the in-process translators
(`check_parity`, on a fixed pseudo-random batch at two sizes), and only then
renamed to its version number.

Follows the TF Serving SavedModel conventions
(https://www.tensorflow.org/tfx/serving/serving_basic); no paper.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras
import numpy as np
import tensorflow as tf

from common.export.generator_export import (
    DEFAULT_PARITY_ATOL,
    EXPORT_INFO_NAME,
    ExportError,
    _resolve_version,
    check_export_dir,
    capture_variables_by_name,
    check_metadata,
    write_version,
    images_to_uint8,
    version_dirs,
)

__all__ = ["export_translators", "check_parity", "uint8_to_float", "images_to_uint8", "version_dirs", "EXPORT_INFO_NAME",
           "ExportError", "FLOAT_SUFFIX", "PARITY_SEED"]

FLOAT_SUFFIX = "_float"
SERVING_SIGNATURE = "serving_default"
PARITY_SEED = 20261123


def uint8_to_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 pixels [0, 255] -> float32 in [-1, 1]: ``x / 127.5 - 1``."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def _compute_dtype(model: keras.Model) -> str:
    policy = getattr(model, "dtype_policy", None)
    return str(getattr(policy, "compute_dtype", None) or "float32")


def _check_arguments(translators, size_multiple, channels):
    if tf.distribute.has_strategy():
        raise ExportError("Export runs outside a distribution strategy: call it after leaving "
                          "`with strategy.scope():`.")
    if not isinstance(translators, Mapping) or not translators:
        raise ExportError("translators must be a non-empty dict of signature name -> keras.Model.")
    for key, model in translators.items():
        if not isinstance(key, str) or not key.isidentifier() or key == SERVING_SIGNATURE or key.endswith(FLOAT_SUFFIX):
            raise ExportError(f"Translator key {key!r} must be an identifier such as 'a_to_b', not "
                              f"'{SERVING_SIGNATURE}' and not ending in '{FLOAT_SUFFIX}'.")
        if not isinstance(model, keras.Model):
            raise ExportError(f"translators[{key!r}] must be a keras.Model, got {type(model).__name__}.")
        if not model.built:
            raise ExportError(f"translators[{key!r}] is not built: call it on a batch of images before exporting.")
    if isinstance(size_multiple, bool) or not isinstance(size_multiple, (int, np.integer)) or size_multiple < 1:
        raise ExportError(f"size_multiple must be a positive integer, got {size_multiple!r}.")
    if channels not in (1, 3):
        raise ExportError(f"channels must be 1 or 3, got {channels!r}.")


def _size_check(images, size_multiple: int, min_size: int):
    """An assertion that H and W of `images` are multiples of `size_multiple` and >= `min_size`, naming the size."""
    shape = tf.shape(images)
    ok = tf.reduce_all([tf.equal(shape[1] % size_multiple, 0), tf.equal(shape[2] % size_multiple, 0),
                        shape[1] >= min_size, shape[2] >= min_size])
    return tf.debugging.Assert(
        ok, [f"Image height and width must be multiples of {size_multiple} and at least {min_size}; "
             "got height, width =", shape[1], shape[2],
             f". Pad or resize the images to multiples of {size_multiple}."])


def _endpoints(model: keras.Model, size_multiple: int, min_size: int, spec_float: tf.TensorSpec):
    """The uint8 and float endpoint functions of one translator, sharing one traced graph function."""

    @tf.function(input_signature=[spec_float], autograph=False)
    def translate_float(images):
        with tf.control_dependencies([_size_check(images, size_multiple, min_size)]):
            images = tf.identity(images)
        return tf.cast(model(images, training=False), tf.float32)

    def uint8_endpoint(images):
        capture_variables_by_name(translate_float, model.variables)
        return {"images": images_to_uint8(translate_float(uint8_to_float(images)))}

    def float_endpoint(images):
        capture_variables_by_name(translate_float, model.variables)
        return {"images": translate_float(images)}

    return uint8_endpoint, float_endpoint


def _build_archive(translators: Mapping[str, keras.Model], size_multiple: int, min_size: int, channels: int):
    archive = keras.export.ExportArchive()
    spec_float = tf.TensorSpec([None, None, None, channels], tf.float32, name="images")
    spec_uint8 = tf.TensorSpec([None, None, None, channels], tf.uint8, name="images")
    for model in translators.values():
        archive.track(model)
    first = next(iter(translators))
    for key, model in translators.items():
        uint8_endpoint, float_endpoint = _endpoints(model, size_multiple, min_size, spec_float)
        archive.add_endpoint(key, uint8_endpoint, input_signature=[spec_uint8])
        archive.add_endpoint(key + FLOAT_SUFFIX, float_endpoint, input_signature=[spec_float])
        if key == first:
            archive.add_endpoint(SERVING_SIGNATURE, uint8_endpoint, input_signature=[spec_uint8])
    return archive


def parity_images(size_multiple: int, channels: int, seed: int = PARITY_SEED,
                  min_size: int = 8) -> list[np.ndarray]:
    """Two fixed uint8 batches: 2 images of 4u x 4u and 1 of 2u x 6u (u: the smallest multiple of
    `size_multiple` that is at least `min_size` / 2)."""
    rng = np.random.default_rng(seed)
    unit = size_multiple * max(1, -(-max(min_size, 8) // (2 * size_multiple)))
    return [rng.integers(0, 256, (2, 4 * unit, 4 * unit, channels), dtype=np.uint8),
            rng.integers(0, 256, (1, 2 * unit, 6 * unit, channels), dtype=np.uint8)]


def check_parity(translators: Mapping[str, keras.Model], saved_model_dir: str, *, size_multiple: int,
                 channels: int = 3, min_size: int | None = None, atol: float | None = None) -> dict:
    """Compares every signature of an exported SavedModel with the in-process translators.

    For each key and each batch of `parity_images`: `<key>_float` must equal
    `model(x, training=False)` within `atol` (1e-5 for float32 compute), and
    `<key>` (uint8) must equal `images_to_uint8` of the in-process output up to
    what a float difference of `atol` explains.

    Returns:
      {key: {"max_abs_diff": float, "uint8_mismatches": int, "pixels": int}, "atol": ...}.

    Raises:
      ExportError naming the signatures that differ.
    """
    loaded = tf.saved_model.load(saved_model_dir)
    report: dict[str, Any] = {}
    failures = []
    for key, model in translators.items():
        tolerance = atol if atol is not None else DEFAULT_PARITY_ATOL.get(_compute_dtype(model), 1e-5)
        worst, mismatches, pixels = 0.0, 0, 0
        for batch in parity_images(size_multiple, channels, min_size=min_size or size_multiple):
            floats = uint8_to_float(batch)
            reference = tf.cast(model(floats, training=False), tf.float32).numpy()
            served = loaded.signatures[key + FLOAT_SUFFIX](images=floats)["images"].numpy()
            worst = max(worst, float(np.max(np.abs(served - reference))) if served.shape == reference.shape
                        else float("inf"))
            served_uint8 = loaded.signatures[key](images=tf.constant(batch))["images"].numpy()
            lower = images_to_uint8(reference - tolerance).numpy()
            upper = images_to_uint8(reference + tolerance).numpy()
            if served_uint8.shape != reference.shape:
                mismatches += reference.size
            else:
                mismatches += int(np.sum((served_uint8 < lower) | (served_uint8 > upper)))
            pixels += reference.size
        report[key] = {"max_abs_diff": worst, "uint8_mismatches": mismatches, "pixels": pixels, "atol": tolerance}
        if not worst <= tolerance:
            failures.append(f"'{key}{FLOAT_SUFFIX}': max |diff| {worst:.3g} > {tolerance:g}")
        if mismatches:
            failures.append(f"'{key}': {mismatches} of {pixels} uint8 values differ")
    if failures:
        raise ExportError(f"Parity check failed for {saved_model_dir}: " + "; ".join(failures) +
                          ". The SavedModel does not reproduce the in-process translators.")
    return report


def export_translators(translators: Mapping[str, keras.Model], export_dir: str, *, size_multiple: int,
                       channels: int = 3, version: int | None = None, overwrite: bool = False,
                       parity_check: bool = True, metadata: dict | None = None,
                       min_size: int | None = None) -> str:
    """Writes the translators as version `version` of a TF Serving model folder (module docstring).

    Args:
      translators: {signature key: keras.Model [-1, 1] images -> [-1, 1] images}, e.g.
        {"a_to_b": G, "b_to_a": F}; the first key is also `serving_default`.
      export_dir: the model folder TF Serving is pointed at (created if absent).
      size_multiple: height and width of inputs must be multiples of it.
      channels: image channels of inputs and outputs.
      version: default: one more than the largest numeric subfolder, from 1.
      overwrite: replace an existing version folder.
      parity_check: compare the written SavedModel with the translators before publishing.
      metadata: JSON-serializable dict stored under "metadata" in export_info.json.
      min_size: smallest height and width accepted (default `size_multiple`).

    Returns:
      The path of the written version folder.

    Raises:
      ExportError: bad arguments, an existing version without overwrite, a failed parity check.
    """
    _check_arguments(translators, size_multiple, channels)
    min_size = int(min_size or size_multiple)
    check_metadata(metadata)
    check_export_dir(export_dir)
    version = _resolve_version(export_dir, version, overwrite)

    def write(temp_dir: str) -> dict:
        _build_archive(translators, int(size_multiple), min_size, channels).write_out(temp_dir, verbose=False)
        parity = (check_parity(translators, temp_dir, size_multiple=int(size_multiple), channels=channels,
                               min_size=min_size) if parity_check else None)
        signatures = {}
        for index, key in enumerate(translators):
            names = [key, SERVING_SIGNATURE] if index == 0 else [key]
            for name in names:
                signatures[name] = {"inputs": {"images": f"uint8 [batch, H, W, {channels}]"},
                                    "outputs": {"images": f"uint8 [batch, H, W, {channels}]"}}
            signatures[key + FLOAT_SUFFIX] = {
                "inputs": {"images": f"float32 [batch, H, W, {channels}] in [-1, 1]"},
                "outputs": {"images": f"float32 [batch, H, W, {channels}] in [-1, 1]"}}
        return {
            "kind": "translation",
            "size_multiple": int(size_multiple),
            "min_size": min_size,
            "channels": channels,
            "translators": list(translators),
            "compute_dtype": {key: _compute_dtype(model) for key, model in translators.items()},
            "signatures": signatures,
            "uint8_to_float": "images / 127.5 - 1",
            "uint8_mapping": "round_half_to_even(clip((images_float + 1) * 127.5, 0, 255))",
            "parity": parity,
        }

    return write_version(export_dir, version, overwrite, write, metadata)
