"""Adversarial losses and penalties against values computed by hand (common/nn/losses.py)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.nn import losses
from tests.strategies import two_cpu_strategy
from tests.tolerances import reduction_rtol


def softplus(x):
    return math.log1p(math.exp(x))


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))



REAL = [0.0, 2.0, -1.0]
FAKE = [1.0, -3.0]


def test_non_saturating_generator_loss_by_hand():
    # -log(sigmoid(l)) for l = 0, 2, -1: 0.693147, 0.126928, 1.313262 -> mean 0.711112
    expected = (softplus(-0.0) + softplus(-2.0) + softplus(1.0)) / 3
    assert expected == pytest.approx(0.711112, abs=1e-6)
    expected_direct = -sum(math.log(sigmoid(l)) for l in REAL) / 3
    assert float(losses.non_saturating_generator_loss(tf.constant(REAL))) == pytest.approx(expected, rel=1e-6)
    assert float(losses.non_saturating_generator_loss(tf.constant(REAL))) == pytest.approx(expected_direct, rel=1e-6)


def test_discriminator_loss_is_sigmoid_cross_entropy_by_hand():
    # real: mean(-log sigmoid(l)) = 0.711112; fake: mean(-log(1 - sigmoid(l))) for 1, -3:
    # (1.313262 + 0.048587) / 2 = 0.680924
    real_term = sum(-math.log(sigmoid(l)) for l in REAL) / 3
    fake_term = sum(-math.log(1.0 - sigmoid(l)) for l in FAKE) / 2
    assert fake_term == pytest.approx(0.680924, abs=1e-6)
    value = losses.non_saturating_discriminator_loss(tf.constant(REAL), tf.constant(FAKE))
    assert float(value) == pytest.approx(real_term + fake_term, rel=1e-6)
    assert losses.minimax_discriminator_loss is losses.non_saturating_discriminator_loss


def test_one_sided_label_smoothing_by_hand():
    # Real logits 0 and 2 with target 0.9 (Salimans et al. 2016):
    #   l = 0: -(0.9 log 0.5 + 0.1 log 0.5) = log 2 = 0.693147
    #   l = 2: -(0.9 log sigmoid(2) + 0.1 log(1 - sigmoid(2)))
    #        = 0.9 * 0.126928 + 0.1 * 2.126928 = 0.326928
    # real term 0.510038; fake logit -1: -log(1 - sigmoid(-1)) = softplus(-1) = 0.313262.
    value = losses.non_saturating_discriminator_loss(tf.constant([0.0, 2.0]), tf.constant([-1.0]), real_label=0.9)
    assert float(value) == pytest.approx(0.510038 + 0.313262, abs=2e-6)
    # The fake term keeps target 0, and target 1 is the unsmoothed loss.
    plain = losses.non_saturating_discriminator_loss(tf.constant([0.0, 2.0]), tf.constant([-1.0]))
    assert float(plain) == pytest.approx((0.693147 + 0.126928) / 2 + 0.313262, abs=2e-6)
    # d/dl of the smoothed real term is sigmoid(l) - 0.9: -0.4 at l = 0, and 0 at
    # l = log 9 (D(x) = 0.9), where the unsmoothed loss would still push upwards.
    for start, slope in ((0.0, -0.4), (math.log(9.0), 0.0)):
        logit = tf.Variable(start)
        with tf.GradientTape() as tape:
            loss = losses.non_saturating_discriminator_loss(tf.reshape(logit, [1]), tf.constant([-50.0]), 0.9)
        assert float(tape.gradient(loss, logit)) == pytest.approx(slope, abs=1e-6)


def test_minimax_generator_loss_sign():
    # The generator minimises E[log(1 - sigmoid(l))] = -E[softplus(l)] = -0.680924 here.
    expected = sum(math.log(1.0 - sigmoid(l)) for l in FAKE) / 2
    assert expected == pytest.approx(-(softplus(1.0) + softplus(-3.0)) / 2)
    assert float(losses.minimax_generator_loss(tf.constant(FAKE))) == pytest.approx(expected, rel=1e-6)
    # Its gradient pushes the logits up (towards "real"), like the non-saturating loss.
    logits = tf.Variable(FAKE)
    with tf.GradientTape() as tape:
        loss = losses.minimax_generator_loss(logits)
    assert np.all(tape.gradient(loss, logits).numpy() < 0)


def test_least_squares_losses_by_hand():
    real, fake = tf.constant([0.5, 2.0]), tf.constant([-1.0, 0.25])
    # 0-1 coding: 0.5*mean((0.5-1)^2, (2-1)^2) + 0.5*mean((-1-0)^2, (0.25-0)^2)
    #           = 0.5*(0.25+1)/2 + 0.5*(1+0.0625)/2 = 0.3125 + 0.265625
    assert float(losses.least_squares_discriminator_loss(real, fake)) == pytest.approx(0.578125)
    # -1/1 coding of the fakes: 0.3125 + 0.5*mean(0^2, 1.25^2) = 0.3125 + 0.390625
    assert float(losses.least_squares_discriminator_loss(real, fake, a=-1.0, b=1.0)) == pytest.approx(0.703125)
    # generator, c=1: 0.5*mean((-1-1)^2, (0.25-1)^2) = 0.5*(4+0.5625)/2
    assert float(losses.least_squares_generator_loss(fake)) == pytest.approx(1.140625)
    assert float(losses.least_squares_generator_loss(fake, c=0.0)) == pytest.approx(0.265625)


def test_wasserstein_losses_by_hand():
    real, fake = tf.constant([1.0, 3.0]), tf.constant([0.5, 1.5])
    assert float(losses.wasserstein_critic_loss(real, fake)) == pytest.approx(1.0 - 2.0)
    assert float(losses.wasserstein_generator_loss(fake)) == pytest.approx(-1.0)


def test_hinge_losses_by_hand():
    real, fake = tf.constant([0.5, 2.0, -1.0]), tf.constant([-2.0, 0.0, 0.5])
    # relu(1 - real) = [0.5, 0, 2] -> 5/6; relu(1 + fake) = [0, 1, 1.5] -> 5/6
    assert float(losses.hinge_discriminator_loss(real, fake)) == pytest.approx(5 / 6 + 5 / 6)
    assert float(losses.hinge_generator_loss(fake)) == pytest.approx(0.5)


def test_mean_absolute_error_by_hand():
    assert float(losses.mean_absolute_error(tf.constant([1.0, -2.0]), tf.constant([0.5, 1.0]))) == pytest.approx(1.75)


@pytest.mark.parametrize("name", sorted(losses.GENERATOR_LOSSES))
def test_losses_finite_at_large_logits_with_finite_gradients(name):
    real = tf.Variable([100.0, -100.0, 100.0], dtype=tf.float32)
    fake = tf.Variable([-100.0, 100.0, -100.0], dtype=tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        d_loss = losses.DISCRIMINATOR_LOSSES[name](real, fake)
        g_loss = losses.GENERATOR_LOSSES[name](fake)
    for value in (d_loss, g_loss, *tape.gradient(d_loss, [real, fake]), tape.gradient(g_loss, fake)):
        assert np.all(np.isfinite(np.asarray(value)))


def test_non_saturating_values_at_large_logits():
    # -log(sigmoid(-100)) = softplus(100) = 100 (+3.7e-44); -log(sigmoid(100)) ~ 3.7e-44
    assert float(losses.non_saturating_generator_loss(tf.constant([-100.0]))) == pytest.approx(100.0)
    assert float(losses.non_saturating_generator_loss(tf.constant([100.0]))) == pytest.approx(0.0, abs=1e-30)
    assert float(losses.non_saturating_discriminator_loss(tf.constant([-100.0]), tf.constant([100.0]))) == (
        pytest.approx(200.0)
    )


def test_losses_return_float32_for_float16_logits():
    logits = tf.constant([0.5, -0.5], tf.float16)
    for name in losses.GENERATOR_LOSSES:
        assert losses.GENERATOR_LOSSES[name](logits).dtype == tf.float32
        assert losses.DISCRIMINATOR_LOSSES[name](logits, logits).dtype == tf.float32


# --- Penalties -------------------------------------------------------------------------

RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 4, 2)).astype(np.float32)  # linear critic f(x) = sum(w * x)


def linear_critic(x):
    return tf.reduce_sum(x * W, axis=[1, 2, 3])[:, None]  # [B, 1]


def quadratic_critic(x):
    return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])  # f(x) = 0.5 ||x||^2, grad = x


def test_gradient_penalty_of_linear_critic_is_closed_form():
    real = tf.constant(RNG.standard_normal((3, 4, 4, 2)), tf.float32)
    fake = tf.constant(RNG.standard_normal((3, 4, 4, 2)), tf.float32)
    norm_w = float(np.linalg.norm(W))  # the gradient of f is w everywhere
    # ||w||^2 is a float32 sum of 32 squares; (||w|| - t)^2 multiplies its relative error by ||w|| / |||w|| - t|.
    def rel(target):
        return reduction_rtol(W.size) * norm_w / abs(norm_w - target)

    penalty = losses.gradient_penalty(linear_critic, real, fake, keras.random.SeedGenerator(1))
    assert float(penalty) == pytest.approx((norm_w - 1.0) ** 2, rel=rel(1.0))
    penalty = losses.gradient_penalty(linear_critic, real, fake, keras.random.SeedGenerator(1), target=2.0)
    assert float(penalty) == pytest.approx((norm_w - 2.0) ** 2, rel=rel(2.0))
    half = 0.5 / norm_w  # rescaled critic with ||grad|| = 0.5

    def small_critic(x):
        return half * linear_critic(x)

    assert float(losses.gradient_penalty(small_critic, real, fake, keras.random.SeedGenerator(1))) == (
        pytest.approx(0.25, rel=2 * reduction_rtol(W.size))  # ||grad|| = 0.5 up to the rounding of `half` and the sum
    )
    one_sided = losses.gradient_penalty(small_critic, real, fake, keras.random.SeedGenerator(1), one_sided=True)
    assert float(one_sided) == 0.0


def test_gradient_penalty_with_given_alpha_on_quadratic_critic():
    real = RNG.standard_normal((3, 2, 2, 1)).astype(np.float32)
    fake = RNG.standard_normal((3, 2, 2, 1)).astype(np.float32)
    alpha = np.array([0.0, 0.25, 1.0], np.float32).reshape(3, 1, 1, 1)
    x_hat = alpha * real + (1 - alpha) * fake  # grad of 0.5||x||^2 at x_hat is x_hat
    expected = np.mean((np.linalg.norm(x_hat.reshape(3, -1), axis=1) - 1.0) ** 2)
    penalty = losses.gradient_penalty(quadratic_critic, tf.constant(real), tf.constant(fake), tf.constant(alpha))
    # Norms of 4 terms, a square root, (norm - 1)^2 and a mean of 3, each rounding within a few EPS of its
    # value: 1e-5 (about 80 EPS) leaves room for the subtraction's cancellation when a norm is near 1.
    assert float(penalty) == pytest.approx(float(expected), rel=1e-5)


def test_gradient_penalty_draws_one_uniform_alpha_per_example():
    batch = 256
    real = tf.constant(RNG.uniform(1.0, 2.0, (batch, 3, 3, 2)), tf.float32)
    fake = tf.zeros_like(real)  # x_hat = alpha * real, so alpha = x_hat / real
    seen = []

    def recording_critic(x):
        seen.append(x)
        return quadratic_critic(x)

    penalty = losses.gradient_penalty(recording_critic, real, fake, keras.random.SeedGenerator(7))
    ratio = (seen[0] / real).numpy().reshape(batch, -1)
    alpha = ratio[:, 0]
    np.testing.assert_allclose(ratio, np.repeat(alpha[:, None], ratio.shape[1], axis=1), rtol=1e-5)  # per example
    assert np.all((alpha >= 0.0) & (alpha <= 1.0))
    assert len(np.unique(alpha)) == batch  # different across the batch
    # Uniform on [0, 1]: mean 1/2 and std 1/sqrt(12) = 0.2887, within ~4 standard errors.
    assert abs(alpha.mean() - 0.5) < 0.08
    assert abs(alpha.std() - 1 / math.sqrt(12)) < 0.05
    norms = alpha * np.linalg.norm(real.numpy().reshape(batch, -1), axis=1)
    # A mean of 256 per-example terms (reduction_rtol(256) = 3.1e-5), each from a norm of 18 squares.
    assert float(penalty) == pytest.approx(float(np.mean((norms - 1.0) ** 2)), rel=1e-4)


def test_gradient_penalty_reproducible_with_seed():
    real = tf.constant(RNG.standard_normal((4, 2, 2, 1)), tf.float32)
    fake = tf.constant(RNG.standard_normal((4, 2, 2, 1)), tf.float32)
    first = losses.gradient_penalty(quadratic_critic, real, fake, keras.random.SeedGenerator(3))
    second = losses.gradient_penalty(quadratic_critic, real, fake, keras.random.SeedGenerator(3))
    assert float(first) == float(second)


def test_r1_penalty_closed_forms():
    # Each penalty sums 32 squared gradient entries and averages 3 examples: reduction_rtol(32) = 3.8e-6
    # of the value per sum, so 1e-5 here and below.
    real = RNG.standard_normal((3, 4, 4, 2)).astype(np.float32)
    assert float(losses.r1_penalty(linear_critic, tf.constant(real))) == pytest.approx(float(np.sum(W**2)), rel=1e-5)
    expected = np.mean(np.sum(real.reshape(3, -1) ** 2, axis=1))  # grad = x
    assert float(losses.r1_penalty(quadratic_critic, tf.constant(real))) == pytest.approx(float(expected), rel=1e-5)


def test_outputs_and_r1_penalty_share_one_forward_pass():
    real = RNG.standard_normal((3, 4, 4, 2)).astype(np.float32)
    calls = []

    def counted_critic(x):
        calls.append(1)
        return quadratic_critic(x)

    outputs, penalty = losses.outputs_and_r1_penalty(counted_critic, tf.constant(real))
    assert len(calls) == 1
    np.testing.assert_allclose(outputs, 0.5 * np.sum(real.reshape(3, -1) ** 2, axis=1), rtol=reduction_rtol(32))
    assert float(penalty) == pytest.approx(float(np.mean(np.sum(real.reshape(3, -1) ** 2, axis=1))), rel=1e-5)
    # A loss scale multiplies the differentiated sum and is divided out again.
    _, scaled = losses.outputs_and_r1_penalty(quadratic_critic, tf.constant(real), scale=1024.0)
    assert float(scaled) == pytest.approx(float(penalty), rel=1e-6)


def test_r1_of_a_batch_normalised_critic_is_the_gradient_of_its_summed_outputs():
    # With batch statistics, example b's gradient includes how the other outputs move with x_b:
    # (x_b - mean) / std summed over the batch is 0 for every input, so the gradient is 0.
    def batch_standardising_critic(x):
        flat = tf.reshape(x, (tf.shape(x)[0], -1))[:, :1]  # [B, 1]: one pixel
        mean, variance = tf.nn.moments(flat, axes=[0], keepdims=True)
        return (flat - mean) / tf.sqrt(variance + 1e-3)

    real = tf.constant(RNG.standard_normal((4, 2, 2, 1)).astype(np.float32))
    assert float(losses.r1_penalty(batch_standardising_critic, real)) == pytest.approx(0.0, abs=1e-8)


# --- Distribution -------------------------------------------------------------------------


def test_scale_for_replicas_outside_a_strategy_is_identity():
    assert float(losses.scale_for_replicas(tf.constant(3.0))) == 3.0


def test_scale_for_replicas_makes_summed_gradients_those_of_the_global_mean():
    # Two replicas see [1, 2] and [3, 4]; loss = mean(w * x). The gradient of the
    # global mean is 2.5, so one SGD step (learning rate 1) from w = 0 gives -2.5.
    # Without the division, Keras' sum over replicas would give -5.
    strategy = two_cpu_strategy()
    with strategy.scope():
        w = keras.Variable(0.0)
        optimizer = keras.optimizers.SGD(1.0)
        optimizer.build([w])
    data = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant([[1.0, 2.0], [3.0, 4.0]][ctx.replica_id_in_sync_group])
    )

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            local_loss = tf.reduce_mean(w * x)
            scaled = losses.scale_for_replicas(local_loss)
        optimizer.apply_gradients([(tape.gradient(scaled, w.value), w)])
        return scaled

    scaled = strategy.run(step, args=(data,))
    assert [float(v) for v in strategy.experimental_local_results(scaled)] == [0.0, 0.0]
    assert float(w.numpy()) == pytest.approx(-2.5)


# --- auxiliary classifiers ---------------------------------------------------------

CLASS_LOGITS = [[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]]
CLASS_LABELS = [0, 1]


def test_class_cross_entropy_by_hand():
    # Row 1: -log(e^2 / (e^2 + 1 + e^-1)) = log(1 + e^-2 + e^-3) = 0.1698; row 2: -log(e^.5 / (2 e^.5 + e^3))
    # = log(2 + e^2.5) = 2.6220; mean 1.3959.
    expected = (math.log(1 + math.exp(-2) + math.exp(-3)) + math.log(2 + math.exp(2.5))) / 2
    assert float(losses.class_cross_entropy(CLASS_LOGITS, CLASS_LABELS)) == pytest.approx(expected, rel=reduction_rtol(3))
    assert float(losses.class_accuracy(CLASS_LOGITS, CLASS_LABELS)) == 0.5


# K = 2 classes, 2K = 4 dual logits: [real 0, real 1, fake 0, fake 1].
DUAL_REAL = [[3.0, 0.0, 1.0, -1.0]]
DUAL_FAKE = [[0.0, 1.0, 0.0, 2.0], [1.0, 0.0, 0.0, 0.0]]


def log_softmax(row):
    top = max(row)
    return [v - top - math.log(sum(math.exp(u - top) for u in row)) for v in row]


def test_dual_class_discriminator_loss_by_hand():
    # Real image of class 1 -> target y+ = 1; fakes of classes 1 and 0 -> targets y- = K + k = 3 and 2.
    real_term = -log_softmax(DUAL_REAL[0])[1]
    fake_term = (-log_softmax(DUAL_FAKE[0])[3] - log_softmax(DUAL_FAKE[1])[2]) / 2
    got = losses.dual_class_discriminator_loss(DUAL_REAL, [1], DUAL_FAKE, [1, 0], num_classes=2)
    assert float(got) == pytest.approx(real_term + fake_term, rel=reduction_rtol(4))
    with pytest.raises(ValueError, match="2K = 4"):
        losses.dual_class_discriminator_loss([[0.0, 1.0, 2.0]], [0], DUAL_FAKE, [1, 0], num_classes=2)


def test_dual_class_generator_loss_by_hand_and_its_signs():
    # G minimises CE(k | x) - CE(K + k | x) = log C(K + k | x) - log C(k | x), for fakes of classes 1 and 0.
    rows = [(DUAL_FAKE[0], 1), (DUAL_FAKE[1], 0)]
    expected = sum(log_softmax(row)[2 + k] - log_softmax(row)[k] for row, k in rows) / 2
    assert expected == pytest.approx(sum(row[2 + k] - row[k] for row, k in rows) / 2)  # logit[K+k] - logit[k]
    got = float(losses.dual_class_generator_loss(DUAL_FAKE, [1, 0], num_classes=2))
    assert got == pytest.approx(expected, rel=reduction_rtol(4))
    # Signs: the loss falls when C calls the fake "real of class k", rises when it calls it "fake of class k",
    # and ignores the other classes' logits.
    base = np.array(DUAL_FAKE, np.float32)
    for column, direction in ((1, -1), (3, +1), (0, 0), (2, 0)):
        moved = base.copy()
        moved[0, column] += 1.0
        change = float(losses.dual_class_generator_loss(moved, [1, 0], num_classes=2)) - got
        assert np.sign(round(change, 6)) == direction, column
    # The discriminator's fake term moves the other way: D wants fakes called "fake of class k".
    d_base = float(losses.dual_class_discriminator_loss(DUAL_REAL, [1], base, [1, 0], num_classes=2))
    moved = base.copy()
    moved[0, 3] += 1.0
    assert float(losses.dual_class_discriminator_loss(DUAL_REAL, [1], moved, [1, 0], num_classes=2)) < d_base
