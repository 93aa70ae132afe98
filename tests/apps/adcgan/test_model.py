"""ADC-GAN's 2K-way loss terms and their signs against NumPy, and its train_step against an eager
reference (apps/adcgan/model.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.adcgan.config import ADCGANConfig
from apps.adcgan.model import ADCGAN, build_model, make_optimizers
from common.models import gan_step
from tests.tolerances import ELEMENTWISE_RTOL, NETWORK_RTOL, assert_steps_close, scale_of

K = 2
TINY = {"image_size": 16, "channels": 1, "latent_dim": 6, "num_classes": K, "generator_filters": (8, 4),
            "discriminator_filters": (4, 8), "discriminator_strides": (2, 1)}


def np_cross_entropy(logits, labels):
    """Mean of -log softmax(logits)[label], in float64."""
    logits = np.asarray(logits, np.float64)
    log_softmax = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return float(-np.mean(log_softmax[np.arange(len(labels)), labels]))


def outputs(source, dual):
    return [tf.constant(source, tf.float32), tf.constant(dual, tf.float32)]


# 2K = 4 outputs: [real 0, real 1, generated 0, generated 1].
REAL_DUAL = [[2.0, 0.0, -1.0, 0.5], [0.5, 0.3, 0.1, 1.5]]
FAKE_DUAL = [[0.0, 1.0, 0.0, 2.0], [3.0, -1.0, 0.5, 0.0]]
REAL = outputs([[1.5], [-0.5]], REAL_DUAL)
FAKE = outputs([[-2.0], [0.25]], FAKE_DUAL)
REAL_LABELS, FAKE_LABELS = tf.constant([0, 1]), tf.constant([1, 0])


def test_discriminator_objective_classifies_real_k_as_k_and_generated_k_as_k_plus_K():
    model = build_model(ADCGANConfig(adc_lambda=0.5, **TINY))
    d_loss, d_total, metrics = model.discriminator_objective(REAL, FAKE, REAL_LABELS, FAKE_LABELS)
    hinge = np.mean(np.maximum(0, 1 - np.array([1.5, -0.5]))) + np.mean(np.maximum(0, 1 + np.array([-2.0, 0.25])))
    dual = np_cross_entropy(REAL_DUAL, [0, 1]) + np_cross_entropy(FAKE_DUAL, [1 + K, 0 + K])
    assert float(d_loss) == pytest.approx(hinge, rel=ELEMENTWISE_RTOL)
    assert float(metrics["d_class_loss"]) == pytest.approx(dual, rel=ELEMENTWISE_RTOL)
    assert float(d_total) == pytest.approx(hinge + 0.5 * dual, rel=ELEMENTWISE_RTOL)
    # Real: argmax 0 (label 0: right), argmax 3 (label 1: wrong); generated: argmax 3 = K + 1
    # (label 1: right), argmax 0 (wanted K + 0 = 2: wrong).
    assert float(metrics["real_class_accuracy"]) == 0.5 and float(metrics["fake_class_accuracy"]) == 0.5


def test_generator_objective_is_ce_of_k_minus_ce_of_k_plus_K():
    model = build_model(ADCGANConfig(adc_lambda=0.5, **TINY))
    g_loss, g_total, metrics = model.generator_objective(FAKE, FAKE_LABELS)
    dual = np_cross_entropy(FAKE_DUAL, [1, 0]) - np_cross_entropy(FAKE_DUAL, [1 + K, 0 + K])
    # The shared normaliser cancels: logit[K + k] - logit[k] per example.
    assert dual == pytest.approx(np.mean([2.0 - 1.0, 0.5 - 3.0]), rel=1e-12)
    assert float(g_loss) == pytest.approx(-np.mean([-2.0, 0.25]), rel=ELEMENTWISE_RTOL)  # hinge G: -E[D(G(z))]
    assert float(metrics["g_class_loss"]) == pytest.approx(dual, rel=ELEMENTWISE_RTOL)
    assert float(g_total) == pytest.approx(float(g_loss) + 0.5 * dual, rel=ELEMENTWISE_RTOL)


def test_generator_class_term_signs():
    # G's term falls when C_d calls its sample "real class k" more, rises when it calls it "generated class k" more.
    model = build_model(ADCGANConfig(**TINY))

    def term(dual):
        return float(model.generator_objective(outputs([[0.0], [0.0]], dual), FAKE_LABELS)[2]["g_class_loss"])

    base = term(FAKE_DUAL)
    positive = [row[:] for row in FAKE_DUAL]
    positive[0][1] += 1.0  # example 0 has label 1: logit[k] up
    negative = [row[:] for row in FAKE_DUAL]
    negative[0][1 + K] += 1.0  # logit[K + k] up
    other = [row[:] for row in FAKE_DUAL]
    other[0][0] += 1.0  # a logit of another class
    assert term(positive) == pytest.approx(base - 0.5, rel=ELEMENTWISE_RTOL)  # mean over 2 examples
    assert term(negative) == pytest.approx(base + 0.5, rel=ELEMENTWISE_RTOL)
    assert term(other) == pytest.approx(base, rel=ELEMENTWISE_RTOL)


def test_discriminator_class_term_signs():
    # D's term falls when real images score higher on k and generated ones on K + k.
    model = build_model(ADCGANConfig(**TINY))

    def term(real_dual, fake_dual):
        return float(model.discriminator_objective(outputs([[0.0], [0.0]], real_dual), outputs([[0.0], [0.0]], fake_dual),
                                                   REAL_LABELS, FAKE_LABELS)[2]["d_class_loss"])

    base = term(REAL_DUAL, FAKE_DUAL)
    real_up = [row[:] for row in REAL_DUAL]
    real_up[0][0] += 1.0  # real example 0, label 0: logit[k]
    fake_up = [row[:] for row in FAKE_DUAL]
    fake_up[0][1 + K] += 1.0  # generated example 0, label 1: logit[K + k]
    fake_wrong = [row[:] for row in FAKE_DUAL]
    fake_wrong[0][1] += 1.0  # generated example 0 called "real class 1"
    assert term(real_up, FAKE_DUAL) < base and term(REAL_DUAL, fake_up) < base < term(REAL_DUAL, fake_wrong)


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


def log_softmax_at(logits, labels):
    return tf.gather(tf.nn.log_softmax(logits), labels, batch_dims=1)


@pytest.mark.parametrize("loss", ["hinge", "non_saturating"])
def test_train_step_matches_reference_computation(loss):
    config = ADCGANConfig(dropout=0.0, seed=7, loss=loss, adc_lambda=0.6, **TINY)
    model = compiled_model(config)
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32))
    real_labels = tf.constant([1, 0, 1, 1])
    generator_before, discriminator_before = copy_of(model.generator), copy_of(model.discriminator)

    logs = {name: float(value) for name, value in model.train_step({"image": real, "label": real_labels}).items()}

    noise = keras.random.SeedGenerator(config.seed)
    fake_labels = gan_step.replica_balanced_labels(noise, 4, K)
    z = gan_step.replica_latents(noise, 4, 6)
    if loss == "hinge":
        d_adv = lambda r, f: tf.reduce_mean(tf.nn.relu(1 - r)) + tf.reduce_mean(tf.nn.relu(1 + f))
        g_adv = lambda f: -tf.reduce_mean(f)
    else:
        d_adv = lambda r, f: tf.reduce_mean(tf.nn.softplus(-r)) + tf.reduce_mean(tf.nn.softplus(f))
        g_adv = lambda f: tf.reduce_mean(tf.nn.softplus(-f))

    with tf.GradientTape() as tape:
        fakes = generator_before([z, fake_labels], training=True)
        real_source, real_dual = discriminator_before(real, training=True)
        fake_source, fake_dual = discriminator_before(fakes, training=True)
        d_source = d_adv(real_source, fake_source)
        # max E_p log C(y+|x) + E_q log C(y-|x), written as a loss.
        d_class = -tf.reduce_mean(log_softmax_at(real_dual, real_labels)) - tf.reduce_mean(
            log_softmax_at(fake_dual, fake_labels + K))
        d_total = d_source + 0.6 * d_class
    d_grad_norm = norm(tape.gradient(d_total, discriminator_before.trainable_weights))
    assert logs["d_loss"] == pytest.approx(float(d_source), rel=NETWORK_RTOL)
    assert logs["d_class_loss"] == pytest.approx(float(d_class), rel=NETWORK_RTOL)
    assert logs["d_grad_norm"] == pytest.approx(d_grad_norm, rel=NETWORK_RTOL)

    discriminator_after = copy_of(model.discriminator)
    with tf.GradientTape() as tape:
        source, dual = discriminator_after(generator_before([z, fake_labels], training=True), training=True)
        g_source = g_adv(source)
        # min -lambda (E_q log C(y+|x) - E_q log C(y-|x)).
        g_class = -(tf.reduce_mean(log_softmax_at(dual, fake_labels))
                    - tf.reduce_mean(log_softmax_at(dual, fake_labels + K)))
        g_total = g_source + 0.6 * g_class
    g_grad_norm = norm(tape.gradient(g_total, generator_before.trainable_weights))
    assert logs["g_loss"] == pytest.approx(float(g_source), rel=NETWORK_RTOL, abs=NETWORK_RTOL)
    assert logs["g_class_loss"] == pytest.approx(float(g_class), rel=NETWORK_RTOL, abs=NETWORK_RTOL)
    assert logs["g_grad_norm"] == pytest.approx(g_grad_norm, rel=NETWORK_RTOL)
    assert set(logs) == set(ADCGAN.TRACKED)


def test_discriminator_has_2k_classifier_outputs_and_only_the_label_changes_the_sample():
    model = build_model(ADCGANConfig(**TINY))
    assert [o.shape for o in model.discriminator.outputs] == [(None, 1), (None, 2 * K)]
    z = np.tile(np.random.default_rng(3).standard_normal((1, 6)).astype(np.float32), (K, 1))
    images = model.sample(z, np.arange(K, dtype=np.int32)).numpy()
    assert not np.allclose(images[0], images[1])


def test_reference_code_defaults_and_errors():
    config = ADCGANConfig()
    assert config.loss == "hinge" and config.adc_lambda == 1.0
    assert config.generator_filters == (384, 192, 96) and config.batch_size == 100
    with pytest.raises(ValueError, match="adc_lambda must be >= 0"):
        ADCGANConfig(adc_lambda=-0.1)
    with pytest.raises(ValueError, match="loss must be one of hinge"):
        ADCGANConfig(loss="wasserstein")


BIGGAN_TINY = {"image_size": 16, "channels": 1, "latent_dim": 6, "num_classes": K, "backbone": "biggan",
               "biggan_generator_widths": (8, 4, 4), "biggan_discriminator_widths": (4, 8, 8),
               "biggan_discriminator_downsamples": 2}


@pytest.mark.parametrize("d_steps", [1, 2])
def test_biggan_train_step_matches_k_discriminator_updates_then_one_generator_update(d_steps):
    # The whole step written out eagerly on copies of the networks: for each of the k parts of the real
    # batch, m = B / k fresh labels and z, one D update; then m fresh labels and z for the G update
    # through the updated D. Spectral-norm vectors and batch-norm statistics move in the same calls on
    # both sides. Plain SGD on both sides: its update is proportional to the gradient, so the weights
    # are compared on the scale of the step taken (Adam's first step, g / |g|, would turn rounding
    # noise in a near-zero gradient into a full-size step).
    config = ADCGANConfig(seed=3, adc_lambda=0.6, d_steps=d_steps, reuse_fakes=False, **BIGGAN_TINY)
    model = build_model(config)
    model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    batch, m = 4, 4 // d_steps
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, 16, 16, 1)).astype(np.float32))
    real_labels = tf.constant([1, 0, 1, 1])
    generator, discriminator = copy_of(model.generator), copy_of(model.discriminator)
    d_optimizer, g_optimizer = keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)

    d_old = [w.numpy().copy() for w in model.discriminator.weights]
    g_old = [w.numpy().copy() for w in model.generator.weights]
    logs = {name: float(value) for name, value in model.train_step({"image": real, "label": real_labels}).items()}

    noise = keras.random.SeedGenerator(config.seed)
    d_losses, d_class_losses, d_norms = [], [], []
    for part in range(d_steps):
        x, y = real[part * m:(part + 1) * m], real_labels[part * m:(part + 1) * m]
        fake_labels = gan_step.replica_balanced_labels(noise, m, K)
        fakes = generator([gan_step.replica_latents(noise, m, 6), fake_labels], training=True)
        with tf.GradientTape() as tape:
            real_source, real_dual = discriminator(x, training=True)
            fake_source, fake_dual = discriminator(fakes, training=True)
            d_source = tf.reduce_mean(tf.nn.relu(1 - real_source)) + tf.reduce_mean(tf.nn.relu(1 + fake_source))
            d_class = -tf.reduce_mean(log_softmax_at(real_dual, y)) - tf.reduce_mean(
                log_softmax_at(fake_dual, fake_labels + K))
            d_total = d_source + 0.6 * d_class
        gradients = [tf.convert_to_tensor(g) for g in tape.gradient(d_total, discriminator.trainable_weights)]
        d_optimizer.apply_gradients(zip(gradients, discriminator.trainable_weights))
        d_losses.append(float(d_source))
        d_class_losses.append(float(d_class))
        d_norms.append(norm(gradients))
    generated_labels = gan_step.replica_balanced_labels(noise, m, K)
    z = gan_step.replica_latents(noise, m, 6)
    with tf.GradientTape() as tape:
        source, dual = discriminator(generator([z, generated_labels], training=True), training=True)
        g_source = -tf.reduce_mean(source)
        g_class = -(tf.reduce_mean(log_softmax_at(dual, generated_labels))
                    - tf.reduce_mean(log_softmax_at(dual, generated_labels + K)))
        g_total = g_source + 0.6 * g_class
    g_gradients = [tf.convert_to_tensor(g) for g in tape.gradient(g_total, generator.trainable_weights)]

    assert logs["d_loss"] == pytest.approx(np.mean(d_losses), rel=NETWORK_RTOL)
    assert logs["d_class_loss"] == pytest.approx(np.mean(d_class_losses), rel=NETWORK_RTOL)
    assert logs["d_grad_norm"] == pytest.approx(np.mean(d_norms), rel=NETWORK_RTOL)
    assert logs["g_loss"] == pytest.approx(float(g_source), rel=NETWORK_RTOL, abs=NETWORK_RTOL)
    assert logs["g_class_loss"] == pytest.approx(float(g_class), rel=NETWORK_RTOL, abs=NETWORK_RTOL)
    assert logs["g_grad_norm"] == pytest.approx(norm(g_gradients), rel=NETWORK_RTOL)
    # D's weights after k updates, and its spectral-norm vectors after the G step's forward pass too.
    d_step = max(scale_of(r.numpy() - o) for r, o in zip(discriminator.weights, d_old))
    for ours, reference, old in zip(model.discriminator.weights, discriminator.weights, d_old):
        assert_steps_close(ours.numpy(), reference.numpy(), old, scale=d_step, err_msg=ours.path)
    g_optimizer.apply_gradients(zip(g_gradients, generator.trainable_weights))
    g_step = max(scale_of(r.numpy() - o) for r, o in zip(generator.weights, g_old))
    for ours, reference, old in zip(model.generator.weights, generator.weights, g_old):
        assert_steps_close(ours.numpy(), reference.numpy(), old, scale=g_step, err_msg=ours.path)


def test_optimizers_carry_the_configured_adam_settings():
    config = ADCGANConfig(learning_rate=3e-4, beta_1=0.0, beta_2=0.9, adam_epsilon=1e-6)
    g_optimizer, d_optimizer = make_optimizers(config)
    for optimizer, name in ((g_optimizer, "g_optimizer"), (d_optimizer, "d_optimizer")):
        assert optimizer.name == name
        assert float(optimizer.learning_rate) == pytest.approx(3e-4)
        assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.0, 0.9, 1e-6)


def test_biggan_backbone_defaults_and_errors():
    config = ADCGANConfig(backbone="biggan")
    model = build_model(config)
    assert [o.shape for o in model.discriminator.outputs] == [(None, 1), (None, 20)]
    assert model.generator.output.shape == (None, 32, 32, 3)
    # The AC-GAN-only widths are not checked with the BigGAN backbone, and the reverse.
    ADCGANConfig(backbone="biggan", image_size=16, biggan_generator_widths=(8, 4, 4), generator_filters=(4,) * 5)
    ADCGANConfig(image_size=28, generator_filters=(384, 192), biggan_generator_widths=(1,))
    with pytest.raises(ValueError, match="backbone must be one of acgan, biggan"):
        ADCGANConfig(backbone="sngan")
    with pytest.raises(ValueError, match="backbone=biggan .*image_size 28 is not a bottom width doubled 3 times"):
        ADCGANConfig(backbone="biggan", image_size=28)
    with pytest.raises(ValueError, match="batch_size \\(100\\) must be a multiple of d_steps \\(3\\)"):
        ADCGANConfig(d_steps=3, reuse_fakes=False)
    with pytest.raises(ValueError, match="pass --reuse_fakes=false"):
        ADCGANConfig(d_steps=4)
    with pytest.raises(ValueError, match="adam_epsilon must be > 0"):
        ADCGANConfig(adam_epsilon=0.0)


def test_biggan_generator_export_parity(tmp_path):
    from common.export import generator_export

    model = build_model(ADCGANConfig(**BIGGAN_TINY))
    path = generator_export.export_generator(model.generator, str(tmp_path / "export"), num_classes=K)
    loaded = tf.saved_model.load(path)
    z = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    labels = np.array([0, 1, 1, 0], np.int32)
    exported = loaded.signatures["generate_float"](z=tf.constant(z), labels=tf.constant(labels))["images_float"].numpy()
    expected = model.generator([z, labels], training=False).numpy()
    # tanh images, scale 1: the SavedModel's graph and the eager layers sum in different orders (rule 4).
    np.testing.assert_allclose(exported, expected, rtol=0, atol=NETWORK_RTOL)
