"""Adversarial losses and penalties of generative adversarial networks, as pure functions.

Every loss takes discriminator (critic) logits, casts them to float32, and returns
the mean over the batch as a float32 scalar. Losses built on the sigmoid cross
entropy are written with ``softplus`` so that they stay finite for any logit
(``log(sigmoid(l))`` underflows to ``-inf`` in float32 at ``l < -88``;
``-softplus(-l)`` is the same quantity and does not).

Papers:

- Non-saturating and minimax losses: Goodfellow et al. 2014,
  "Generative Adversarial Nets", https://arxiv.org/abs/1406.2661.
- Least squares: Mao et al. 2017, "Least Squares Generative Adversarial
  Networks", https://arxiv.org/abs/1611.04076 (a-b-c coding of section 3.2).
- Wasserstein: Arjovsky et al. 2017, "Wasserstein GAN",
  https://arxiv.org/abs/1701.07875.
- Gradient penalty: Gulrajani et al. 2017, "Improved Training of Wasserstein
  GANs", https://arxiv.org/abs/1704.00028 (Algorithm 1).
- Hinge: Lim & Ye 2017, "Geometric GAN", https://arxiv.org/abs/1705.02894, as
  used by SAGAN (Zhang et al. 2018, https://arxiv.org/abs/1805.08318).
- R1 penalty: Mescheder et al. 2018, "Which Training Methods for GANs do actually
  Converge?", https://arxiv.org/abs/1801.04406 (eq. 9).
- Auxiliary classifier terms: Odena et al. 2017, "Conditional Image Synthesis
  with Auxiliary Classifier GANs", https://arxiv.org/abs/1610.09585 (eq. 2-3,
  `class_cross_entropy`); Hou et al. 2022, "Conditional GANs with Auxiliary
  Discriminative Classifier", https://arxiv.org/abs/2107.10060 (eq. 9-10 of the
  ICML version, `dual_class_discriminator_loss`, `dual_class_generator_loss`).

Deviations: none in the math. The gradient penalty and R1 return the *unweighted*
penalty (``E[(||grad|| - 1)^2]`` and ``E[||grad||^2]``); the caller multiplies by
its weight (lambda = 10 in WGAN-GP, gamma / 2 in R1), so the weight lives in the
app's config next to the other hyper-parameters.

Distribution: Keras 3 optimizers *sum* gradients across replicas, so a replica
must differentiate its local mean loss divided by the number of replicas; see
`scale_for_replicas`.
"""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf
from keras import ops

__all__ = [
    "non_saturating_generator_loss",
    "non_saturating_discriminator_loss",
    "minimax_generator_loss",
    "minimax_discriminator_loss",
    "least_squares_generator_loss",
    "least_squares_discriminator_loss",
    "wasserstein_generator_loss",
    "wasserstein_critic_loss",
    "hinge_generator_loss",
    "hinge_discriminator_loss",
    "gradient_penalty",
    "r1_penalty",
    "outputs_and_r1_penalty",
    "mean_absolute_error",
    "class_cross_entropy",
    "dual_class_discriminator_loss",
    "dual_class_generator_loss",
    "class_accuracy",
    "scale_for_replicas",
    "GENERATOR_LOSSES",
    "DISCRIMINATOR_LOSSES",
]


def _f32(x):
    return ops.cast(x, "float32")


# --- Goodfellow et al. 2014 -------------------------------------------------------


def non_saturating_generator_loss(fake_logits):
    """Non-saturating generator loss, ``-E[log D(G(z))]``.

    The generator maximises ``log D(G(z))`` instead of minimising
    ``log(1 - D(G(z)))``: same fixed point, strong gradients early in training
    (section 3 of https://arxiv.org/abs/1406.2661).

    Args:
      fake_logits: Discriminator logits on generated samples, any shape [B, ...].

    Returns:
      Float32 scalar, the mean over all elements.
    """
    fake_logits = _f32(fake_logits)
    return ops.mean(ops.softplus(-fake_logits))  # -log(sigmoid(fake_logits))


def non_saturating_discriminator_loss(real_logits, fake_logits, real_label: float = 1.0):
    """Discriminator loss of the original GAN, ``-E[log D(x)] - E[log(1 - D(G(z)))]``.

    This is the sigmoid cross entropy with label 1 for real and 0 for generated
    samples (https://arxiv.org/abs/1406.2661, eq. 1); the same discriminator loss
    goes with the minimax and the non-saturating generator losses.

    ``real_label < 1`` is one-sided label smoothing (Salimans et al. 2016,
    https://arxiv.org/abs/1606.03498, section 3.4): the real term becomes the
    cross entropy with target ``real_label``, ``-E[a log D(x) + (1 - a) log(1 -
    D(x))]``; the fake target stays 0, so the optimal discriminator is ``a p_data
    / (p_data + p_model)`` and does not push the generator towards its own
    samples.

    Args:
      real_logits: Discriminator logits on real samples, [B, ...].
      fake_logits: Discriminator logits on generated samples, [B', ...].
      real_label: Target for real samples, in (0, 1]; 1 is the paper's loss.

    Returns:
      Float32 scalar: mean real term plus mean fake term.
    """
    real_logits, fake_logits = _f32(real_logits), _f32(fake_logits)
    real_term = ops.mean(ops.softplus(-real_logits))  # -log(sigmoid(real_logits))
    if real_label != 1.0:  # a Python float: the choice is made once, at trace time
        real_term = real_label * real_term + (1.0 - real_label) * ops.mean(ops.softplus(real_logits))
    fake_term = ops.mean(ops.softplus(fake_logits))  # -log(1 - sigmoid(fake_logits))
    return real_term + fake_term


def minimax_generator_loss(fake_logits):
    """Minimax generator loss, ``E[log(1 - D(G(z)))]``, minimised by the generator.

    ``log(1 - sigmoid(l)) = -softplus(l)``, so the loss is ``-E[softplus(l)]``; it
    is negative and its gradient vanishes when the discriminator rejects the
    samples confidently (``l -> -inf``), which is why the non-saturating loss is
    used in practice (https://arxiv.org/abs/1406.2661, eq. 1).

    Args:
      fake_logits: Discriminator logits on generated samples, [B, ...].

    Returns:
      Float32 scalar, the mean over all elements.
    """
    fake_logits = _f32(fake_logits)
    return -ops.mean(ops.softplus(fake_logits))  # log(1 - sigmoid(fake_logits))


minimax_discriminator_loss = non_saturating_discriminator_loss


# --- Mao et al. 2017 ---------------------------------------------------------------


def least_squares_generator_loss(fake_logits, c: float = 1.0):
    """Least-squares generator loss, ``0.5 * E[(D(G(z)) - c)^2]``.

    ``D`` is the raw discriminator output (no sigmoid). With the 0-1 coding
    ``a=0, b=1, c=1`` of https://arxiv.org/abs/1611.04076 (eq. 2, 9).

    Args:
      fake_logits: Discriminator outputs on generated samples, [B, ...].
      c: The value the generator wants the discriminator to output for fakes.

    Returns:
      Float32 scalar.
    """
    fake_logits = _f32(fake_logits)
    return 0.5 * ops.mean(ops.square(fake_logits - c))


def least_squares_discriminator_loss(real_logits, fake_logits, a: float = 0.0, b: float = 1.0):
    """Least-squares discriminator loss, ``0.5 E[(D(x) - b)^2] + 0.5 E[(D(G(z)) - a)^2]``.

    Args:
      real_logits: Discriminator outputs on real samples, [B, ...].
      fake_logits: Discriminator outputs on generated samples, [B', ...].
      a: Target output for generated samples (0 in the 0-1 coding, -1 in the
        -1/1/0 coding of eq. 8).
      b: Target output for real samples.

    Returns:
      Float32 scalar.
    """
    real_logits, fake_logits = _f32(real_logits), _f32(fake_logits)
    real_term = 0.5 * ops.mean(ops.square(real_logits - b))
    fake_term = 0.5 * ops.mean(ops.square(fake_logits - a))
    return real_term + fake_term


# --- Arjovsky et al. 2017 ----------------------------------------------------------


def wasserstein_generator_loss(fake_logits):
    """Wasserstein generator loss, ``-E[f(G(z))]`` (https://arxiv.org/abs/1701.07875).

    Args:
      fake_logits: Critic outputs on generated samples, [B, ...].

    Returns:
      Float32 scalar.
    """
    return -ops.mean(_f32(fake_logits))


def wasserstein_critic_loss(real_logits, fake_logits):
    """Wasserstein critic loss, ``E[f(G(z))] - E[f(x)]``: minus the estimated distance.

    The critic must be kept (near) 1-Lipschitz by the caller: weight clipping as
    in the paper, or `gradient_penalty`.

    Args:
      real_logits: Critic outputs on real samples, [B, ...].
      fake_logits: Critic outputs on generated samples, [B', ...].

    Returns:
      Float32 scalar.
    """
    return ops.mean(_f32(fake_logits)) - ops.mean(_f32(real_logits))


# --- Lim & Ye 2017 / SAGAN -----------------------------------------------------------


def hinge_generator_loss(fake_logits):
    """Hinge generator loss, ``-E[D(G(z))]`` (SAGAN, https://arxiv.org/abs/1805.08318).

    Args:
      fake_logits: Discriminator outputs on generated samples, [B, ...].

    Returns:
      Float32 scalar.
    """
    return -ops.mean(_f32(fake_logits))


def hinge_discriminator_loss(real_logits, fake_logits):
    """Hinge discriminator loss, ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``.

    From https://arxiv.org/abs/1705.02894, eq. 11.

    Args:
      real_logits: Discriminator outputs on real samples, [B, ...].
      fake_logits: Discriminator outputs on generated samples, [B', ...].

    Returns:
      Float32 scalar.
    """
    real_logits, fake_logits = _f32(real_logits), _f32(fake_logits)
    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))


# --- Penalties ---------------------------------------------------------------------


def _outputs_and_squared_gradient_norms(critic_fn: Callable, inputs, scale=1.0):
    """critic_fn(inputs) (float32) and the squared L2 norm of d sum(critic_fn(inputs)) / d inputs per example, [B].

    Summing the outputs before differentiating gives each example its own
    gradient when the critic treats examples independently (no batch
    statistics; use layer or instance normalisation in a penalised critic).
    With batch normalisation in training mode, example b's gradient also
    carries the dependence of the other examples' outputs on x_b through the
    batch statistics: it is the gradient of the batch-normalised function the
    critic computes on that batch.

    `scale` multiplies the differentiated sum and divides the gradient again:
    pass a mixed-precision loss scale so that float16 gradients do not underflow.
    """
    scale = ops.cast(scale, "float32")
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = _f32(critic_fn(inputs))  # [B, ...]
        total = ops.sum(outputs) * scale
    gradients = _f32(tape.gradient(total, inputs)) / scale  # [B, H, W, C]
    return outputs, ops.sum(ops.square(ops.reshape(gradients, (ops.shape(gradients)[0], -1))), axis=1)


def _per_example_squared_gradient_norm(critic_fn: Callable, inputs):
    """Squared L2 norm of d sum(critic_fn(inputs)) / d inputs for each example, [B] float32."""
    return _outputs_and_squared_gradient_norms(critic_fn, inputs)[1]


def gradient_penalty(
    critic_fn: Callable,
    real,
    fake,
    seed_generator_or_alpha,
    one_sided: bool = False,
    target: float = 1.0,
):
    """WGAN-GP gradient penalty, ``E[(||grad_x_hat f(x_hat)||_2 - target)^2]``.

    ``x_hat = alpha * real + (1 - alpha) * fake`` with ONE factor ``alpha``
    drawn uniformly in [0, 1] per example, shared by all its pixels and
    channels (Algorithm 1, line 6 of https://arxiv.org/abs/1704.00028). The
    gradient is taken with respect to ``x_hat`` only; ``real`` and ``fake`` are
    treated as constants.

    Args:
      critic_fn: Callable mapping a batch [B, H, W, C] to critic outputs [B, ...],
        e.g. ``lambda x: critic(x, training=True)``.
      real: Real samples, [B, H, W, C].
      fake: Generated samples, same shape as ``real``.
      seed_generator_or_alpha: A `keras.random.SeedGenerator` to draw ``alpha``
        from, or the interpolation factors themselves, shape [B, 1, 1, 1] (or
        broadcastable to ``real``), to make the penalty deterministic.
      one_sided: If True, penalise only norms above ``target``:
        ``E[max(0, ||grad|| - target)^2]`` (section 4 of the paper mentions it;
        also Petzka et al. 2018).
      target: The gradient norm to pull towards (1 in the paper).

    Returns:
      Float32 scalar, unweighted: multiply by lambda (10 in the paper).
    """
    real = _f32(real)
    fake = _f32(ops.stop_gradient(fake))
    batch_size = ops.shape(real)[0]
    if isinstance(seed_generator_or_alpha, keras.random.SeedGenerator):
        alpha_shape = (batch_size,) + (1,) * (len(real.shape) - 1)  # [B, 1, 1, 1]
        alpha = keras.random.uniform(alpha_shape, 0.0, 1.0, dtype="float32", seed=seed_generator_or_alpha)
    else:
        alpha = _f32(seed_generator_or_alpha)
    interpolated = alpha * real + (1.0 - alpha) * fake  # x_hat, [B, H, W, C]
    # sqrt(sum(g^2) + eps): finite gradient of the norm when g == 0.
    norms = ops.sqrt(_per_example_squared_gradient_norm(critic_fn, interpolated) + 1e-12)  # [B]
    deviation = norms - target
    if one_sided:
        deviation = ops.relu(deviation)  # max(0, ||g|| - target)
    return ops.mean(ops.square(deviation))


def r1_penalty(critic_fn: Callable, real):
    """R1 penalty, ``E[||grad_x D(x)||_2^2]`` on real samples (Mescheder et al. 2018, eq. 9).

    Args:
      critic_fn: Callable mapping a batch [B, H, W, C] to discriminator logits [B, ...].
      real: Real samples, [B, H, W, C].

    Returns:
      Float32 scalar, unweighted: the paper's regulariser is ``gamma / 2`` times this.
    """
    return outputs_and_r1_penalty(critic_fn, real)[1]


def outputs_and_r1_penalty(critic_fn: Callable, real, scale=1.0):
    """The discriminator's outputs on `real` and `r1_penalty`, from ONE forward pass.

    A discriminator step that penalises R1 needs D(x) for its loss anyway;
    recording that pass for the input gradient avoids a second forward pass
    (and, with batch normalisation, a second update of its moving statistics).

    Args:
      critic_fn: Callable mapping a batch [B, H, W, C] to discriminator logits [B, ...].
      real: Real samples, [B, H, W, C].
      scale: Multiplies the differentiated sum of outputs, and divides the
        gradient again (a loss scale under mixed_float16; 1 otherwise).

    Returns:
      (outputs [B, ...] float32, unweighted penalty: float32 scalar).
    """
    outputs, squared_norms = _outputs_and_squared_gradient_norms(critic_fn, _f32(real), scale)
    return outputs, ops.mean(squared_norms)  # mean_b sum_i g_bi^2


# --- Reconstruction ----------------------------------------------------------------


def mean_absolute_error(a, b):
    """Mean absolute difference, ``E[|a - b|]``: the L1 cycle and identity losses of CycleGAN.

    Zhu et al. 2017, https://arxiv.org/abs/1703.10593, eq. 2.

    Args:
      a: Tensor [B, ...].
      b: Tensor of the same shape.

    Returns:
      Float32 scalar, the mean over all elements.
    """
    return ops.mean(ops.abs(_f32(a) - _f32(b)))


# --- Weight decay -------------------------------------------------------------------


def l2_penalty(weights, coefficient: float):
    """``0.5 * coefficient * sum ||w||^2`` over `weights`: coupled (L2) weight decay through the loss.

    Its gradient adds ``coefficient * w`` to each weight's gradient, which is
    the weight decay of Caffe solvers and of `torch.optim.Adam(weight_decay=...)`
    (Keras' optimizer option ``weight_decay`` decays the weights directly
    instead, AdamW-style, a different update). Pass only the variables to
    decay (e.g. kernels). Returns a float32 scalar (0 when the coefficient is 0
    or there are no weights).
    """
    weights = list(weights)
    if not coefficient or not weights:
        return ops.convert_to_tensor(0.0, "float32")
    total = sum(ops.sum(ops.square(ops.cast(w, "float32"))) for w in weights)
    return 0.5 * coefficient * total


# --- Auxiliary classifiers (Odena et al. 2017; Hou et al. 2022) ----------------------


def class_cross_entropy(class_logits, labels):
    """Mean softmax cross entropy ``-E[log C(y | x)]`` of class logits against integer labels.

    The classification term of AC-GAN: ``L_C = E[log P(C = c | X_real)] +
    E[log P(C = c | X_fake)]`` (Odena et al. 2017, eq. 3) is minus the sum of this
    loss on the real batch and on the generated batch; the discriminator and the
    generator both minimise it (both maximise ``L_C``).

    Args:
      class_logits: [B, K] unnormalised log-probabilities of the K classes.
      labels: [B] integer class ids in [0, K).

    Returns:
      Float32 scalar, the mean over the batch.
    """
    labels = ops.cast(labels, "int32")
    return ops.mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=_f32(class_logits)))


def _split_dual_logits(dual_logits, num_classes):
    dual_logits = _f32(dual_logits)
    if dual_logits.shape[-1] is not None and dual_logits.shape[-1] != 2 * num_classes:
        raise ValueError(f"The dual classifier needs 2K = {2 * num_classes} logits per image "
                         f"(K = {num_classes} classes); got {dual_logits.shape[-1]}.")
    return dual_logits


def dual_class_discriminator_loss(real_dual_logits, real_labels, fake_dual_logits, fake_labels, num_classes: int):
    """ADC-GAN's classifier loss of the discriminator: ``-E_p[log C(y+ | x)] - E_q[log C(y- | x)]``.

    The discriminative classifier C_d has 2K outputs: "real image of class k" is
    class ``y+ = k`` and "generated image of class k" is ``y- = K + k`` (Hou et
    al. 2022, eq. 9). D and C_d maximise ``E_p[log C_d(y+|x)] + E_q[log C_d(y-|x)]``,
    so they minimise the sum of the two mean cross entropies returned here.

    Args:
      real_dual_logits: [B, 2K] logits of C_d on real images.
      real_labels: [B] their classes in [0, K).
      fake_dual_logits: [B', 2K] logits of C_d on generated images.
      fake_labels: [B'] the classes they were generated for, in [0, K).
      num_classes: K.

    Returns:
      Float32 scalar: mean cross entropy on the real batch plus on the generated batch.
    """
    real = class_cross_entropy(_split_dual_logits(real_dual_logits, num_classes), real_labels)
    fake = class_cross_entropy(_split_dual_logits(fake_dual_logits, num_classes),
                               ops.cast(fake_labels, "int32") + num_classes)
    return real + fake


def dual_class_generator_loss(fake_dual_logits, fake_labels, num_classes: int):
    """ADC-GAN's classifier term of the generator: ``E_q[-log C(y+ | x)] - E_q[-log C(y- | x)]``.

    G minimises ``-E_q[log C_d(y+|x)] + E_q[log C_d(y-|x)]`` (Hou et al. 2022,
    eq. 10): its samples of class k should be classified as real images of class
    k and not as generated ones. In cross entropies: ``CE(k | G(z, k)) -
    CE(K + k | G(z, k))``. The two log-softmaxes share their normaliser, so the
    difference is ``logit[K + k] - logit[k]`` exactly; that form is used (it has
    no cancellation of two large cross entropies).

    Args:
      fake_dual_logits: [B, 2K] logits of C_d on generated images.
      fake_labels: [B] the classes they were generated for, in [0, K).
      num_classes: K.

    Returns:
      Float32 scalar, the mean over the batch (can be negative).
    """
    logits = _split_dual_logits(fake_dual_logits, num_classes)
    labels = ops.cast(fake_labels, "int32")
    positive = ops.take_along_axis(logits, labels[:, None], axis=1)
    negative = ops.take_along_axis(logits, labels[:, None] + num_classes, axis=1)
    return ops.mean(negative - positive)


def class_accuracy(class_logits, labels):
    """Share of rows whose largest logit is at ``labels`` (float32 scalar); ties go to the lowest index."""
    predicted = ops.argmax(_f32(class_logits), axis=-1)
    return ops.mean(ops.cast(ops.equal(ops.cast(predicted, "int32"), ops.cast(labels, "int32")), "float32"))


# --- Distribution -------------------------------------------------------------------


def scale_for_replicas(loss):
    """Divides a replica's local mean loss by the number of replicas in sync.

    Keras 3 optimizers under `tf.distribute` SUM the gradients of all replicas
    (an all-reduce with SUM) before applying them. A replica that differentiated
    its local mean would therefore apply ``num_replicas`` times the gradient of
    the global mean; dividing the loss it differentiates by ``num_replicas``
    makes the summed gradient the gradient of the global-batch mean, the same
    step one device takes on the whole batch. Report the unscaled loss to
    metrics (`keras.metrics.Mean` averages across replicas).

    Args:
      loss: Float scalar, the mean loss over this replica's examples.

    Returns:
      ``loss / num_replicas_in_sync`` (unchanged outside a strategy).
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return loss
    return loss / ops.cast(replicas, loss.dtype)


GENERATOR_LOSSES = {
    "non_saturating": non_saturating_generator_loss,
    "minimax": minimax_generator_loss,
    "least_squares": least_squares_generator_loss,
    "wasserstein": wasserstein_generator_loss,
    "hinge": hinge_generator_loss,
}
"""Generator loss by name; apps validate their ``loss`` option against these keys."""

DISCRIMINATOR_LOSSES = {
    "non_saturating": non_saturating_discriminator_loss,
    "minimax": minimax_discriminator_loss,
    "least_squares": least_squares_discriminator_loss,
    "wasserstein": wasserstein_critic_loss,
    "hinge": hinge_discriminator_loss,
}
"""Discriminator loss by name, with the same keys as `GENERATOR_LOSSES`."""
