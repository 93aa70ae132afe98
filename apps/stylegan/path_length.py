"""Perceptual path length of a trained StyleGAN (Karras et al. 2019, section 4.2).

`python -m apps.stylegan.path_length --model_dir=runs/stylegan --feature_network=contrastive`

The paper's measure of how smoothly images change along interpolation paths
in the latent space (eq. 2 and 3): for z_1, z_2 ~ N(0, I) and t ~ U(0, 1),

    l_W = E[ d(G(lerp(f(z_1), f(z_2); t)), G(lerp(f(z_1), f(z_2); t + eps))) / eps^2 ]
    l_Z = E[ d(G(f(slerp(z_1, z_2; t))), G(f(slerp(z_1, z_2; t + eps)))) / eps^2 ]

with eps = 1e-4, f the mapping network, G the synthesis network (w repeated on
every layer, no truncation) rendering both images of a pair with the same
noise (the generator's stored noise images, as the reference's
``randomize_noise=False``), and the mean taken after dropping the distances
below the 1st and above the 99th percentile (the authors'
``metrics/perceptual_path_length.py``, "full" paths).

d is the paper's LPIPS (VGG16 features learned to match human judgements), a
download. Here d is the same kind of quantity in the feature network the
evaluate command uses (`common.evaluation.evaluate_command`; on unlabelled
data the contrastive encoder trained on the dataset itself): the squared
Euclidean distance between the two images' feature vectors, each scaled to
unit length. The numbers are comparable between models measured with the same
feature network, not with the paper's. The paper crops FFHQ images to the
face before LPIPS; these are already face crops, so the whole image is used.
"""

from __future__ import annotations

import json
import os

import numpy as np

__all__ = ["path_distances", "perceptual_path_length", "slerp", "lerp"]

EPSILON = 1e-4
SPACES = ("w", "z")


def lerp(a, b, t):
    """``a + t (b - a)`` row by row; t [B, 1]."""
    return a + t * (b - a)


def slerp(a, b, t):
    """Spherical interpolation of the rows of a and b (the reference's ``slerp`` of normalised z), t [B, 1]."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    d = np.clip(np.sum(a * b, axis=-1, keepdims=True), -1.0, 1.0)
    p = t * np.arccos(d)
    c = b - d * a
    c = c / np.maximum(np.linalg.norm(c, axis=-1, keepdims=True), 1e-12)
    return a * np.cos(p) + c * np.sin(p)


def path_distances(generator, embed, *, num_samples: int, batch_size: int = 50, epsilon: float = EPSILON,
                   space: str = "w", seed: int = 0) -> np.ndarray:
    """The per-pair scaled distances d / eps^2 of ``num_samples`` random path segments (module docstring).

    Args:
      generator: `apps.stylegan.networks.StyleGenerator` (float32), in the phase it should render.
      embed: images [B, H, W, C] in [-1, 1] -> features [B, F] (NumPy).
      num_samples: Path segments.
      batch_size: Segments per batch (two images each).
      epsilon: The step along the path.
      space: "w" (lerp of mapped latents) or "z" (slerp of latents, then the mapping).
      seed: Seed of z_1, z_2 and t.
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}; got {space!r}.")
    rng = np.random.default_rng(seed)
    latent_dim = generator.config.latent_dim
    distances = []
    done = 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        z = rng.standard_normal((2, n, latent_dim)).astype(np.float32)
        t = rng.uniform(0.0, 1.0, (n, 1)).astype(np.float32)
        if space == "w":
            w_1 = generator.mapping(z[0]).numpy().astype(np.float64)
            w_2 = generator.mapping(z[1]).numpy().astype(np.float64)
            w = np.concatenate([lerp(w_1, w_2, t), lerp(w_1, w_2, t + epsilon)]).astype(np.float32)
        else:
            zz = np.concatenate([slerp(z[0].astype(np.float64), z[1].astype(np.float64), t),
                                 slerp(z[0].astype(np.float64), z[1].astype(np.float64), t + epsilon)])
            w = generator.mapping(zz.astype(np.float32)).numpy()
        dlatents = np.repeat(w[:, None], generator.num_layers, axis=1)
        features = np.asarray(embed(generator.render(dlatents, noise_mode="const")), np.float64)
        features /= np.maximum(np.linalg.norm(features, axis=-1, keepdims=True), 1e-12)
        distances.append(np.sum(np.square(features[:n] - features[n:]), axis=-1) / epsilon ** 2)
        done += n
    return np.concatenate(distances)


def perceptual_path_length(distances: np.ndarray) -> dict:
    """The mean of the distances between their 1st and 99th percentiles (the reference's filter), with counts."""
    low = np.percentile(distances, 1, method="lower")
    high = np.percentile(distances, 99, method="higher")
    kept = distances[(distances >= low) & (distances <= high)]
    return {"ppl": float(np.mean(kept)), "kept": int(kept.size), "samples": int(distances.size),
            "median": float(np.median(distances))}


def main(argv):
    from absl import app, flags

    from apps.stylegan.config import StyleGANConfig
    from apps.stylegan.model import build_model
    from common.evaluation import evaluate_command
    from common.training import checkpointing, runtime
    from common.training.runtime_config import read_saved_config

    flag_values = flags.FLAGS
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {' '.join(argv[1:])!r}.")
    options = evaluate_command.options_from_flags()
    if not options.model_dir:
        raise app.UsageError("Pass --model_dir (a StyleGAN training run).")
    with runtime.exit_on_user_error():
        model, path = runtime.restore_app_for_inference(options.model_dir, StyleGANConfig, build_model)
        use_ema = options.ema and model.ema is not None
        generator = model.ema.shadow if use_ema else model.generator
        model.prepare_sampling(generator)
        saved = read_saved_config(options.model_dir) or {}
        data = options.data or saved.get("runtime", {}).get("data")
        config = model.config
        extractor, facts = evaluate_command.extractor_from_options(options, data=data, image_size=config.image_size,
                                                                   channels=config.channels)
        distances = path_distances(generator, lambda images: extractor(images)["features"],
                                   num_samples=options.num_samples, batch_size=options.batch_size,
                                   epsilon=flag_values.epsilon, space=flag_values.space, seed=options.seed)
        result = {**perceptual_path_length(distances), "space": flag_values.space, "epsilon": flag_values.epsilon,
                  "step": checkpointing.checkpoint_step(path), "checkpoint": path, "ema": use_ema,
                  "resolution": generator.resolution, **facts}
    output = options.output or os.path.join(options.model_dir, "eval",
                                             f"ppl-{flag_values.space}-step-{result['step']}-"
                                             f"{facts['feature_network']}.json")
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as file:
        json.dump(result, file, indent=2, sort_keys=True)
    print(f"PPL ({flag_values.space}, {facts['feature_network']} features, {result['samples']} paths): "
          f"{result['ppl']:.4g} (median {result['median']:.4g}); written to {output}")


if __name__ == "__main__":
    from absl import app, flags

    from common.evaluation import evaluate_command

    evaluate_command.define_evaluate_flags()
    flags.DEFINE_float("epsilon", EPSILON, "Step along each interpolation path.")
    flags.DEFINE_enum("space", "w", list(SPACES), "Interpolate in W (lerp of mapped latents) or Z (slerp).")
    app.run(main)
