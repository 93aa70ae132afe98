"""Hyper-parameters of CSGAN (Kancharagunta & Dubey 2019, https://arxiv.org/abs/1901.03554).

CSGAN is CycleGAN (`apps.cyclegan.config.CycleGANConfig`: networks, losses,
image history, optimizer, schedule and data jitter, all with CycleGAN's
defaults) plus the cyclic-synthesized loss. Its weight, `cs_weight`, defaults
to 30, the value of the authors' code (github.com/KishanKancharagunta/CSGAN,
`csgan.py`, ``k = 30``); the cycle weight stays lambda = 10 and the identity
weight 0.5 * lambda, as in that code.
"""

from __future__ import annotations

import dataclasses

from apps.cyclegan.config import CycleGANConfig


@dataclasses.dataclass(frozen=True)
class CSGANConfig(CycleGANConfig):
    """CycleGAN's hyper-parameters plus the cyclic-synthesized loss.

    Attributes:
      cs_weight: Weight of each direction's cyclic-synthesized L1 loss,
        E|F(b) - F(G(a))| and E|G(a) - G(F(b))|.
      cs_stop_cycled_gradient: Treat the cycled image as a constant in that loss
        (the authors' code detaches it); False differentiates both images, as
        the paper's equation reads.
    """

    cs_weight: float = 30.0
    cs_stop_cycled_gradient: bool = False

    def __post_init__(self):
        super().__post_init__()
        if not self.cs_weight >= 0:
            raise ValueError(f"cs_weight must be >= 0; got {self.cs_weight!r}.")
