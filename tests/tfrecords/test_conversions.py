"""Mode conversions and resize policies, checked on pixels computed by hand."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.tfrecords import tiny_sources as tiny
from tfrecords import images, schema
from tfrecords.build import BuildError, build_dataset


def _convert(image, channels, policy="keep", size=None):
    return np.asarray(images.convert(image, channels, policy, size))


def test_16bit_gray_is_scaled_not_clipped():
    values = np.array([[0, 257, 32767], [32896, 65535, 128]], dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    buffer.seek(0)
    image = Image.open(buffer)
    assert image.mode.startswith("I;16")
    # round(v * 255 / 65535): 32767 -> 127.498 -> 127, 32896 -> 128, 128 -> 0.498 -> 0.
    np.testing.assert_array_equal(_convert(image, 1), [[0, 1, 127], [128, 255, 0]])


def test_rgba_is_composited_on_white_for_three_channels_and_kept_for_four():
    pixels = np.array([[[200, 100, 0, 255], [200, 100, 0, 0], [200, 100, 0, 128]]], dtype=np.uint8)
    image = Image.fromarray(pixels)
    # c * a / 255 + 255 * (1 - a / 255), rounded: a=128 -> 200*128/255 + 255*127/255 = 227.4 -> 227.
    np.testing.assert_array_equal(_convert(image, 3), [[[200, 100, 0], [255, 255, 255], [227, 177, 127]]])
    np.testing.assert_array_equal(_convert(image, 4), pixels)


def test_gray_alpha_to_rgba_and_to_gray():
    image = Image.fromarray(np.array([[[10, 255], [10, 0]]], dtype=np.uint8), mode="LA")
    np.testing.assert_array_equal(_convert(image, 4), [[[10, 10, 10, 255], [10, 10, 10, 0]]])
    np.testing.assert_array_equal(_convert(image, 1), [[10, 255]])


def test_palette_with_transparency_and_gray_replication():
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putdata([0, 1])
    image.info["transparency"] = 1
    np.testing.assert_array_equal(_convert(image, 4), [[[255, 0, 0, 255], [0, 0, 255, 0]]])
    np.testing.assert_array_equal(_convert(image, 3), [[[255, 0, 0], [255, 255, 255]]])
    gray = Image.fromarray(np.array([[7, 200]], dtype=np.uint8))
    np.testing.assert_array_equal(_convert(gray, 3), [[[7, 7, 7], [200, 200, 200]]])
    np.testing.assert_array_equal(_convert(gray, 4), [[[7, 7, 7, 255], [200, 200, 200, 255]]])


def test_cmyk_and_colour_to_gray():
    cmyk = Image.new("CMYK", (1, 1), (0, 255, 255, 0))  # Red.
    np.testing.assert_array_equal(_convert(cmyk, 3), [[[255, 0, 0]]])
    rgb = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8))
    # ITU-R 601-2 luma: 0.299 * 255 = 76.2, 0.114 * 255 = 29.1.
    np.testing.assert_array_equal(_convert(rgb, 1), [[76, 29]])


@pytest.mark.parametrize("policy, source_size, target, expected", [
    ("resize", (10, 20), (8, 8), (8, 8)),
    ("center_crop", (10, 20), (8, 8), (8, 8)),
    ("pad", (10, 20), (8, 8), (8, 8)),
    ("center_crop", (30, 10), (6, 12), (6, 12)),
    ("pad", (30, 10), (6, 12), (6, 12)),
])
def test_resize_policies_produce_the_target_size(policy, source_size, target, expected):
    image = Image.new("RGB", (source_size[1], source_size[0]), (9, 9, 9))
    assert _convert(image, 3, policy, target).shape == (*expected, 3)


def test_center_crop_takes_the_middle_and_pad_centres_on_black():
    pixels = np.arange(4 * 8, dtype=np.uint8).reshape(4, 8)
    image = Image.fromarray(pixels)
    # 4x8 to 4x4: the largest centred 4x4 box starts at column 2, no resampling.
    np.testing.assert_array_equal(_convert(image, 1, "center_crop", (4, 4)), pixels[:, 2:6])
    white = Image.new("L", (4, 2), 255)
    # 2x4 into 8x8: scaled to 4x8 (longer side touches), rows 2..5 hold it, rows above and below are black.
    padded = _convert(white, 1, "pad", (8, 8))
    np.testing.assert_array_equal(padded[2:6], 255)
    np.testing.assert_array_equal(padded[:2], 0)
    np.testing.assert_array_equal(padded[6:], 0)


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((2, 3), dtype=np.uint8)
    pixels[0, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Rotate 90 degrees clockwise to display.
    Image.fromarray(pixels).save(tmp_path / "x.jpg", exif=exif, quality=100)
    loaded = np.asarray(images.load_file(str(tmp_path / "x.jpg")))
    assert loaded.shape == (3, 2)
    assert loaded[0, 1] > 200 and loaded[2, 0] < 50


def test_build_converts_mixed_modes_and_infers_channels(tmp_path):
    rng = np.random.default_rng(0)
    gray = tiny.save_image(tmp_path / "gray" / "g.png", tiny.random_pixels(rng, 4, 4, None))
    Image.fromarray(np.full((4, 4), 1000, np.uint16)).save(tmp_path / "gray" / "deep.png")
    manifest_path = build_dataset(source=str(tmp_path / "gray"), output=str(tmp_path / "out1"), num_workers=1,
                                  progress=False)
    assert schema.read_manifest(manifest_path)["image"]["channels"] == 1
    examples = tiny.by_source(tiny.read_split(manifest_path))
    np.testing.assert_array_equal(examples["g.png"]["image"][..., 0], gray)
    np.testing.assert_array_equal(examples["deep.png"]["image"], 4)  # 1000 * 255 / 65535 = 3.9.

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255
    tiny.save_image(tmp_path / "gray" / "rgba.png", rgba)
    manifest_path = build_dataset(source=str(tmp_path / "gray"), output=str(tmp_path / "out3"), num_workers=1,
                                  progress=False, resize_policy="resize", image_size=(2, 3))
    manifest = schema.read_manifest(manifest_path)
    assert manifest["image"]["channels"] == 3 and (manifest["image"]["height"], manifest["image"]["width"]) == (2, 3)
    assert all(e["image"].shape == (2, 3, 3) for e in tiny.read_split(manifest_path))

    manifest_path = build_dataset(source=str(tmp_path / "gray"), output=str(tmp_path / "out4"), num_workers=1,
                                  progress=False, channels=4)
    examples = tiny.by_source(tiny.read_split(manifest_path))
    np.testing.assert_array_equal(examples["rgba.png"]["image"], rgba)
    np.testing.assert_array_equal(examples["g.png"]["image"][..., 3], 255)


def test_jpeg_output_is_close_to_the_source(tmp_path):
    pixels = np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (16, 1))
    tiny.save_image(tmp_path / "src" / "a.png", np.stack([pixels] * 3, axis=-1))
    manifest_path = build_dataset(source=str(tmp_path / "src"), output=str(tmp_path / "out"), num_workers=1,
                                  progress=False, image_format="jpeg", channels=3)
    (example,) = tiny.read_split(manifest_path)
    assert example["format"] == "jpeg" and schema.read_manifest(manifest_path)["image"]["format"] == "jpeg"
    assert np.abs(example["image"].astype(int) - pixels[..., None]).mean() < 3


def test_option_errors_come_before_any_work(tmp_path):
    with pytest.raises(BuildError, match="needs an image size"):
        build_dataset(source=str(tmp_path), output=str(tmp_path / "o"), resize_policy="pad")
    with pytest.raises(BuildError, match="alpha"):
        build_dataset(source=str(tmp_path), output=str(tmp_path / "o"), image_format="jpeg", channels=4)
    with pytest.raises(BuildError, match="HxW"):
        build_dataset(source=str(tmp_path), output=str(tmp_path / "o"), resize_policy="resize", image_size="64y")
