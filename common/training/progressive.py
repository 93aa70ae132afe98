"""Progressive growing as a runtime component: phases of a run, each at one resolution and batch size.

Karras et al. 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation" (https://arxiv.org/abs/1710.10196), section 2 and
appendix A.1: training starts at a low resolution (4x4) and doubles it until
the target. Each new resolution first *fades in* over a number of real images
(the new layers' output is blended with the upsampled output of the previous
resolution, with a weight alpha growing linearly from 0 to 1), then trains
*stable* (alpha = 1) for as many images again; the paper uses 800k images for
each and a mini-batch of 16 up to 128x128, then 14, 6 and 3 at 256, 512 and
1024 to fit the GPU memory. The authors' code (tkarras/progressive_growing_of_gans,
`train.py`, `TrainingSchedule`) counts images the same way (600k each there).

`ProgressiveSchedule` turns those image counts into step boundaries: phase i
trains at ``resolutions[i]`` with its own batch size for
``ceil(fade_images / batch)`` fade steps (none in the first phase) and then
``ceil(stable_images / batch)`` stable steps; the last phase has no end, so a
run with more ``--steps`` than `total_steps` keeps training at the target
resolution. Every quantity is a pure function of the global step, which the
runtime checkpoints: a resumed run is in the same phase at the same alpha to
the step, with nothing else to save. The fade weight of step s (0-based: s
steps were taken before it) is

    alpha(s) = clip((s - phase.start_step) / phase.fade_steps, 0, 1),

i.e. the images of the phase seen before the step over the fade's image count,
rounded to whole steps (the authors' ``lod`` from ``cur_nimg`` before the
mini-batch): the first fade step has alpha = 0 and so starts exactly where the
previous resolution ended.

The runtime (`common.training.runtime.train(stages=...)`) runs one `fit` per
part of a phase (the fade, then the stable part, split at `next_boundary`):
before each it calls `enter(model, phase)` (the model switches its networks to
the phase's resolution, and may act at the start of a part, as ProGAN's
optimizer reset); a new resolution is one new trace of the train step, while
alpha changes inside the traced step. Each phase has its batch size, and its
dataset is positioned at the step within the phase.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping, Sequence

__all__ = ["Phase", "ProgressiveSchedule", "parse_resolution_map", "resolutions_between"]


@dataclasses.dataclass(frozen=True)
class Phase:
    """One resolution of a progressive run.

    Attributes:
      index: Position in the schedule (0 for the first resolution).
      resolution: Height and width of the images of this phase.
      batch_size: Global mini-batch of its steps.
      start_step: Global step at which the phase starts.
      fade_steps: Steps of its fade-in (0 for the first phase: nothing to fade from).
      end_step: Global step at which the next phase starts; None for the last phase.
    """

    index: int
    resolution: int
    batch_size: int
    start_step: int
    fade_steps: int
    end_step: int | None

    def alpha(self, step: int) -> float:
        """The fade weight of global step ``step`` (0-based) of this phase; 1.0 once the fade is done."""
        if self.fade_steps == 0:
            return 1.0
        return min(max((step - self.start_step) / self.fade_steps, 0.0), 1.0)


def resolutions_between(initial: int, final: int) -> list[int]:
    """[initial, 2 initial, ..., final]; both powers of two with initial <= final."""
    for name, value in (("initial", initial), ("final", final)):
        if not isinstance(value, int) or value < 1 or value & (value - 1):
            raise ValueError(f"The {name} resolution must be a power of two; got {value!r}.")
    if initial > final:
        raise ValueError(f"The initial resolution ({initial}) must not exceed the final one ({final}).")
    return [initial << i for i in range(int(math.log2(final // initial)) + 1)]


def parse_resolution_map(text: str, value_type: type = int) -> dict[int, int | float]:
    """``"256:14,512:6"`` -> {256: 14, 512: 6}; an empty string is {}. Raises ValueError naming the bad entry.

    ``value_type`` int (batch sizes) or float (learning rates); the values must be > 0.
    """
    result: dict[int, int | float] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = entry.partition(":")
        try:
            if not sep:
                raise ValueError
            resolution, number = int(key), value_type(value)
        except ValueError:
            example = "256:14,512:6" if value_type is int else "128:0.0015,256:0.002"
            raise ValueError(f"Expected entries resolution:number separated by commas (e.g. \"{example}\"); "
                             f"got {entry!r} in {text!r}.") from None
        if not number > 0:
            kind = "a positive integer" if value_type is int else "a number > 0"
            raise ValueError(f"{entry!r}: the number must be {kind}.")
        result[resolution] = number
    return result


class ProgressiveSchedule:
    """The phases of a progressive run (see the module docstring).

    Args:
      resolutions: The resolutions in training order, e.g. `resolutions_between(4, 1024)`.
      batch_size: Global mini-batch of every resolution not in ``batch_sizes``.
      batch_sizes: {resolution: batch} overrides (the paper's {256: 14, 512: 6, 1024: 3}).
      fade_images: Real images shown during the fade-in of each resolution after the first.
      stable_images: Real images shown at alpha = 1 before the next resolution starts.
      dataset_fn: phase -> the runtime's per-replica dataset function for that phase (None when the
        schedule only computes phases, e.g. in evaluation).
    """

    def __init__(self, resolutions: Sequence[int], *, batch_size: int, batch_sizes: Mapping[int, int] | None = None,
                 fade_images: int, stable_images: int, dataset_fn: Callable[[Phase], Callable] | None = None):
        resolutions = list(resolutions)
        if not resolutions:
            raise ValueError("A progressive schedule needs at least one resolution.")
        batch_sizes = dict(batch_sizes or {})
        unknown = sorted(set(batch_sizes) - set(resolutions))
        if unknown:
            raise ValueError(f"Batch sizes given for resolutions {unknown} that the run never trains at "
                             f"(its resolutions: {resolutions}).")
        for name, value in (("batch_size", batch_size), ("fade_images", fade_images),
                            ("stable_images", stable_images)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        self.fade_images = fade_images
        self.stable_images = stable_images
        self._dataset_fn = dataset_fn
        phases = []
        step = 0
        for index, resolution in enumerate(resolutions):
            batch = batch_sizes.get(resolution, batch_size)
            fade_steps = 0 if index == 0 else math.ceil(fade_images / batch)
            length = fade_steps + math.ceil(stable_images / batch)
            last = index == len(resolutions) - 1
            phases.append(Phase(index=index, resolution=resolution, batch_size=batch, start_step=step,
                                fade_steps=fade_steps, end_step=None if last else step + length))
            step += length
        self.phases: tuple[Phase, ...] = tuple(phases)
        self.total_steps = step  # the end of the last phase's stable images

    def phase_at(self, step: int) -> Phase:
        """The phase global step ``step`` (0-based) belongs to."""
        if step < 0:
            raise ValueError(f"step must be >= 0; got {step}.")
        for phase in self.phases:
            if phase.end_step is None or step < phase.end_step:
                return phase
        raise AssertionError("unreachable: the last phase has no end")

    def next_boundary(self, step: int) -> int | None:
        """The first step after ``step`` at which a part starts: the end of a fade (the stable part's first
        step) or of a phase; None in the last phase after its fade."""
        phase = self.phase_at(step)
        fade_end = phase.start_step + phase.fade_steps
        if phase.fade_steps and step < fade_end:
            return fade_end
        return phase.end_step

    def alpha(self, step: int) -> float:
        """The fade weight of global step ``step``."""
        return self.phase_at(step).alpha(step)

    def images_before(self, step: int) -> int:
        """Real images shown by the first ``step`` steps (each phase's steps times its batch)."""
        total = 0
        for phase in self.phases:
            end = step if phase.end_step is None else min(step, phase.end_step)
            if end > phase.start_step:
                total += (end - phase.start_step) * phase.batch_size
        return total

    def dataset_fn(self, phase: Phase):
        """The runtime's dataset function of ``phase`` (per-replica batches of its batch size)."""
        if self._dataset_fn is None:
            raise ValueError("This schedule was built without a dataset_fn.")
        return self._dataset_fn(phase)

    def enter(self, model, phase: Phase) -> None:
        """Switches ``model`` to ``phase`` (``model.enter_phase(phase)``); the runtime then retraces its step."""
        model.enter_phase(phase)
