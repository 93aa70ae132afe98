"""`LikelihoodModel`: the training model of the suite's likelihood-based generative models.

Autoregressive models (PixelRNN, PixelCNN) and hierarchical VAEs are trained by
maximising the (bound on the) log-likelihood of the training images; they have
one network and one optimizer, not an adversarial pair, so they do not use
`common.models.adversarial_model`. What they share lives here:

- the network, its optimizer, an optional exponential moving average of its
  weights (``config.ema_decay > 0``, `common.nn.ema`) and one `SeedGenerator`
  (``config.seed``) for any noise of the training step;
- `train_step`: the per-image negative log-likelihood ``nll(images)`` in nats
  (a subclass's `negative_log_likelihood`), averaged over the batch and divided
  by the number of dimensions (sub-pixels) H * W * C, is the loss; one
  gradient step; the EMA;
- the units every likelihood paper reports: ``loss`` in nats per dimension,
  ``bits_per_dim`` = loss / ln 2, and ``nll`` in nats per image (the unit of the
  binarised-MNIST tables); ``grad_norm``, the global norm of the gradient of
  the unscaled loss.

The loss each replica differentiates is its local mean divided by the number
of replicas and scaled by the optimizer's loss scale, as in the adversarial
models (`common.nn.losses.scale_for_replicas`): the summed gradient is that of
the global-batch mean. Models follow the runtime's protocol
(`common.training.runtime`): the optimizer is built in `compile` so a checkpoint
restores before the first step, and `metrics` lists the trackers.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from common.models import gan_step
from common.nn import losses
from common.nn.ema import ExponentialMovingAverage

__all__ = ["LikelihoodModel", "bits_per_dim", "LN2"]

LN2 = math.log(2.0)


def bits_per_dim(nats_per_image, dims: int):
    """Nats per image -> bits per dimension: nll / (dims * ln 2)."""
    return nats_per_image / (float(dims) * LN2)


class LikelihoodModel(keras.Model):
    """One network trained by maximum likelihood on images; see the module docstring.

    Args:
      network: The built network whose trainable weights the optimizer updates.
      config: App config with ``seed``, ``ema_decay``, ``image_size`` and ``channels``.
      **kwargs: `keras.Model` arguments (e.g. ``name``).

    Subclasses implement ``negative_log_likelihood(images, training, network=None)``
    -> nats per image [B] (float32) for images in [-1, 1] as the suite's reader
    delivers them; ``network=None`` means the trained network.
    """

    TRACKED = ("loss", "bits_per_dim", "nll", "grad_norm")

    def __init__(self, network: keras.Model, config, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.config = config
        self.image_shape = (int(config.image_size), int(config.image_size), int(config.channels))
        self.dims = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]
        self.seed_generator = keras.random.SeedGenerator(config.seed)
        self.ema = None
        if float(getattr(config, "ema_decay", 0.0)) > 0:
            self.ema = ExponentialMovingAverage(network, config.ema_decay, name="network_ema")
        for name in self.TRACKED:
            setattr(self, f"{name}_tracker", keras.metrics.Mean(name=name))
        self.built = True  # the network is built; there is no call() to trace

    def compile(self, optimizer, **kwargs):
        """Sets the optimizer and builds its slots (so checkpoints can restore them)."""
        super().compile(**kwargs)
        self.optimizer = optimizer
        self.optimizer.build(self.network.trainable_variables)

    @property
    def metrics(self):
        return [getattr(self, f"{name}_tracker") for name in self.TRACKED]

    @property
    def inference_network(self) -> keras.Model:
        """The network sampling and evaluation use: the moving average when the run keeps one."""
        return self.ema.shadow if self.ema is not None else self.network

    def negative_log_likelihood(self, images, training: bool = False, network=None):
        raise NotImplementedError(f"{type(self).__name__} must define negative_log_likelihood(images, training).")

    def train_step(self, batch):
        """One gradient step on the batch's mean negative log-likelihood per dimension; see the module docstring."""
        if isinstance(batch, (tuple, list)):  # train_on_batch / fit(x=...) pack the dict as (x,)
            batch = batch[0]
        images = batch["image"]
        with tf.GradientTape() as tape:
            nll = self.negative_log_likelihood(images, training=True)
            loss = ops.mean(nll) / float(self.dims)
            scaled = self.optimizer.scale_loss(losses.scale_for_replicas(loss))
        weights = self.network.trainable_weights
        gradients = tape.gradient(scaled, weights)
        grad_norm = gan_step.unscaled_global_norm(gradients, self.optimizer)
        self.optimizer.apply_gradients(zip(gradients, weights))
        if self.ema is not None:
            self.ema.update(self.network, step=self.optimizer.iterations)
        self.loss_tracker.update_state(loss)
        self.bits_per_dim_tracker.update_state(loss / LN2)
        self.nll_tracker.update_state(ops.mean(nll))
        gan_step.update_if_finite(self.grad_norm_tracker, grad_norm)
        return {tracker.name: tracker.result() for tracker in self.metrics}
