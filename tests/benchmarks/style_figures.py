"""StyleGAN's README figures from an export: uncurated samples, a truncation sweep, a style-mixing grid.

Run on purpose, on an export of `python -m apps.stylegan.export`:

    python tests/benchmarks/style_figures.py --export_dir=exports/stylegan64/1 --output_prefix=apps/stylegan/celeba64

writes three PNGs:

- ``<prefix>_uncurated.png``: --rows x --columns samples of `sample(seed, count)` at psi 1 (left panel) and
  at --psi (right panel), the same z in both;
- ``<prefix>_truncation.png``: one row per z, one column per psi of --sweep (the paper's Figure 8);
- ``<prefix>_mixing.png``: the paper's Figure 3: the top row holds the source-A images, the left column
  the source-B images; each cell is A's dlatents with one group of layers taken from B: coarse (4x4-8x8,
  layers 0-3), middle (16x16-32x32, layers 4-7) and fine (64x64 and up, layers 8 and on), two B rows per
  group. Rendered with `mapping` and `synthesis` (dlatents built here), at psi 1.

Every image comes from the SavedModel's signatures, exactly what TF Serving returns.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import tensorflow as tf
from PIL import Image

GROUPS = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}


def to_uint8(images):
    return np.round(np.clip((np.asarray(images) + 1.0) * 127.5, 0, 255)).astype(np.uint8)


def tile(images, rows, columns):
    """[rows * H, columns * W, C] from images [rows * columns, H, W, C], row-major."""
    images = np.asarray(images)
    h, w, c = images.shape[1:]
    return images.reshape(rows, columns, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, columns * w, c)


def save(array, path):
    array = array[..., 0] if array.shape[-1] == 1 else array
    Image.fromarray(array).save(path)
    print(f"wrote {path} ({array.shape[1]}x{array.shape[0]})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export_dir", required=True, help="A version folder of the StyleGAN export.")
    parser.add_argument("--output_prefix", required=True)
    parser.add_argument("--rows", type=int, default=6)
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--psi", type=float, default=0.7)
    parser.add_argument("--sweep", default="1,0.7,0.5,0.25,0,-0.5,-1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    loaded = tf.saved_model.load(args.export_dir)
    with open(os.path.join(args.export_dir, "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    num_layers, latent_dim = info["num_layers"], info["latent_dim"]
    count = args.rows * args.columns
    panels = []
    for psi in (1.0, args.psi):
        out = loaded.signatures["sample"](seed=tf.constant(args.seed, tf.int64), count=tf.constant(count, tf.int32),
                                          truncation_psi=tf.constant(psi, tf.float32))
        panels.append(tile(out["images"].numpy(), args.rows, args.columns))
    gap = np.full((panels[0].shape[0], 8, panels[0].shape[2]), 255, np.uint8)
    save(np.concatenate([panels[0], gap, panels[1]], axis=1), f"{args.output_prefix}_uncurated.png")

    rng = np.random.default_rng(args.seed)
    psis = [float(p) for p in args.sweep.split(",")]
    z = rng.standard_normal((args.rows, latent_dim)).astype(np.float32)
    columns = [loaded.signatures["generate_float"](z=tf.constant(z), truncation_psi=tf.constant(p, tf.float32))
               ["images_float"].numpy() for p in psis]
    sweep = np.stack(columns, axis=1).reshape(-1, *columns[0].shape[1:])  # row-major: z, then psi
    save(tile(to_uint8(sweep), args.rows, len(psis)), f"{args.output_prefix}_truncation.png")

    sources_a = rng.standard_normal((5, latent_dim)).astype(np.float32)
    sources_b = rng.standard_normal((6, latent_dim)).astype(np.float32)
    w_a = loaded.signatures["mapping"](z=tf.constant(sources_a))["w"].numpy()
    w_b = loaded.signatures["mapping"](z=tf.constant(sources_b))["w"].numpy()

    def render(w_layers):
        return to_uint8(loaded.signatures["synthesis"](dlatents=tf.constant(w_layers, tf.float32))
                        ["images_float"].numpy())

    image_a = render(np.repeat(w_a[:, None], num_layers, axis=1))
    image_b = render(np.repeat(w_b[:, None], num_layers, axis=1))
    blank = np.full_like(image_a[:1], 255)
    rows = [np.concatenate([blank, image_a], axis=0)]
    for index, (low, high) in enumerate(GROUPS.values()):
        for b in (2 * index, 2 * index + 1):
            layers = np.repeat(w_a[:, None], num_layers, axis=1)
            layers[:, low:high] = w_b[b]
            rows.append(np.concatenate([image_b[b:b + 1], render(layers)], axis=0))
    grid = np.stack(rows)  # [rows, columns, H, W, C]
    save(tile(grid.reshape(-1, *grid.shape[2:]), grid.shape[0], grid.shape[1]), f"{args.output_prefix}_mixing.png")


if __name__ == "__main__":
    main()
