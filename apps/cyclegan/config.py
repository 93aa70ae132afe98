"""Hyper-parameters of CycleGAN (Zhu et al. 2017, https://arxiv.org/abs/1703.10593).

Defaults are the paper's (section 4 "Training details", appendix 7) and, where
the paper is silent, those of the authors' reference code
(junyanz/pytorch-CycleGAN-and-pix2pix):

- 256x256 RGB training crops: images are resized to 286x286 and randomly
  cropped to 256x256, with random horizontal flips (reference code,
  ``--preprocess resize_and_crop``, ``load_size`` 286); `load_size` scales with
  `image_size` (286/256 of it, rounded) unless given;
- ResNet generator with 9 residual blocks for 256x256 images and 6 for 128x128
  and smaller (`num_residual_blocks`; 0 = choose by `image_size`), 64 base
  filters in the generator (ngf) and in the 70x70 PatchGAN (ndf);
- least-squares adversarial loss, cycle-consistency weight lambda = 10 for both
  directions, identity loss weight 0.5 * lambda (`identity_weight` = 0.5, as a
  fraction of lambda);
- a history of 50 generated images per domain for the discriminators;
- Adam, learning rate 2e-4, beta_1 0.5, beta_2 0.999; the rate is constant for the
  first half of training and decays linearly to 0 over the second half;
- batch size 1.

`paired` is not in the paper, which trains on unpaired domains: with it the
two images of a training row are the aligned pair of a dataset built with
`tfrecords.build --paired` (CSGAN's paper trains on such pairs).
"""

from __future__ import annotations

import dataclasses

LOAD_SIZE_RATIO = 286 / 256


@dataclasses.dataclass(frozen=True)
class CycleGANConfig:
    """CycleGAN hyper-parameters; paper defaults. See the module docstring for sources.

    Attributes:
      image_size: Height and width of the training crops; a multiple of 4.
      load_size: Size images are resized to before the random crop; 0 = round(image_size * 286 / 256).
      channels: Image channels of both domains (1 or 3).
      base_filters: ngf and ndf: filters of the generator's first layer and of the
        discriminator's first layer.
      num_residual_blocks: Residual blocks of the generator; 0 = 9 for image_size > 128, else 6.
      discriminator_layers: Stride-2 layers of the PatchGAN (3: 70x70 patches).
      cycle_weight: lambda, the weight of each direction's cycle-consistency L1 loss.
      identity_weight: Weight of the identity loss as a fraction of lambda (0.5 in the paper; 0 turns it off).
      pool_size: Generated images kept per domain for discriminator updates (0 turns the history off).
      learning_rate: Initial Adam learning rate of both optimizers.
      beta_1, beta_2: Adam moment decay rates.
      decay_start_fraction: Fraction of the training steps after which the rate decays linearly to 0.
      batch_size: Global batch size (also the --batch_size of the runtime).
      seed: Seed of weight initialisation and of the image history.
      paired: Train on aligned pairs: row i of the A batch and of the B batch are
        the two images of one pair (same crop, same flip) of a dataset built with
        `python -m tfrecords.build --paired`. False draws the domains independently.
    """

    image_size: int = 256
    load_size: int = 0
    channels: int = 3
    base_filters: int = 64
    num_residual_blocks: int = 0
    discriminator_layers: int = 3
    cycle_weight: float = 10.0
    identity_weight: float = 0.5
    pool_size: int = 50
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    decay_start_fraction: float = 0.5
    batch_size: int = 1
    seed: int = 0
    paired: bool = False

    def __post_init__(self):
        if not isinstance(self.image_size, int) or self.image_size < 8 or self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 and at least 8 (e.g. 64, 128, 256); "
                             f"got {self.image_size!r}.")
        if self.load_size and self.load_size < self.image_size:
            raise ValueError(f"load_size ({self.load_size}) must be at least image_size ({self.image_size}), "
                             "or 0 for 286/256 of it.")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3; got {self.channels!r}.")
        for name in ("base_filters", "batch_size", "discriminator_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        for name in ("num_residual_blocks", "pool_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}.")
        for name in ("cycle_weight", "identity_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate!r}.")
        for name in ("beta_1", "beta_2", "decay_start_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {getattr(self, name)!r}.")
        if not isinstance(self.paired, bool):
            raise ValueError(f"paired must be True or False; got {self.paired!r}.")

    @property
    def resolved_load_size(self) -> int:
        """`load_size`, or round(image_size * 286 / 256) when it is 0 (286 for 256)."""
        return self.load_size or int(round(self.image_size * LOAD_SIZE_RATIO))

    @property
    def resolved_residual_blocks(self) -> int:
        """`num_residual_blocks`, or the paper's choice: 9 above 128x128, 6 at 128x128 and below."""
        return self.num_residual_blocks or (9 if self.image_size > 128 else 6)
