"""Weight regularisers of generative networks, as pure functions of the weights.

Orthogonal regularisation (Brock et al. 2019, "Large Scale GAN Training for
High Fidelity Natural Image Synthesis", https://arxiv.org/abs/1809.11096,
section 3.1, eq. 3), BigGAN's penalty on the generator's weights that makes
the truncation trick usable:

    R_beta(W) = beta * || W W^T ⊙ (1 - I) ||_F^2

for each weight W reshaped to a matrix of one row per output unit,
[out, in * kh * kw]. The Gram matrix W W^T is over the rows (the filters):
its off-diagonal entries are the dot products between the filters of
different output units, and the penalty drives them towards zero without
constraining the filters' norms. The paper writes ``W^T W`` for a W whose
columns are the filters; BigGAN-PyTorch's `utils.ortho` computes
``torch.mm(w, w.t())`` with ``w = param.view(param.shape[0], -1)``, and a
PyTorch weight is [out, in, kh, kw], so both are the Gram matrix of the
filters. A Keras kernel has the output units on its last axis (Dense
[in, out], Conv2D [kh, kw, in, out]), so `filter_matrix` moves that axis to
the front before the reshape; the order of the remaining axes only permutes
the columns, which leaves W W^T unchanged.

Which form: this module returns the penalty as a loss term, to be added to
the generator's loss before differentiation (so it passes through the loss
scaling of mixed precision and the division by the number of replicas like
every other term). BigGAN-PyTorch instead adds a gradient directly to
``param.grad`` after the backward pass:

    grad += strength * 2 * (W W^T ⊙ (1 - I)) W

The gradient of the paper's R_beta is ``4 * beta * (W W^T ⊙ (1 - I)) W`` (each
off-diagonal pair (i, j) appears twice in the Frobenius sum, and each square
contributes a factor 2), so the reference's update is the gradient of
R_beta with ``beta = strength / 2``: ``--G_ortho 1e-4`` (the value its flag's
comment names as BigGAN's; the flag defaults to 0, off, and its ImageNet launch
scripts pass 0) trains with the paper's formula at beta = 5e-5.
`orthogonal_regularization` implements the paper's formula with the paper's
beta by default, as a loss so that it composes with the rest of the step;
pass half of a reference ``strength`` to reproduce the reference code's step.

Which weights (`orthogonal_regularization_weights`): BigGAN-PyTorch applies
``ortho`` to every generator parameter with at least two axes except the
shared class embedding (``blacklist=G.shared.parameters()``); biases, gains
and other 1-D parameters are skipped, and spectral normalisation's ``u`` is a
buffer, not a parameter. Here: the kernels of every convolution and Dense
layer of the generator, wrapped in `SpectralNormalization` or not, including
the self-attention block's 1x1 convolutions and, with a shared embedding, the
Dense layers that map it to the batch-normalisation gains and biases (the
reference's ``which_linear`` of ``ccbn``). Embedding tables are left out: the
shared embedding as in the reference, and the per-class gain and bias tables of
`common.nn.conditional_layers.ConditionalBatchNormalization`, which hold
``1 + E_g[y]`` rather than ``E_g`` (the Gram matrix of the stored table is not
the reference's) and which BigGAN itself replaces by the shared embedding.
Spectral normalisation reads the unnormalised kernel, and the penalty is on
that kernel, as the reference's (its ``SN`` layers normalise in the forward
pass and keep ``weight`` as the trainable parameter).
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
from keras import ops
from keras.src.layers.convolutional.base_conv import BaseConv

__all__ = [
    "ORTHOGONAL_BETA",
    "filter_matrix",
    "orthogonal_penalty",
    "orthogonal_regularization",
    "orthogonal_regularization_weights",
]

ORTHOGONAL_BETA = 1e-4  # the paper's beta (section 3.1)


def filter_matrix(kernel):
    """A kernel with output units on its last axis as a float32 matrix [out, prod(other axes)], one row per unit."""
    kernel = ops.cast(kernel, "float32")
    rank = len(kernel.shape)
    if rank < 2:
        raise ValueError(f"Orthogonal regularisation needs a kernel with at least 2 axes; got shape {kernel.shape}.")
    rows = ops.transpose(kernel, (rank - 1,) + tuple(range(rank - 1)))
    return ops.reshape(rows, (kernel.shape[-1], -1))


def orthogonal_penalty(kernel):
    """``|| W W^T ⊙ (1 - I) ||_F^2`` of one kernel, W = `filter_matrix` (kernel); float32 scalar, beta not applied."""
    w = filter_matrix(kernel)
    gram = ops.matmul(w, ops.transpose(w))
    off_diagonal = gram * (1.0 - ops.eye(ops.shape(gram)[0], dtype="float32"))
    return ops.sum(ops.square(off_diagonal))


def orthogonal_regularization(kernels: Iterable, beta: float = ORTHOGONAL_BETA):
    """``beta * sum_W || W W^T ⊙ (1 - I) ||_F^2`` over ``kernels``: the paper's R_beta as a loss term.

    Args:
      kernels: Kernels (variables or tensors) with output units on the last axis, e.g.
        `orthogonal_regularization_weights(generator)`.
      beta: The paper's beta (1e-4). BigGAN-PyTorch's ``--G_ortho`` strength s adds the gradient of
        this loss with ``beta = s / 2`` (module docstring).

    Returns:
      Float32 scalar; 0.0 for no kernels.
    """
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0; got {beta!r}.")
    total = ops.convert_to_tensor(0.0, "float32")
    for kernel in kernels:
        total = total + orthogonal_penalty(kernel)
    return beta * total


def orthogonal_regularization_weights(network: keras.Layer) -> list:
    """The kernels BigGAN's orthogonal regularisation applies to: every convolution and Dense kernel in ``network``.

    Layers nested in models, blocks and `SpectralNormalization` wrappers are included; embedding tables,
    normalisation parameters and biases are not (module docstring). Each kernel appears once, in layer order.
    """
    kernels, seen = [], set()
    for layer in network._flatten_layers(include_self=False, recursive=True):
        if not isinstance(layer, (BaseConv, keras.layers.Dense)):
            continue
        kernel = getattr(layer, "kernel", None)
        if kernel is None or not kernel.trainable or id(kernel) in seen:
            continue
        seen.add(id(kernel))
        kernels.append(kernel)
    return kernels
