"""The truncation trick: latents drawn from N(0, I) truncated to [-psi, psi] in every component.

Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis", https://arxiv.org/abs/1809.11096, section 3.1: sampling z from a
truncated normal, "where values which fall outside a range are resampled to
fall inside that range", trades the variety of the samples for their
fidelity; the threshold psi is the truncation. This module draws that
distribution. Two common stand-ins differ from it: BigGAN-PyTorch's
truncation curves (``--sample_trunc_curves``, ``z_.var``) draw z from
N(0, var * I) with a smaller variance and no truncation (its help text says it
is not exactly a truncated normal), and the TF Hub BigGAN demos draw
``truncation * scipy.stats.truncnorm(-2, 2)``, a normal truncated at a fixed 2
and then scaled, whose values lie in [-2 truncation, 2 truncation].

`truncated_normal` draws exactly that distribution, each component
independently: z ~ N(0, 1); every component with |z_i| > psi is redrawn from
N(0, 1), and again, until all are within [-psi, psi]. The redraws run in a
``tf.while_loop`` over the whole tensor (no Python loop over the data), so the
function works eagerly, inside a ``tf.function`` and in an exported signature
whose ``psi`` and shape are inputs. Round r (r = 1, 2, ...) draws a full tensor
with the stateless seed ``fold_in(seed, r)`` and takes its values only where the
current value is outside; so a component's value depends only on the seed and
its position, and the first rows of a larger draw equal a smaller draw with the
same seed. A component is accepted with probability p = erf(psi / sqrt 2)
(0.68 at psi = 1, 0.38 at psi = 0.5, 0.08 at psi = 0.1), and the loop ends
after about log(n) / -log(1 - p) rounds for n components (about 10 rounds for
psi = 1 and a million components). A large psi (4 or more for a few thousand
components) usually ends after the first draw and returns plain N(0, I)
samples, the same values as ``tf.random.stateless_normal`` with that seed.

Not clipping: ``clip(z, -psi, psi)`` would put the tails' mass on the
boundaries; the resampled distribution is the normal density renormalised on
[-psi, psi] (variance ``1 - 2 psi phi(psi) / (2 Phi(psi) - 1)``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["stateless_seed", "truncate", "truncated_normal"]


def stateless_seed(seed):
    """An int64 [2] stateless seed from a `keras.random.SeedGenerator` (advancing it once) or a seed tensor.

    Args:
      seed: A `keras.random.SeedGenerator`, a Python int or scalar integer tensor (used as ``[seed, 0]``,
        the convention of the exported ``sample`` signatures), or an integer tensor of shape [2].
    """
    if isinstance(seed, keras.random.SeedGenerator):
        return tf.cast(keras.random.randint((2,), 0, 2**31 - 1, seed=seed, dtype="int32"), tf.int64)
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise TypeError(f"A stateless seed must be an integer or integer pair; got dtype {seed.dtype.name}.")
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.zeros_like(seed)])
    elif seed.shape.rank != 1 or seed.shape[0] not in (None, 2):
        raise ValueError(f"A stateless seed is a scalar or a pair of integers; got shape {seed.shape}.")
    return tf.cast(seed, "int64")


def _check_psi(psi):
    """``psi`` as a float32 tensor, refused unless > 0: eagerly for a Python number, by an assertion for a tensor."""
    if isinstance(psi, (int, float)):
        if not psi > 0:  # also refuses NaN
            raise ValueError(f"The truncation threshold psi must be > 0; got {psi!r}.")
        return tf.constant(psi, tf.float32)
    psi = tf.cast(psi, tf.float32)
    message = "The truncation threshold psi must be > 0"
    if tf.executing_eagerly():
        if not bool(psi > 0):
            raise ValueError(f"{message}; got {float(psi)!r}.")
        return psi
    with tf.control_dependencies([tf.debugging.assert_greater(psi, 0.0, message=message)]):
        return tf.identity(psi)


def truncate(z, psi, seed):
    """z with every component outside [-psi, psi] redrawn from N(0, 1) until it is inside.

    For z ~ N(0, I) the result is the truncated normal of `truncated_normal`; for a given z
    (a client's latents) it keeps every component already inside and redraws only the others.
    Round r draws from the stateless seed ``fold_in(seed, r)``, r = 1, 2, ...

    Args:
      z: Float tensor (float32 after the cast) of any shape.
      psi: The threshold, > 0, as in `truncated_normal`.
      seed: As in `truncated_normal`.

    Returns:
      Float32 tensor of z's shape with values in [-psi, psi].
    """
    psi = _check_psi(psi)
    seed = stateless_seed(seed)
    z = tf.cast(z, tf.float32)
    shape = tf.shape(z)

    def outside(values):
        return tf.abs(values) > psi

    def redraw(round_index, values):
        fresh = tf.random.stateless_normal(shape, seed=tf.random.experimental.stateless_fold_in(seed, round_index),
                                           dtype=tf.float32)
        return round_index + 1, tf.where(outside(values), fresh, values)

    _, z = tf.while_loop(lambda _, values: tf.reduce_any(outside(values)), redraw,
                         (tf.constant(1, tf.int64), z))
    return z


def truncated_normal(shape, psi, seed):
    """z ~ N(0, I) with every component outside [-psi, psi] resampled until it is inside.

    Args:
      shape: Shape of z (a list of ints or an int32 tensor, e.g. ``[count, latent_dim]``).
      psi: The threshold, > 0 (a Python number or a float scalar tensor). A psi <= 0 (or NaN) raises
        ``ValueError`` in eager code and fails the graph's assertion (``InvalidArgumentError``) in a traced one.
      seed: A `keras.random.SeedGenerator` (advanced once per call), or a stateless seed: an integer
        (``[seed, 0]``) or an integer pair. The same stateless seed gives the same z.

    Returns:
      Float32 tensor of ``shape`` with values in [-psi, psi].
    """
    seed = stateless_seed(seed)
    return truncate(tf.random.stateless_normal(shape, seed=seed, dtype=tf.float32), psi, seed)
