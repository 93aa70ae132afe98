"""What the suite's code needs to know about class-conditional models and their configs.

A class-conditional training model (CGAN, AC-GAN, ADC-GAN, ...) has an integer
`num_classes` (K), a `generator` called as ``generator([z, labels], training=...)``
with z float32 [B, latent_dim] and labels int32 [B] in [0, K), an optional
`ema` whose `ema.shadow` is called the same way, and
``sample(z, labels, training=False)``, which returns images in [-1, 1] from the
moving-average generator when the model keeps one. Its config dataclass has a
`num_classes` field too. Unconditional models and configs have no
`num_classes` attribute, or None, and sample with ``sample(z, training=False)``.

Before sampling, the suite's sampling code (TensorBoard grids, `evaluate`, the
in-training evaluation, `export`) calls `prepare_sampling(model, generator)`: a
model with a ``prepare_sampling(generator)`` method gets the generator about to
be sampled or exported (its moving average, or the live generator), e.g.
BigGAN's standing batch-norm statistics (`apps.biggan.standing_statistics`);
for other models it does nothing.
"""

from __future__ import annotations

__all__ = ["is_conditional", "prepare_sampling"]


def is_conditional(model_or_config) -> bool:
    """True for a class-conditional model or app config: one whose `num_classes` is set (not None)."""
    return getattr(model_or_config, "num_classes", None) is not None


def prepare_sampling(model, generator=None) -> None:
    """Lets ``model`` prepare ``generator`` (None: the one `sample` uses) for sampling; see the module docstring."""
    prepare = getattr(model, "prepare_sampling", None)
    if prepare is not None:
        prepare(generator)
