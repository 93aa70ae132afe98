"""The export and translate commands every image-to-image translation app shares.

An app's `export.py`:

    translator_commands.define_export_flags()

    def main(argv):
        translator_commands.export_main(argv, "cyclegan", CycleGANConfig, build_model)

rebuilds the model from `<model_dir>/config.json`, restores the newest
readable checkpoint and writes ``model.translators()`` with
`common.export.translator_export.export_translators` (signatures ``a_to_b``, ``b_to_a``,
their ``_float`` variants, ``serving_default`` = ``a_to_b``) as the next
version folder of `--export_dir`.

An app's `translate.py` (same pattern with `define_translate_flags` and
`translate_main`) turns a folder of images into translated PNGs:

    python -m apps.cyclegan.translate --model_dir=runs/cyclegan --input_dir=photos \
        --output_dir=out --direction=a_to_b

It reads every .png/.jpg/.jpeg in `--input_dir` (not recursive), translates it
with the newest checkpoint of `--model_dir` or with an exported SavedModel
(`--export_dir`: a version folder, or a model folder whose newest version is
used), and writes `<output_dir>/<name>.png` of the same size as the input.
Sizes: with `--resize_to=N` the image is first resized (bicubic, aspect kept) so
its shorter side is N; then height and width are padded by reflection (at the
bottom and right) up to the next multiple of the model's size multiple (4 for
CycleGAN) and at least its minimum size (8 for CycleGAN), translated, and the
padding is cropped off again. Grayscale inputs are converted to the model's
channels; alpha is dropped. Existing output files are refused unless
`--overwrite`. All checks (folders, names, collisions) happen before a model
is loaded.
"""

from __future__ import annotations

import os
from typing import Callable

from absl import app, flags

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
DIRECTIONS = ("a_to_b", "b_to_a")


def define_export_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Declares --model_dir, --export_dir, --version and --overwrite."""
    flags.DEFINE_string("model_dir", None, "Directory of the training run to export.", flag_values=flag_values)
    flags.DEFINE_string("export_dir", None, "TF Serving model folder; the export becomes its next numbered version.",
                        flag_values=flag_values)
    flags.DEFINE_integer("version", None, "Version number to write instead of the next free one.",
                         flag_values=flag_values)
    flags.DEFINE_boolean("overwrite", False, "Replace an existing --version.", flag_values=flag_values)


def _channels(model) -> int:
    """Image channels of a translation model: its config's `channels`, else its first translator's input."""
    channels = getattr(getattr(model, "config", None), "channels", None)
    if channels is None:
        channels = next(iter(model.translators().values())).input_shape[-1]
    return int(channels)


def export_main(argv, app_name: str, config_class: type, build_model: Callable,
                flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Exports the translators of a training run (module docstring) from parsed flags."""
    from common.training import checkpointing
    from common.training import runtime
    from common.export import translator_export

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {' '.join(argv[1:])!r}.")
    model_dir, export_dir = flag_values.model_dir, flag_values.export_dir
    if not model_dir or not export_dir:
        raise app.UsageError("Pass --model_dir (a training run) and --export_dir (where to write).")
    with runtime.exit_on_user_error():
        model, path = runtime.restore_app_for_inference(model_dir, config_class, build_model)
        step = checkpointing.checkpoint_step(path)
        try:
            written = translator_export.export_translators(
                model.translators(), export_dir, size_multiple=model.size_multiple,
                channels=_channels(model), min_size=getattr(model, "min_size", None),
                version=flag_values.version, overwrite=flag_values.overwrite,
                metadata={"app": app_name, "checkpoint": path, "step": step})
        except translator_export.ExportError as error:
            raise runtime.ConfigError(str(error)) from None
    print(f"Exported step {step} ({', '.join(model.translators())}) to {written}")


def define_translate_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Declares the flags of the translate command (module docstring)."""
    flags.DEFINE_string("input_dir", None, "Folder of .png/.jpg/.jpeg images to translate.", flag_values=flag_values)
    flags.DEFINE_string("output_dir", None, "Folder for the translated PNGs (created if absent).",
                        flag_values=flag_values)
    flags.DEFINE_enum("direction", "a_to_b", list(DIRECTIONS), "Translate domain A to B or B to A.",
                      flag_values=flag_values)
    flags.DEFINE_string("model_dir", None, "Training run whose newest checkpoint translates.", flag_values=flag_values)
    flags.DEFINE_string("export_dir", None, "Exported SavedModel instead of --model_dir: a version folder or a "
                        "model folder (its newest version).", flag_values=flag_values)
    flags.DEFINE_integer("resize_to", 0, "Resize so the shorter side is this many pixels first (0: keep the size).",
                         flag_values=flag_values)
    flags.DEFINE_boolean("overwrite", False, "Replace existing files in --output_dir.", flag_values=flag_values)


def list_images(input_dir: str) -> list[str]:
    """Sorted image files (by extension, case-insensitive) directly in `input_dir`."""
    from common.training.runtime import ConfigError

    if not input_dir or not os.path.isdir(input_dir):
        raise ConfigError(f"--input_dir={input_dir!r} is not a folder; pass a folder of .png/.jpg images.")
    names = sorted(name for name in os.listdir(input_dir)
                   if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(input_dir, name)))
    if not names:
        raise ConfigError(f"{input_dir} holds no .png, .jpg or .jpeg images.")
    return [os.path.join(input_dir, name) for name in names]


def output_paths(inputs: list[str], output_dir: str, overwrite: bool) -> list[str]:
    """`<output_dir>/<stem>.png` per input; ConfigError on two inputs with one stem or existing files."""
    from common.training.runtime import ConfigError

    if not output_dir:
        raise ConfigError("Pass --output_dir, the folder for the translated images.")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ConfigError(f"--output_dir={output_dir} exists and is not a folder.")
    outputs = [os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0] + ".png") for path in inputs]
    if len(set(outputs)) != len(outputs):
        seen, twins = set(), []
        for path, out in zip(inputs, outputs):
            if out in seen:
                twins.append(os.path.basename(path))
            seen.add(out)
        raise ConfigError(f"Several inputs would be written to the same PNG ({', '.join(twins)}); rename them.")
    existing = [out for out in outputs if os.path.exists(out)]
    if existing and not overwrite:
        shown = ", ".join(os.path.basename(p) for p in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise ConfigError(f"{len(existing)} output file(s) exist in {output_dir} ({shown}); pass --overwrite to "
                          "replace them or choose another --output_dir.")
    return outputs


def pad_to_multiple(image, multiple: int, min_size: int = 0):
    """Mirror-pads a [H, W, C] image at the bottom and right to multiples of `multiple` of at least
    `min_size`; returns (padded, H, W) with the original H and W (crop the translation back to them).

    Reflection ("REFLECT") when the padding is smaller than the side; otherwise the
    image is mirrored with its edge ("SYMMETRIC") as many times as needed, so an image
    smaller than the padding it needs (a 9x6 image at a multiple of 16) is padded too.
    Runs eagerly (the translate command pads one decoded image at a time).
    """
    import tensorflow as tf

    height, width = int(image.shape[0]), int(image.shape[1])
    target_h = max(min_size, height) + (-max(min_size, height)) % multiple
    target_w = max(min_size, width) + (-max(min_size, width)) % multiple
    padded = image
    if target_h - height < height and target_w - width < width:
        padded = tf.pad(image, [[0, target_h - height], [0, target_w - width], [0, 0]], mode="REFLECT")
    else:
        while padded.shape[0] < target_h or padded.shape[1] < target_w:
            pad_h = min(target_h - padded.shape[0], padded.shape[0])
            pad_w = min(target_w - padded.shape[1], padded.shape[1])
            padded = tf.pad(padded, [[0, pad_h], [0, pad_w], [0, 0]], mode="SYMMETRIC")
    return padded, height, width


def _load_image(path: str, channels: int, resize_to: int):
    import tensorflow as tf

    from common.training.runtime import ConfigError

    try:
        image = tf.io.decode_image(tf.io.read_file(path), channels=0, expand_animations=False)
    except tf.errors.OpError as error:
        raise ConfigError(f"Cannot decode {path}: {error.message}") from None
    if image.shape[-1] in (2, 4):  # drop alpha
        image = image[..., :-1]
    if image.shape[-1] == 1 and channels == 3:
        image = tf.image.grayscale_to_rgb(image)
    elif image.shape[-1] == 3 and channels == 1:
        image = tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), tf.uint8)
    if resize_to:
        height, width = image.shape[0], image.shape[1]
        scale = resize_to / min(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        image = tf.image.resize(tf.cast(image, tf.float32), size, method="bicubic", antialias=True)
        image = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
    return image


def _newest_version(export_dir: str) -> str:
    from common.export.generator_export import version_dirs
    from common.training.runtime import ConfigError

    if os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        return export_dir
    versions = version_dirs(export_dir)
    if not versions:
        raise ConfigError(f"{export_dir} is neither a SavedModel version folder nor a folder of numbered versions; "
                          "pass the --export_dir written by the export command.")
    return versions[max(versions)]


def translate_main(argv, app_name: str, config_class: type, build_model: Callable,
                   flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Translates a folder of images (module docstring) from parsed flags."""
    from common.training import runtime

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {' '.join(argv[1:])!r}.")
    with runtime.exit_on_user_error():
        if bool(flag_values.model_dir) == bool(flag_values.export_dir):
            raise runtime.ConfigError("Pass exactly one of --model_dir (a training run) and --export_dir "
                                      "(an exported SavedModel).")
        if flag_values.resize_to < 0:
            raise runtime.ConfigError(f"--resize_to must be >= 0; got {flag_values.resize_to}.")
        inputs = list_images(flag_values.input_dir)
        outputs = output_paths(inputs, flag_values.output_dir, flag_values.overwrite)
        direction = flag_values.direction
        translate, channels, multiple, min_size, source = _translator(
            flag_values, app_name, config_class, build_model)
        import tensorflow as tf

        os.makedirs(flag_values.output_dir, exist_ok=True)
        for path, out in zip(inputs, outputs):
            image = _load_image(path, channels, flag_values.resize_to)
            padded, height, width = pad_to_multiple(image, multiple, min_size)
            translated = translate(padded[None])[0, :height, :width]
            tf.io.write_file(out, tf.io.encode_png(translated))
    print(f"Translated {len(inputs)} image(s) {direction} with {source} into {flag_values.output_dir}")


def _translator(flag_values, app_name, config_class, build_model):
    """(uint8 [1, H, W, C] -> uint8 [1, H, W, C], channels, size multiple, min size, description of the source)."""
    import tensorflow as tf

    from common.export import translator_export
    from common.training.runtime import ConfigError, restore_app_for_inference

    direction = flag_values.direction
    if flag_values.model_dir:
        model, path = restore_app_for_inference(flag_values.model_dir, config_class, build_model)
        network = model.translators()[direction]

        def translate(images):
            floats = translator_export.uint8_to_float(images)
            return translator_export.images_to_uint8(network(floats, training=False))

        return (translate, _channels(model), model.size_multiple,
                getattr(model, "min_size", model.size_multiple), path)
    version_dir = _newest_version(flag_values.export_dir)
    import json

    info_path = os.path.join(version_dir, "assets.extra", translator_export.EXPORT_INFO_NAME)
    try:
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
    except OSError:
        raise ConfigError(f"{version_dir} has no assets.extra/{translator_export.EXPORT_INFO_NAME}; it was not written "
                          "by a translation app's export command.") from None
    if info.get("kind") != "translation" or direction not in info.get("translators", []):
        raise ConfigError(f"{version_dir} has no '{direction}' translator (it holds {info.get('translators')}).")
    loaded = tf.saved_model.load(version_dir)
    signature = loaded.signatures[direction]

    def translate(images):
        return signature(images=tf.convert_to_tensor(images, tf.uint8))["images"]

    multiple = int(info["size_multiple"])
    return translate, int(info["channels"]), multiple, int(info.get("min_size", multiple)), version_dir
