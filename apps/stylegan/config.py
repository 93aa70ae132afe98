"""Hyper-parameters of StyleGAN (Karras, Laine & Aila 2019, https://arxiv.org/abs/1812.04948).

Defaults are the paper's FFHQ 1024x1024 network and, where it is silent, the
authors' code (github.com/NVlabs/stylegan: ``train.py``,
``training/networks_stylegan.py``, ``training/loss.py``,
``training/training_loop.py``):

- mapping network: 8 fully connected layers of 512, learning rate x0.01, z (512)
  normalised onto the sphere, w of 512 (section 2, appendix C);
- synthesis network: a learned 4x4x512 constant, two 3x3 convolutions per
  resolution, each followed by per-pixel noise with learned per-channel scales,
  a bias, LeakyReLU 0.2, instance normalisation and a style from w (AdaIN);
  bilinear upsampling (nearest, then the [1, 2, 1] blur after the convolution);
  channels min(8192 / 2^(log2(res) - 1), 512);
- discriminator: ProGAN's with the [1, 2, 1] blur before each downsampling and
  the minibatch standard deviation in groups of 4 (``D_basic``);
- progressive growing from 8x8: 600k images per fade-in and per stable part
  (``lod_training_kimg``, ``lod_transition_kimg``), mini-batch 128 up to 16x16,
  then 64, 32, 16, 8, 4 at 32 ... 512 and 4 at 1024 (``minibatch_dict`` of
  the 8-GPU preset), learning rate 0.001 raised to 0.0015, 0.002, 0.003 and
  0.003 at 128, 256, 512 and 1024 (``G_lrate_dict``, ``D_lrate_dict``);
- non-saturating logistic loss, R1 penalty with gamma 10 on the reals (section 4 and
  appendix C; ``D_logistic_simplegp``);
- Adam beta_1 0, beta_2 0.99, epsilon 1e-8, optimizer state reset at each new resolution;
- style mixing regularisation with probability 0.9 (section 3.1);
- the moving average of w tracked with beta 0.995; truncation psi 0.7 on the first 8
  layers for samples (section 3.1, appendix B), none for metrics and training;
- the generator's moving average with a half-life of 10k images (``G_smoothing_kimg``):
  decay 0.5^(batch / 10,000) per step.
"""

from __future__ import annotations

import dataclasses
import math

from common.nn.progressive_networks import feature_maps
from common.training import progressive

__all__ = ["StyleGANConfig"]


def _check_powers_of_two(name: str, mapping: dict) -> None:
    for resolution in mapping:
        if resolution < 1 or resolution & (resolution - 1):
            raise ValueError(f"{name}: {resolution} is not a power of two (a resolution the run could grow to).")


@dataclasses.dataclass(frozen=True)
class StyleGANConfig:
    """StyleGAN hyper-parameters; paper defaults. See the module docstring for sources.

    Attributes:
      image_size: The final resolution (height = width), a power of two >= initial_resolution.
      initial_resolution: The first phase's resolution (8 in the authors' code).
      channels: Image channels (3 RGB, 1 grayscale).
      latent_dim: Size of z.
      dlatent_dim: Size of w.
      mapping_layers, mapping_fmaps, mapping_lr_multiplier: The mapping network.
      fmap_base, fmap_max: Feature maps at resolution 2^r: min(fmap_base / 2^(r - 1), fmap_max).
      batch_size: Global mini-batch of every resolution not in ``batch_sizes``.
      batch_sizes: Per-resolution overrides, "resolution:batch" entries separated by commas.
      fade_images, stable_images: Real images of each fade-in and of each stable part.
      image_scale: Multiplies both image counts (one flag for a short run, e.g. 0.01); each stays >= 1.
      learning_rate: Adam's learning rate for G and D at resolutions not in ``learning_rates``.
      learning_rates: Per-resolution learning rates, "resolution:rate" entries separated by commas.
      beta_1, beta_2, epsilon: Adam, both networks.
      r1_gamma: gamma of the R1 penalty (gamma / 2) E||grad D(x)||^2 on the reals.
      style_mixing_prob: Probability that an example's dlatents mix two w.
      dlatent_avg_beta: Decay of the tracked mean of w per step.
      truncation_psi, truncation_cutoff: The default psi of `StyleGenerator.generate`, and the layers any
        truncation moves (the export's too). Training, TensorBoard grids and the metrics use psi = 1; the
        export's signatures take psi as an input.
      minibatch_group_size: Group size of the discriminator's minibatch standard deviation.
      leaky_relu_slope: Negative slope of every LeakyReLU.
      ema_kimg: Half-life of the generator's moving average in thousands of images; 0 turns it off.
      seed: Seed of the weights, the constant noise inputs and the noise of training.
    """

    image_size: int = 1024
    initial_resolution: int = 8
    channels: int = 3
    latent_dim: int = 512
    dlatent_dim: int = 512
    mapping_layers: int = 8
    mapping_fmaps: int = 512
    mapping_lr_multiplier: float = 0.01
    fmap_base: int = 8192
    fmap_max: int = 512
    batch_size: int = 4
    batch_sizes: str = "4:128,8:128,16:128,32:64,64:32,128:16,256:8,512:4"
    fade_images: int = 600_000
    stable_images: int = 600_000
    image_scale: float = 1.0
    learning_rate: float = 1e-3
    learning_rates: str = "128:0.0015,256:0.002,512:0.003,1024:0.003"
    beta_1: float = 0.0
    beta_2: float = 0.99
    epsilon: float = 1e-8
    r1_gamma: float = 10.0
    style_mixing_prob: float = 0.9
    dlatent_avg_beta: float = 0.995
    truncation_psi: float = 0.7
    truncation_cutoff: int = 8
    minibatch_group_size: int = 4
    leaky_relu_slope: float = 0.2
    ema_kimg: float = 10.0
    seed: int = 0

    def __post_init__(self):
        try:
            self.resolutions  # noqa: B018  (powers of two, initial <= final)
        except ValueError as error:
            raise ValueError(f"--initial_resolution / --image_size: {error}") from None
        if self.initial_resolution < 4:
            raise ValueError(f"initial_resolution must be >= 4 (the synthesis starts from a 4x4 constant); "
                             f"got {self.initial_resolution}.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {self.channels!r}.")
        for name in ("latent_dim", "dlatent_dim", "mapping_layers", "mapping_fmaps", "fmap_base", "fmap_max",
                     "batch_size", "fade_images", "stable_images", "minibatch_group_size", "truncation_cutoff"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if not (isinstance(self.image_scale, (int, float)) and not isinstance(self.image_scale, bool)
                and math.isfinite(self.image_scale) and self.image_scale > 0):
            raise ValueError(f"image_scale must be a finite number > 0; got {self.image_scale!r}.")
        for name in ("learning_rate", "epsilon", "mapping_lr_multiplier"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0; got {value!r}.")
        for name in ("beta_1", "beta_2", "dlatent_avg_beta"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        for name in ("style_mixing_prob", "truncation_psi"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {getattr(self, name)!r}.")
        for name in ("r1_gamma", "leaky_relu_slope", "ema_kimg"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
        for name in ("batch_sizes", "learning_rates"):
            try:
                mapping = progressive.parse_resolution_map(getattr(self, name), float if name == "learning_rates"
                                                           else int)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{name}: {error}") from None
            _check_powers_of_two(name, mapping)
            if name == "learning_rates" and not all(math.isfinite(v) and v > 0 for v in mapping.values()):
                raise ValueError(f"learning_rates must all be finite numbers > 0; got {self.learning_rates!r}.")

    @property
    def resolutions(self) -> list[int]:
        """The phases' resolutions: initial_resolution, ..., image_size."""
        return progressive.resolutions_between(self.initial_resolution, self.image_size)

    @property
    def num_layers(self) -> int:
        """Style inputs of the synthesis network: two per resolution from 4x4 (18 at 1024x1024)."""
        return 2 * int(math.log2(self.image_size)) - 2

    @property
    def batch_size_map(self) -> dict[int, int]:
        """{resolution: batch} of the resolutions this run trains at (``batch_sizes`` plus ``batch_size``)."""
        overrides = progressive.parse_resolution_map(self.batch_sizes)
        return {resolution: overrides.get(resolution, self.batch_size) for resolution in self.resolutions}

    def learning_rate_at(self, resolution: int) -> float:
        """Adam's learning rate (G and D) of the phase at ``resolution``."""
        return float(progressive.parse_resolution_map(self.learning_rates, float).get(resolution,
                                                                                       self.learning_rate))

    def ema_decay_at(self, batch_size: int) -> float:
        """The generator's moving-average decay per step of ``batch_size`` images: 0.5^(batch / (1000 ema_kimg))."""
        return 0.5 ** (batch_size / (1000.0 * self.ema_kimg)) if self.ema_kimg > 0 else 0.0

    @property
    def ema_decay(self) -> float:
        """The decay at the first phase's batch size (`AdversarialModel` builds the average with it; each
        phase sets its own, `ema_decay_at`)."""
        return self.ema_decay_at(self.batch_size_map[self.initial_resolution])

    def features(self, resolution: int) -> int:
        """Feature maps of the layers at ``resolution``."""
        return feature_maps(resolution, self.fmap_base, self.fmap_max)

    def layers_at(self, resolution: int) -> int:
        """Style inputs the synthesis uses up to ``resolution``: 2 log2(resolution) - 2."""
        return 2 * int(math.log2(resolution)) - 2

    def schedule(self, dataset_fn=None) -> progressive.ProgressiveSchedule:
        """The run's `ProgressiveSchedule` (with the runtime's per-phase ``dataset_fn`` when training)."""
        return progressive.ProgressiveSchedule(
            self.resolutions, batch_size=self.batch_size, batch_sizes=self.batch_size_map,
            fade_images=self.scaled_images(self.fade_images), stable_images=self.scaled_images(self.stable_images),
            dataset_fn=dataset_fn)

    def scaled_images(self, count: int) -> int:
        """``count`` times ``image_scale``, rounded, at least 1."""
        return max(1, round(count * self.image_scale))
