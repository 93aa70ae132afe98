"""Class rows of an exported class-conditional generator, and its truncation sweep, as one PNG.

Run on purpose, on an export of `python -m apps.<app>.export` (SAGAN, BigGAN, AC-GAN, ...):

    python tests/benchmarks/class_grid.py --export_dir=exports/biggan_cifar10/1 \\
        --output=apps/biggan/cifar10_truncation.png --psi=1.0,0.7,0.4 --columns=8

One panel per psi (an export without the truncation input takes no --psi: one
panel), side by side with a gap. Each panel has one row per class (0..K-1, the
export's K) and --columns columns; column j uses the same z in every row and
every panel (drawn with NumPy from --seed), so a row shows one class and a
column one latent across classes, and the panels the same latents truncated
at each psi (`serving_default`'s redraw of the components outside [-psi, psi]
uses one fixed seed, so it is the same for every request). The images come
from the SavedModel's `generate_float` signature, exactly what TF Serving returns.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import tensorflow as tf
from PIL import Image


def panel(signature, z, num_classes, psi):
    """[K * H, columns * W, C] uint8: row k is class k for every column's z."""
    columns = z.shape[0]
    rows = []
    for label in range(num_classes):
        inputs = dict(z=tf.constant(z), labels=tf.fill([columns], tf.constant(label, tf.int32)))
        if psi is not None:
            inputs["truncation"] = tf.constant(psi, tf.float32)
        images = signature(**inputs)["images_float"].numpy()
        rows.append(np.concatenate(list(images), axis=1))
    grid = np.concatenate(rows, axis=0)
    return np.round(np.clip((grid + 1.0) * 127.5, 0, 255)).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export_dir", required=True, help="A version folder of an export (holds saved_model.pb).")
    parser.add_argument("--output", required=True, help="The PNG to write.")
    parser.add_argument("--psi", default="", help="Truncation thresholds, one panel each (e.g. 1.0,0.7,0.4).")
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="Nearest-neighbour enlargement of the PNG.")
    args = parser.parse_args()

    with open(os.path.join(args.export_dir, "assets.extra", "export_info.json")) as file:
        info = json.load(file)
    num_classes, latent_dim = int(info["num_classes"]), int(info["latent_dim"])
    loaded = tf.saved_model.load(args.export_dir)
    signature = loaded.signatures["generate_float"]
    truncation = "truncation" in signature.structured_input_signature[1]
    psis = [float(p) for p in args.psi.split(",") if p.strip()]
    if psis and not truncation:
        raise SystemExit(f"{args.export_dir} has no truncation input; leave out --psi.")
    z = np.random.default_rng(args.seed).standard_normal((args.columns, latent_dim)).astype(np.float32)
    panels = [panel(signature, z, num_classes, psi) for psi in (psis or [0.0 if truncation else None])]
    gap = np.full((panels[0].shape[0], 8, panels[0].shape[2]), 255, np.uint8)
    image = np.concatenate([part for p in panels for part in (p, gap)][:-1], axis=1)
    if image.shape[2] == 1:
        image = image[..., 0]
    image = np.kron(image, np.ones((args.scale, args.scale) + (1,) * (image.ndim - 2), np.uint8))
    Image.fromarray(image).save(args.output)
    print(f"Wrote {args.output}: {len(panels)} panel(s) of {num_classes} classes x {args.columns} latents"
          + (f", psi {', '.join(str(p) for p in psis)}" if psis else "") + ".")


if __name__ == "__main__":
    main()
