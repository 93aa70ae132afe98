"""AC-GAN's loss terms against NumPy, and its train_step against an eager reference (apps/acgan/model.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.acgan.config import ACGANConfig
from apps.acgan.model import ACGAN, build_model, make_optimizers
from common.models import gan_step
from tests.tolerances import ELEMENTWISE_RTOL, NETWORK_RTOL

K = 3
TINY = {"image_size": 16, "channels": 1, "latent_dim": 6, "num_classes": K, "generator_filters": (8, 4),
            "discriminator_filters": (4, 8), "discriminator_strides": (2, 1)}


def np_softplus(x):
    return np.logaddexp(0.0, x)


def np_cross_entropy(logits, labels):
    """Mean of -log softmax(logits)[label], in float64."""
    logits = np.asarray(logits, np.float64)
    log_softmax = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return float(-np.mean(log_softmax[np.arange(len(labels)), labels]))


def outputs(source, classes):
    return [tf.constant(source, tf.float32), tf.constant(classes, tf.float32)]


REAL = outputs([[1.5], [-0.5]], [[2.0, 0.0, -1.0], [0.5, 0.3, 0.1]])
FAKE = outputs([[-2.0], [0.25]], [[0.0, 1.0, 0.0], [3.0, -1.0, 0.5]])
REAL_LABELS, FAKE_LABELS = tf.constant([0, 2]), tf.constant([1, 0])


@pytest.mark.parametrize("class_weight", [1.0, 0.5])
def test_discriminator_objective_is_source_plus_both_class_cross_entropies(class_weight):
    model = build_model(ACGANConfig(class_weight=class_weight, **TINY))
    d_loss, d_total, metrics = model.discriminator_objective(REAL, FAKE, REAL_LABELS, FAKE_LABELS)
    # -L_S: sigmoid cross entropy, real as 1 and generated as 0.
    source = np.mean(np_softplus(-np.array([1.5, -0.5]))) + np.mean(np_softplus(np.array([-2.0, 0.25])))
    # -L_C: the class cross entropy on the real batch plus on the generated batch.
    classes = (np_cross_entropy([[2.0, 0.0, -1.0], [0.5, 0.3, 0.1]], [0, 2])
               + np_cross_entropy([[0.0, 1.0, 0.0], [3.0, -1.0, 0.5]], [1, 0]))
    assert float(d_loss) == pytest.approx(source, rel=ELEMENTWISE_RTOL)
    assert float(metrics["d_class_loss"]) == pytest.approx(classes, rel=ELEMENTWISE_RTOL)
    assert float(d_total) == pytest.approx(source + class_weight * classes, rel=ELEMENTWISE_RTOL)
    # Real: argmax 0 (label 0, right), argmax 0 (label 2, wrong); generated: 1 (right), 0 (right).
    assert float(metrics["real_class_accuracy"]) == 0.5 and float(metrics["fake_class_accuracy"]) == 1.0


@pytest.mark.parametrize("loss", ["non_saturating", "minimax"])
def test_generator_objective_adds_the_class_cross_entropy_of_the_generated_batch(loss):
    model = build_model(ACGANConfig(loss=loss, **TINY))
    g_loss, g_total, metrics = model.generator_objective(FAKE, FAKE_LABELS)
    logits = np.array([-2.0, 0.25])
    # non-saturating: -log D(G(z)) = softplus(-l); minimax (eq. 3's -L_S): log(1 - D(G(z))) = -softplus(l).
    source = np.mean(np_softplus(-logits)) if loss == "non_saturating" else -np.mean(np_softplus(logits))
    classes = np_cross_entropy([[0.0, 1.0, 0.0], [3.0, -1.0, 0.5]], [1, 0])
    assert float(g_loss) == pytest.approx(source, rel=ELEMENTWISE_RTOL)
    assert float(metrics["g_class_loss"]) == pytest.approx(classes, rel=ELEMENTWISE_RTOL)
    assert float(g_total) == pytest.approx(source + classes, rel=ELEMENTWISE_RTOL)


def test_generator_class_term_falls_as_the_requested_class_logit_rises():
    model = build_model(ACGANConfig(**TINY))
    before = model.generator_objective(FAKE, FAKE_LABELS)[2]["g_class_loss"]
    raised = outputs([[-2.0], [0.25]], [[0.0, 2.0, 0.0], [4.0, -1.0, 0.5]])  # logit of the label +1
    after = model.generator_objective(raised, FAKE_LABELS)[2]["g_class_loss"]
    assert float(after) < float(before)


def compiled_model(config):
    model = build_model(config)
    model.compile(*make_optimizers(config))
    return model


def copy_of(network):
    clone = keras.models.clone_model(network)
    clone.set_weights(network.get_weights())
    return clone


def norm(gradients):
    return float(np.sqrt(sum(np.sum(np.square(g.numpy())) for g in gradients)))


@pytest.mark.parametrize("reuse_fakes", [True, False])
def test_train_step_matches_reference_computation(reuse_fakes):
    # dropout 0: the eager copy of D would draw other dropout masks than the model's D.
    config = ACGANConfig(dropout=0.0, seed=5, reuse_fakes=reuse_fakes, class_weight=0.7, **TINY)
    model = compiled_model(config)
    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32))
    real_labels = tf.constant([2, 0, 1, 1])
    generator_before, discriminator_before = copy_of(model.generator), copy_of(model.discriminator)
    weights_before = [w.numpy().copy() for w in model.trainable_weights]

    logs = {name: float(value) for name, value in model.train_step({"image": real, "label": real_labels}).items()}

    # 1. The step's noise: balanced labels, then z, from the model's seed.
    noise = keras.random.SeedGenerator(config.seed)
    fake_labels = gan_step.replica_balanced_labels(noise, 4, K)
    z = gan_step.replica_latents(noise, 4, 6)
    assert sorted(np.bincount(fake_labels.numpy(), minlength=K)) == [1, 1, 2]

    # 2. D step: -L_S - L_C, the class term weighted.
    with tf.GradientTape() as tape:
        real_source, real_classes = discriminator_before(real, training=True)
        fake_source, fake_classes = discriminator_before(generator_before([z, fake_labels], training=True),
                                                         training=True)
        d_source = tf.reduce_mean(tf.nn.softplus(-real_source)) + tf.reduce_mean(tf.nn.softplus(fake_source))
        d_class = (tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(real_labels, real_classes))
                   + tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(fake_labels, fake_classes)))
        d_total = d_source + 0.7 * d_class
    d_grad_norm = norm(tape.gradient(d_total, discriminator_before.trainable_weights))
    assert logs["d_loss"] == pytest.approx(float(d_source), rel=NETWORK_RTOL)
    assert logs["d_class_loss"] == pytest.approx(float(d_class), rel=NETWORK_RTOL)
    assert logs["d_grad_norm"] == pytest.approx(d_grad_norm, rel=NETWORK_RTOL)
    assert logs["d_real"] == pytest.approx(float(tf.reduce_mean(tf.sigmoid(real_source))), rel=NETWORK_RTOL)

    # 3. G step through the updated D, on the same z and labels or on a fresh draw.
    if not reuse_fakes:
        fake_labels = gan_step.replica_balanced_labels(noise, 4, K)
        z = gan_step.replica_latents(noise, 4, 6)
    discriminator_after = copy_of(model.discriminator)
    with tf.GradientTape() as tape:
        source, classes = discriminator_after(generator_before([z, fake_labels], training=True), training=True)
        g_source = tf.reduce_mean(tf.nn.softplus(-source))
        g_class = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(fake_labels, classes))
        g_total = g_source + 0.7 * g_class
    g_grad_norm = norm(tape.gradient(g_total, generator_before.trainable_weights))
    assert logs["g_loss"] == pytest.approx(float(g_source), rel=NETWORK_RTOL)
    assert logs["g_class_loss"] == pytest.approx(float(g_class), rel=NETWORK_RTOL)
    assert logs["g_grad_norm"] == pytest.approx(g_grad_norm, rel=NETWORK_RTOL)
    assert set(logs) == set(ACGAN.TRACKED)
    for before, after in zip(weights_before, model.trainable_weights):
        assert not np.array_equal(before, after.numpy())


def test_only_the_label_changes_the_sample():
    model = build_model(ACGANConfig(**TINY))
    z = np.tile(np.random.default_rng(3).standard_normal((1, 6)).astype(np.float32), (K, 1))
    images = model.sample(z, np.arange(K, dtype=np.int32)).numpy()
    for a in range(K):
        for b in range(a + 1, K):
            assert not np.allclose(images[a], images[b])
    np.testing.assert_array_equal(images, model.sample(z, np.arange(K, dtype=np.int32)).numpy())


def test_one_step_with_dropout_is_finite_and_paper_defaults():
    model = compiled_model(ACGANConfig(**TINY))
    batch = {"image": tf.random.uniform((4, 16, 16, 1), -1, 1, seed=1), "label": tf.constant([0, 1, 2, 0])}
    assert all(np.isfinite(float(v)) for v in model.train_step(batch).values())
    config = ACGANConfig()
    assert (config.image_size, config.channels, config.num_classes, config.latent_dim) == (32, 3, 10, 100)
    assert config.generator_filters == (384, 192, 96) and config.discriminator_filters == (16, 32, 64, 128, 256, 512)
    assert (config.learning_rate, config.beta_1, config.batch_size, config.dropout) == (2e-4, 0.5, 100, 0.5)
    assert config.loss == "non_saturating" and config.class_weight == 1.0


@pytest.mark.parametrize("change,message", [
    ({"loss": "hinge"}, "loss must be one of non_saturating, minimax"),
    ({"class_weight": -1.0}, "class_weight must be >= 0"),
    ({"image_size": 28}, "MNIST: image_size=28 with 2 widths"),
    ({"num_classes": 0}, "num_classes must be a positive integer"),
])
def test_config_errors(change, message):
    with pytest.raises(ValueError, match=message):
        ACGANConfig(**change)
    assert ACGANConfig(generator_filters=[384, 192], image_size=28).generator_filters == (384, 192)
