"""`ProgressiveAdversarialModel`: what ProGAN and StyleGAN share about training in phases.

Karras et al. 2018, "Progressive Growing of GANs" (https://arxiv.org/abs/1710.10196),
and Karras et al. 2019, "A Style-Based Generator Architecture for GANs"
(https://arxiv.org/abs/1812.04948), which trains with the same growth. The
run's phases come from `common.training.progressive` and the runtime
(`runtime.train(stages=...)`); this base class holds, for a model whose
generator has ``set_resolution`` and an ``alpha`` variable and whose
discriminator takes ``(images, alpha=...)``:

- ``global_step``, a checkpointed int64 variable: the phase and alpha are functions of it;
- `enter_phase`: switches both generators (live and moving average) to the phase's resolution,
  resets both Adam optimizers at the first step of a fade and of the stable part after it (the
  authors' ``reset_opt_for_new_lod``, in both codes), and calls `phase_entered` for what a
  subclass sets per phase (StyleGAN's learning rate and moving-average decay);
- `alpha`: the step's fade weight, computed inside the traced step, so a fade never retraces;
- `real_images`: the real batch average-pooled to the phase's resolution and, in a phase after
  the first, faded like the generator's output (ProGAN's Figure 2 caption; StyleGAN's
  ``process_reals``): ``(1 - alpha) * upsample(avgpool(x_R)) + alpha * x_R``;
- `prepare_sampling`: after a restore, the phase and alpha of the restored step.

Subclasses write `train_step` and call ``self.global_step.assign_add(1)`` at its end.
"""

from __future__ import annotations

import tensorflow as tf
from keras import ops

from common.models.adversarial_model import AdversarialModel
from common.nn import progressive_layers as pl
from common.nn.progressive_networks import blend

__all__ = ["ProgressiveAdversarialModel", "reset_optimizer_state", "used_gradients"]


class ProgressiveAdversarialModel(AdversarialModel):
    """Generator and discriminator trained in phases; see the module docstring.

    Args:
      generator: A progressive generator (``set_resolution``, ``alpha``, ``synthesize``).
      discriminator: A discriminator called as ``discriminator(images, alpha=..., training=...)``.
      config: App config with ``image_size`` and ``schedule()`` (a `ProgressiveSchedule`), and the
        `AdversarialModel` fields.
      **kwargs: `keras.Model` arguments.
    """

    def __init__(self, generator, discriminator, config, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        # Global steps taken; the phase and alpha are functions of it (checkpointed with the model).
        self.global_step = self.add_weight(shape=(), initializer="zeros", dtype="int64", trainable=False,
                                           aggregation="only_first_replica", name="global_step")
        self.schedule = config.schedule()
        self.phase = None

    def _set_resolution(self, resolution: int) -> None:
        self.generator.set_resolution(resolution)
        if self.ema is not None:
            self.ema.shadow.set_resolution(resolution)

    def enter_phase(self, phase) -> None:
        """Switches the networks to ``phase`` (`common.training.progressive.Phase`) before its step is traced.

        The runtime calls it before every part of the phase. At the first step of a fade and at the
        first step of the stable part that follows it, both optimizers' states are reset (Adam's
        moments and step count), as the authors' ``reset_opt_for_new_lod`` (which resets whenever
        floor(lod) or ceil(lod) changes): the new layers start with fresh moments and bias correction
        instead of a first step of about lr / sqrt(1 - beta_2) under a long-running step count.
        Entered at any other step (a resume part-way into a part) the restored state is kept.
        """
        self.phase = phase
        self._set_resolution(phase.resolution)
        step = int(self.global_step.numpy())
        if phase.fade_steps and step in (phase.start_step, phase.start_step + phase.fade_steps):
            for optimizer in (self.g_optimizer, self.d_optimizer):
                reset_optimizer_state(optimizer)
        self.phase_entered(phase)

    def phase_entered(self, phase) -> None:
        """Per-phase settings of a subclass (called by `enter_phase` before the phase's step is traced)."""

    def prepare_sampling(self, generator=None) -> None:
        """Puts the generators in the phase of the restored step, at its alpha (`conditional_protocol`)."""
        step = int(self.global_step.numpy())
        phase = self.schedule.phase_at(step)
        self._set_resolution(phase.resolution)
        # The alpha of the last step taken (the live weights were trained with it).
        alpha = phase.alpha(max(step - 1, phase.start_step))
        for g in {id(g): g for g in (generator, self.generator, self.ema and self.ema.shadow) if g is not None}.values():
            g.alpha.assign(alpha)

    def alpha(self):
        """This step's fade weight, float32: clip((step - start) / fade_steps, 0, 1) of the current phase."""
        phase = self.phase
        if phase.fade_steps == 0:
            return tf.constant(1.0, tf.float32)
        done = ops.cast(self.global_step - phase.start_step, "float32")
        return ops.clip(done / float(phase.fade_steps), 0.0, 1.0)

    def check_phase(self) -> None:
        if self.phase is None:
            raise RuntimeError(f"{type(self).__name__} trains in phases: call enter_phase(phase) before the first "
                               "step (common.training.runtime.train(stages=config.schedule(...)) does).")

    def real_images(self, images, alpha):
        """The real batch at the phase's resolution, faded like the generator's output in a fade."""
        resolution = self.phase.resolution
        factor = self.config.image_size // resolution
        images = ops.cast(images, "float32")
        if factor > 1:
            images = pl.downsample_average(images, factor)
        if self.phase.index > 0:
            images = blend(pl.upsample_nearest(pl.downsample_average(images)), images, alpha)
        return images


def used_gradients(gradients, weights):
    """(weights, gradients) of the layers the phase uses: the others' gradients are None, and stay untouched."""
    pairs = [(w, g) for g, w in zip(gradients, weights) if g is not None]
    return [w for w, _ in pairs], [g for _, g in pairs]


def reset_optimizer_state(optimizer) -> None:
    """Zeros an optimizer's step count and slots (Adam's moments), keeping its learning rate; for a
    `LossScaleOptimizer`, those of the optimizer it wraps (the loss scale is kept)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    keep = {id(inner.iterations)}
    keep.update(id(v) for v in inner.variables if v.path.endswith("learning_rate"))
    for variable in inner.variables:
        if id(variable) == id(inner.iterations) or id(variable) not in keep:
            variable.assign(ops.zeros(variable.shape, variable.dtype))
