"""SAGAN (apps/sagan): the paper's defaults and both architectures, where attention sits, one training
step against an eager reference, the two learning rates of TTUR, and configuration errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.sagan.config import SAGANConfig
from apps.sagan.model import SAGAN, build_model, make_optimizers
from common.models import gan_step
from common.nn.attention import SelfAttention
from common.nn.spectral_normalization import SpectralNormalization
from tests.tolerances import NETWORK_RTOL

K = 3
# The CIFAR-10 networks at width ch = 2 (G and D blocks of 8 channels, attention keys of 1).
TINY = {"architecture": "cifar32", "channels": 1, "num_classes": K, "latent_dim": 6, "g_channels": 2,
        "d_channels": 2, "batch_size": 4}


def test_defaults_are_the_papers_imagenet_128_setting():
    config = SAGANConfig()
    assert (config.image_size, config.channels, config.num_classes, config.latent_dim) == (128, 3, 1000, 128)
    assert config.generator_widths == (1024, 1024, 512, 256, 128, 64)
    assert config.discriminator_widths == (64, 128, 256, 512, 1024, 1024) and config.discriminator_downsamples == 5
    assert (config.g_attention_resolution, config.d_attention_resolution) == (64, 64)
    assert config.loss == "hinge" and (config.g_learning_rate, config.d_learning_rate) == (1e-4, 4e-4)
    assert (config.beta_1, config.beta_2, config.d_steps, config.batch_size) == (0.0, 0.9, 1, 256)
    g_optimizer, d_optimizer = make_optimizers(config)
    assert (float(g_optimizer.learning_rate), float(d_optimizer.learning_rate)) == pytest.approx((1e-4, 4e-4))
    assert (g_optimizer.beta_1, g_optimizer.beta_2, d_optimizer.beta_1, d_optimizer.beta_2) == (0.0, 0.9, 0.0, 0.9)
    cifar = SAGANConfig(architecture="cifar32", num_classes=10)
    assert cifar.image_size == 32 and cifar.generator_widths == (256,) * 4 and cifar.discriminator_widths == (256,) * 4
    assert (cifar.discriminator_downsamples, cifar.g_attention_resolution, cifar.d_attention_resolution) == (2, 16, 16)


def test_default_networks_have_the_sa_gan_baselines_size():
    # BigGAN (Brock et al. 2019), Table 1, row 1: the SA-GAN baseline at batch 256, ch 64 has 81.5M parameters.
    model = build_model(SAGANConfig())
    trainable = sum(int(np.prod(w.shape)) for w in model.generator.trainable_weights + model.discriminator.trainable_weights)
    assert round(trainable / 1e6, 1) == 81.5
    assert model.generator.output.shape == (None, 128, 128, 3)


def layer_after(network, name):
    names = [layer.name for layer in network.layers]
    return names[names.index(name) + 1]


@pytest.mark.parametrize("attention, g_after, d_after", [
    ({}, "gblock4_add", "dblock1_add"),  # 64x64: the paper's final model
    ({"g_attention": 32, "d_attention": 32}, "gblock3_add", "dblock2_add"),  # the reference code's
])
def test_imagenet_networks_put_attention_on_the_requested_maps(attention, g_after, d_after):
    model = build_model(SAGANConfig(g_channels=8, d_channels=8, **attention))
    g, d = model.generator, model.discriminator
    assert g.output.shape == (None, 128, 128, 3) and d.output.shape == (None, 1)
    assert [x.shape for x in d.inputs] == [(None, 128, 128, 3), (None,)]
    side = attention.get("g_attention", 64)
    for network, after in ((g, g_after), (d, d_after)):
        assert layer_after(network, after) == "attention"
        assert network.get_layer(after).output.shape[1:3] == (side, side)
        assert sum(isinstance(layer, SelfAttention) for layer in network.layers) == 1
    # Every kernel of both networks, the attention's 1x1 convolutions and D's class embedding included,
    # is spectrally normalised.
    for network in (g, d):
        for layer in network._flatten_layers():
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense, keras.layers.Embedding)):
                assert any(isinstance(p, SpectralNormalization) and p.layer is layer
                           for p in network._flatten_layers()), layer.name


def test_zero_turns_attention_off_and_its_gamma_metric_with_it():
    model = build_model(SAGANConfig(**TINY, g_attention=0))
    assert not any(isinstance(layer, SelfAttention) for layer in model.generator.layers)
    names = [tracker.name for tracker in model.metrics]
    assert "g_attention_gamma" not in names and names[-1] == "d_attention_gamma"


def test_initialisation_is_the_reference_codes():
    model = build_model(SAGANConfig(**TINY))
    g, d = model.generator, model.discriminator
    conv = g.get_layer("gblock1_conv1_sn").layer
    fan_in, fan_out = 3 * 3 * 8, 3 * 3 * 8
    limit = np.sqrt(6.0 / (fan_in + fan_out))  # Glorot uniform
    kernel = conv.kernel.numpy()
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    assert not np.any(conv.bias.numpy())
    cbn = g.get_layer("gblock1_cbn1")
    assert np.all(cbn.gamma.numpy() == 1.0) and not np.any(cbn.beta.numpy())
    u = g.get_layer("gblock1_conv1_sn").vector_u.numpy()
    assert np.abs(u).max() <= 2.0 and u.std() > 0.3  # truncated N(0, 1)
    assert float(g.get_layer("attention").gamma.numpy()) == 0.0 == float(d.get_layer("attention").gamma.numpy())


def copy_of(network):
    clone = keras.models.clone_model(network)
    clone.set_weights(network.get_weights())
    return clone


def norm(gradients):
    return float(np.sqrt(sum(np.sum(np.square(g.numpy())) for g in gradients)))


def test_train_step_matches_an_eager_hinge_step_with_two_learning_rates():
    # The step written out on copies of the networks: labels and z, one D update on the hinge loss with
    # D's Adam, fresh labels and z, one G update through the updated D with G's Adam. Spectral-norm
    # vectors and batch-norm statistics move in the same calls on both sides.
    config = SAGANConfig(seed=3, **TINY)
    model = build_model(config)
    model.compile(*make_optimizers(config))
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 1)).astype(np.float32))
    real_labels = tf.constant([2, 0, 1, 1])
    generator, discriminator = copy_of(model.generator), copy_of(model.discriminator)
    g_optimizer, d_optimizer = make_optimizers(config)

    logs = {name: float(value) for name, value in model.train_step({"image": real, "label": real_labels}).items()}

    noise = keras.random.SeedGenerator(config.seed)
    fake_labels = gan_step.replica_balanced_labels(noise, 4, K)
    fakes = generator([gan_step.replica_latents(noise, 4, 6), fake_labels], training=True)
    with tf.GradientTape() as tape:
        real_logits = discriminator([real, real_labels], training=True)
        fake_logits = discriminator([fakes, fake_labels], training=True)
        d_loss = tf.reduce_mean(tf.nn.relu(1 - real_logits)) + tf.reduce_mean(tf.nn.relu(1 + fake_logits))
    d_gradients = [tf.convert_to_tensor(g) for g in tape.gradient(d_loss, discriminator.trainable_weights)]
    d_optimizer.apply_gradients(zip(d_gradients, discriminator.trainable_weights))
    generated_labels = gan_step.replica_balanced_labels(noise, 4, K)
    z = gan_step.replica_latents(noise, 4, 6)
    with tf.GradientTape() as tape:
        g_loss = -tf.reduce_mean(discriminator([generator([z, generated_labels], training=True), generated_labels],
                                               training=True))
    g_gradients = [tf.convert_to_tensor(g) for g in tape.gradient(g_loss, generator.trainable_weights)]
    g_optimizer.apply_gradients(zip(g_gradients, generator.trainable_weights))

    assert logs["d_loss"] == pytest.approx(float(d_loss), rel=NETWORK_RTOL)
    assert logs["g_loss"] == pytest.approx(float(g_loss), rel=NETWORK_RTOL, abs=NETWORK_RTOL)
    assert logs["d_real"] == pytest.approx(float(tf.reduce_mean(real_logits)), rel=NETWORK_RTOL, abs=NETWORK_RTOL)
    assert logs["d_grad_norm"] == pytest.approx(norm(d_gradients), rel=NETWORK_RTOL)
    assert logs["g_grad_norm"] == pytest.approx(norm(g_gradients), rel=NETWORK_RTOL)
    for ours, reference in [*zip(model.discriminator.weights, discriminator.weights),
                            *zip(model.generator.weights, generator.weights)]:
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=0,
                                   atol=NETWORK_RTOL * max(1.0, np.abs(reference.numpy()).max()), err_msg=ours.path)
    # Adam's first step with beta_1 = 0 moves a weight by lr * g / |g|: gamma by exactly each network's rate.
    assert abs(logs["g_attention_gamma"]) == pytest.approx(1e-4, rel=1e-3)
    assert abs(logs["d_attention_gamma"]) == pytest.approx(4e-4, rel=1e-3)
    assert set(logs) == set(SAGAN.TRACKED) | {"g_attention_gamma", "d_attention_gamma"}


def test_the_label_changes_the_sample():
    model = build_model(SAGANConfig(**TINY))
    z = np.tile(np.random.default_rng(3).standard_normal((1, 6)).astype(np.float32), (K, 1))
    images = model.sample(z, np.arange(K, dtype=np.int32)).numpy()
    # Conditional BN gains start at 1 and biases at 0: the label acts once they differ per class.
    cbn = model.generator.get_layer("gblock1_cbn1")
    cbn.beta.assign(np.random.default_rng(4).normal(size=cbn.beta.shape).astype(np.float32))
    changed = model.sample(z, np.arange(K, dtype=np.int32)).numpy()
    np.testing.assert_array_equal(images[0], images[1])
    assert not np.allclose(changed[0], changed[1])


def test_errors_name_the_option():
    with pytest.raises(ValueError, match="architecture must be one of imagenet128, cifar32"):
        SAGANConfig(architecture="imagenet64")
    with pytest.raises(ValueError, match=r"generator attention resolution 12 is not the side of any generator "
                                         r"block's output \(8, 16, 32, 64, 128\)"):
        SAGANConfig(g_attention=12)
    with pytest.raises(ValueError, match="discriminator attention at 64x64 needs at least 8 channels"):
        SAGANConfig(d_channels=4)
    with pytest.raises(ValueError, match=r"batch_size \(256\) must be a multiple of d_steps \(3\)"):
        SAGANConfig(d_steps=3)
    with pytest.raises(ValueError, match="pass --reuse_fakes=false"):
        SAGANConfig(d_steps=2, reuse_fakes=True)
    with pytest.raises(ValueError, match="loss must be one of hinge, non_saturating"):
        SAGANConfig(loss="wasserstein")
    assert SAGANConfig().accumulate == 1
    with pytest.raises(ValueError, match=r"batch_size \(256\) must be a multiple of d_steps \* accumulate "
                                         r"\(2 \* 3 = 6\).*--batch_size=252"):
        SAGANConfig(d_steps=2, accumulate=3)
    with pytest.raises(ValueError, match="accumulate must be a positive integer"):
        SAGANConfig(accumulate=0)
    with pytest.raises(ValueError, match="accumulate=2 .* pass --reuse_fakes=false"):
        SAGANConfig(accumulate=2, reuse_fakes=True)


def test_accumulated_step_runs_compiled_with_batch_and_spectral_norm():
    # Two micro-batches of 2 per update through conditional batch norm, spectral norm and attention,
    # compiled; the no-norm equality with the unsplit step is tests/common/models/test_conditional_model.py.
    config = SAGANConfig(seed=3, accumulate=2, **TINY)
    model = build_model(config)
    model.compile(*make_optimizers(config))
    start = [w.numpy() for w in model.generator.trainable_weights + model.discriminator.trainable_weights]
    u_start = [layer.vector_u.numpy() for layer in model.discriminator._flatten_layers()
               if isinstance(layer, SpectralNormalization)]
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 1)).astype(np.float32))
    logs = tf.function(model.train_step)({"image": real, "label": tf.constant([2, 0, 1, 1])})
    assert all(np.isfinite(float(value)) for value in logs.values())
    moved = [not np.array_equal(w.numpy(), s) for w, s in
             zip(model.generator.trainable_weights + model.discriminator.trainable_weights, start)]
    assert sum(moved) > len(moved) // 2
    u_end = [layer.vector_u.numpy() for layer in model.discriminator._flatten_layers()
             if isinstance(layer, SpectralNormalization)]
    assert any(not np.array_equal(a, b) for a, b in zip(u_start, u_end))
