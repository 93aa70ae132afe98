"""CSGAN training model (Kancharagunta & Dubey 2019, https://arxiv.org/abs/1901.03554).

`CSGAN` is `apps.cyclegan.model.CycleGAN` (same networks, image histories,
update order, optimizers and discriminator losses) with two more generator
terms, the cyclic-synthesized (CS) losses between the image synthesized in a
domain and the image cycled back into it (section III of the paper):

    L_CS_A = E|Syn_A - Cyc_A| = E|F(b) - F(G(a))|
    L_CS_B = E|Syn_B - Cyc_B| = E|G(a) - G(F(b))|
    L_G(CSGAN) = L_G(CycleGAN) + cs_weight * (L_CS_A + L_CS_B)

Reported as ``cs_a`` and ``cs_b`` (weighted), next to CycleGAN's terms; they
are part of ``g_loss``.

Deviations: none from the paper's equation. The authors' code treats the
cycled image as a constant in L_CS (``rec_A.detach()``); `cs_stop_cycled_gradient`
does the same.
"""

from __future__ import annotations

from keras import ops

from apps.csgan.config import CSGANConfig
from apps.cyclegan.model import CycleGAN, make_optimizers
from apps.cyclegan.networks import build_discriminator, build_generator
from common.nn import losses

__all__ = ["CSGAN", "build_model", "make_optimizers"]


class CSGAN(CycleGAN):
    """CycleGAN plus the cyclic-synthesized losses; see the module docstring."""

    GENERATOR_TERMS = CycleGAN.GENERATOR_TERMS + ("cs_a", "cs_b")

    def generator_loss_terms(self, real_a, real_b, images: dict) -> dict:
        """CycleGAN's terms plus cs_a = cs_weight * E|F(b) - F(G(a))| and cs_b = cs_weight * E|G(a) - G(F(b))|."""
        terms = super().generator_loss_terms(real_a, real_b, images)
        cycled_a, cycled_b = images["cycled_a"], images["cycled_b"]
        if self.config.cs_stop_cycled_gradient:
            cycled_a, cycled_b = ops.stop_gradient(cycled_a), ops.stop_gradient(cycled_b)
        weight = self.config.cs_weight
        terms["cs_a"] = weight * losses.mean_absolute_error(images["fake_a"], cycled_a)
        terms["cs_b"] = weight * losses.mean_absolute_error(images["fake_b"], cycled_b)
        return terms


def build_model(config: CSGANConfig) -> CSGAN:
    """An uncompiled `CSGAN` with freshly built networks; compile it with `make_optimizers(config)`."""
    return CSGAN(build_generator(config, "generator_ab", 0), build_generator(config, "generator_ba", 1),
                 build_discriminator(config, "discriminator_a", 0), build_discriminator(config, "discriminator_b", 1),
                 config, name="csgan")
