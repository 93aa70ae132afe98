"""Decoding, converting, resizing and encoding of the images a dataset stores.

Every image goes through the same steps, in the worker processes of the builder:

1. decode with Pillow (first frame of multi-frame files), apply the EXIF
   orientation (`ImageOps.exif_transpose`);
2. normalise the mode to one of L, LA, RGB, RGBA (`_normalise_mode`):
   16-bit and 32-bit integer grayscale is scaled to 8 bits (v * 255 / 65535,
   rounded), palette images become RGB, or RGBA when the palette has a
   transparent entry, CMYK and other colour spaces become RGB;
3. convert to the dataset's channel count (`_to_channels`): alpha is
   composited on white when it is dropped, colour becomes gray with
   Pillow's ITU-R 601-2 luma, gray is replicated to colour, an opaque alpha
   plane is added for 4 channels;
4. apply the resize policy (`apply_resize_policy`, Lanczos filter);
5. encode as PNG (lossless) or JPEG.

Only Pillow and NumPy are imported here, so worker processes start quickly.
"""

from __future__ import annotations

import io
import os
import struct
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# File extensions treated as images; other files in image folders are listed
# as skipped ("not an image file") without counting as bad inputs.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".tif", ".tiff", ".webp",
     ".ppm", ".pgm", ".pbm", ".pnm", ".tga"}
)
# Modes whose pixels are gray; an image in any other mode counts as colour
# when the channel count is inferred (palette images count as colour).
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
RESIZE_POLICIES = ("keep", "resize", "center_crop", "pad")
RESAMPLE = Image.Resampling.LANCZOS


class BadImage(Exception):
    """One input cannot be used; the message is the reason listed in the manifest."""


def is_image_file(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def _open(path: str) -> Image.Image:
    """Opens an image file (header only), turning every failure into BadImage."""
    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise BadImage(f"unreadable file ({error.strerror or error})") from None
    if size == 0:
        raise BadImage("empty file (0 bytes)")
    try:
        return Image.open(path)
    except UnidentifiedImageError:
        raise BadImage("not an image Pillow can read (unknown or corrupt header)") from None
    except Image.DecompressionBombError as error:
        raise BadImage(f"image too large ({error})") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise BadImage(f"unreadable image ({error})") from None


def probe_file(path: str) -> bool:
    """Whether the file's image is grayscale, from its header alone; BadImage if unusable."""
    with _open(path) as image:
        return image.mode in GRAY_MODES


def load_file(path: str) -> Image.Image:
    """The fully decoded, EXIF-oriented image of a file; BadImage if unusable."""
    image = _open(path)
    try:
        with image:
            image.seek(0)
            image.load()
            oriented = ImageOps.exif_transpose(image)
            oriented.load()
            return oriented
    except Image.DecompressionBombError as error:
        raise BadImage(f"image too large ({error})") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as error:
        text = str(error) or type(error).__name__
        raise BadImage(f"truncated or corrupt image ({text})") from None


def array_to_image(array: np.ndarray) -> Image.Image:
    """A Pillow image from a uint8 array [H, W] or [H, W, C] with C in 1, 3, 4."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8))  # L, RGB or RGBA.


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    """0..65535 to 0..255, rounded to nearest (v * 255 / 65535 = v / 257)."""
    values = np.clip(values.astype(np.int64), 0, 65535)
    return ((values * 255 + 32767) // 65535).astype(np.uint8)


def _normalise_mode(image: Image.Image) -> Image.Image:
    """The image in one of the modes L, LA, RGB, RGBA."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode.startswith("I"):  # I;16 variants and 32-bit I: read as 16-bit gray.
        return Image.fromarray(_scale_16bit(np.asarray(image)))
    if mode == "F":  # Floating point gray: [0, 1] when it fits, else clipped to [0, 255].
        values = np.asarray(image, dtype=np.float64)
        if values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        return Image.fromarray(np.clip(np.rint(np.nan_to_num(values)), 0, 255).astype(np.uint8))
    if mode == "1":
        return image.convert("L")
    if mode == "La":
        return image.convert("LA")
    if mode in ("RGBa", "PA"):
        return image.convert("RGBA")
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX.


def _composite_on_white(pixels: np.ndarray) -> np.ndarray:
    """[..., C+1] colour with alpha -> [..., C] composited on white, rounded to nearest."""
    colour = pixels[..., :-1].astype(np.uint32)
    alpha = pixels[..., -1:].astype(np.uint32)
    return ((colour * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _to_channels(image: Image.Image, channels: int) -> Image.Image:
    """An image in mode L, LA, RGB or RGBA converted to mode L (1), RGB (3) or RGBA (4)."""
    mode = image.mode
    if channels == 4:
        if mode == "LA":
            gray, alpha = image.split()
            return Image.merge("RGBA", (gray, gray, gray, alpha))
        return image.convert("RGBA")  # Opaque alpha plane for L and RGB.
    if mode == "LA":
        image = Image.fromarray(_composite_on_white(np.asarray(image))[..., 0])
    elif mode == "RGBA":
        image = Image.fromarray(_composite_on_white(np.asarray(image)))
    target = "L" if channels == 1 else "RGB"
    return image if image.mode == target else image.convert(target)


def apply_resize_policy(image: Image.Image, policy: str, size: tuple[int, int] | None) -> Image.Image:
    """The image brought to `size` = (height, width) by `policy`.

    keep: unchanged. resize: stretched to the size (aspect ratio not kept).
    center_crop: the largest centred box with the target aspect ratio, resized
    to the size. pad: resized to fit inside the size keeping the aspect ratio
    (longer side touches), centred on zeros (black; transparent with alpha).
    """
    if policy == "keep" or size is None:
        return image
    height, width = size
    w, h = image.size
    if policy == "resize":
        return image if (w, h) == (width, height) else image.resize((width, height), RESAMPLE)
    if policy == "center_crop":
        # Box of aspect width/height: as wide as possible, else as tall as possible.
        if w * height >= h * width:
            box_h, box_w = h, max(1, round(h * width / height))
        else:
            box_h, box_w = max(1, round(w * height / width)), w
        left, top = (w - box_w) // 2, (h - box_h) // 2
        box = (left, top, left + box_w, top + box_h)
        if (box_w, box_h) == (width, height):
            return image.crop(box)
        return image.resize((width, height), RESAMPLE, box=box)
    if policy == "pad":
        scale = min(height / h, width / w)
        new_w, new_h = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), RESAMPLE)
        canvas = Image.new(image.mode, (width, height), 0)
        canvas.paste(image, ((width - new_w) // 2, (height - new_h) // 2))
        return canvas
    raise ValueError(f"resize policy must be one of {RESIZE_POLICIES}, got {policy!r}")


def convert(image: Image.Image, channels: int, policy: str, size: tuple[int, int] | None) -> Image.Image:
    """Steps 2 to 4 of the module docstring."""
    return apply_resize_policy(_to_channels(_normalise_mode(image), channels), policy, size)


def encode(image: Image.Image, image_format: str, jpeg_quality: int) -> bytes:
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, format="PNG", compress_level=6)
    else:
        image.save(buffer, format="JPEG", quality=jpeg_quality)
    return buffer.getvalue()


def encode_chunk(task: tuple[Sequence[Any], dict]) -> list[tuple]:
    """Worker entry point: converts and encodes a chunk of inputs.

    `task` is (inputs, options); an input is a file path or a uint8 array;
    options hold channels, resize_policy, image_size, image_format, jpeg_quality.
    Returns per input ("ok", encoded bytes, height, width) or ("bad", reason).
    """
    inputs, options = task
    results = []
    for item in inputs:
        try:
            image = load_file(item) if isinstance(item, str) else array_to_image(item)
            image = convert(image, options["channels"], options["resize_policy"], options["image_size"])
            encoded = encode(image, options["image_format"], options["jpeg_quality"])
        except BadImage as error:
            results.append(("bad", str(error)))
            continue
        except (OSError, ValueError, SyntaxError, EOFError, struct.error) as error:  # A decoder failing late.
            results.append(("bad", f"truncated or corrupt image ({error})"))
            continue
        except Exception as error:  # noqa: BLE001  Any other decoder failure is one bad input, not a failed build.
            results.append(("bad", f"cannot convert image ({type(error).__name__}: {error})"))
            continue
        results.append(("ok", encoded, image.height, image.width))
    return results


def probe_chunk(paths: Sequence[str]) -> list[tuple]:
    """Worker entry point: per path ("ok", is_gray) or ("bad", reason)."""
    results = []
    for path in paths:
        try:
            results.append(("ok", probe_file(path)))
        except BadImage as error:
            results.append(("bad", str(error)))
        except Exception as error:  # noqa: BLE001  Any other decoder failure is one bad input.
            results.append(("bad", f"unreadable image ({type(error).__name__}: {error})"))
    return results
