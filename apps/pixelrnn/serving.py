"""The PixelRNN / PixelCNN SavedModel for TF Serving: its signatures and the parity check before publishing.

`export_pixelrnn` is what `python -m apps.pixelrnn.export` runs (`apps.pixelrnn.export`, which
holds the command's flags); it is a module of its own so that code and tests can export without
declaring the command's flags.

`python -m apps.pixelrnn.export --model_dir=runs/pixelrnn --export_dir=exports/pixelrnn`
writes the network of the run's newest checkpoint (its moving average when the
run kept one, unless --noema) as the next version folder of `exports/pixelrnn`,
TF Serving's layout, with the checks of `common.export.generator_export`: the
SavedModel is written hidden, loaded back, checked against the in-process
model (`check_parity`), and only then renamed to its version number.

Signatures (N = count, D = H * W * C):

    serving_default(seed: int64 [], count: int32 [])
        -> images: uint8 [N, H, W, C], z: float32 [N, D]          (same as `sample`)
    sample(seed, count) -> images, z
    generate(z: float32 [N, D] in [0, 1)) -> images: uint8 [N, H, W, C]
    log_prob(images: uint8 [B, H, W, C]) -> nll_nats: float32 [B], bits_per_dim: float32 [B]

`sample` draws z = `generator_export.sample_latents(seed, count, D, "uniform")`
(Philox, seed [seed, 0]) and runs the model's compiled sampling loop
(`apps.pixelrnn.model.PixelRNN.sample_graph`: D network passes, one sub-pixel
each, by inverse CDF), so the same seed gives the same images on every CPU
server of the same TensorFlow release. `log_prob` is the exact negative
log-likelihood of uint8 images (binarised at 128 for a Bernoulli model) in nats
per image and in bits per dimension. A request may ask for at most
`MAX_SAMPLE_COUNT` images: sampling costs D network passes.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from common.export import generator_export as export_lib

__all__ = ["export_pixelrnn", "check_parity", "MAX_SAMPLE_COUNT", "PARITY_SEED"]

MAX_SAMPLE_COUNT = 64
PARITY_SEED = 5
PARITY_COUNT = 2



def _uint8_to_float(images):
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def _build_archive(model, network, max_sample_count: int):
    height, width, channels = model.image_shape
    dims = model.dims

    @tf.function(input_signature=[tf.TensorSpec([None, dims], tf.float32)], autograph=False)
    def generate_fn(z):
        return model.sample_graph(tf.ensure_shape(z, [None, dims]), network)

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8)], autograph=False)
    def nll_fn(images):
        return model.negative_log_likelihood(_uint8_to_float(images), training=False, network=network)

    variables = network.variables

    def sample(seed, count):
        export_lib.capture_variables_by_name(generate_fn, variables)
        checks = export_lib._count_checks(
            count, max_sample_count, "count must be at least 1 (number of images to sample)",
            f"count must be at most {max_sample_count} per request (sampling costs one network pass per "
            "sub-pixel); send several requests with different seeds")
        with tf.control_dependencies(checks):
            z = export_lib.sample_latents(seed, count, dims, "uniform")
        return {"images": export_lib.images_to_uint8(generate_fn(z)), "z": z}

    def generate(z):
        export_lib.capture_variables_by_name(generate_fn, variables)
        return {"images": export_lib.images_to_uint8(generate_fn(z))}

    def log_prob(images):
        export_lib.capture_variables_by_name(nll_fn, variables)
        nll = nll_fn(images)
        return {"nll_nats": nll, "bits_per_dim": nll / (dims * math.log(2.0))}

    archive = keras.export.ExportArchive()
    archive.track(network)
    sample_inputs = [tf.TensorSpec([], tf.int64, name="seed"), tf.TensorSpec([], tf.int32, name="count")]
    endpoints = [
        (export_lib.SERVING_SIGNATURE, sample, sample_inputs),
        (export_lib.SAMPLE_SIGNATURE, sample, sample_inputs),
        ("generate", generate, [tf.TensorSpec([None, dims], tf.float32, name="z")]),
        ("log_prob", log_prob, [tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")]),
    ]
    for name, function, input_signature in endpoints:
        archive.add_endpoint(name, function, input_signature=input_signature)
    return archive


def parity_images(model, count: int = PARITY_COUNT, seed: int = PARITY_SEED) -> np.ndarray:
    """uint8 test images for `log_prob`'s parity check: seeded uniform values (binary for a Bernoulli model)."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, (count,) + tuple(model.image_shape))
    return np.where(values > 127, 255, 0).astype(np.uint8) if model.bernoulli else values.astype(np.uint8)


def check_parity(model, network, saved_model_dir: str, atol: float | None = None) -> dict:
    """The SavedModel at ``saved_model_dir`` against ``model`` with ``network`` in this process.

    - ``log_prob``: bits per dimension within ``3 * atol`` of the in-process values
      (``atol``, default `generator_export.DEFAULT_PARITY_ATOL` of the compute
      dtype, bounds the logits' difference d; a cross-entropy moves by at most
      2d, so their mean per dimension too, and bits are nats / ln 2).
    - ``sample``: z equals `sample_latents(seed, count, D, "uniform")`; the served
      images, redrawn by the in-process network from their own prefixes with
      that z (`PixelRNN.redraw`, one pass), are unchanged wherever the draw's
      CDF margin exceeds 2 * atol (the most a CDF moves when the logits move by
      d), so a sub-pixel may differ only where float rounding can decide it;
      sampling twice with the same seed gives the same images.
    - ``generate(z)`` returns `sample`'s images for `sample`'s z.

    Returns what was measured per signature; raises `ExportError` on a mismatch.
    """
    compute_dtype = export_lib._compute_dtype(network)
    atol = export_lib.DEFAULT_PARITY_ATOL.get(compute_dtype, 1e-5) if atol is None else atol
    loaded = tf.saved_model.load(saved_model_dir)
    failures, report = [], {"atol": atol, "compute_dtype": compute_dtype, "seed": PARITY_SEED,
                            "count": PARITY_COUNT}

    images = parity_images(model)
    served = loaded.signatures["log_prob"](images=tf.constant(images))
    expected = model.negative_log_likelihood(_uint8_to_float(images), training=False, network=network).numpy()
    expected_bits = expected / (model.dims * math.log(2.0))
    difference = float(np.max(np.abs(served["bits_per_dim"].numpy() - expected_bits)))
    report["log_prob"] = {"max_bits_per_dim_difference": difference}
    if not difference <= 3 * atol:
        failures.append(f"log_prob: bits/dim differ by {difference:.3g} > {3 * atol:.3g}")

    seed, count = tf.constant(PARITY_SEED, tf.int64), tf.constant(PARITY_COUNT, tf.int32)
    first = loaded.signatures[export_lib.SAMPLE_SIGNATURE](seed=seed, count=count)
    second = loaded.signatures[export_lib.SERVING_SIGNATURE](seed=seed, count=count)
    z = export_lib.sample_latents(seed, count, model.dims, "uniform").numpy()
    samples = first["images"].numpy()
    if not np.array_equal(first["z"].numpy(), z):
        failures.append("sample: z is not sample_latents(seed, count, D, 'uniform')")
    if not np.array_equal(samples, second["images"].numpy()):
        failures.append("sample: the same seed gave different images")
    generated = loaded.signatures["generate"](z=tf.constant(z))["images"].numpy()
    if not np.array_equal(generated, samples):
        failures.append("generate: images differ from sample's for the same z")
    redrawn, margins = model.redraw(_uint8_to_float(samples), z, network=network)
    redrawn = export_lib.images_to_uint8(redrawn).numpy()
    changed = redrawn != samples
    unexplained = int(np.sum(changed & (margins.numpy() > 2 * atol)))
    report["sample"] = {"redrawn_differences": int(changed.sum()), "beyond_rounding": unexplained}
    if unexplained:
        failures.append(f"sample: {unexplained} sub-pixels are not what the model draws from their prefixes")
    if failures:
        raise export_lib.ExportError(f"Parity check failed for {saved_model_dir} (compute dtype {compute_dtype}): "
                                     + "; ".join(failures) + ". The SavedModel does not reproduce the model.")
    return report


def export_pixelrnn(model, export_dir: str, *, use_ema: bool = True, version: int | None = None,
                    overwrite: bool = False, metadata: dict | None = None,
                    max_sample_count: int = MAX_SAMPLE_COUNT) -> str:
    """Writes ``model``'s inference network (the moving average when ``use_ema`` and the run kept one) as a
    version of the TF Serving model folder ``export_dir``, after `check_parity`; returns the version folder."""
    export_lib.check_metadata(metadata)
    export_lib.check_export_dir(export_dir)
    version = export_lib._resolve_version(export_dir, version, overwrite)
    network = model.inference_network if use_ema else model.network
    config = model.config

    def write(temp_dir: str) -> dict:
        _build_archive(model, network, max_sample_count).write_out(temp_dir, verbose=False)
        parity = check_parity(model, network, temp_dir)
        return {
            "model": config.model,
            "output": config.output,
            "image_shape": list(model.image_shape),
            "latent_dim": model.dims,
            "latent_distribution": "uniform",
            "compute_dtype": export_lib._compute_dtype(network),
            "sample_latents": "tf.random.stateless_uniform([count, H*W*C], seed=[seed, 0], alg='philox')",
            "sampling": "inverse CDF per sub-pixel in raster order (rows, columns, then R, G, B)",
            "uint8_mapping": "round_half_to_even(clip((images_float + 1) * 127.5, 0, 255))",
            "max_sample_count": max_sample_count,
            "signatures": sorted(["serving_default", "sample", "generate", "log_prob"]),
            "parity": parity,
        }

    return export_lib.write_version(export_dir, version, overwrite, write, metadata)
