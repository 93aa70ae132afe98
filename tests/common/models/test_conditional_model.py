"""Gradient accumulation in ConditionalAdversarialModel's step: N micro-batches take the unsplit step
(common/models/conditional_model.py)."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.models.conditional_model import ConditionalAdversarialModel
from common.nn import losses
from tests.strategies import two_cpu_strategy
from tests.tolerances import assert_close_to_scale, assert_steps_close

NUM_CLASSES, LATENT_DIM, SIDE = 3, 4, 2


@dataclasses.dataclass(frozen=True)
class Config:
    num_classes: int = NUM_CLASSES
    latent_dim: int = LATENT_DIM
    seed: int = 0
    ema_decay: float = 0.0
    reuse_fakes: bool = False
    d_steps: int = 1
    accumulate: int = 1


class Model(ConditionalAdversarialModel):
    def __init__(self, generator, discriminator, config, **kwargs):
        super().__init__(generator, discriminator, config, **kwargs)
        self.generator_loss = losses.non_saturating_generator_loss
        self.discriminator_loss = losses.non_saturating_discriminator_loss


def networks():
    """Dense networks with class embeddings (their gradients are IndexedSlices); no batch or spectral norm."""
    init = keras.initializers.RandomNormal(stddev=0.5, seed=1)
    z = keras.Input((LATENT_DIM,))
    labels = keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([z, keras.layers.Embedding(NUM_CLASSES, 3, embeddings_initializer=init)(labels)])
    h = keras.layers.Dense(8, activation="tanh", kernel_initializer=init)(h)
    images = keras.layers.Reshape((SIDE, SIDE, 1))(
        keras.layers.Dense(SIDE * SIDE, activation="tanh", kernel_initializer=init)(h))
    generator = keras.Model([z, labels], images)
    x = keras.Input((SIDE, SIDE, 1))
    d_labels = keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(x),
                                    keras.layers.Embedding(NUM_CLASSES, 3, embeddings_initializer=init)(d_labels)])
    h = keras.layers.Dense(8, activation="tanh", kernel_initializer=init)(h)
    logits = keras.layers.Dense(1, kernel_initializer=init)(h)
    return generator, keras.Model([x, d_labels], logits)


def build(strategy=None, **fields):
    if strategy is not None:
        with strategy.scope():
            return build(**fields)
    generator, discriminator = networks()
    model = Model(generator, discriminator, Config(**fields))
    model.compile(g_optimizer=keras.optimizers.SGD(0.5), d_optimizer=keras.optimizers.SGD(0.5))
    return model


def batch(size, seed=3):
    rng = np.random.default_rng(seed)
    return {"image": tf.constant(rng.uniform(-1, 1, (size, SIDE, SIDE, 1)).astype(np.float32)),
            "label": tf.constant(rng.integers(0, NUM_CLASSES, size).astype(np.int32))}


def weights(model):
    return [w.numpy() for w in model.generator.weights + model.discriminator.weights]


@pytest.mark.parametrize("d_steps, accumulate, batch_size", [(1, 4, 8), (1, 2, 6), (2, 2, 8)])
def test_micro_batches_take_the_unsplit_step(d_steps, accumulate, batch_size):
    whole = build(d_steps=d_steps)
    split = build(d_steps=d_steps, accumulate=accumulate)
    start = weights(whole)
    for a, b in zip(start, weights(split)):
        np.testing.assert_array_equal(a, b)
    data = [batch(batch_size, seed) for seed in (3, 4)]
    whole_metrics = [whole.train_step(b) for b in data]
    split_step = tf.function(split.train_step)  # the accumulated step traced, the unsplit one eager
    split_metrics = [split_step(b) for b in data]
    paths = [w.path for w in whole.generator.weights + whole.discriminator.weights]
    for path, new, desired, old in zip(paths, weights(split), weights(whole), start):
        assert_steps_close(new, desired, old, err_msg=path)
    for name in ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"):
        assert_close_to_scale(float(split_metrics[-1][name]), float(whole_metrics[-1][name]), err_msg=name)
    # Both took real steps: every kernel moved.
    assert all(np.max(np.abs(a - b)) > 1e-3 for a, b in zip(weights(split), start) if a.ndim == 2)


def test_micro_batches_take_the_unsplit_step_on_two_replicas():
    # Each replica splits its own 4 images into 2 micro-batches; the replicas' gradients are summed
    # once, after accumulation, as without it.
    strategy = two_cpu_strategy()
    whole = build(strategy)
    split = build(strategy, accumulate=2)
    start = weights(whole)
    data = tf.data.Dataset.from_tensors(batch(8))
    whole_history = whole.fit(data, epochs=1, verbose=0, shuffle=False).history
    split_history = split.fit(data, epochs=1, verbose=0, shuffle=False).history
    for new, desired, old in zip(weights(split), weights(whole), start):
        assert_steps_close(new, desired, old)
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert_close_to_scale(split_history[name][0], whole_history[name][0], err_msg=name)


def test_summing_without_dividing_by_n_would_be_caught():
    # The comparison above resolves a step of the wrong size: N times the step is far outside it.
    whole, split = build(), build(accumulate=4)
    start = weights(whole)
    whole.train_step(batch(8))
    split.train_step(batch(8))
    for a, b, s in zip(weights(split), weights(whole), start):
        if a.ndim == 2:
            with pytest.raises(AssertionError):
                assert_steps_close(s + 4 * (a - s), b, s)


def test_batch_not_divisible_is_refused_before_training():
    generator, discriminator = networks()

    @dataclasses.dataclass(frozen=True)
    class WithBatch(Config):
        batch_size: int = 6

    with pytest.raises(ValueError, match=r"batch_size \(6\) must be a multiple of d_steps \* accumulate \(1 \* 4 = 4\)"):
        Model(generator, discriminator, WithBatch(accumulate=4))
    with pytest.raises(ValueError, match=r"\(2 \* 2 = 4\)"):
        Model(generator, discriminator, WithBatch(d_steps=2, accumulate=2))
    model = build(accumulate=4)
    start = weights(model)
    with pytest.raises(ValueError, match=r"The batch of each replica \(6\) must be a multiple"):
        model.train_step(batch(6))
    for a, b in zip(weights(model), start):  # nothing was updated
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fields, message", [
    ({"accumulate": 0}, "accumulate must be a positive integer"),
    ({"accumulate": 2.0}, "accumulate must be a positive integer"),
    ({"accumulate": 2, "reuse_fakes": True}, "set reuse_fakes=False"),
])
def test_bad_accumulate_is_refused(fields, message):
    generator, discriminator = networks()
    with pytest.raises(ValueError, match=message):
        Model(generator, discriminator, Config(**fields))
