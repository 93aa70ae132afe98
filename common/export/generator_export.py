"""Export of a trained generator as a SavedModel that TensorFlow Serving loads.

The written folder follows TF Serving's model layout: one numeric folder per
version, each a complete SavedModel,

    <export_dir>/<version>/saved_model.pb
    <export_dir>/<version>/variables/
    <export_dir>/<version>/assets.extra/export_info.json

and needs neither Keras nor this repository to load: `tf.saved_model.load` in a
process that imports only TensorFlow, `saved_model_cli` and TF Serving all read
it. TF Serving ignores `assets.extra/`, which holds the export's metadata.

Signatures (inputs and outputs float32 / int / uint8 whatever the generator's
compute dtype). An unconditional generator (one input, z) gets

    serving_default(z: float32 [batch, latent_dim]) -> images: uint8 [batch, H, W, C]
    sample(seed: int64 [], count: int32 [])
        -> images: uint8 [count, H, W, C], z: float32 [count, latent_dim]
    generate_float(z: float32 [batch, latent_dim]) -> images_float: float32 [batch, H, W, C]

and a class-conditional generator (a functional model with two inputs in this
order, z float32 [batch, latent_dim] and labels int32 [batch] of class ids in
[0, num_classes), called as `generator([z, labels], training=False)`) gets

    serving_default(z: float32 [batch, latent_dim], labels: int32 [batch])
        -> images: uint8 [batch, H, W, C]
    sample(labels: int32 [count], seed: int64 [])
        -> images: uint8 [count, H, W, C], z: float32 [count, latent_dim]
    generate_float(z: float32 [batch, latent_dim], labels: int32 [batch])
        -> images_float: float32 [batch, H, W, C]

A class-conditional generator exported with ``truncation=True`` (BigGAN's
truncation trick, `common.nn.truncation`) takes one more input in each of the
three signatures, ``truncation: float32 []``, the threshold psi: with psi > 0
every component of z outside [-psi, psi] is redrawn from N(0, 1) until it is
inside (`truncate_latents`; `serving_default` and `generate_float` redraw from
the fixed stateless seed ``TRUNCATION_REDRAW_SEED``, `sample` from its request's
``[seed, 0]``, and returns the truncated z); psi <= 0 turns it off: the z sent is
used as it is, and `sample` draws plain N(0, I).

The number of classes K is given by the caller (`num_classes=K`), never
inferred from the network. The labelled signatures check their labels before
the generator sees them: a label outside [0, K) fails the request with an
InvalidArgumentError naming K and the allowed range (an embedding lookup
would otherwise fail with a less clear message on CPU, and silently return
zeros on GPU), and so does a labels batch whose length differs from z's.

`images_float` is the generator's raw output (tanh range [-1, 1]); `images`
is `images_to_uint8(images_float)`:
`round_half_to_even(clip((x + 1) * 127.5, 0, 255))`, so -1 -> 0, 0 -> 128, 1 -> 255.
The float output has a signature of its own because TF Serving's REST API
returns every output of a signature: keeping it out of `serving_default`
keeps a JSON response several times smaller (gRPC clients can
also use `output_filter`).
`sample` draws `z = sample_latents(seed, count, latent_dim)`, i.e.
`tf.random.stateless_normal([count, latent_dim], seed=[seed, 0], alg="philox")`:
a pure function of (seed, count), with no state on the server. The labelled
`sample` draws one image per label sent (count is the length of `labels`); its
z depends on the seed and that count only, so one seed with different labels
renders the same latents as different classes.

The generator runs in inference mode (`training=False`: batch normalization
uses its moving statistics). A generator built under a mixed-precision policy
computes in its own compute dtype inside the SavedModel; the signatures cast at
the boundary, so clients always send float32 and receive float32 / uint8.

Every export is checked before it becomes visible: the SavedModel is written to
a hidden temporary folder beside the version folders, loaded back, and its
signatures are compared with the in-process generator (`check_parity`). Only
then is the folder renamed to its version number, so an interrupted or failed
export never leaves a folder that TF Serving would pick up.

Implementation: `keras.export.ExportArchive` (the Keras 3 SavedModel writer,
which tracks every Keras variable of the generator and supports several
endpoints), with each endpoint a plain TensorFlow function of tensors whose
captured variables are named after the variables (`capture_variables_by_name`).

Follows the TF Serving SavedModel conventions
(https://www.tensorflow.org/tfx/serving/serving_basic); no paper.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import uuid
from typing import Any, Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from common.nn import truncation as truncation_lib

EXPORT_INFO_NAME = "export_info.json"
EXPORT_FORMAT_VERSION = 1
DEFAULT_MAX_SAMPLE_COUNT = 1024
SERVING_SIGNATURE = "serving_default"
SAMPLE_SIGNATURE = "sample"
FLOAT_SIGNATURE = "generate_float"
PARITY_SEED = 20261123
PARITY_COUNT = 4
PARITY_TRUNCATION = 0.5  # the psi the parity check also compares, for an export with a truncation input
TRUNCATION_REDRAW_SEED = (0, 0)  # stateless seed of the redraws when a signature truncates a z sent to it

# Largest |difference| between the exported and the in-process float images
# that parity accepts, per compute dtype of the generator. Graph-mode kernels
# (fusions, a different summation order) change the last bits only; in 16-bit
# compute the spacing of numbers near 1 is 2**-7 (bfloat16) or 2**-10
# (float16), and the tolerances allow about four such steps.
DEFAULT_PARITY_ATOL = {"float32": 1e-5, "float64": 1e-5, "bfloat16": 3e-2, "float16": 4e-3}

_TEMP_PREFIX = ".tmp-export-"
_OLD_PREFIX = ".old-export-"


class ExportError(ValueError):
    """An export was refused or failed its checks; the message says why and what to do."""


def images_to_uint8(images: tf.Tensor) -> tf.Tensor:
    """Maps generator images in [-1, 1] to uint8 pixels in [0, 255].

    `round_half_to_even(clip((x + 1) * 127.5, 0, 255))`: -1 -> 0, 0 -> 128
    (127.5 rounds to the even 128), 1 -> 255; values outside [-1, 1] clip.

    Args:
      images: float tensor of any shape, expected in [-1, 1].

    Returns:
      uint8 tensor of the same shape.
    """
    scaled = (tf.cast(images, tf.float32) + 1.0) * 127.5
    return tf.cast(tf.round(tf.clip_by_value(scaled, 0.0, 255.0)), tf.uint8)


LATENT_DISTRIBUTIONS = ("normal", "uniform")


def sample_latents(seed, count, latent_dim: int, distribution: str = "normal") -> tf.Tensor:
    """The latents the `sample` signature draws: float32 [count, latent_dim].

    `tf.random.stateless_normal([count, latent_dim], seed=[seed, 0], alg="philox")`,
    or with ``distribution="uniform"`` (a generator trained on z ~ U[0, 1), such as
    the CGAN paper's) `tf.random.stateless_uniform` with the same shape, seed and
    algorithm. The Philox algorithm is named explicitly (not "auto_select", which may pick
    another algorithm on other devices), so the same (seed, count) gives the
    same latents in training code, in every export and on every CPU server
    running the same TensorFlow release (other devices may differ in the last
    bit of the float transform); the first rows do not depend on `count`.

    Args:
      seed: int64 scalar (Python int or tensor).
      count: int32 scalar, number of latents.
      latent_dim: length of one latent vector.
      distribution: "normal" (N(0, I)) or "uniform" (U[0, 1)), the generator's prior.
    """
    if distribution not in LATENT_DISTRIBUTIONS:
        raise ExportError(f"latent_distribution must be one of {', '.join(LATENT_DISTRIBUTIONS)} (the prior the "
                          f"generator was trained with); got {distribution!r}.")
    seed = tf.cast(seed, tf.int64)
    count = tf.cast(count, tf.int32)
    draw = tf.random.stateless_uniform if distribution == "uniform" else tf.random.stateless_normal
    return draw(
        tf.stack([count, tf.constant(latent_dim, tf.int32)]),
        seed=tf.stack([seed, tf.constant(0, tf.int64)]),
        dtype=tf.float32,
        alg="philox",
    )


def truncate_latents(z, psi, seed=TRUNCATION_REDRAW_SEED) -> tf.Tensor:
    """z with its components outside [-psi, psi] redrawn (`common.nn.truncation.truncate`) when psi > 0, else z.

    Args:
      z: float32 [count, latent_dim].
      psi: float32 scalar (tensor or number); <= 0 (or NaN) leaves z as it is.
      seed: stateless seed of the redraws (an int pair).
    """
    psi = tf.cast(psi, tf.float32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    return tf.cond(psi > 0.0, lambda: truncation_lib.truncate(z, psi, seed), lambda: tf.identity(z))


def version_dirs(export_dir: str) -> dict[int, str]:
    """Version number -> folder path of every numeric subfolder of `export_dir`.

    These are the folders TF Serving considers versions; anything else (the
    hidden temporary folders of an export in progress) is ignored.
    """
    if not os.path.isdir(export_dir):
        return {}
    versions = {}
    for name in os.listdir(export_dir):
        path = os.path.join(export_dir, name)
        if name.isdigit() and os.path.isdir(path):
            versions[int(name)] = path
    return versions


def read_export_info(version_dir: str) -> dict:
    """Reads `assets.extra/export_info.json` of one exported version."""
    path = os.path.join(version_dir, "assets.extra", EXPORT_INFO_NAME)
    if not os.path.isfile(path):
        raise ExportError(
            f"No {EXPORT_INFO_NAME} in {version_dir}/assets.extra: pass a version "
            "folder written by common.export.generator_export.export_generator, e.g. <export_dir>/1."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _input_shapes(generator: keras.Model) -> list[tuple] | None:
    """The shapes of the generator's inputs, in order, or None when it has no static inputs."""
    try:
        input_shape = generator.input_shape
    except (AttributeError, ValueError):
        return None
    if input_shape is None:
        return None
    if isinstance(input_shape, tuple) and all(d is None or isinstance(d, int) for d in input_shape):
        return [input_shape]
    if isinstance(input_shape, (list, tuple)):
        return [tuple(shape) if isinstance(shape, (list, tuple)) else shape for shape in input_shape]
    return [input_shape]


def _check_num_classes(num_classes, label_names) -> tuple[int | None, list[str] | None]:
    """(num_classes, label_names) validated, or an ExportError."""
    if num_classes is None:
        if label_names is not None:
            raise ExportError(
                "label_names names the classes of a class-conditional generator: pass num_classes=K "
                "with it, or leave label_names unset for an unconditional generator."
            )
        return None, None
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ExportError(
            f"num_classes must be a positive integer (the number of classes K of the labels input), "
            f"got {num_classes!r}."
        )
    num_classes = int(num_classes)
    if label_names is None:
        return num_classes, None
    if isinstance(label_names, str) or not isinstance(label_names, (list, tuple)):
        raise ExportError(
            f"label_names must be a list of {num_classes} strings (one per class id), "
            f"got {type(label_names).__name__}."
        )
    if len(label_names) != num_classes or not all(isinstance(name, str) for name in label_names):
        raise ExportError(
            f"label_names must be a list of num_classes={num_classes} strings, name i for class id i; "
            f"got {len(label_names)} entries {list(label_names)!r}."
        )
    return num_classes, list(label_names)


def _infer_shapes(generator: keras.Model, latent_dim: int | None, num_classes: int | None = None) -> tuple[int, tuple]:
    """(latent_dim, image shape (H, W, C)) of the generator, or an ExportError.

    `num_classes` None means an unconditional generator (one input, z); an
    integer means a class-conditional one (inputs [z, labels]). A generator
    whose static inputs say otherwise is refused.
    """
    if tf.distribute.has_strategy():
        raise ExportError(
            "Export and parity checks run outside a distribution strategy: call them "
            "after leaving `with strategy.scope():`. A generator whose variables were "
            "created under the strategy exports fine from outside its scope."
        )
    if not isinstance(generator, keras.Model):
        raise ExportError(
            f"generator must be a keras.Model, got {type(generator).__name__}."
        )
    conditional = num_classes is not None
    shapes = _input_shapes(generator)
    if shapes is not None:
        one_input = len(shapes) == 1 and isinstance(shapes[0], tuple) and len(shapes[0]) == 2
        two_inputs = (
            len(shapes) == 2
            and all(isinstance(shape, tuple) for shape in shapes)
            and len(shapes[0]) == 2
        )
        if not one_input and not two_inputs:
            raise ExportError(
                "export_generator serves generators with one latent input of shape "
                "[batch, latent_dim], or class-conditional generators with the two inputs "
                "[z [batch, latent_dim], labels [batch]]; this generator's input_shape is "
                f"{shapes if len(shapes) > 1 else shapes[0]}. Wrap it in a keras.Model taking one of these."
            )
        if one_input and conditional:
            raise ExportError(
                f"num_classes={num_classes} was passed, but the generator takes one input (z, shape "
                f"{shapes[0]}), so it cannot be given class labels. Pass num_classes only for a "
                "class-conditional generator with the inputs [z, labels]; leave it unset to export "
                "this generator unconditionally."
            )
        if two_inputs and not conditional:
            raise ExportError(
                f"The generator takes two inputs {shapes}, i.e. it is class-conditional "
                "([z, labels]): pass num_classes=K, the number of classes its labels take, so the "
                "signatures can accept labels and check they lie in [0, K)."
            )
        if two_inputs:
            labels_shape = shapes[1]
            labels_dtype = str(getattr(generator.inputs[1], "dtype", "int32"))
            if len(labels_shape) != 1:
                raise ExportError(
                    f"The labels input of a class-conditional generator must have shape [batch] "
                    f"(keras.Input((), dtype='int32')); this generator's labels input has shape {labels_shape}."
                )
            if not tf.as_dtype(labels_dtype).is_integer:
                raise ExportError(
                    f"The labels input of a class-conditional generator must be an integer tensor of class "
                    f"ids (keras.Input((), dtype='int32')); this generator's labels input is {labels_dtype}."
                )
        model_latent = shapes[0][1]
        if latent_dim is None:
            latent_dim = model_latent
        elif model_latent is not None and model_latent != latent_dim:
            input_shape = shapes[0] if one_input else shapes
            raise ExportError(
                f"latent_dim={latent_dim} does not match the generator's input "
                f"shape {input_shape}: pass latent_dim={model_latent} or leave it unset."
            )
    if latent_dim is None:
        raise ExportError(
            "Cannot infer latent_dim: the generator has no static input shape. "
            "Pass latent_dim=... to export_generator."
        )
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, np.integer)) or latent_dim < 1:
        raise ExportError(f"latent_dim must be a positive integer, got {latent_dim!r}.")
    latent_dim = int(latent_dim)
    z = tf.zeros([1, latent_dim])
    images = _call_generator(generator, z, tf.zeros([1], tf.int32) if conditional else None)
    if len(images.shape) != 4:
        raise ExportError(
            "The generator must return images [batch, height, width, channels]; "
            f"it returned shape {tuple(images.shape)} for z of shape [1, {latent_dim}]."
        )
    return latent_dim, tuple(int(d) for d in images.shape[1:])


def _call_generator(generator: keras.Model, z: tf.Tensor, labels: tf.Tensor | None) -> tf.Tensor:
    """The generator's images in inference mode, as float32: `generator(z)` or `generator([z, labels])`."""
    inputs = z if labels is None else [z, labels]
    return tf.cast(generator(inputs, training=False), tf.float32)


def _compute_dtype(generator: keras.Model) -> str:
    policy = getattr(generator, "dtype_policy", None)
    return str(getattr(policy, "compute_dtype", None) or "float32")


def _count_checks(count, max_sample_count: int, too_few: str, too_many: str) -> list:
    """Asserts that `count`, the number of images a `sample` request asks for, is in [1, max_sample_count]."""
    return [
        tf.debugging.assert_positive(count, message=too_few),
        tf.debugging.assert_less_equal(count, tf.constant(max_sample_count, tf.int32), message=too_many),
    ]


def _check_labels(labels, z, num_classes: int):
    """`labels` after asserting it holds one class id in [0, num_classes) per row of `z`."""
    allowed = (
        f"labels must be class ids in [0, {num_classes}) (num_classes={num_classes}): "
        f"each label must satisfy 0 <= label <= {num_classes - 1}"
    )
    checks = [
        tf.debugging.assert_equal(
            tf.shape(labels)[0],
            tf.shape(z)[0],
            message=(
                "labels must hold one class id per row of z (labels [batch], z [batch, latent_dim]); "
                "the number of labels sent is shown below as x, the number of rows of z as y"
            ),
        ),
        tf.debugging.assert_greater_equal(labels, tf.constant(0, labels.dtype), message=allowed),
        tf.debugging.assert_less(labels, tf.constant(num_classes, labels.dtype), message=allowed),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(labels)


def _argument_name(path: str | None, index: int) -> str:
    """A valid graph-function argument name (``[a-z][a-z0-9_]*``) for a captured tensor."""
    name = re.sub(r"[^a-z0-9_]", "_", (path or "").lower()).strip("_")
    if not name:
        return f"captured_input_{index}"
    return name if name[0].isalpha() else f"v_{name}"


def capture_variables_by_name(function, variables) -> None:
    """Inside an endpoint being traced: captures what `function` captures, each under its variable's name.

    A signature function receives every variable it reads as an extra input,
    captured from outside the graph. Captured without a name, such an input is
    named after a process-wide counter ("800", "802", ...), which is not a valid
    argument name, so `tf.saved_model.save` renames it and logs ``Function
    `generate` contains input name(s) 800, 802, ... with unsupported characters``.
    Capturing the same tensors first, named after the variables' paths
    (``generator/dense/kernel`` -> ``generator_dense_kernel``), gives them valid
    names; the later call of `function` reuses these captures. Serving clients
    never see these inputs: they are bound to the saved variables.

    Args:
      function: a `tf.function` with an input signature (its one concrete function is used).
      variables: the Keras or TensorFlow variables `function` may read, for their names.
    """
    graph = tf.compat.v1.get_default_graph()
    capture = getattr(graph, "capture", None)
    if capture is None:  # not tracing a function: nothing is captured
        return
    paths = {}
    for variable in variables:
        value = getattr(variable, "value", variable)  # a Keras variable's TensorFlow variable
        handle = getattr(value, "handle", None)
        if handle is not None:
            paths[id(handle)] = getattr(variable, "path", None) or getattr(variable, "name", None)
    for index, tensor in enumerate(function.get_concrete_function().captured_inputs):
        capture(tensor, name=_argument_name(paths.get(id(tensor)), index))


def _build_archive(generator: keras.Model, latent_dim: int, max_sample_count: int, num_classes: int | None = None,
                   latent_distribution: str = "normal", truncation_input: bool = False):
    """ExportArchive holding the generator and the three signatures.

    With `num_classes` None the signatures take z (and `sample` seed and
    count); with an integer they also take labels, checked against
    [0, num_classes), and with `truncation_input` the threshold ``truncation``
    (module docstring).
    """
    conditional = num_classes is not None
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32)
    labels_spec = tf.TensorSpec([None], tf.int32)

    def checked_z(z):
        # The input spec fixes [None, latent_dim] for clients that read it, but
        # a loaded signature does not check shapes itself; these checks name
        # the expected shape instead of failing inside the first layer.
        wrong_latent = tf.debugging.assert_equal(
            tf.shape(z)[-1],
            latent_dim,
            message=(
                f"z must have shape [batch, {latent_dim}] (latent_dim={latent_dim}); "
                "the last dimension of the z sent is shown below as x"
            ),
        )
        with tf.control_dependencies([wrong_latent]):
            return tf.ensure_shape(z, [None, latent_dim])

    # One graph function holds the generator; the three signatures call it,
    # so the generator is traced once and stored once.
    if conditional:
        @tf.function(input_signature=[z_spec, labels_spec], autograph=False)
        def generate_float(z, labels):
            z = checked_z(z)
            labels = _check_labels(tf.ensure_shape(labels, [None]), z, num_classes)
            return _call_generator(generator, z, labels)
    else:
        @tf.function(input_signature=[z_spec], autograph=False)
        def generate_float(z):
            return _call_generator(generator, checked_z(z), None)

    archive = keras.export.ExportArchive()
    archive.track(generator)
    z_input = tf.TensorSpec([None, latent_dim], tf.float32, name="z")
    labels_input = tf.TensorSpec([None], tf.int32, name="labels")
    seed_input = tf.TensorSpec([], tf.int64, name="seed")

    if conditional:
        def given(z, psi):
            # A client's z, truncated at psi when the export has a truncation input.
            return z if psi is None else truncate_latents(checked_z(z), psi)

        def generate(z, labels, truncation=None):
            capture_variables_by_name(generate_float, generator.variables)
            return {"images": images_to_uint8(generate_float(given(z, truncation), labels))}

        def sample(labels, seed, truncation=None):
            capture_variables_by_name(generate_float, generator.variables)
            count = tf.shape(labels)[0]
            checks = _count_checks(
                count,
                max_sample_count,
                "labels must hold at least 1 class id (sample draws one image per label)",
                f"labels must hold at most {max_sample_count} class ids per request (one image per "
                "label); send several requests with different seeds for more images",
            )
            with tf.control_dependencies(checks):
                z = sample_latents(seed, count, latent_dim, latent_distribution)
            if truncation is not None:
                z = truncate_latents(z, truncation, tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)]))
            return {"images": images_to_uint8(generate_float(z, labels)), "z": z}

        def generate_images_float(z, labels, truncation=None):
            capture_variables_by_name(generate_float, generator.variables)
            return {"images_float": generate_float(given(z, truncation), labels)}

        psi_input = [tf.TensorSpec([], tf.float32, name="truncation")] if truncation_input else []
        endpoints = [
            (SERVING_SIGNATURE, generate, [z_input, labels_input] + psi_input),
            (SAMPLE_SIGNATURE, sample, [labels_input, seed_input] + psi_input),
            (FLOAT_SIGNATURE, generate_images_float, [z_input, labels_input] + psi_input),
        ]
    else:
        def generate(z):
            capture_variables_by_name(generate_float, generator.variables)
            return {"images": images_to_uint8(generate_float(z))}

        def sample(seed, count):
            capture_variables_by_name(generate_float, generator.variables)
            checks = _count_checks(
                count,
                max_sample_count,
                "count must be at least 1 (number of images to sample)",
                f"count must be at most {max_sample_count} per request; "
                "send several requests with different seeds for more images",
            )
            with tf.control_dependencies(checks):
                z = sample_latents(seed, count, latent_dim, latent_distribution)
            return {"images": images_to_uint8(generate_float(z)), "z": z}

        def generate_images_float(z):
            capture_variables_by_name(generate_float, generator.variables)
            return {"images_float": generate_float(z)}

        endpoints = [
            (SERVING_SIGNATURE, generate, [z_input]),
            (SAMPLE_SIGNATURE, sample, [seed_input, tf.TensorSpec([], tf.int32, name="count")]),
            (FLOAT_SIGNATURE, generate_images_float, [z_input]),
        ]
    for name, function, input_signature in endpoints:
        archive.add_endpoint(name, function, input_signature=input_signature)
    return archive


def _uint8_mismatches(served: np.ndarray, reference_float: np.ndarray, atol: float) -> int:
    """uint8 values outside what a float difference of at most `atol` explains.

    The mapping is monotone, so a served value is accepted when it lies between
    `images_to_uint8(reference - atol)` and `images_to_uint8(reference + atol)`:
    with float32 tolerances the uint8 images must be equal except where the
    in-process value sits within `atol` of a rounding boundary.
    """
    lower = images_to_uint8(reference_float - atol).numpy()
    upper = images_to_uint8(reference_float + atol).numpy()
    if served.shape != reference_float.shape:
        return int(reference_float.size)
    return int(np.sum((served < lower) | (served > upper)))


def parity_labels(count: int, num_classes: int) -> np.ndarray:
    """The labels `check_parity` sends a class-conditional export: `arange(count) % num_classes`, int32."""
    return (np.arange(count) % num_classes).astype(np.int32)


def _signature_inputs(loaded, name: str) -> list[str]:
    return sorted(loaded.signatures[name].structured_input_signature[1])


def check_parity(
    generator: keras.Model,
    saved_model_dir: str,
    *,
    latent_dim: int | None = None,
    num_classes: int | None = None,
    latent_distribution: str = "normal",
    seed: int = PARITY_SEED,
    count: int = PARITY_COUNT,
    atol: float | None = None,
    truncation: bool = False,
) -> dict:
    """Compares an exported SavedModel with the in-process generator.

    Loads `saved_model_dir` (one version folder) and checks, for `count`
    latents drawn with `sample_latents(seed, ...)` (and, for a
    class-conditional generator, the labels `parity_labels(count, num_classes)`,
    i.e. 0, 1, ..., K-1, 0, ...):
      1. `generate_float` equals the in-process `generator(z, training=False)`
         (`generator([z, labels], training=False)`) within `atol`;
      2. `serving_default` equals `images_to_uint8` of the in-process images,
         up to what a float difference of `atol` explains (for float32: one
         step, only where an in-process value lies at a rounding boundary);
      3. `sample(seed, count)` (`sample(labels, seed)`) returns exactly
         `sample_latents(seed, count)` as `z`, and images that pass check 2.

    Args:
      generator: the keras generator that was exported.
      saved_model_dir: a version folder, e.g. `<export_dir>/1`.
      latent_dim: default inferred from `generator.input_shape`.
      num_classes: K for a class-conditional generator (inputs [z, labels]),
        None for an unconditional one; must be what it was exported with.
      latent_distribution: the prior the export's `sample` draws z from ("normal" or "uniform").
      seed, count: the latents compared.
      atol: float tolerance; default from DEFAULT_PARITY_ATOL for the
        generator's compute dtype (1e-5 for float32).
      truncation: the export has the ``truncation`` input (class-conditional only):
        checks 1-3 send psi = 0 (off), and `generate_float` at psi =
        ``PARITY_TRUNCATION`` must equal the generator on
        ``truncate_latents(z, PARITY_TRUNCATION)`` (reported as "truncated").

    Returns:
      The measured differences: {"generate_float": {"max_abs_diff"},
      "serving_default": {"uint8_mismatches", "pixels"}, "sample":
      {"uint8_mismatches", "pixels", "z_max_abs_diff"}, "atol", ...}, and for a
      class-conditional generator "num_classes" and the "labels" sent.

    Raises:
      ExportError: with the measured differences when a check fails.
    """
    num_classes, _ = _check_num_classes(num_classes, None)
    latent_dim, _ = _infer_shapes(generator, latent_dim, num_classes)
    compute_dtype = _compute_dtype(generator)
    if atol is None:
        atol = DEFAULT_PARITY_ATOL.get(compute_dtype, 1e-5)
    if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
        raise ExportError(
            f"No saved_model.pb in {saved_model_dir}: pass a version folder such as <export_dir>/1."
        )
    loaded = tf.saved_model.load(saved_model_dir)
    missing = {SERVING_SIGNATURE, SAMPLE_SIGNATURE, FLOAT_SIGNATURE} - set(loaded.signatures.keys())
    if missing:
        raise ExportError(
            f"{saved_model_dir} has no signature(s) {sorted(missing)}; it was not "
            "written by common.export.generator_export.export_generator. Export it again."
        )
    conditional = num_classes is not None
    expected_inputs = (["labels"] + (["truncation"] if truncation else []) + ["z"]) if conditional else ["z"]
    if _signature_inputs(loaded, SERVING_SIGNATURE) != expected_inputs:
        raise ExportError(
            f"{saved_model_dir}'s '{SERVING_SIGNATURE}' takes the inputs "
            f"{_signature_inputs(loaded, SERVING_SIGNATURE)}, not {expected_inputs}: it was exported "
            f"{'without' if conditional else 'with'} class labels. Pass the num_classes it was "
            f"exported with ({'None' if conditional else 'K'}), or export the generator again."
        )
    z = sample_latents(seed, count, latent_dim, latent_distribution)
    labels = tf.constant(parity_labels(count, num_classes)) if conditional else None
    reference = _call_generator(generator, z, labels).numpy()
    pixels = int(reference.size)
    report: dict[str, Any] = {"atol": atol, "compute_dtype": compute_dtype, "seed": seed, "count": count}
    off = {"truncation": tf.constant(0.0)} if truncation else {}
    if conditional:
        report["num_classes"] = num_classes
        report["labels"] = labels.numpy().tolist()
        inputs = {"z": z, "labels": labels, **off}
        sampled = loaded.signatures[SAMPLE_SIGNATURE](labels=labels, seed=tf.constant(seed, tf.int64), **off)
    else:
        inputs = {"z": z}
        sampled = loaded.signatures[SAMPLE_SIGNATURE](
            seed=tf.constant(seed, tf.int64), count=tf.constant(count, tf.int32)
        )

    served_float = loaded.signatures[FLOAT_SIGNATURE](**inputs)["images_float"].numpy()
    max_abs_diff = (
        float(np.max(np.abs(served_float - reference)))
        if served_float.shape == reference.shape
        else float("inf")
    )
    report[FLOAT_SIGNATURE] = {"max_abs_diff": max_abs_diff}
    served = loaded.signatures[SERVING_SIGNATURE](**inputs)["images"].numpy()
    report[SERVING_SIGNATURE] = {"uint8_mismatches": _uint8_mismatches(served, reference, atol), "pixels": pixels}
    report[SAMPLE_SIGNATURE] = {
        "uint8_mismatches": _uint8_mismatches(sampled["images"].numpy(), reference, atol),
        "pixels": pixels,
        "z_max_abs_diff": float(np.max(np.abs(sampled["z"].numpy() - z.numpy()))),
    }

    failures = []
    if truncation:
        truncated_z = truncate_latents(z, PARITY_TRUNCATION)
        truncated_reference = _call_generator(generator, truncated_z, labels).numpy()
        served_truncated = loaded.signatures[FLOAT_SIGNATURE](
            z=z, labels=labels, truncation=tf.constant(PARITY_TRUNCATION))["images_float"].numpy()
        truncated_diff = float(np.max(np.abs(served_truncated - truncated_reference)))
        report["truncated"] = {"psi": PARITY_TRUNCATION, "max_abs_diff": truncated_diff}
        if not truncated_diff <= atol:
            failures.append(f"signature '{FLOAT_SIGNATURE}' at truncation {PARITY_TRUNCATION}: images_float "
                            f"max |diff| = {truncated_diff:.3g} (tolerance {atol:g})")
    if not max_abs_diff <= atol:
        failures.append(
            f"signature '{FLOAT_SIGNATURE}': images_float max |diff| = {max_abs_diff:.3g} "
            f"(tolerance {atol:g})"
        )
    for name in (SERVING_SIGNATURE, SAMPLE_SIGNATURE):
        if report[name]["uint8_mismatches"]:
            failures.append(
                f"signature '{name}': {report[name]['uint8_mismatches']} of {pixels} uint8 "
                f"values differ beyond float tolerance {atol:g}"
            )
    if report[SAMPLE_SIGNATURE]["z_max_abs_diff"] != 0.0:
        failures.append(
            f"signature 'sample': z differs from sample_latents(seed={seed}, count={count}) "
            f"by max |diff| = {report[SAMPLE_SIGNATURE]['z_max_abs_diff']:.3g} (must be identical)"
        )
    if failures:
        labelled = f", labels {report['labels']}" if conditional else ""
        raise ExportError(
            f"Parity check failed for {saved_model_dir} ({count} latents, seed {seed}{labelled}, "
            f"generator compute dtype {compute_dtype}): " + "; ".join(failures) + ". "
            "The SavedModel does not reproduce the in-process generator. Usual causes: "
            "a layer that is random at inference (unseeded noise in call()), or one "
            "whose call() behaves differently when traced into a graph."
        )
    return report


def _resolve_version(export_dir: str, version: int | None, overwrite: bool) -> int:
    existing = version_dirs(export_dir)
    if version is None:
        return max(existing, default=0) + 1
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
        raise ExportError(
            f"version must be a positive integer (TF Serving's version folders are numbers), got {version!r}."
        )
    version = int(version)
    if version in existing and not overwrite:
        raise ExportError(
            f"Version {version} already exists at {existing[version]}. Pass version=None "
            f"for the next free version ({max(existing) + 1}), or overwrite=True to "
            "replace it (a running TF Serving keeps serving the version it loaded; "
            "new versions are what it picks up)."
        )
    return version


def check_metadata(metadata) -> None:
    """Raises ExportError unless `metadata` is None or a JSON-serializable dict (numpy scalars allowed)."""
    if metadata is None:
        return
    if not isinstance(metadata, Mapping):
        raise ExportError(f"metadata must be a dict, got {type(metadata).__name__}.")
    try:
        json.dumps(dict(metadata), default=_json_default)
    except (TypeError, ValueError) as error:
        raise ExportError(
            f"metadata must be JSON-serializable (str, numbers, bools, lists, dicts, "
            f"numpy scalars): {error}."
        ) from None


def check_export_dir(export_dir: str) -> None:
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise ExportError(f"export_dir {export_dir} exists and is not a folder: choose a folder path.")


def write_version(export_dir: str, version: int, overwrite: bool, write: Callable[[str], dict],
                  metadata: Mapping | None) -> str:
    """Writes one version folder of a TF Serving model folder, visible only once it is complete.

    `write(temp_dir)` writes and checks the SavedModel in a hidden temporary
    folder beside the version folders and returns the export's description;
    this adds the common fields (format version, creation time, version,
    TensorFlow and Keras versions, `metadata`), writes it as
    `assets.extra/export_info.json` and renames the folder to `version`
    (`_publish`). On any failure the temporary folder is removed.

    Returns:
      The path of the version folder, `<export_dir>/<version>`.
    """
    os.makedirs(export_dir, exist_ok=True)
    final_dir = os.path.join(export_dir, str(version))
    temp_dir = os.path.join(export_dir, f"{_TEMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
        info = {
            "format_version": EXPORT_FORMAT_VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "version": version,
            **write(temp_dir),
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "metadata": dict(metadata) if metadata is not None else {},
        }
        os.makedirs(os.path.join(temp_dir, "assets.extra"), exist_ok=True)
        with open(os.path.join(temp_dir, "assets.extra", EXPORT_INFO_NAME), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2, sort_keys=True, default=_json_default)
        _publish(temp_dir, final_dir, overwrite)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return final_dir


def _signature_descriptions(latent_dim: int, max_sample_count: int, num_classes: int | None,
                            truncation: bool = False) -> dict:
    """The signatures' inputs and outputs as recorded in export_info.json."""
    z = f"float32 [batch, {latent_dim}]"
    float_output = {"images_float": "float32 [batch, H, W, C], generator output in [-1, 1]"}
    sample_outputs = {"images": "uint8 [count, H, W, C]", "z": f"float32 [count, {latent_dim}]"}
    if num_classes is None:
        return {
            SERVING_SIGNATURE: {"inputs": {"z": z}, "outputs": {"images": "uint8 [batch, H, W, C]"}},
            SAMPLE_SIGNATURE: {
                "inputs": {"seed": "int64 []", "count": f"int32 [], 1..{max_sample_count}"},
                "outputs": sample_outputs,
            },
            FLOAT_SIGNATURE: {"inputs": {"z": z}, "outputs": float_output},
        }
    labels = f"int32 [batch], class ids in [0, {num_classes})"
    if truncation:
        psi = "float32 [], the truncation threshold psi; <= 0: none"
        descriptions = _signature_descriptions(latent_dim, max_sample_count, num_classes)
        for description in descriptions.values():
            description["inputs"]["truncation"] = psi
        return descriptions
    return {
        SERVING_SIGNATURE: {"inputs": {"z": z, "labels": labels}, "outputs": {"images": "uint8 [batch, H, W, C]"}},
        SAMPLE_SIGNATURE: {
            "inputs": {
                "labels": f"int32 [count], class ids in [0, {num_classes}), count 1..{max_sample_count}",
                "seed": "int64 []",
            },
            "outputs": sample_outputs,
        },
        FLOAT_SIGNATURE: {"inputs": {"z": z, "labels": labels}, "outputs": float_output},
    }


def export_generator(
    generator: keras.Model,
    export_dir: str,
    *,
    latent_dim: int | None = None,
    num_classes: int | None = None,
    label_names: list[str] | None = None,
    latent_distribution: str = "normal",
    version: int | None = None,
    overwrite: bool = False,
    parity_check: bool = True,
    metadata: dict | None = None,
    max_sample_count: int = DEFAULT_MAX_SAMPLE_COUNT,
    truncation: bool = False,
) -> str:
    """Writes `generator` as version `version` of a TF Serving model folder.

    Args:
      generator: keras.Model mapping z [batch, latent_dim] to images in [-1, 1]
        of shape [batch, H, W, C]; called with `training=False`. A
        class-conditional generator takes the two inputs [z, labels] (labels
        int32 [batch], class ids in [0, num_classes)) and is exported with the
        labelled signatures (module docstring).
      export_dir: the model folder TF Serving is pointed at (created if absent).
      latent_dim: default: the last dimension of the generator's z input.
      num_classes: the number of classes K of a class-conditional generator;
        required for one, refused for a generator with the single input z.
      label_names: optional class names, name i for class id i (K strings),
        stored in export_info.json; only with num_classes.
      latent_distribution: the prior of z the generator was trained with, which
        the `sample` signature draws from: "normal" (N(0, I)) or "uniform" (U[0, 1)).
      version: default: one more than the largest numeric subfolder, from 1.
      overwrite: replace an existing version folder; without it an existing
        version is an error.
      parity_check: load the written SavedModel and compare it with the
        in-process generator (`check_parity`) before it becomes visible.
      metadata: JSON-serializable dict stored under "metadata" in
        `assets.extra/export_info.json` (e.g. app name, checkpoint step).
      max_sample_count: the largest number of images one `sample` request
        draws (its `count`, or the length of its `labels`).
      truncation: give the three signatures of a class-conditional generator
        the ``truncation`` input (psi; module docstring).

    Returns:
      The path of the written version folder, `<export_dir>/<version>`.

    Raises:
      ExportError: invalid arguments (including num_classes that does not fit
        the generator's inputs), an existing version without overwrite, or a
        failed parity check (nothing is left behind then).
    """
    check_metadata(metadata)
    if isinstance(max_sample_count, bool) or not isinstance(max_sample_count, (int, np.integer)) or max_sample_count < 1:
        raise ExportError(f"max_sample_count must be a positive integer, got {max_sample_count!r}.")
    num_classes, label_names = _check_num_classes(num_classes, label_names)
    if latent_distribution not in LATENT_DISTRIBUTIONS:
        raise ExportError(f"latent_distribution must be one of {', '.join(LATENT_DISTRIBUTIONS)} (the prior the "
                          f"generator was trained with); got {latent_distribution!r}.")
    if truncation and (num_classes is None or latent_distribution != "normal"):
        raise ExportError("truncation=True is for a class-conditional generator with a normal prior (BigGAN's "
                          "truncation trick); pass num_classes=K, or leave truncation off.")
    check_export_dir(export_dir)
    version = _resolve_version(export_dir, version, overwrite)
    latent_dim, image_shape = _infer_shapes(generator, latent_dim, num_classes)
    max_sample_count = int(max_sample_count)

    def write(temp_dir: str) -> dict:
        archive = _build_archive(generator, latent_dim, max_sample_count, num_classes, latent_distribution,
                                 truncation_input=truncation)
        archive.write_out(temp_dir, verbose=False)
        parity = (
            check_parity(generator, temp_dir, latent_dim=latent_dim, num_classes=num_classes,
                         latent_distribution=latent_distribution, truncation=truncation)
            if parity_check
            else None
        )
        info = {
            "latent_dim": latent_dim,
            "image_shape": list(image_shape),
            "compute_dtype": _compute_dtype(generator),
            "generator_name": generator.name,
            "signatures": _signature_descriptions(latent_dim, max_sample_count, num_classes, truncation),
            "uint8_mapping": "round_half_to_even(clip((images_float + 1) * 127.5, 0, 255))",
            "latent_distribution": latent_distribution,
            "sample_latents": (
                f"tf.random.stateless_{latent_distribution}([count, latent_dim], seed=[seed, 0], alg='philox')"
                + ("" if num_classes is None else ", count = len(labels)")
            ),
            "max_sample_count": max_sample_count,
            "truncation_input": truncation,
            "parity": parity,
        }
        if num_classes is not None:
            info["num_classes"] = num_classes
            if label_names is not None:
                info["label_names"] = label_names
        return info

    return write_version(export_dir, version, overwrite, write, metadata)


def _json_default(value):
    """JSON form of numpy scalars and arrays in user metadata."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serializable")


def _publish(temp_dir: str, final_dir: str, overwrite: bool) -> None:
    """Renames the finished temporary folder to its version folder."""
    old_dir = None
    if os.path.exists(final_dir):
        if not overwrite:
            raise ExportError(
                f"{final_dir} appeared while this export was running (another export "
                "to the same folder?). Export again to get the next free version."
            )
        old_dir = os.path.join(
            os.path.dirname(final_dir),
            f"{_OLD_PREFIX}{os.path.basename(final_dir)}-{uuid.uuid4().hex[:8]}",
        )
        os.rename(final_dir, old_dir)
    try:
        os.rename(temp_dir, final_dir)
    except OSError as error:
        if old_dir is not None:
            os.rename(old_dir, final_dir)
        raise ExportError(f"Could not move the export into {final_dir}: {error}.") from error
    if old_dir is not None:
        shutil.rmtree(old_dir, ignore_errors=True)
