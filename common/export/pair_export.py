"""Export of a coupled (pair) generator, z -> (images_a, images_b), as a TF Serving SavedModel.

For models whose one latent vector gives a corresponding pair of images, one
per domain (CoGAN, Liu & Tuzel 2016, https://arxiv.org/abs/1606.07536). The
folder layout, the uint8 mapping, the latent draw of `sample`, the version
handling, the temporary folder renamed only after a parity check in a fresh
load, and `assets.extra/export_info.json` are exactly those of
`common.export.generator_export` (whose helpers this module imports):

    <export_dir>/<version>/saved_model.pb, variables/, assets.extra/export_info.json

Signatures (clients send float32 / int and receive uint8 / float32 whatever the
generator's compute dtype):

    serving_default(z: float32 [batch, latent_dim])
        -> images_a: uint8 [batch, H, W, C], images_b: uint8 [batch, H, W, C]
    sample(seed: int64 [], count: int32 [])
        -> images_a, images_b: uint8 [count, H, W, C], z: float32 [count, latent_dim]
    generate_pair_float(z: float32 [batch, latent_dim])
        -> images_a_float, images_b_float: float32 [batch, H, W, C] in [-1, 1]

Row i of images_a and row i of images_b come from the same z[i]. `images_*` is
`common.export.generator_export.images_to_uint8` of `images_*_float`; `sample` draws
`common.export.generator_export.sample_latents(seed, count, latent_dim)`. The generator runs with
`training=False` (batch normalisation uses its moving statistics).

No paper beyond the model's; follows the TF Serving SavedModel conventions.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from common.export.generator_export import (
    DEFAULT_MAX_SAMPLE_COUNT,
    DEFAULT_PARITY_ATOL,
    PARITY_COUNT,
    PARITY_SEED,
    SAMPLE_SIGNATURE,
    SERVING_SIGNATURE,
    ExportError,
    _compute_dtype,
    _resolve_version,
    check_export_dir,
    check_metadata,
    write_version,
    _uint8_mismatches,
    capture_variables_by_name,
    images_to_uint8,
    sample_latents,
)

__all__ = ["export_pair_generator", "check_pair_parity", "PAIR_FLOAT_SIGNATURE", "OUTPUT_NAMES"]

PAIR_FLOAT_SIGNATURE = "generate_pair_float"
OUTPUT_NAMES = ("images_a", "images_b")


def _infer_pair_shapes(generator: keras.Model, latent_dim: int | None) -> tuple[int, tuple, tuple]:
    """(latent_dim, shape of images_a, shape of images_b) without the batch axis, or an ExportError."""
    if tf.distribute.has_strategy():
        raise ExportError("Export and parity checks run outside a distribution strategy: call them after "
                          "leaving `with strategy.scope():`.")
    if not isinstance(generator, keras.Model):
        raise ExportError(f"generator must be a keras.Model, got {type(generator).__name__}.")
    input_shape = generator.input_shape
    if isinstance(input_shape, list) or len(input_shape) != 2:
        raise ExportError("export_pair_generator serves generators with one latent input [batch, latent_dim]; "
                          f"this generator's input_shape is {input_shape}.")
    if latent_dim is None:
        latent_dim = input_shape[1]
    elif input_shape[1] is not None and input_shape[1] != latent_dim:
        raise ExportError(f"latent_dim={latent_dim} does not match the generator's input shape {input_shape}: "
                          f"pass latent_dim={input_shape[1]} or leave it unset.")
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, np.integer)) or latent_dim < 1:
        raise ExportError(f"latent_dim must be a positive integer, got {latent_dim!r}.")
    latent_dim = int(latent_dim)
    outputs = generator(tf.zeros([1, latent_dim]), training=False)
    if not isinstance(outputs, (list, tuple)) or len(outputs) != 2 or any(len(o.shape) != 4 for o in outputs):
        raise ExportError("The generator must return a pair [images_a, images_b], each [batch, H, W, C]; it "
                          f"returned {type(outputs).__name__} for z of shape [1, {latent_dim}].")
    return latent_dim, tuple(int(d) for d in outputs[0].shape[1:]), tuple(int(d) for d in outputs[1].shape[1:])


def _build_archive(generator: keras.Model, latent_dim: int, max_sample_count: int):
    """ExportArchive holding the generator once and the three signatures."""

    @tf.function(input_signature=[tf.TensorSpec([None, latent_dim], tf.float32)], autograph=False)
    def generate_pair(z):
        wrong_latent = tf.debugging.assert_equal(
            tf.shape(z)[-1], latent_dim,
            message=(f"z must have shape [batch, {latent_dim}] (latent_dim={latent_dim}); "
                     "the last dimension of the z sent is shown below as x"))
        with tf.control_dependencies([wrong_latent]):
            z = tf.ensure_shape(z, [None, latent_dim])
        images_a, images_b = generator(z, training=False)
        return tf.cast(images_a, tf.float32), tf.cast(images_b, tf.float32)

    def serve(z):
        capture_variables_by_name(generate_pair, generator.variables)
        images_a, images_b = generate_pair(z)
        return {"images_a": images_to_uint8(images_a), "images_b": images_to_uint8(images_b)}

    def sample(seed, count):
        capture_variables_by_name(generate_pair, generator.variables)
        checks = [
            tf.debugging.assert_positive(count, message="count must be at least 1 (number of pairs to sample)"),
            tf.debugging.assert_less_equal(
                count, tf.constant(max_sample_count, tf.int32),
                message=(f"count must be at most {max_sample_count} per request; "
                         "send several requests with different seeds for more pairs")),
        ]
        with tf.control_dependencies(checks):
            z = sample_latents(seed, count, latent_dim)
        images_a, images_b = generate_pair(z)
        return {"images_a": images_to_uint8(images_a), "images_b": images_to_uint8(images_b), "z": z}

    def serve_float(z):
        capture_variables_by_name(generate_pair, generator.variables)
        images_a, images_b = generate_pair(z)
        return {"images_a_float": images_a, "images_b_float": images_b}

    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
    archive = keras.export.ExportArchive()
    archive.track(generator)
    archive.add_endpoint(SERVING_SIGNATURE, serve, input_signature=[z_spec])
    archive.add_endpoint(SAMPLE_SIGNATURE, sample, input_signature=[
        tf.TensorSpec([], tf.int64, name="seed"), tf.TensorSpec([], tf.int32, name="count")])
    archive.add_endpoint(PAIR_FLOAT_SIGNATURE, serve_float, input_signature=[z_spec])
    return archive


def check_pair_parity(generator: keras.Model, saved_model_dir: str, *, latent_dim: int | None = None,
                      seed: int = PARITY_SEED, count: int = PARITY_COUNT, atol: float | None = None) -> dict:
    """Compares an exported pair SavedModel (loaded afresh) with the in-process generator.

    For `count` latents `sample_latents(seed, count)`: (1) `generate_pair_float`
    matches `generator(z, training=False)` within `atol` for both domains;
    (2) `serving_default` and (3) `sample` return uint8 images that a float
    difference of at most `atol` explains (the check of `common.export.generator_export.check_parity`),
    and `sample` returns exactly those latents as `z`.

    Returns:
      The measured differences per signature and domain.

    Raises:
      ExportError: naming every check that failed.
    """
    latent_dim, _, _ = _infer_pair_shapes(generator, latent_dim)
    compute_dtype = _compute_dtype(generator)
    atol = DEFAULT_PARITY_ATOL.get(compute_dtype, 1e-5) if atol is None else atol
    if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
        raise ExportError(f"No saved_model.pb in {saved_model_dir}: pass a version folder such as <export_dir>/1.")
    loaded = tf.saved_model.load(saved_model_dir)
    missing = {SERVING_SIGNATURE, SAMPLE_SIGNATURE, PAIR_FLOAT_SIGNATURE} - set(loaded.signatures.keys())
    if missing:
        raise ExportError(f"{saved_model_dir} has no signature(s) {sorted(missing)}; it was not written by "
                          "common.export.pair_export.export_pair_generator. Export it again.")
    z = sample_latents(seed, count, latent_dim)
    references = [tf.cast(images, tf.float32).numpy() for images in generator(z, training=False)]
    report: dict[str, Any] = {"atol": atol, "compute_dtype": compute_dtype, "seed": seed, "count": count}
    failures = []
    served_float = loaded.signatures[PAIR_FLOAT_SIGNATURE](z=z)
    served = loaded.signatures[SERVING_SIGNATURE](z=z)
    sampled = loaded.signatures[SAMPLE_SIGNATURE](seed=tf.constant(seed, tf.int64), count=tf.constant(count, tf.int32))
    for name, reference in zip(OUTPUT_NAMES, references):
        float_images = served_float[f"{name}_float"].numpy()
        max_abs_diff = (float(np.max(np.abs(float_images - reference)))
                        if float_images.shape == reference.shape else float("inf"))
        entry = {
            "max_abs_diff": max_abs_diff,
            "serving_uint8_mismatches": _uint8_mismatches(served[name].numpy(), reference, atol),
            "sample_uint8_mismatches": _uint8_mismatches(sampled[name].numpy(), reference, atol),
            "pixels": int(reference.size),
        }
        report[name] = entry
        if not max_abs_diff <= atol:
            failures.append(f"'{PAIR_FLOAT_SIGNATURE}' {name}_float max |diff| = {max_abs_diff:.3g} "
                            f"(tolerance {atol:g})")
        for signature, key in ((SERVING_SIGNATURE, "serving_uint8_mismatches"),
                               (SAMPLE_SIGNATURE, "sample_uint8_mismatches")):
            if entry[key]:
                failures.append(f"'{signature}' {name}: {entry[key]} of {entry['pixels']} uint8 values differ "
                                f"beyond float tolerance {atol:g}")
    report["z_max_abs_diff"] = float(np.max(np.abs(sampled["z"].numpy() - z.numpy())))
    if report["z_max_abs_diff"] != 0.0:
        failures.append(f"'sample' z differs from sample_latents(seed={seed}, count={count}) by max |diff| = "
                        f"{report['z_max_abs_diff']:.3g} (must be identical)")
    if failures:
        raise ExportError(
            f"Parity check failed for {saved_model_dir} ({count} latents, seed {seed}, compute dtype "
            f"{compute_dtype}): " + "; ".join(failures) + ". The SavedModel does not reproduce the in-process "
            "generator.")
    return report


def export_pair_generator(generator: keras.Model, export_dir: str, *, latent_dim: int | None = None,
                          version: int | None = None, overwrite: bool = False, parity_check: bool = True,
                          metadata: dict | None = None, max_sample_count: int = DEFAULT_MAX_SAMPLE_COUNT) -> str:
    """Writes a pair generator as version `version` of a TF Serving model folder.

    Args:
      generator: keras.Model z [batch, latent_dim] -> [images_a, images_b], each
        [batch, H, W, C] in [-1, 1]; called with `training=False`.
      export_dir: the model folder TF Serving is pointed at (created if absent).
      latent_dim: default: `generator.input_shape[-1]`.
      version: default: one more than the largest numeric subfolder, from 1.
      overwrite: replace an existing version folder.
      parity_check: load the written SavedModel and compare it with the generator
        (`check_pair_parity`) before it becomes visible.
      metadata: JSON-serializable dict stored under "metadata" in export_info.json.
      max_sample_count: the largest `count` the `sample` signature accepts.

    Returns:
      The path of the written version folder.

    Raises:
      ExportError: invalid arguments, an existing version without overwrite, or a
        failed parity check (nothing is left behind then).
    """
    check_metadata(metadata)
    if (isinstance(max_sample_count, bool) or not isinstance(max_sample_count, (int, np.integer))
            or max_sample_count < 1):
        raise ExportError(f"max_sample_count must be a positive integer, got {max_sample_count!r}.")
    check_export_dir(export_dir)
    version = _resolve_version(export_dir, version, overwrite)
    latent_dim, shape_a, shape_b = _infer_pair_shapes(generator, latent_dim)

    def write(temp_dir: str) -> dict:
        archive = _build_archive(generator, latent_dim, int(max_sample_count))
        archive.write_out(temp_dir, verbose=False)
        parity = check_pair_parity(generator, temp_dir, latent_dim=latent_dim) if parity_check else None
        batch_image = "uint8 [batch, H, W, C]"
        return {
            "latent_dim": latent_dim,
            "image_shape_a": list(shape_a),
            "image_shape_b": list(shape_b),
            "compute_dtype": _compute_dtype(generator),
            "generator_name": generator.name,
            "signatures": {
                SERVING_SIGNATURE: {"inputs": {"z": f"float32 [batch, {latent_dim}]"},
                                    "outputs": {"images_a": batch_image, "images_b": batch_image}},
                SAMPLE_SIGNATURE: {
                    "inputs": {"seed": "int64 []", "count": f"int32 [], 1..{int(max_sample_count)}"},
                    "outputs": {"images_a": "uint8 [count, H, W, C]", "images_b": "uint8 [count, H, W, C]",
                                "z": f"float32 [count, {latent_dim}]"}},
                PAIR_FLOAT_SIGNATURE: {
                    "inputs": {"z": f"float32 [batch, {latent_dim}]"},
                    "outputs": {"images_a_float": "float32 [batch, H, W, C] in [-1, 1]",
                                "images_b_float": "float32 [batch, H, W, C] in [-1, 1]"}},
            },
            "pairing": "row i of images_a and of images_b come from the same z[i]",
            "uint8_mapping": "round_half_to_even(clip((images_float + 1) * 127.5, 0, 255))",
            "sample_latents": "tf.random.stateless_normal([count, latent_dim], seed=[seed, 0], alg='philox')",
            "max_sample_count": int(max_sample_count),
            "parity": parity,
        }

    return write_version(export_dir, version, overwrite, write, metadata)
