"""How close a translator run on the default two-domain data is to the exact answer, sepia(A).

Run on purpose (not collected by pytest), from the repository root:

    python tests/benchmarks/sepia_error.py --model_dir=runs/cyclegan --grid=/tmp/sepia_rows.png

The offline default `two_domain` dataset (`common.data.default_datasets`)
tones its domain B with a fixed colour matrix, so the right translation of
every colour crop A is known exactly: `sepia(a)`. For the newest checkpoint of
`--model_dir` (a CycleGAN, CSGAN or DiscoGAN run trained without `--data`),
this translates the test crops of domain A (36 at 64x64 by default) with
G = `translators()["a_to_b"]` and prints the mean absolute error of G(A)
against sepia(A) on the 0-255 scale, next to three references on the same
crops: the untranslated crop A, and sepia(A) blurred with a Gaussian of
radius 1 and 2 (Pillow's `GaussianBlur`). A translation that beats the
untranslated crop has moved the colours toward sepia; the blurred references
show what a right but soft translation scores. `--grid` writes rows of
A | G(A) | sepia(A) for the first `--grid_rows` crops.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np


def _uint8(images) -> np.ndarray:
    """Images in [-1, 1] -> uint8, as the export's mapping does."""
    return np.clip(np.round((np.asarray(images, np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def _blurred(images: np.ndarray, radius: float) -> np.ndarray:
    from PIL import Image, ImageFilter

    return np.stack([np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius))) for image in images])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--app", default=None, help="cyclegan, csgan or discogan (default: from config.json)")
    parser.add_argument("--grid", default=None, help="PNG of rows A | G(A) | sepia(A)")
    parser.add_argument("--grid_rows", type=int, default=6)
    args = parser.parse_args()

    import importlib

    from common.data import reader as data_lib
    from common.data.default_datasets import default_dataset, sepia
    from common.training import runtime

    with open(os.path.join(args.model_dir, runtime.CONFIG_FILENAME)) as file:
        saved = json.load(file)
    app = args.app or saved["app"]
    config_module = importlib.import_module(f"apps.{app}.config")
    model_module = importlib.import_module(f"apps.{app}.model")
    config_class = next(getattr(config_module, name) for name in dir(config_module)
                        if name.endswith("Config") and name.lower().startswith(app))
    model, path = runtime.restore_app_for_inference(args.model_dir, config_class, model_module.build_model)
    size = int(saved["model"]["image_size"])

    data = default_dataset("two_domain")
    count = int(data_lib.describe(data).num_examples["test"]) // 2
    batch = next(iter(data_lib.load_unpaired(data, split="test", seed=0, image_size=size, channels=3,
                                             batch_size=count, shuffle=False, repeat=False, cache=False)))
    real_a = batch["a"].numpy()
    a = _uint8(real_a)
    truth = sepia(a)
    translated = _uint8(model.translators()["a_to_b"](real_a, training=False))
    report = {
        "checkpoint": os.path.basename(path),
        "test_crops": len(a),
        "mae_translated": round(_mae(translated, truth), 2),
        "mae_untranslated": round(_mae(a, truth), 2),
        "mae_sepia_blur_r1": round(_mae(_blurred(truth, 1), truth), 2),
        "mae_sepia_blur_r2": round(_mae(_blurred(truth, 2), truth), 2),
    }
    print(json.dumps(report))
    if args.grid:
        from PIL import Image

        rows = [np.concatenate([a[i], translated[i], truth[i]], axis=1) for i in range(min(args.grid_rows, len(a)))]
        Image.fromarray(np.concatenate(rows, axis=0)).save(args.grid)


if __name__ == "__main__":
    main()
