"""The evaluate command of the likelihood models: test-split negative log-likelihood, sampling speed, a grid.

An app's `evaluate.py` declares the flags and calls `main`:

    likelihood_evaluation.define_likelihood_flags()

    def main(argv):
        likelihood_evaluation.main(argv, config_class=PixelRNNConfig, build_model=build_model)

For the newest checkpoint of ``--model_dir`` (or ``--checkpoint``) it computes,
over every image of ``--split`` (default "test") of the run's dataset (or
``--data``), or the first ``--max_images`` of a seeded order:

- ``nll_nats``: the mean of -log p(x) in nats per image (the unit of the
  binarised-MNIST tables; for a VAE, the negative ELBO, a bound);
- ``bits_per_dim``: the same divided by H * W * C * ln 2 (the CIFAR-10 unit);

from the moving average of the weights when the run kept one (``--noema``: the
trained weights). The mean is over all images, each counted once: per-batch
sums accumulated in float64. With ``--num_samples=N`` it also draws N images
(``model.sample`` of uniform or normal latents seeded by ``--seed``), reports
the seconds per image (the first batch, which traces, timed apart) and writes
them as a PNG grid beside the JSON report, ``<model_dir>/eval/step-<step>-likelihood-<split>.json``.

The model protocol: ``model.negative_log_likelihood(images, network=...)`` ->
nats per image [B]; ``model.inference_network``; ``model.dims``; and for
samples ``model.sample(z, network=...)`` with ``model.latent_dim`` and
``model.latent_distribution``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, Callable

import numpy as np

from common.evaluation.evaluate_command import EVAL_DIR, EvaluateAppError, jsonable, restore_model

__all__ = ["define_likelihood_flags", "evaluate_likelihood", "time_sampling", "main"]


def define_likelihood_flags(flag_values=None) -> None:
    """Declares the likelihood evaluate command's flags (all optional; read only in `main`)."""
    from absl import flags

    kwargs = {"flag_values": flag_values} if flag_values is not None else {}
    flags.DEFINE_string("model_dir", None, "Directory of the training run to evaluate.", **kwargs)
    flags.DEFINE_string("data", None, "Dataset (folder with manifest.json); default: the run's --data.", **kwargs)
    flags.DEFINE_string("split", "test", "Split whose likelihood is computed.", **kwargs)
    flags.DEFINE_integer("max_images", 0, "Evaluate only this many images of the split (0: all of them).", **kwargs)
    flags.DEFINE_integer("batch_size", 64, "Images per network pass.", **kwargs)
    flags.DEFINE_integer("num_samples", 0, "Also draw this many samples, time them and write a PNG grid.",
                         **kwargs)
    flags.DEFINE_integer("sample_batch_size", 16, "Samples drawn per compiled sampling call.", **kwargs)
    flags.DEFINE_boolean("ema", True, "Use the weights' moving average when the run kept one.", **kwargs)
    flags.DEFINE_integer("seed", 0, "Seed of the image order (with --max_images) and of the samples.", **kwargs)
    flags.DEFINE_string("checkpoint", None, "Checkpoint to evaluate: a ckpt-<step> path (default: the newest).",
                        **kwargs)
    flags.DEFINE_string("output", None, "JSON file to write (default <model_dir>/eval/step-<step>-likelihood-"
                        "<split>.json).", **kwargs)


def evaluate_likelihood(model, dataset, network, *, max_images: int = 0) -> dict:
    """Mean -log p(x) over the image batches of ``dataset`` (dicts with "image" in [-1, 1]) with ``network``.

    Returns nll_nats (per image), bits_per_dim, images and seconds.
    """
    import tensorflow as tf

    nll_fn = tf.function(lambda images: model.negative_log_likelihood(images, training=False, network=network),
                         reduce_retracing=True)
    total, count = 0.0, 0
    start = time.perf_counter()
    for batch in dataset:
        images = batch["image"]
        if max_images:
            images = images[:max_images - count]
        if int(images.shape[0]) == 0:
            break
        nll = np.asarray(nll_fn(images), np.float64)
        if not np.all(np.isfinite(nll)):
            raise EvaluateAppError("The model's negative log-likelihood is not finite on this data; the "
                                   "checkpoint holds non-finite weights or the images are not in [-1, 1].")
        total += float(nll.sum())
        count += int(nll.shape[0])
        if max_images and count >= max_images:
            break
    if count == 0:
        raise EvaluateAppError("The split holds no images to evaluate.")
    nats = total / count
    return {"nll_nats": nats, "bits_per_dim": nats / (model.dims * math.log(2.0)), "images": count,
            "seconds": time.perf_counter() - start}


def time_sampling(model, num_samples: int, batch_size: int, seed: int, network=None) -> tuple[np.ndarray, dict]:
    """``num_samples`` images of ``model.sample(z, network=network)`` in batches, and their timing.

    The latents are drawn with NumPy from ``seed`` in the model's prior. The first
    batch includes tracing and is reported apart; ``seconds_per_image`` is over the
    later batches when there are any, else over the first.
    """
    from common.training.callbacks import prior_noise

    distribution = getattr(model, "latent_distribution", "normal")
    z = prior_noise(seed, num_samples, int(model.latent_dim), distribution)
    images, times = [], []
    for begin in range(0, num_samples, batch_size):
        start = time.perf_counter()
        images.append(np.asarray(model.sample(z[begin:begin + batch_size], network=network)))
        times.append((time.perf_counter() - start, len(images[-1])))
    later = times[1:] or times
    timing = {"samples": num_samples, "sample_batch_size": batch_size,
              "first_batch_seconds": times[0][0],
              "seconds_per_image": sum(t for t, _ in later) / sum(n for _, n in later)}
    return np.concatenate(images), timing


def _write_grid(images: np.ndarray, path: str) -> None:
    from PIL import Image

    from common.training.callbacks import image_grid

    grid = np.round(image_grid(images)[0] * 255.0).astype(np.uint8)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)


def run_likelihood_evaluation(flag_values, build_model: Callable[[Any], Any], model_defaults=None,
                              stream=None) -> dict:
    """The command's work for parsed flags; returns the report (also written as JSON)."""
    from common.data import reader as data_lib
    from common.evaluation.evaluate_command import real_dataset
    from common.training import checkpointing
    from common.training.runtime_config import read_saved_config

    stream = stream or sys.stdout
    options = flag_values
    if options.batch_size < 1 or options.sample_batch_size < 1:
        raise EvaluateAppError("--batch_size and --sample_batch_size must be at least 1.")
    if options.max_images < 0 or options.num_samples < 0:
        raise EvaluateAppError("--max_images and --num_samples must be >= 0 (0: all images, no samples).")
    saved = read_saved_config(options.model_dir) if options.model_dir and os.path.isdir(options.model_dir) else None
    if saved is None:
        raise EvaluateAppError(f"--model_dir={options.model_dir!r} is not a training run (no config.json).")
    data = options.data if options.data is not None else saved.get("runtime", {}).get("data")
    info = data_lib.describe(data)
    counts = getattr(info, "num_examples", None) or {}
    if counts and not counts.get(options.split):
        raise EvaluateAppError(f"Dataset {data!r} has no split {options.split!r}; it has "
                               f"{', '.join(sorted(k for k, v in counts.items() if v))}.")
    model, path = restore_model(options.model_dir, build_model, options.checkpoint, model_defaults)
    use_ema = bool(options.ema and getattr(model, "ema", None) is not None)
    network = model.inference_network if use_ema else model.network
    step = checkpointing.checkpoint_step(path)
    height, width, channels = model.image_shape
    dataset = real_dataset(data, options.split, height, channels, options.batch_size, options.seed)
    result = evaluate_likelihood(model, dataset, network, max_images=options.max_images)
    report = {"step": step, "checkpoint": path, "ema": use_ema, "data": data, "split": options.split,
              "image_shape": [height, width, channels], "dims": model.dims, **result}
    print(f"step {step}: {result['images']} {options.split} images, -log p(x) = {result['nll_nats']:.2f} nats "
          f"per image = {result['bits_per_dim']:.4f} bits/dim ({result['seconds']:.0f} s)", file=stream, flush=True)

    output = options.output or os.path.join(options.model_dir, EVAL_DIR, f"step-{step}-likelihood-{options.split}.json")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    if options.num_samples:
        images, timing = time_sampling(model, options.num_samples, options.sample_batch_size, options.seed,
                                       network=network)
        grid_path = os.path.splitext(output)[0] + "-samples.png"
        _write_grid(images, grid_path)
        report.update(sampling=timing, samples_png=grid_path)
        print(f"sampled {options.num_samples} images: {timing['seconds_per_image']:.2f} s per image "
              f"(first batch {timing['first_batch_seconds']:.1f} s, tracing included); grid {grid_path}",
              file=stream, flush=True)
    with open(output + ".tmp", "w") as file:
        json.dump(jsonable(report), file, indent=2, sort_keys=True)
    os.replace(output + ".tmp", output)
    report["output"] = output
    print(f"Wrote {output}", file=stream, flush=True)
    return report


def main(argv, *, config_class: type, build_model: Callable[[Any], Any], flag_values=None) -> dict:
    """An app's evaluate `main`: reads the flags, runs the evaluation, exits cleanly on user errors."""
    from absl import flags

    from common.training import flags as flags_lib
    from common.training import runtime
    from common.training.runtime_config import field_defaults

    flags_lib.check_no_positional_args(argv)
    with runtime.exit_on_user_error():
        return run_likelihood_evaluation(flag_values or flags.FLAGS,
                                         lambda fields: build_model(config_class(**fields)),
                                         model_defaults=field_defaults(config_class))
