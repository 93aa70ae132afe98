"""How close two floating-point results must be in these tests, and why.

TensorFlow computes float32 sums in an order it chooses: oneDNN or Eigen kernels
(``TF_ENABLE_ONEDNN_OPTS``), fused or unfused ops (a compiled ``train_step`` or a
SavedModel against the same layers called eagerly), AVX2 or AVX-512 blocking,
and how many threads split a reduction (``TF_NUM_INTRAOP_THREADS``). Two
computations of the same quantity by different paths agree to rounding, and the
rounding of a sum is bounded by the size of what was summed, not by the size of
the result. Every numeric comparison in ``tests/`` follows one rule:

1. Exact (``==``, ``np.testing.assert_array_equal``) only where both sides are
   the same computation by construction: the same ops on the same inputs in the
   same process (a resumed run against the uninterrupted one, a variable read
   back from a checkpoint, a copy, a gather, integer or byte arithmetic), or
   arithmetic whose every intermediate is exactly representable (sums of a few
   dyadic numbers such as 0.25 or 1.5, clipping, max).
2. Elementwise float32 functions (exp, log, softplus, sigmoid, tanh) on a few
   values: vectorised implementations (AVX2, AVX-512, oneDNN) round differently
   in the last ulps, so a handful of them agree to ``ELEMENTWISE_RTOL`` (8 EPS).
3. A float32 sum or mean of ``n`` terms against a reference computed another
   way: ``|difference| <= reduction_rtol(n) * sum(|terms|)``. For a mean of
   non-negative terms (most losses) ``sum(|terms|)`` is ``n * |mean|``, so the
   tolerance is relative to the value itself.
4. A tensor whose elements are each such a sum (a layer's output, a gradient),
   or a scalar computed from a float32 network (a loss from logits, a gradient
   norm): compare with ``assert_close_to_scale``, tolerance ``NETWORK_RTOL`` times
   the tensor's largest magnitude. An element that cancels to near zero keeps
   the absolute error of the terms it summed, so elementwise relative tolerance
   is wrong for it.
5. A parameter update ``w - lr * g`` where ``g`` comes from another kernel: the
   difference is ``lr`` times the gradient's error plus the rounding of the
   subtraction, so compare against ``lr * max|g|`` (``assert_update_close``),
   never against ``|w|``. Two runs of the same steps (one replica or two, a
   compiled step or an eager reference) compare their weights on the scale of
   the steps taken from the common start (``assert_steps_close``).

``pytest.approx`` without ``rel`` means rel=1e-6, ``ELEMENTWISE_RTOL``: right for
hand-computed values and a few elementwise ops, too tight for anything summed by
a network.

Loosening a tolerance is right only when it follows from one of these bounds; a
wrong formula (a missing factor, a sign, a sum for a mean, an update on the wrong
weights) moves results by far more than any of them.
"""

import numpy as np

EPS = float(np.finfo(np.float32).eps)  # 2**-23, the spacing of float32 numbers in [1, 2)

ELEMENTWISE_RTOL = 1e-6  # about 8 EPS: a few elementwise float32 functions, each within a few ulps

# Tolerance, relative to a tensor's scale, for float32 networks in these tests
# computed by two kernels: each output is a chain of a few layers whose dot products
# sum at most ~1,000 terms (a 3x3 convolution over 64-128 channels, a dense layer
# of a few hundred units), and one dot product of 1,000 terms may differ between two
# summation orders by 1,000 * EPS = 1.2e-4 of its terms' scale in the worst case
# (``reduction_rtol``); a chain of layers adds the errors of each. Measured on the
# DiscoGAN weight-decay step test (AMD EPYC with AVX-512; oneDNN on and off, 1 and 2
# intra-op threads; the compiled train_step against an eager tape): up to 3.6e-5 of
# a gradient tensor's scale, where the innermost batch normalization standardizes two
# values per channel and so divides by their small spread. 2e-4 leaves a factor of
# five over that for other CPUs and is about twice the one-product bound.
NETWORK_RTOL = 2e-4


def reduction_rtol(n_terms):
    """Relative tolerance for a float32 sum or mean of ``n_terms`` terms.

    Any order of summation errs by at most ``(n - 1) * u * sum|terms|`` with
    ``u = EPS / 2`` (Higham, Accuracy and Stability of Numerical Algorithms,
    2nd ed. 2002, section 4.2), so two orders differ by at most
    ``n * EPS * sum|terms|``.
    """
    return max(int(n_terms), 1) * EPS


def scale_of(*arrays):
    """The largest magnitude in any of ``arrays`` (0.0 when all are empty)."""
    magnitudes = [np.max(np.abs(np.asarray(a, np.float64))) for a in arrays if np.size(a)]
    return float(max(magnitudes, default=0.0))


def assert_close_to_scale(actual, desired, rtol=NETWORK_RTOL, scale=None, err_msg=""):
    """Elementwise ``|actual - desired| <= rtol * scale``.

    ``scale`` defaults to the largest magnitude in either tensor: the size of the
    terms each element was summed from, up to the network's fan-in weights.
    """
    actual = np.asarray(actual, np.float64)
    desired = np.asarray(desired, np.float64)
    if scale is None:
        scale = scale_of(actual, desired)
    np.testing.assert_allclose(actual, desired, rtol=0.0, atol=rtol * scale, err_msg=err_msg)


def assert_update_close(new, old, learning_rate, step, rtol=NETWORK_RTOL, scale=None, err_msg=""):
    """``new == old - learning_rate * step`` up to the error of ``step`` and rounding.

    ``step`` (a gradient, plus any decay term) was computed by another kernel, so
    it is known to ``rtol * max|step|``; the update then rounds once in float32, by
    at most ``EPS / 2`` of ``|new|`` on each side. Comparing against ``|old|``
    instead would let an update of the wrong size pass whenever ``lr * |g|`` is
    small next to ``|w|``.

    ``scale`` replaces ``max|step|`` where a tensor's gradient cancels to rounding
    noise: a convolution's bias followed by instance or batch normalization has a
    zero gradient in exact arithmetic, and its computed value is the rounding of
    terms on the scale of the network's other gradients (pass their largest).
    """
    new = np.asarray(new, np.float64)
    old = np.asarray(old, np.float64)
    step = np.asarray(step, np.float64)
    expected = old - learning_rate * step
    scale = scale_of(step) if scale is None else scale
    np.testing.assert_allclose(new, expected, rtol=EPS,
                               atol=rtol * abs(learning_rate) * scale, err_msg=err_msg)


def assert_steps_close(new, desired, old, rtol=NETWORK_RTOL, scale=None, err_msg=""):
    """Weights ``new`` and ``desired`` reached from the same ``old`` by two computations
    of the same training steps (one replica or two, one kernel or another).

    The steps ``new - old`` and ``desired - old`` are compared on the scale of the
    step, as in ``assert_update_close``, plus one rounding of each side: the weights
    themselves may be far larger than what the steps changed in them. ``scale``
    replaces ``max|desired - old|`` as in ``assert_update_close``.
    """
    new = np.asarray(new, np.float64)
    desired = np.asarray(desired, np.float64)
    old = np.asarray(old, np.float64)
    scale = scale_of(desired - old) if scale is None else scale
    np.testing.assert_allclose(new, desired, rtol=EPS, atol=rtol * scale, err_msg=err_msg)
