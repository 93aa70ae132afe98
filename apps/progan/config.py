"""Hyper-parameters of ProGAN (Karras et al. 2018, https://arxiv.org/abs/1710.10196).

Defaults are the paper's (section 4 and appendix A.1, the CelebA-HQ 1024x1024
network of Table 2) and, where it is silent, the authors' code
(github.com/tkarras/progressive_growing_of_gans, `config.py`, `networks.py`,
`train.py`, `loss.py`):

- growth from 4x4 to 1024x1024, each new resolution faded in over 800k real
  images and then trained stable for 800k more (appendix A.1; the code uses 600k);
- mini-batch 16 up to 128x128, then 14 (256), 6 (512) and 3 (1024) (A.1);
- WGAN-GP loss (lambda 10) with the drift term epsilon_drift * E[D(x)^2],
  epsilon_drift = 0.001 (A.1), one critic update per generator update (A.1);
- Adam, learning rate 0.001, beta_1 0, beta_2 0.99, epsilon 1e-8 (A.1);
- equalized learning rate, pixelwise feature normalisation in G, minibatch
  standard deviation in D over the whole minibatch, one feature map (sections
  3 and 4.1; the authors' preset for these batch sizes sets its group to 16);
- channels per resolution min(8192 / 2^(log2(res) - 1), 512): 512 up to
  32x32, then 256, 128, 64, 32, 16 (Table 2; the code's fmap_base / fmap_max);
- latent 512, normalised onto the unit hypersphere (pixel norm of z) (A.1);
- generator moving average with decay 0.999 (A.1; the code's G_smoothing).
"""

from __future__ import annotations

import dataclasses
import math

from common.training import progressive

__all__ = ["ProGANConfig"]


@dataclasses.dataclass(frozen=True)
class ProGANConfig:
    """ProGAN hyper-parameters; paper defaults. See the module docstring for sources.

    Attributes:
      image_size: The final resolution (height = width), a power of two >= initial_resolution.
      initial_resolution: The first phase's resolution (4 in the paper).
      channels: Image channels (3 RGB, 1 grayscale).
      latent_dim: Size of z.
      normalize_latents: Pixel-normalise z (onto the sphere of radius sqrt(latent_dim)).
      fmap_base, fmap_max: Feature maps of the blocks at resolution 2^r: min(fmap_base / 2^(r - 1), fmap_max).
      batch_size: Global mini-batch of every resolution not in ``batch_sizes``.
      batch_sizes: Per-resolution overrides, "resolution:batch" entries separated by commas; entries for
        resolutions the run does not reach are ignored.
      fade_images: Real images of each fade-in (alpha 0 -> 1).
      stable_images: Real images at alpha = 1 before the next resolution.
      image_scale: Multiplies both image counts (one flag for a short run, e.g. 0.01); each stays >= 1.
      learning_rate, beta_1, beta_2, epsilon: Adam, both networks.
      penalty_weight: lambda of the gradient penalty.
      drift_weight: epsilon_drift, the weight of E[D(x)^2] in D's loss.
      leaky_relu_slope: Negative slope of every LeakyReLU.
      minibatch_group_size: Group size of the minibatch standard deviation: 16, the whole batch at every
        resolution of the paper's schedule (section 3; the authors' preset for these batch sizes). A batch
        it does not divide uses the largest divisor of the batch below it.
      ema_decay: Decay of the generator's moving average per step; 0 turns it off.
      seed: Seed of the weights and of the noise.
    """

    image_size: int = 1024
    initial_resolution: int = 4
    channels: int = 3
    latent_dim: int = 512
    normalize_latents: bool = True
    fmap_base: int = 8192
    fmap_max: int = 512
    batch_size: int = 16
    batch_sizes: str = "256:14,512:6,1024:3"
    fade_images: int = 800_000
    stable_images: int = 800_000
    image_scale: float = 1.0
    learning_rate: float = 1e-3
    beta_1: float = 0.0
    beta_2: float = 0.99
    epsilon: float = 1e-8
    penalty_weight: float = 10.0
    drift_weight: float = 1e-3
    leaky_relu_slope: float = 0.2
    minibatch_group_size: int = 16
    ema_decay: float = 0.999
    seed: int = 0

    def __post_init__(self):
        try:
            self.resolutions  # noqa: B018  (powers of two, initial <= final)
        except ValueError as error:
            raise ValueError(f"--initial_resolution / --image_size: {error}") from None
        if self.initial_resolution < 4:
            raise ValueError(f"initial_resolution must be >= 4 (the last block works on 4x4 maps); "
                             f"got {self.initial_resolution}.")
        for name in ("channels", "latent_dim", "fmap_base", "fmap_max", "batch_size", "fade_images",
                     "stable_images", "minibatch_group_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if not (isinstance(self.image_scale, (int, float)) and not isinstance(self.image_scale, bool)
                and math.isfinite(self.image_scale) and self.image_scale > 0):
            raise ValueError(f"image_scale must be a finite number > 0; got {self.image_scale!r}.")
        for name in ("learning_rate", "epsilon"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}.")
        for name in ("beta_1", "beta_2", "ema_decay"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        for name in ("penalty_weight", "drift_weight", "leaky_relu_slope"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}.")
        try:
            overrides = progressive.parse_resolution_map(self.batch_sizes)
        except ValueError as error:
            raise ValueError(f"batch_sizes: {error}") from None
        for resolution in overrides:
            if resolution < 1 or resolution & (resolution - 1):
                raise ValueError(f"batch_sizes: {resolution} is not a power of two (a resolution the run could "
                                 f"grow to); got {self.batch_sizes!r}.")
    @property
    def resolutions(self) -> list[int]:
        """The phases' resolutions: initial_resolution, ..., image_size."""
        return progressive.resolutions_between(self.initial_resolution, self.image_size)

    @property
    def batch_size_map(self) -> dict[int, int]:
        """{resolution: batch} of the resolutions this run trains at (``batch_sizes`` plus ``batch_size``)."""
        overrides = progressive.parse_resolution_map(self.batch_sizes)
        return {resolution: overrides.get(resolution, self.batch_size) for resolution in self.resolutions}

    def features(self, resolution: int) -> int:
        """Feature maps of the blocks at ``resolution``: min(fmap_base / 2^(log2(resolution) - 1), fmap_max)."""
        return self.features_at_stage(resolution.bit_length() - 2)

    def features_at_stage(self, stage: int) -> int:
        """The authors' ``nf(stage)`` = min(fmap_base / 2^stage, fmap_max), at least 1."""
        return max(1, min(self.fmap_base >> stage, self.fmap_max))

    def schedule(self, dataset_fn=None) -> progressive.ProgressiveSchedule:
        """The run's `ProgressiveSchedule` (with the runtime's per-phase ``dataset_fn`` when training)."""
        return progressive.ProgressiveSchedule(
            self.resolutions, batch_size=self.batch_size, batch_sizes=self.batch_size_map,
            fade_images=self.scaled_images(self.fade_images), stable_images=self.scaled_images(self.stable_images),
            dataset_fn=dataset_fn)

    def scaled_images(self, count: int) -> int:
        """``count`` times ``image_scale``, rounded, at least 1."""
        return max(1, round(count * self.image_scale))
