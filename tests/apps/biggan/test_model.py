"""BigGAN (apps/biggan): the paper's defaults, parameter counts against BigGAN-PyTorch's layers and the
paper's tables, hierarchical z, the orthogonal penalty in G's loss by hand, the D-steps schedule and the
EMA start with one training step of each variant, accumulation against one large step, standing
statistics against per-batch moments by hand, and truncated sampling. Model tests inject tiny networks
(8x8 images) built by the same shared builders through the model's constructor."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.biggan import standing_statistics
from apps.biggan.config import BigGANConfig
from apps.biggan.model import TRUNCATION_SEED, BigGAN, make_optimizers
from apps.biggan.networks import build_discriminator, build_generator
from common.nn import biggan_networks, truncation
from tests.tolerances import NETWORK_RTOL, assert_close_to_scale, assert_steps_close

K = 3
LATENT = 8


class ShapesOnly:
    """Zero initialisers in the builders' interface: a full-size network's shapes without the cost of its
    orthogonal initialisation."""

    def weight(self, mean=0.0):
        return keras.initializers.Zeros()

    def vector(self):
        return keras.initializers.Zeros()

    def bias(self, fan_in):
        return keras.initializers.Zeros()

    def class_gain(self):
        return keras.initializers.Zeros()

    def class_bias(self):
        return keras.initializers.Zeros()


def count(network):
    return sum(int(np.prod(w.shape)) for w in network.trainable_weights)


def test_defaults_are_the_papers_imagenet_128_setting():
    config = BigGANConfig()
    assert (config.image_size, config.num_classes, config.latent_dim, config.shared_dim) == (128, 1000, 120, 128)
    assert config.hierarchical_z and (config.g_channels, config.d_channels) == (96, 96)
    assert config.generator_widths == tuple(96 * m for m in (16, 16, 8, 4, 2, 1))
    assert (config.g_attention_resolution, config.d_attention_resolution) == (64, 64)
    assert (config.loss, config.ortho_beta, config.d_steps) == ("hinge", 1e-4, 2)
    assert config.batch_size // config.d_steps == 2048 and config.batch_size // (config.d_steps * config.accumulate) == 256
    assert (config.ema_decay, config.ema_start, config.standing_batches) == (0.9999, 20000, 16)
    g_optimizer, d_optimizer = make_optimizers(config)
    assert (float(g_optimizer.learning_rate), float(d_optimizer.learning_rate)) == pytest.approx((1e-4, 4e-4))
    assert (g_optimizer.beta_1, g_optimizer.beta_2, g_optimizer.epsilon) == (0.0, 0.999, 1e-6)
    deep = BigGANConfig(variant="deep")
    assert (deep.latent_dim, deep.g_channels, deep.d_channels) == (128, 128, 128)
    cifar = BigGANConfig(architecture="cifar32", num_classes=10)
    assert cifar.generator_widths == (384,) * 4 and cifar.g_attention_resolution == 0


def test_bad_options_are_refused_with_the_field_and_a_way_out():
    with pytest.raises(ValueError, match="variant must be one of standard, deep"):
        BigGANConfig(variant="wide")
    with pytest.raises(ValueError, match=r"batch_size \(100\) must be a multiple of d_steps \* accumulate "
                                         r"\(2 \* 8 = 16\).*--batch_size=96"):
        BigGANConfig(batch_size=100)
    with pytest.raises(ValueError, match="d_steps=2 draws fresh z .* pass --reuse_fakes=false"):
        BigGANConfig(reuse_fakes=True)
    with pytest.raises(ValueError, match="ema_decay must be in \\[0, 1\\)"):
        BigGANConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match="standing_batch_size must be a positive integer"):
        BigGANConfig(standing_batch_size=0)
    with pytest.raises(ValueError, match="sample_truncation must be >= 0"):
        BigGANConfig(sample_truncation=-0.5)
    with pytest.raises(ValueError, match="variant=deep .* --shared_dim must be > 0"):
        BigGANConfig(variant="deep", shared_dim=0)


def reference_generator_parameters(ch=96, classes=1000, dim_z=120, shared=128):
    """BigGAN.py's Generator (``--hier --G_shared --G_attn 64``, arch[128]) counted layer by layer."""
    widths = [ch * m for m in (16, 16, 8, 4, 2, 1)]
    chunk = dim_z // 6
    total = classes * shared + (chunk + 1) * widths[0] * 16  # G.shared (nn.Embedding), G.linear (SNLinear)
    for c_in, c_out in zip(widths, widths[1:]):
        ccbn = lambda c: 2 * (shared + chunk) * c  # noqa: E731  gain and bias SNLinear without bias
        total += ccbn(c_in) + 9 * c_in * c_out + c_out + ccbn(c_out) + 9 * c_out * c_out + c_out + c_in * c_out + c_out
    c = 2 * ch  # layers.Attention at 64x64: theta, phi (C/8), g (C/2), o, no biases; gamma
    total += 2 * c * (c // 8) + 2 * c * (c // 2) + 1
    return total + 2 * ch + 9 * ch * 3 + 3  # output bn (gain, bias) and SNConv2d to RGB


def reference_discriminator_parameters(ch=96, classes=1000):
    """BigGAN.py's Discriminator (D_arch[128], wide, ``--D_attn 64``) counted layer by layer."""
    ins, outs = [3] + [ch * m for m in (1, 2, 4, 8, 16)], [ch * m for m in (1, 2, 4, 8, 16, 16)]
    total = 0
    for index, (c_in, c_out) in enumerate(zip(ins, outs)):
        total += 9 * c_in * c_out + c_out + 9 * c_out * c_out + c_out
        if c_in != c_out or index < 5:  # learnable shortcut where the block downsamples or changes width
            total += c_in * c_out + c_out
    total += 2 * ch * (ch // 8) + 2 * ch * (ch // 2) + 1  # attention after the first block (64x64, ch)
    return total + 16 * ch + 1 + classes * 16 * ch  # linear and the (SN) class embedding


def test_default_networks_have_the_reference_codes_and_the_papers_size():
    config = BigGANConfig()
    g, d = build_generator(config, ShapesOnly()), build_discriminator(config, ShapesOnly())
    assert g.output.shape == (None, 128, 128, 3)
    assert count(g) == reference_generator_parameters() == 70_433_988
    assert count(d) == reference_discriminator_parameters() == 87_982_370
    # Paper, Table 4 (appendix): 70.4M for BigGAN's 128x128 G. Table 1's ch=96 row with shared embedding and
    # hierarchical z gives 158.3M for G and D; these layers count 158.42M (0.07% more).
    assert round(count(g) / 1e6, 1) == 70.4
    assert abs((count(g) + count(d)) / 158.3e6 - 1) < 1e-3
    deep = BigGANConfig(variant="deep")
    # BigGAN-deep's 128x128 G and D as BigGANdeep.py builds them with --G_ch 128 --D_ch 128 --hier --G_shared.
    assert (count(build_generator(deep, ShapesOnly())), count(build_discriminator(deep, ShapesOnly()))) == (
        50_244_484, 34_590_210)


def tiny_config(**overrides):
    fields = dict(architecture="cifar32", channels=1, num_classes=K, latent_dim=LATENT, shared_dim=4, g_channels=1,
                  d_channels=1, batch_size=8, d_steps=2, accumulate=1, ema_start=2, standing_batches=2,
                  standing_batch_size=4, seed=1)
    return BigGANConfig(**{**fields, **overrides})


def tiny_model(config):
    """BigGAN with networks of the config's variant at 8x8 (one resolution), built by the shared builders."""
    g_init = biggan_networks.BigGANInitializers(config.seed, 0, 0.2)
    d_init = biggan_networks.BigGANInitializers(config.seed, 500, 0.2)
    if config.variant == "deep":
        g = biggan_networks.build_deep_generator(image_size=8, channels=1, latent_dim=LATENT, num_classes=K,
                                                 generator_widths=(8, 4), shared_dim=4, initializers=g_init)
        d = biggan_networks.build_deep_projection_discriminator(
            image_size=8, channels=1, num_classes=K, discriminator_widths=(4, 8), discriminator_downsamples=1,
            initializers=d_init)
    else:
        g = biggan_networks.build_generator(image_size=8, channels=1, latent_dim=LATENT, num_classes=K,
                                            generator_widths=(8, 4), shared_dim=4, hierarchical=True,
                                            sync_batch_norm=False, initializers=g_init)
        d = biggan_networks.build_projection_discriminator(image_size=8, channels=1, num_classes=K,
                                                           discriminator_widths=(4, 4), discriminator_downsamples=1,
                                                           initializers=d_init)
    model = BigGAN(g, d, config)
    model.compile(*make_optimizers(config))
    return model


def batch(size=8, side=8):
    rng = np.random.default_rng(0)
    return {"image": tf.constant(rng.uniform(-1, 1, (size, side, side, 1)), tf.float32),
            "label": tf.constant(np.arange(size) % K, tf.int32)}


def test_hierarchical_z_feeds_one_chunk_to_the_first_layer_and_one_with_the_embedding_to_each_block():
    g = tiny_model(tiny_config()).generator
    chunks = g.get_layer("z_chunks").output
    assert [c.shape for c in chunks] == [(None, LATENT // 2)] * 2  # 2 chunks: the first layer and the one block
    assert g.get_layer("project_sn").input.shape == (None, LATENT // 2)
    for bn in ("gblock1_cbn1", "gblock1_cbn2"):  # gain and bias from [E(y) (4), chunk 1 (4)]
        assert g.get_layer(f"{bn}_gain_sn").input.shape == (None, 4 + LATENT // 2)
    deep = tiny_model(tiny_config(variant="deep")).generator  # deep: [E(y), z] everywhere, z not split
    assert deep.get_layer("project_sn").input.shape == (None, 4 + LATENT)
    assert deep.get_layer("gblock1_2_cbn4_gain_sn").input.shape == (None, 4 + LATENT)
    assert deep.get_layer("gblock1_2_drop").output.shape == (None, 4, 4, 4)  # 8 -> 4 channels kept, then upsampled


def test_generator_loss_adds_the_off_diagonal_orthogonal_penalty_by_hand():
    model = tiny_model(tiny_config(ortho_beta=1e-2))
    outputs = tf.constant([[0.5], [-1.5], [2.0], [0.25]])
    g_loss, total, extra = model.generator_objective(outputs, tf.constant([0, 1, 2, 0]))
    kernels = [layer.kernel.numpy() for layer in model.generator._flatten_layers()
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    # project, 2 x (gain, bias) linear layers of the block's BNs, conv1, conv2, shortcut, output conv;
    # the shared embedding is not a kernel of the penalty.
    assert len(kernels) == 9
    penalty = 0.0
    for kernel in kernels:
        w = np.moveaxis(kernel.astype(np.float64), -1, 0).reshape(kernel.shape[-1], -1)  # one row per filter
        gram = w @ w.T
        penalty += np.sum((gram * (1 - np.eye(len(gram)))) ** 2)
    assert float(g_loss) == pytest.approx(-0.3125)  # the hinge G loss -mean(D): dyadic values, exact
    # A float32 sum of products over the kernels: relative NETWORK_RTOL.
    assert float(extra["g_ortho"]) == pytest.approx(1e-2 * penalty, rel=NETWORK_RTOL)
    assert float(total) == pytest.approx(-0.3125 + 1e-2 * penalty, rel=NETWORK_RTOL)


# The deep networks' step traces twice the layers: one D step there keeps the test short.
@pytest.mark.parametrize("variant, d_steps", [("standard", 2), ("deep", 1)])
def test_one_step_is_k_d_updates_then_one_g_update_and_the_average_copies_before_its_start(variant, d_steps):
    model = tiny_model(tiny_config(variant=variant, d_steps=d_steps))
    logs = model.train_on_batch(batch(), return_dict=True)
    assert all(np.isfinite(value) for value in logs.values()) and logs["g_ortho"] > 0
    assert (int(model.d_optimizer.iterations), int(model.g_optimizer.iterations)) == (d_steps, 1)
    # G step 1 < ema_start 2: the average is a copy of the weights (decay 0).
    for shadow, live in zip(model.ema.shadow.weights, model.generator.weights):
        np.testing.assert_array_equal(shadow.numpy(), live.numpy(), err_msg=live.path)


def dense_model(config):
    """BigGAN with networks free of batch and spectral normalisation: [E(y), z] -> Dense -> 8x8 image; D
    [flatten(x), E(y)] -> Dense -> logit."""
    init = keras.initializers.RandomNormal(0, 0.3, seed=4)
    z, labels = keras.Input((LATENT,)), keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([keras.layers.Embedding(K, 3, embeddings_initializer=init)(labels), z])
    h = keras.layers.Dense(64, activation="tanh", kernel_initializer=init)(h)
    g = keras.Model([z, labels], keras.layers.Reshape((8, 8, 1))(h))
    images, d_labels = keras.Input((8, 8, 1)), keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(images),
                                    keras.layers.Embedding(K, 3, embeddings_initializer=init)(d_labels)])
    d = keras.Model([images, d_labels], keras.layers.Dense(1, kernel_initializer=init)(h))
    model = BigGAN(g, d, config)
    # SGD: an update linear in the gradient. Adam's first step divides each gradient entry by its own
    # magnitude, so an entry that cancels to rounding noise would move by a full step either way.
    model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    return model


def test_accumulated_micro_batches_take_the_step_of_the_whole_batch():
    # Batch-norm rule (common.models.conditional_model): each micro-batch normalises with its own statistics,
    # so only networks without batch norm (and without spectral norm, whose u steps once per call) take
    # exactly the unsplit step; these have neither. Two D updates of 4 images, one G update of 4, the
    # orthogonal penalty (beta 1e-2) in G's loss: with N = 2 it must be added once per update, not twice.
    whole = dense_model(tiny_config(ortho_beta=1e-2, ema_decay=0.0))
    split = dense_model(tiny_config(ortho_beta=1e-2, ema_decay=0.0, accumulate=2))
    start = [v.numpy() for v in whole.generator.weights + whole.discriminator.weights]
    whole_logs = whole.train_on_batch(batch(), return_dict=True)
    split_logs = split.train_on_batch(batch(), return_dict=True)
    for name in ("d_loss", "g_loss", "g_ortho"):
        assert split_logs[name] == pytest.approx(whole_logs[name], rel=NETWORK_RTOL), name
    pairs = zip(split.generator.weights + split.discriminator.weights,
                whole.generator.weights + whole.discriminator.weights, start)
    for new, desired, old in pairs:  # the same steps by two summation orders: on the scale of the step
        assert_steps_close(new.numpy(), desired.numpy(), old, err_msg=desired.path)


def test_standing_statistics_are_the_mean_of_each_batchs_moments():
    g = tiny_model(tiny_config()).generator
    layers = standing_statistics.batch_norm_layers(g)
    assert [layer.name for layer in layers] == ["gblock1_cbn1_bn", "gblock1_cbn2_bn", "output_bn"]
    vectors = [v.numpy() for v in g.non_trainable_weights if "vector_u" in v.path]
    standing_statistics.accumulate_standing_statistics(g, num_batches=3, batch_size=4, latent_dim=LATENT,
                                                       num_classes=K, seed=5)
    standing = [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in layers]
    assert [layer.momentum for layer in layers] == [0.9] * 3  # put back
    for vector, before in zip([v for v in g.non_trainable_weights if "vector_u" in v.path], vectors):
        np.testing.assert_array_equal(vector.numpy(), before)

    # By hand: each batch's input of every batch norm in training mode, its per-channel mean and biased
    # variance in float64, averaged over the batches. The draws are the module's stateless ones.
    probe = keras.Model(g.inputs, [layer.input for layer in layers])
    kept = [(v, v.numpy()) for v in g.non_trainable_weights]
    means, variances = [[] for _ in layers], [[] for _ in layers]
    for index in range(3):
        seed = tf.constant([5 + standing_statistics.STANDING_SEED_OFFSET, index], tf.int64)
        z = tf.random.stateless_normal([4, LATENT], seed=seed)
        labels = tf.random.stateless_uniform([4], seed=seed[::-1], minval=0, maxval=K, dtype=tf.int32)
        for j, x in enumerate(probe([z, labels], training=True)):
            x = x.numpy().astype(np.float64)
            means[j].append(x.mean(axis=(0, 1, 2)))
            variances[j].append(x.var(axis=(0, 1, 2)))
        for variable, value in kept:  # the u of sampling for every batch, as the module does
            variable.assign(value)
    for j, (mean, variance) in enumerate(standing):
        # Activations of two graphs of the same float32 network, reduced: on the scale of the moments.
        assert_close_to_scale(mean, np.mean(means[j], axis=0), err_msg=layers[j].name)
        assert_close_to_scale(variance, np.mean(variances[j], axis=0), err_msg=layers[j].name)

    # A frozen copy (the moving average's shadow) gets the same statistics: batch moments, not moving ones.
    frozen = keras.models.clone_model(g)
    frozen.set_weights(g.get_weights())
    frozen.trainable = False
    standing_statistics.accumulate_standing_statistics(frozen, num_batches=3, batch_size=4, latent_dim=LATENT,
                                                       num_classes=K, seed=5)
    for layer, (mean, variance) in zip(standing_statistics.batch_norm_layers(frozen), standing):
        assert_close_to_scale(layer.moving_mean.numpy(), mean)
        assert_close_to_scale(layer.moving_variance.numpy(), variance)
    assert not any(layer.trainable for layer in standing_statistics.batch_norm_layers(frozen))


def test_sampling_truncates_z_at_psi_by_redrawing_only_the_components_outside():
    model = tiny_model(tiny_config(sample_truncation=0.5, ema_decay=0.0))
    z = tf.constant(np.random.default_rng(1).standard_normal((6, LATENT)).astype(np.float32))
    labels = np.array([0, 1, 2, 0, 1, 2], np.int32)
    used = truncation.truncate(z, 0.5, TRUNCATION_SEED).numpy()
    assert np.max(np.abs(used)) <= 0.5 and np.max(np.abs(z.numpy())) > 0.5
    inside = np.abs(z.numpy()) <= 0.5
    np.testing.assert_array_equal(used[inside], z.numpy()[inside])  # kept as they were
    # The same ops on the same inputs in one process: identical images.
    np.testing.assert_array_equal(model.sample(z, labels).numpy(),
                                  model.generator([tf.constant(used), tf.constant(labels)], training=False).numpy())


def test_standing_statistics_of_a_mirrored_generator_match_one_device():
    from tests.strategies import two_cpu_strategy

    # prepare_sampling runs outside the step, in the strategy's cross-replica context: every batch is
    # generated once and each statistic is assigned to all copies of the mirrored variable.
    single = tiny_model(tiny_config()).generator
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored = tiny_model(tiny_config()).generator
    mirrored.set_weights(single.get_weights())
    for g in (single, mirrored):
        standing_statistics.accumulate_standing_statistics(g, num_batches=2, batch_size=4, latent_dim=LATENT,
                                                           num_classes=K, seed=3)
    for a, b in zip(standing_statistics.batch_norm_layers(single), standing_statistics.batch_norm_layers(mirrored)):
        for x, y in ((a.moving_mean, b.moving_mean), (a.moving_variance, b.moving_variance)):
            # Moments of the same float32 network in two graphs: on their scale.
            assert_close_to_scale(y.numpy(), x.numpy(), err_msg=a.name)
            copies = y.value.values  # the MirroredVariable's per-device variables
            assert len(copies) == 2
            for copy in copies:  # every device holds the statistics
                np.testing.assert_array_equal(copy.numpy(), y.numpy())
