"""Offline default datasets, built once from images shipped inside installed packages.

So that every app trains with no flags and no network, `default_dataset(family)`
builds a small dataset in the suite's record schema on first use and returns
its folder. Datasets are cached under
`$XDG_CACHE_HOME/gansuite/datasets/<family>-v<N>` (`~/.cache/...` when
XDG_CACHE_HOME is unset); `N` changes whenever the recipe below changes.

Families:

`digits` (the default of `load_dataset(None)`): scikit-learn's bundled copy of
the UCI optical handwritten digits (`sklearn.datasets.load_digits`): 1,797
grayscale 8x8 images with 17 grey levels (0..16) written by 43 people, 10
classes "0".."9", about 180 per class. Values are scaled to 0..255 and
upsampled to 32x32 with Pillow's bicubic filter (clipped to 0..255), stored as
PNG with labels; a test split of 10% is carved with seed 0 (1,617 train /
180 test). Limits: the images are 8x8 at heart, so the 32x32 versions are
smooth blobs with no stroke detail; FID against Inception features means
little at this size; use MNIST or your own data for quality work.

`two_domain`: an unpaired image-translation toy built from the colour photos
bundled with scikit-image (astronaut, chelsea the cat, coffee, rocket,
motorcycle_left, motorcycle_right; read from the installed package folder, no
network). Domain A ("color") holds random square crops of these photos (crop
side 35%..100% of the shorter side, resized to 64x64 with Pillow's bicubic
filter); domain B ("sepia") holds other random crops of the same photos
(drawn with a different seed) toned with the classic sepia matrix. Of each
photo's crops, 10% (at least one) form the test split: 324 train and 36 test
images per domain by default. Limits, plainly: six source photos (two are a
stereo pair) give little diversity, so models memorise them; test crops come
from the same photos as train crops, so the test split measures fit, not
generalisation; and A->B is a fixed per-pixel colour transform (a 1x1
convolution can learn it), so the family checks that a translation app
trains, cycles and exports end to end, not that it learns semantic
translation. Its one advantage: the right answer is known exactly
(`sepia(a)`), so a translation can be scored against it.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from tfrecords import schema

FAMILIES = ("digits", "two_domain")
# Bump when a family's recipe changes, so old caches are not reused.
VERSIONS = {"digits": 1, "two_domain": 1}

DIGITS_SIZE = 32
TWO_DOMAIN_SIZE = 64
TWO_DOMAIN_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png")
TWO_DOMAIN_CROPS_PER_PHOTO = 60
TEST_FRACTION = 0.1
SEED = 0

# Sepia toning matrix (rows: output R, G, B; columns: input R, G, B).
SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float64)


# One shard per split, as every cached build of these versions has: a build made today
# equals one cached earlier (same shards, same checksums, same seeded order). They are a
# few MiB, so multi-worker runs read them by record (`common.data.reader`) at no real cost.
ONE_SHARD = 1


def cache_root() -> str:
    """`$XDG_CACHE_HOME/gansuite/datasets`, or `~/.cache/gansuite/datasets`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gansuite", "datasets")


def default_dataset(family: str = "digits", *, crops_per_photo: int | None = None) -> str:
    """The folder of the built `family` dataset, building it on first use.

    Args:
      family: "digits" or "two_domain".
      crops_per_photo: two_domain only: crops drawn per photo and domain
        (default 60, so 360 images per domain); other values are cached apart.

    Returns:
      Path of the dataset folder (holding manifest.json), for `common.data.reader.load_dataset`.
    """
    if family not in FAMILIES:
        raise ValueError(f"Unknown default dataset family {family!r}; choose one of {', '.join(FAMILIES)}.")
    folder_name = f"{family}-v{VERSIONS[family]}"
    if family == "two_domain":
        if crops_per_photo is None:
            crops_per_photo = TWO_DOMAIN_CROPS_PER_PHOTO
        if crops_per_photo < 2:
            raise ValueError(f"crops_per_photo must be at least 2, got {crops_per_photo}.")
        if crops_per_photo != TWO_DOMAIN_CROPS_PER_PHOTO:
            folder_name += f"-crops{crops_per_photo}"
    elif crops_per_photo is not None:
        raise ValueError("crops_per_photo applies to the two_domain family only.")
    root = cache_root()
    final = os.path.join(root, folder_name)
    if _is_complete(final):
        return final
    os.makedirs(root, exist_ok=True)
    workspace = tempfile.mkdtemp(prefix=f".{folder_name}-building-", dir=root)
    try:
        built = os.path.join(workspace, "dataset")
        sources = os.path.join(workspace, "sources")
        os.makedirs(sources)
        if family == "digits":
            _build_digits(sources, built)
        else:
            _build_two_domain(sources, built, crops_per_photo)
        _publish(built, final)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    return final


def _is_complete(folder: str) -> bool:
    """True when `folder` holds a readable manifest and every shard it lists."""
    try:
        manifest = schema.read_manifest(folder)
    except schema.ManifestError:
        return False
    for split in manifest.get("splits", {}).values():
        for shard in split.get("shards", []):
            if not os.path.exists(os.path.join(folder, shard["file"])):
                return False
    return True


def _publish(built: str, final: str) -> None:
    """Renames the finished build into place; a concurrent builder that got there first wins."""
    if os.path.exists(final) and not _is_complete(final):
        shutil.rmtree(final, ignore_errors=True)  # A damaged cache, e.g. files deleted by hand.
    try:
        os.replace(built, final)  # Atomic; fails if another process published a non-empty folder.
    except OSError:
        if not _is_complete(final):
            raise


# ---------------------------------------------------------------- digits


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as uint8 [1797, 32, 32] (bicubic upsampling) and int64 labels."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)  # 0..16 -> 0..255
    images = np.empty((len(small), DIGITS_SIZE, DIGITS_SIZE), dtype=np.uint8)
    for i, image in enumerate(small):
        resized = Image.fromarray(image, mode="L").convert("F").resize((DIGITS_SIZE, DIGITS_SIZE), Image.BICUBIC)
        images[i] = np.clip(np.round(np.asarray(resized)), 0, 255).astype(np.uint8)
    return images, digits.target.astype(np.int64)


def _build_digits(sources: str, output: str) -> None:
    from tfrecords.build import build_dataset

    images, labels = digits_images()
    npz = os.path.join(sources, "digits.npz")
    np.savez(npz, images=images[..., None], labels=labels, label_names=np.array([str(d) for d in range(10)]))
    build_dataset(
        source=npz,
        output=output,
        kind="npz",
        name="digits",
        channels=1,
        image_format="png",
        test_fraction=TEST_FRACTION,
        seed=SEED,
        min_shards=ONE_SHARD,
        progress=False,
    )


# ---------------------------------------------------------------- two_domain


def sepia(images: np.ndarray) -> np.ndarray:
    """Sepia-toned copies of uint8 RGB images [..., 3]."""
    toned = images.astype(np.float64) @ SEPIA.T
    return np.clip(np.round(toned), 0, 255).astype(np.uint8)


def _random_crops(photo: np.ndarray, count: int, rng: np.random.Generator) -> list:
    """`count` random square crops (side 35%..100% of the shorter side), bicubic-resized to 64x64."""
    from PIL import Image

    height, width = photo.shape[:2]
    shorter = min(height, width)
    crops = []
    for _ in range(count):
        side = int(rng.integers(int(0.35 * shorter), shorter + 1))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        patch = Image.fromarray(photo[top : top + side, left : left + side])
        crops.append(np.asarray(patch.resize((TWO_DOMAIN_SIZE, TWO_DOMAIN_SIZE), Image.BICUBIC)))
    return crops


def two_domain_photos() -> dict:
    """The bundled scikit-image colour photos, by file name, as uint8 RGB arrays."""
    import skimage.data
    from PIL import Image

    folder = os.path.dirname(skimage.data.__file__)
    photos = {}
    for name in TWO_DOMAIN_PHOTOS:
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"scikit-image's bundled photo {path} is missing; reinstall scikit-image "
                "(pip install -r requirements.txt)."
            )
        with Image.open(path) as image:
            photos[name] = np.asarray(image.convert("RGB"))
    return photos


def _build_two_domain(sources: str, output: str, crops_per_photo: int) -> None:
    from PIL import Image

    from tfrecords.build import build_dataset

    photos = two_domain_photos()
    test_per_photo = max(1, round(TEST_FRACTION * crops_per_photo))
    folders = {"color": os.path.join(sources, "color"), "sepia": os.path.join(sources, "sepia")}
    for domain_seed, (domain, folder) in enumerate(folders.items()):
        rng = np.random.default_rng([SEED, domain_seed])
        for name, photo in photos.items():
            stem = os.path.splitext(name)[0]
            for i, crop in enumerate(_random_crops(photo, crops_per_photo, rng)):
                split = "test" if i < test_per_photo else "train"
                os.makedirs(os.path.join(folder, split), exist_ok=True)
                if domain == "sepia":
                    crop = sepia(crop)
                Image.fromarray(crop).save(os.path.join(folder, split, f"{stem}_{i:04d}.png"))
    build_dataset(
        output=output,
        kind="domains",
        name="two_domain",
        domains=(folders["color"], folders["sepia"]),
        channels=3,
        image_format="png",
        seed=SEED,
        min_shards=ONE_SHARD,
        progress=False,
    )
