"""Export a trained StyleGAN generator for TF Serving, with its mapping, synthesis and style-mixing signatures.

`python -m apps.stylegan.export --model_dir=runs/stylegan --export_dir=exports/stylegan`
writes the generator of the run's newest checkpoint (its moving average unless
--noema), at the phase and alpha of that step and upsampled to the run's image
size, as the next version folder of `exports/stylegan` (TF Serving's layout and
the checks of `common.export.generator_export`: the SavedModel is written
hidden, loaded back, compared signature by signature with the in-process
generator, and only then renamed to its version number).

Signatures (B = batch, L = the generator's style layers, D = dlatent_dim):

    serving_default(z: float32 [B, latent_dim], truncation_psi: float32 [])
        -> images: uint8 [B, H, W, C]
    generate_float(z, truncation_psi) -> images_float: float32 [B, H, W, C] in [-1, 1]
    sample(seed: int64 [], count: int32 [], truncation_psi: float32 [])
        -> images: uint8 [count, H, W, C], z: float32 [count, latent_dim]
    mapping(z: float32 [B, latent_dim]) -> w: float32 [B, D]               (untruncated)
    synthesis(dlatents: float32 [B, L, D]) -> images: uint8, images_float: float32
    style_mix(seeds_a: int64 [N], seeds_b: int64 [N], crossover_layer: int32 [], truncation_psi: float32 [])
        -> images: uint8 [N, H, W, C]

Truncation is StyleGAN's, in W (`common.nn.style_layers.DlatentAverage`):
layers below the config's ``truncation_cutoff`` (8) move towards the tracked
mean of w by 1 - psi; psi = 1 is none, psi = 0 the mean image. `sample` draws z
as `common.export.generator_export.sample_latents` (philox, seed [seed, 0]);
seed s of `style_mix` is the z of ``sample(seed=s, count=1)``. `style_mix`
renders image i with the dlatents of seeds_a[i] on layers < crossover_layer
and those of seeds_b[i] on the others (the paper's Figure 3: crossover 4
copies coarse styles of A, 4-8 middle, 8 and up fine). Every signature renders
with the generator's stored noise images (``noise_mode="const"``), so an image
is a pure function of its inputs.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from absl import app

from apps.stylegan.config import StyleGANConfig
from apps.stylegan.model import build_model
from common.export import export_command
from common.export import generator_export as export_lib
from common.nn import style_layers as sl

__all__ = ["export_stylegan", "check_parity", "PARITY_SEEDS"]

PARITY_SEEDS = (3, 11)
PARITY_PSI = 0.7

export_command.define_export_flags()


def _seed_latents(seeds, latent_dim: int):
    """z [N, latent_dim]: row i is ``sample_latents(seeds[i], 1, latent_dim)[0]``."""
    return tf.map_fn(lambda seed: export_lib.sample_latents(seed, 1, latent_dim)[0], seeds,
                     fn_output_signature=tf.TensorSpec([latent_dim], tf.float32))


def _build_archive(generator, max_sample_count: int):
    config = generator.config
    latent_dim, dlatent_dim, num_layers = config.latent_dim, config.dlatent_dim, generator.num_layers
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32)
    psi_spec = tf.TensorSpec([], tf.float32)

    def checked(z):
        check = tf.debugging.assert_equal(tf.shape(z)[-1], latent_dim,
                                          message=f"z must have shape [batch, {latent_dim}]")
        with tf.control_dependencies([check]):
            return tf.ensure_shape(z, [None, latent_dim])

    @tf.function(input_signature=[z_spec, psi_spec], autograph=False)
    def generate_float(z, psi):
        return tf.cast(generator.generate(checked(z), psi, noise_mode="const"), tf.float32)

    @tf.function(input_signature=[z_spec], autograph=False)
    def mapping_fn(z):
        return tf.cast(generator.mapping(checked(z)), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, num_layers, dlatent_dim], tf.float32)], autograph=False)
    def synthesis_fn(dlatents):
        dlatents = tf.ensure_shape(dlatents, [None, num_layers, dlatent_dim])
        return tf.cast(generator.render(dlatents, noise_mode="const"), tf.float32)

    seeds_spec = tf.TensorSpec([None], tf.int64)

    @tf.function(input_signature=[seeds_spec, seeds_spec, tf.TensorSpec([], tf.int32), psi_spec], autograph=False)
    def style_mix_fn(seeds_a, seeds_b, crossover, psi):
        same = tf.debugging.assert_equal(tf.shape(seeds_a), tf.shape(seeds_b),
                                         message="seeds_a and seeds_b must have the same length (one image per pair)")
        with tf.control_dependencies([same]):
            z_a = _seed_latents(seeds_a, latent_dim)
        dlatents_a = generator.truncate(generator.dlatents(z_a), psi)
        dlatents_b = generator.truncate(generator.dlatents(_seed_latents(seeds_b, latent_dim)), psi)
        mixed = sl.mix_dlatents(dlatents_a, dlatents_b, crossover)
        return tf.cast(generator.render(mixed, noise_mode="const"), tf.float32)

    variables = generator.variables

    def serving(z, truncation_psi):
        export_lib.capture_variables_by_name(generate_float, variables)
        return {"images": export_lib.images_to_uint8(generate_float(z, truncation_psi))}

    def floats(z, truncation_psi):
        export_lib.capture_variables_by_name(generate_float, variables)
        return {"images_float": generate_float(z, truncation_psi)}

    def sample(seed, count, truncation_psi):
        export_lib.capture_variables_by_name(generate_float, variables)
        checks = export_lib._count_checks(
            count, max_sample_count, "count must be at least 1 (number of images to sample)",
            f"count must be at most {max_sample_count} per request; send several requests with different seeds")
        with tf.control_dependencies(checks):
            z = export_lib.sample_latents(seed, count, latent_dim)
        return {"images": export_lib.images_to_uint8(generate_float(z, truncation_psi)), "z": z}

    def mapping(z):
        export_lib.capture_variables_by_name(mapping_fn, variables)
        return {"w": mapping_fn(z)}

    def synthesis(dlatents):
        export_lib.capture_variables_by_name(synthesis_fn, variables)
        images = synthesis_fn(dlatents)
        return {"images": export_lib.images_to_uint8(images), "images_float": images}

    def style_mix(seeds_a, seeds_b, crossover_layer, truncation_psi):
        export_lib.capture_variables_by_name(style_mix_fn, variables)
        return {"images": export_lib.images_to_uint8(style_mix_fn(seeds_a, seeds_b, crossover_layer,
                                                                  truncation_psi))}

    archive = keras.export.ExportArchive()
    archive.track(generator)
    z_input = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
    psi_input = tf.TensorSpec([], tf.float32, name="truncation_psi")
    endpoints = [
        (export_lib.SERVING_SIGNATURE, serving, [z_input, psi_input]),
        (export_lib.FLOAT_SIGNATURE, floats, [z_input, psi_input]),
        (export_lib.SAMPLE_SIGNATURE, sample, [tf.TensorSpec([], tf.int64, name="seed"),
                                               tf.TensorSpec([], tf.int32, name="count"), psi_input]),
        ("mapping", mapping, [z_input]),
        ("synthesis", synthesis, [tf.TensorSpec([None, num_layers, dlatent_dim], tf.float32, name="dlatents")]),
        ("style_mix", style_mix, [tf.TensorSpec([None], tf.int64, name="seeds_a"),
                                  tf.TensorSpec([None], tf.int64, name="seeds_b"),
                                  tf.TensorSpec([], tf.int32, name="crossover_layer"), psi_input]),
    ]
    for name, function, input_signature in endpoints:
        archive.add_endpoint(name, function, input_signature=input_signature)
    traced = {"generate_float": generate_float, "mapping": mapping_fn, "synthesis": synthesis_fn,
              "style_mix": style_mix_fn}
    return archive, traced


def check_parity(generator, saved_model_dir: str, traced: dict, atol: float | None = None) -> dict:
    """Every signature of the SavedModel at ``saved_model_dir`` against the same functions run in this process.

    ``traced`` holds the graph functions the signatures wrap (`_build_archive`), called here on the
    generator's live variables: the served graph must reproduce them, within ``atol`` (default:
    `generator_export.DEFAULT_PARITY_ATOL` of the compute dtype) for floats and one level for uint8.
    They are compared as graphs, not with eager calls, because StyleGAN's first instance norms divide by
    the spread of nearly constant maps early in training (the constant input with noise scales near 0),
    which magnifies the last-bit differences between an eager and a graph run of the same weights.
    `sample` is checked against `generate_float` of its z (so its latents are `sample_latents`'), and
    `style_mix` against `style_mix` of the same seeds. Returns the largest difference per signature;
    raises `ExportError` on a mismatch.
    """
    compute_dtype = export_lib._compute_dtype(generator)
    atol = export_lib.DEFAULT_PARITY_ATOL.get(compute_dtype, 1e-5) if atol is None else atol
    loaded = tf.saved_model.load(saved_model_dir)
    config = generator.config
    seed_a, seed_b = PARITY_SEEDS
    count = 3
    z = export_lib.sample_latents(seed_a, count, config.latent_dim)
    psi = tf.constant(PARITY_PSI, tf.float32)
    expected_images = traced["generate_float"](z, psi).numpy()
    dlatents = tf.repeat(traced["mapping"](z)[:, None], generator.num_layers, axis=1)
    seeds_a = tf.constant([seed_a, seed_b], tf.int64)
    seeds_b = tf.constant([seed_b, seed_a], tf.int64)
    crossover = tf.constant(4, tf.int32)
    comparisons = {
        "generate_float": (loaded.signatures[export_lib.FLOAT_SIGNATURE](z=z, truncation_psi=psi)["images_float"],
                           expected_images),
        "sample": (loaded.signatures[export_lib.SAMPLE_SIGNATURE](
            seed=tf.constant(seed_a, tf.int64), count=tf.constant(count, tf.int32),
            truncation_psi=psi)["images"], expected_images),
        "serving_default": (loaded.signatures[export_lib.SERVING_SIGNATURE](z=z, truncation_psi=psi)["images"],
                            expected_images),
        "mapping": (loaded.signatures["mapping"](z=z)["w"], traced["mapping"](z).numpy()),
        "synthesis": (loaded.signatures["synthesis"](dlatents=dlatents)["images_float"],
                      traced["synthesis"](dlatents).numpy()),
        "style_mix": (loaded.signatures["style_mix"](seeds_a=seeds_a, seeds_b=seeds_b, crossover_layer=crossover,
                                                     truncation_psi=psi)["images"],
                      traced["style_mix"](seeds_a, seeds_b, crossover, psi).numpy()),
    }
    report = {"atol": atol, "compute_dtype": compute_dtype, "seeds": list(PARITY_SEEDS), "psi": PARITY_PSI}
    failures = []
    for name, (served, expected) in comparisons.items():
        served = np.asarray(served)
        if served.dtype == np.uint8:
            reference = export_lib.images_to_uint8(tf.constant(expected, tf.float32)).numpy()
            difference = int(np.max(np.abs(served.astype(np.int32) - reference.astype(np.int32))))
            report[name] = {"max_uint8_difference": difference}
            if difference > 1:
                failures.append(f"{name}: uint8 images differ by up to {difference} levels")
        else:
            difference = float(np.max(np.abs(served - expected)))
            report[name] = {"max_abs_difference": difference}
            if not difference <= atol:
                failures.append(f"{name}: max |difference| {difference:.3g} > {atol:.3g}")
    if failures:
        raise export_lib.ExportError(f"Parity check failed for {saved_model_dir} (compute dtype {compute_dtype}): "
                                     + "; ".join(failures) + ". The SavedModel does not reproduce the generator.")
    return report


def export_stylegan(generator, export_dir: str, *, version: int | None = None, overwrite: bool = False,
                    metadata: dict | None = None, max_sample_count: int = export_lib.DEFAULT_MAX_SAMPLE_COUNT) -> str:
    """Writes ``generator`` (`apps.stylegan.networks.StyleGenerator`, at its phase and alpha) as a version of the
    TF Serving model folder ``export_dir``, after `check_parity`; returns the version folder."""
    export_lib.check_metadata(metadata)
    export_lib.check_export_dir(export_dir)
    version = export_lib._resolve_version(export_dir, version, overwrite)
    config = generator.config

    def write(temp_dir: str) -> dict:
        archive, traced = _build_archive(generator, max_sample_count)
        archive.write_out(temp_dir, verbose=False)
        parity = check_parity(generator, temp_dir, traced)
        return {
            "latent_dim": config.latent_dim,
            "dlatent_dim": config.dlatent_dim,
            "num_layers": generator.num_layers,
            "image_shape": [config.image_size, config.image_size, config.channels],
            "resolution_rendered": generator.resolution,
            "alpha": float(generator.alpha.numpy()),
            "truncation_cutoff": config.truncation_cutoff,
            "compute_dtype": export_lib._compute_dtype(generator),
            "noise": "the generator's stored noise images (noise_mode='const')",
            "uint8_mapping": "round_half_to_even(clip((images_float + 1) * 127.5, 0, 255))",
            "sample_latents": "tf.random.stateless_normal([count, latent_dim], seed=[seed, 0], alg='philox')",
            "max_sample_count": max_sample_count,
            "signatures": sorted(["serving_default", "generate_float", "sample", "mapping", "synthesis",
                                  "style_mix"]),
            "parity": parity,
        }

    return export_lib.write_version(export_dir, version, overwrite, write, metadata)


def main(argv):
    export_command.main(argv, app_name="stylegan", config_class=StyleGANConfig, build_model=build_model,
                        export_fn=export_stylegan)


if __name__ == "__main__":
    app.run(main)
