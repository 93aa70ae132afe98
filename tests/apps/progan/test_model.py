"""ProGAN's networks, fade-in and step at tiny widths: the blends at alpha 0, 0.5 and 1, the faded real
images, the critic loss assembled from its parts, the optimizer reset at a new phase, and the config's checks."""

import numpy as np
import pytest
import tensorflow as tf

from apps.progan.config import ProGANConfig
from apps.progan.model import build_model, make_optimizers
from common.models.progressive_model import reset_optimizer_state
from common.nn import progressive_layers as pl
from tests.tolerances import ELEMENTWISE_RTOL, assert_close_to_scale

CONFIG = ProGANConfig(image_size=16, channels=3, latent_dim=8, fmap_base=32, fmap_max=16, batch_size=4,
                      batch_sizes="16:2", fade_images=8, stable_images=8, minibatch_group_size=2, seed=1)


def _model(config=CONFIG, learning_rate=None):
    model = build_model(config)
    g, d = make_optimizers(config)
    if learning_rate is not None:
        g.learning_rate = d.learning_rate = learning_rate
    model.compile(g_optimizer=g, d_optimizer=d)
    return model


def test_features_per_resolution_follow_the_paper():
    paper = ProGANConfig()
    assert [paper.features(r) for r in (4, 8, 16, 32, 64, 128, 256, 512, 1024)] == [
        512, 512, 512, 512, 256, 128, 64, 32, 16]  # Table 2
    assert paper.batch_size_map[128] == 16 and paper.batch_size_map[1024] == 3
    small = ProGANConfig(image_size=64)
    assert small.resolutions == [4, 8, 16, 32, 64] and set(small.batch_size_map.values()) == {16}
    short = ProGANConfig(image_size=64, image_scale=0.01)  # one flag scales both image counts
    assert [p.fade_steps for p in short.schedule().phases] == [0, 500, 500, 500, 500]  # 8,000 / 16
    assert short.schedule().phases[1].start_step == 500


def test_paper_networks_have_table_2s_parameter_counts():
    from apps.progan.networks import build_discriminator, build_generator

    paper = ProGANConfig()  # 1024x1024, Table 2: 23.1M trainable parameters in G and 23.1M in D

    def count(network):
        return sum(int(np.prod(v.shape)) for v in network.trainable_weights)

    assert count(build_generator(paper)) == 23_079_115  # the dense layer's bias is per channel
    assert count(build_discriminator(paper)) == 23_087_249


def test_generator_fade_blends_the_upsampled_previous_resolution():
    generator = _model().generator
    z = tf.constant(np.random.default_rng(0).standard_normal((4, 8)), tf.float32)
    generator.set_resolution(4)
    low = pl.upsample_nearest(generator.synthesize(z, 1.0)).numpy()
    generator.set_resolution(8)
    high = generator.synthesize(z, 1.0).numpy()
    assert high.shape == (4, 8, 8, 3)
    # alpha = 0: low + 0 * (high - low) is exactly the previous resolution's image.
    np.testing.assert_array_equal(generator.synthesize(z, 0.0).numpy(), low)
    # alpha = 0.5 and 1: one multiply-add of float32 values away from the blend computed here.
    assert_close_to_scale(generator.synthesize(z, 0.5).numpy(), (low + high) / 2, rtol=4 * ELEMENTWISE_RTOL)
    assert_close_to_scale(generator.synthesize(z, 1.0).numpy(), high, rtol=4 * ELEMENTWISE_RTOL)
    # Called as a model it renders its variable alpha and upsamples to the final 16x16.
    generator.alpha.assign(0.0)
    np.testing.assert_array_equal(generator(z).numpy(), pl.upsample_nearest(tf.constant(low)).numpy())


def test_discriminator_fade_blends_the_pooled_input_path():
    discriminator = _model().discriminator
    images = tf.constant(np.random.default_rng(1).uniform(-1, 1, (4, 8, 8, 3)), tf.float32)
    # alpha = 0: the new block is ignored and the 8x8 critic is the 4x4 one on the pooled images.
    np.testing.assert_array_equal(discriminator(images, alpha=0.0).numpy(),
                                  discriminator(pl.downsample_average(images)).numpy())
    assert discriminator(images, alpha=1.0).shape == (4, 1)
    with pytest.raises(ValueError, match="takes images of"):
        discriminator(tf.zeros((2, 12, 12, 3)))


def test_real_images_are_pooled_to_the_phase_and_faded():
    model = _model()
    phases = CONFIG.schedule().phases
    full = tf.constant(np.random.default_rng(2).uniform(-1, 1, (2, 16, 16, 3)), tf.float32)
    model.enter_phase(phases[1])  # 8x8
    at_8 = pl.downsample_average(full, 2)
    # alpha = 1: low + (high - low), a subtraction and an addition away from the pooled images.
    assert_close_to_scale(model.real_images(full, 1.0).numpy(), at_8.numpy(), rtol=4 * ELEMENTWISE_RTOL)
    np.testing.assert_array_equal(model.real_images(full, 0.0).numpy(),
                                  pl.upsample_nearest(pl.downsample_average(at_8)).numpy())
    model.enter_phase(phases[0])  # the first phase: pooled, nothing to fade
    np.testing.assert_array_equal(model.real_images(full, 0.0).numpy(), pl.downsample_average(full, 4).numpy())


def test_critic_loss_is_wasserstein_plus_penalty_plus_drift():
    # Learning rate 0: the step changes no weight, so D's scores on the step's real batch can be recomputed.
    model = _model(learning_rate=0.0)
    phase = CONFIG.schedule().phases[1]
    model.enter_phase(phase)
    model.global_step.assign(phase.start_step + 1)  # alpha = 1 / 2
    images = np.random.default_rng(3).uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
    logs = model.train_on_batch({"image": images}, return_dict=True)
    assert logs["alpha"] == 0.5 and logs["resolution"] == 8.0 and int(model.global_step.numpy()) == 4
    reals = model.real_images(tf.constant(images), 0.5)
    scores = model.discriminator(reals, alpha=0.5, training=True).numpy().astype(np.float64)
    # float32 network outputs recomputed in another graph: NETWORK_RTOL of their scale.
    assert_close_to_scale(logs["d_real"], scores.mean(), scale=np.abs(scores).max())
    assert_close_to_scale(logs["drift"], np.mean(scores**2), scale=np.max(scores**2))
    by_hand = logs["d_fake"] - logs["d_real"] + 10.0 * logs["gradient_penalty"] + 0.001 * logs["drift"]
    assert_close_to_scale(logs["d_loss"], by_hand, rtol=8 * ELEMENTWISE_RTOL,
                          scale=abs(logs["d_fake"]) + abs(logs["d_real"]) + 10 * logs["gradient_penalty"])
    assert_close_to_scale(logs["wasserstein_estimate"], logs["d_real"] - logs["d_fake"], rtol=8 * ELEMENTWISE_RTOL,
                          scale=abs(logs["d_fake"]) + abs(logs["d_real"]))
    assert logs["gradient_penalty"] > 0 and logs["drift"] > 0


def test_a_new_phase_resets_adam_and_a_resumed_one_keeps_it():
    model = _model()
    phases = CONFIG.schedule().phases
    model.enter_phase(phases[0])
    images = np.random.default_rng(4).uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
    model.train_on_batch({"image": images})
    model.train_on_batch({"image": images})
    assert int(model.g_optimizer.iterations.numpy()) == 2
    moments = [v for v in model.d_optimizer.variables if "momentum" in v.path or "velocity" in v.path]
    assert any(np.any(v.numpy() != 0) for v in moments)
    model.enter_phase(phases[1])  # global step 2 = the phase's first step
    assert int(model.g_optimizer.iterations.numpy()) == 0 and int(model.d_optimizer.iterations.numpy()) == 0
    assert all(np.all(v.numpy() == 0) for v in moments)
    assert float(model.g_optimizer.learning_rate.numpy()) == np.float32(1e-3)
    model.train_function = None
    model.train_on_batch({"image": images})
    model.enter_phase(phases[1])  # part-way into the fade (a resume): the state stays
    assert int(model.d_optimizer.iterations.numpy()) == 1
    model.train_on_batch({"image": images})  # global step 4: the fade (2 steps) is over
    model.enter_phase(phases[1])  # the stable part's first step: reset again (the authors' ceil(lod) change)
    assert int(model.d_optimizer.iterations.numpy()) == 0 and all(np.all(v.numpy() == 0) for v in moments)


def test_reset_of_a_loss_scale_optimizer_keeps_the_scale():
    import keras

    variable = keras.Variable(np.ones(3, np.float32))
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.5))
    optimizer.build([variable])
    optimizer.apply_gradients([(tf.ones(3), variable)])
    scale = float(optimizer.dynamic_scale.numpy())
    reset_optimizer_state(optimizer)
    assert int(optimizer.inner_optimizer.iterations.numpy()) == 0
    assert float(optimizer.dynamic_scale.numpy()) == scale and float(optimizer.learning_rate.numpy()) == 0.5


@pytest.mark.parametrize("changes, message", [
    (dict(image_size=48), "power of two"),
    (dict(initial_resolution=32, image_size=16), "must not exceed"),
    (dict(initial_resolution=2), ">= 4"),
    (dict(batch_sizes="16-3"), "batch_sizes"),
    (dict(batch_sizes="265:14"), "not a power of two"),
    (dict(beta_2=1.0), "beta_2"),
    (dict(image_scale=0.0), "image_scale"),
])
def test_config_refuses_bad_values(changes, message):
    options = dict(image_size=16, fmap_base=32, fmap_max=16, batch_size=4, minibatch_group_size=2)
    options.update(changes)
    with pytest.raises(ValueError, match=message):
        ProGANConfig(**options)


def test_two_replicas_take_the_step_one_device_takes():
    import keras

    from tests.strategies import two_cpu_strategy
    from tests.tolerances import NETWORK_RTOL, assert_steps_close

    # Groups of 1: the minibatch statistic is then per example, so splitting the batch over replicas does not
    # regroup it (with larger groups each replica groups its own rows, as in the authors' multi-GPU code).
    config = ProGANConfig(image_size=8, channels=1, latent_dim=8, fmap_base=16, fmap_max=8, batch_size=4,
                          fade_images=8, stable_images=8, minibatch_group_size=1, seed=5)
    phase = config.schedule().phases[1]  # 8x8, fading over steps [2, 4)
    images = tf.constant(np.random.default_rng(6).uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32))

    def run(model):
        model.compile(g_optimizer=keras.optimizers.SGD(0.05), d_optimizer=keras.optimizers.SGD(0.05))
        model.global_step.assign(phase.start_step + 1)
        model.enter_phase(phase)
        return model

    single = run(build_model(config))
    initial = [v.numpy() for v in single.discriminator.weights + single.generator.weights]
    logs = {k: float(v) for k, v in single.train_step({"image": images}).items()}
    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored = run(build_model(config))
    history = mirrored.fit(tf.data.Dataset.from_tensors({"image": images}), epochs=1, verbose=0,
                           shuffle=False).history
    assert history["alpha"][0] == logs["alpha"] == 0.5 and int(mirrored.global_step.numpy()) == phase.start_step + 2
    scale = abs(logs["d_real"]) + abs(logs["d_fake"]) + 10 * logs["gradient_penalty"]
    for name in ("d_loss", "g_loss", "gradient_penalty", "d_real", "d_fake"):
        # Means over two replicas' halves against one mean (tests/tolerances.py): on the loss's scale.
        assert history[name][0] == pytest.approx(logs[name], rel=NETWORK_RTOL, abs=NETWORK_RTOL * scale), name
    for a, b, old in zip(single.discriminator.weights + single.generator.weights,
                         mirrored.discriminator.weights + mirrored.generator.weights, initial):
        assert_steps_close(b.numpy(), a.numpy(), old, err_msg=a.path)
    assert float(mirrored.generator.alpha.numpy()) == 0.5
