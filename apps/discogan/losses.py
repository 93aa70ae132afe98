"""DiscoGAN's reconstruction distance d and the reference code's weight decay, as pure functions.

Kim et al. 2017, https://arxiv.org/abs/1703.05192, section 2: the
reconstruction loss of domain A is ``L_CONST_A = d(G_BA(G_AB(x_A)), x_A)``,
where "any form of metric function (L1, L2, Huber loss) can be used"; the
authors' reference code (SKTBrain/DiscoGAN) uses the mean squared error
(`torch.nn.MSELoss`) on images in [0, 1]. Our images are in [-1, 1]; every
distance here first maps both images to [0, 1] with ``(x + 1) / 2``, so that a
reconstruction weight means the same as in the reference code (the MSE on
[-1, 1] would be 4 times larger, the L1 2 times).

The adversarial terms are `common.nn.losses` functions; the L1 distance reuses
`common.nn.losses.mean_absolute_error`.
"""

from __future__ import annotations

from keras import ops

from common.nn import losses

__all__ = ["to_unit_range", "mean_squared_error", "huber", "reconstruction_distance", "DISTANCES", "l2_penalty"]


def to_unit_range(images):
    """Images in [-1, 1] -> [0, 1] as float32: ``(x + 1) / 2``."""
    return (ops.cast(images, "float32") + 1.0) * 0.5


def mean_squared_error(a, b):
    """``E[(a - b)^2]`` over all elements, float32 (`torch.nn.MSELoss` with mean reduction)."""
    return ops.mean(ops.square(ops.cast(a, "float32") - ops.cast(b, "float32")))


def huber(a, b, delta: float = 1.0):
    """Mean Huber loss: ``0.5 d^2`` where ``|d| <= delta``, else ``delta (|d| - 0.5 delta)``, with d = a - b."""
    difference = ops.abs(ops.cast(a, "float32") - ops.cast(b, "float32"))
    quadratic = 0.5 * ops.square(difference)
    linear = delta * (difference - 0.5 * delta)
    return ops.mean(ops.where(difference <= delta, quadratic, linear))


DISTANCES = {"mse": mean_squared_error, "l1": losses.mean_absolute_error, "huber": huber}
"""Distance d of L_CONST by the name `DiscoGANConfig.reconstruction_distance` uses."""


def reconstruction_distance(name: str, reconstructed, original):
    """``d(reconstructed, original)`` measured on images mapped from [-1, 1] to [0, 1].

    Args:
      name: "mse", "l1" or "huber" (`DISTANCES`).
      reconstructed: G_BA(G_AB(x_A)) (or G_AB(G_BA(x_B))), [B, H, W, C] in [-1, 1].
      original: x_A (or x_B), same shape.

    Returns:
      Float32 scalar, the mean over all elements.
    """
    return DISTANCES[name](to_unit_range(reconstructed), to_unit_range(original))


l2_penalty = losses.l2_penalty  # coupled weight decay, shared with CoGAN
