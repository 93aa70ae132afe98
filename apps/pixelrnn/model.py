"""PixelRNN / PixelCNN training model: exact log-likelihood, and sampling one sub-pixel at a time.

The network (`apps.pixelrnn.networks`) maps an image to the parameters of
p(x_k | x_<k) for every sub-pixel k in raster order (rows, then columns, then
R, G, B within a pixel) in one pass; its masks make the logits at k depend only
on sub-pixels before k. So

    -log p(x) = sum_k -log p(x_k | x_<k)

is one forward pass and a sum of cross-entropies (`negative_log_likelihood`):
a 256-way softmax over the raw values for "softmax256", a sigmoid of the
binarised pixel for "bernoulli" (pixels > 0.5 are 1, the static binarisation).
`PixelRNN` is a `common.models.likelihood_model.LikelihoodModel`: the loss is
nats per dimension, reported also as bits per dimension and nats per image.

Sampling inverts the conditionals' CDFs: a uniform u_k in [0, 1) per sub-pixel
gives x_k = the smallest value v with CDF(v | x_<k) > u_k (for a sigmoid:
x_k = 1 iff u_k < p(x_k = 1 | x_<k)). The image is therefore a deterministic
function of u ~ U[0, 1)^(H*W*C), which makes u this model's latent
(``latent_dim`` = H * W * C, ``latent_distribution`` = "uniform"): the runtime's
fixed-noise TensorBoard grids, the evaluate command's sample streams and the
export's ``sample(seed, count)`` all use it. `sample` runs H * W * C network
passes in a `tf.while_loop` inside one compiled function (no Python loop of
model calls). `redraw` is the check of a sample: given an image and its u, one
pass of the network redraws every sub-pixel from the image's own prefixes; a
correct sampler returns the image unchanged.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from apps.pixelrnn.config import PixelRNNConfig
from apps.pixelrnn.networks import build_network
from common.models.likelihood_model import LikelihoodModel

__all__ = ["PixelRNN", "build_model", "make_optimizers", "pixel_values", "draw_from_logits"]

NUM_VALUES = 256


def pixel_values(images):
    """Images in [-1, 1] (x = v / 127.5 - 1 for v in 0..255) -> int32 values v."""
    values = ops.round((ops.cast(images, "float32") + 1.0) * 127.5)
    return ops.cast(ops.clip(values, 0, NUM_VALUES - 1), "int32")


def draw_from_logits(logits, u, bernoulli: bool):
    """Inverse-CDF draws for uniforms ``u`` [...] in [0, 1).

    softmax256: logits [..., 256] -> int32 values [...]: the number of CDF entries
    at or below u, i.e. the smallest v with CDF(v) > u (capped at 255 against a
    last CDF entry rounded below 1). bernoulli: logits [...] -> int32 {0, 1}: 1 iff
    u < sigmoid(logit).

    Returns (values, margins): margins [...] is the distance of u from the
    nearest CDF boundary of the drawn value, the largest change of the
    probabilities for which the draw stays the same.
    """
    logits = ops.cast(logits, "float32")
    u = ops.cast(u, "float32")
    if bernoulli:
        probability = ops.sigmoid(logits)
        values = ops.cast(u < probability, "int32")
        return values, ops.abs(u - probability)
    cdf = ops.cumsum(ops.softmax(logits, axis=-1), axis=-1)
    values = ops.minimum(ops.sum(ops.cast(cdf <= u[..., None], "int32"), axis=-1), NUM_VALUES - 1)
    upper = ops.take_along_axis(cdf, values[..., None], axis=-1)[..., 0]
    lower = ops.where(values > 0,
                      ops.take_along_axis(cdf, ops.maximum(values - 1, 0)[..., None], axis=-1)[..., 0], 0.0)
    return values, ops.minimum(u - lower, upper - u)


class PixelRNN(LikelihoodModel):
    """A PixelRNN or PixelCNN network trained by maximum likelihood; see the module docstring.

    Args:
      network: `apps.pixelrnn.networks.build_network` model: images [B, H, W, C] in [-1, 1] ->
        logits [B, H, W, C, 256] (softmax256) or [B, H, W, C] (bernoulli).
      config: `PixelRNNConfig`.
    """

    def __init__(self, network: keras.Model, config: PixelRNNConfig, **kwargs):
        super().__init__(network, config, **kwargs)
        self.bernoulli = config.output == "bernoulli"
        self.latent_dim = self.dims
        self.latent_distribution = "uniform"
        self._sample_functions = {}  # id of the network -> its compiled sampling loop

    # ------------------------------------------------------------------ likelihood

    def network_inputs(self, images):
        """What the network reads: the images, or for bernoulli their binarisation at 0.5 as -1 / +1."""
        images = ops.cast(images, "float32")
        if self.bernoulli:
            return ops.where(images > 0.0, 1.0, -1.0)
        return images

    def targets(self, images):
        """int32 [B, H, W, C]: the sub-pixel values 0..255, or the binarised pixels 0 / 1."""
        if self.bernoulli:
            return ops.cast(ops.cast(images, "float32") > 0.0, "int32")
        return pixel_values(images)

    def negative_log_likelihood(self, images, training: bool = False, network=None):
        """-log p(x) in nats per image [B] (float32): the sum of the sub-pixels' cross-entropies."""
        network = self.network if network is None else network
        logits = ops.cast(network(self.network_inputs(images), training=training), "float32")
        targets = self.targets(images)
        if self.bernoulli:
            per_dim = ops.binary_crossentropy(ops.cast(targets, "float32"), logits, from_logits=True)
        else:
            per_dim = ops.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        return ops.sum(ops.reshape(per_dim, (ops.shape(per_dim)[0], -1)), axis=-1)

    # ------------------------------------------------------------------ sampling

    def _as_image_values(self, values):
        """int32 draws -> the image's float values in [-1, 1]."""
        values = ops.cast(values, "float32")
        return values * 2.0 - 1.0 if self.bernoulli else values / 127.5 - 1.0

    def _noise(self, z):
        return ops.reshape(ops.cast(z, "float32"), (-1,) + self.image_shape)

    def sample_graph(self, z, network=None):
        """Images [N, H, W, C] in [-1, 1] for uniforms z [N, H*W*C]: the traceable sampling loop.

        One network pass per sub-pixel, in raster order, each filling in the sub-pixel
        its logits are for; call it inside a `tf.function` (`sample` does).
        """
        network = self.inference_network if network is None else network
        u = self._noise(z)
        height, width, channels = self.image_shape
        count = ops.shape(u)[0]
        rows = tf.range(count)

        def body(k, images):
            i, j, c = k // (width * channels), (k // channels) % width, k % channels
            logits = network(images, training=False)[:, i, j, c]
            values, _ = draw_from_logits(logits, u[:, i, j, c], self.bernoulli)
            index = tf.stack([rows, tf.fill([count], i), tf.fill([count], j), tf.fill([count], c)], axis=1)
            return k + 1, tf.tensor_scatter_nd_update(images, index, self._as_image_values(values))

        images = tf.zeros(tf.concat([[count], self.image_shape], axis=0), tf.float32)
        _, images = tf.while_loop(lambda k, _: k < self.dims, body, (tf.constant(0), images),
                                  parallel_iterations=1)
        return images

    def sample(self, z, training: bool = False, network=None):
        """Images in [-1, 1] for uniforms z [N, H*W*C] (the latent of this model).

        From ``network``, by default the inference network (the moving average when
        the run keeps one); runs `sample_graph` as one compiled function per network.
        """
        del training  # sampling always runs the network in inference mode
        network = self.inference_network if network is None else network
        function = self._sample_functions.get(id(network))
        if function is None:
            function = tf.function(lambda z: self.sample_graph(z, network), reduce_retracing=True)
            self._sample_functions[id(network)] = function
        return function(tf.convert_to_tensor(z, tf.float32))

    def redraw(self, images, z, network=None):
        """Every sub-pixel redrawn from the image's own prefixes with uniforms z, in one network pass.

        Returns (images in [-1, 1], margins [N, H, W, C]): for images that `sample(z)` made,
        the redrawn images equal them wherever the margin exceeds the numerical
        error of the logits (the sampler draws sub-pixel k from the logits of
        exactly the prefix that the finished image holds).
        """
        network = self.inference_network if network is None else network
        logits = network(self.network_inputs(images), training=False)
        values, margins = draw_from_logits(logits, self._noise(z), self.bernoulli)
        return self._as_image_values(values), margins


def make_optimizers(config: PixelRNNConfig):
    """The paper's RMSProp with the config's learning rate and rho."""
    return keras.optimizers.RMSprop(config.learning_rate, rho=config.rho, name="optimizer")


def build_model(config: PixelRNNConfig) -> PixelRNN:
    """An uncompiled `PixelRNN` with a freshly built network; compile it with ``optimizer=make_optimizers(config)``."""
    network = build_network(config.model, (config.image_size, config.image_size, config.channels),
                            hidden=config.hidden, num_layers=config.layers, output=config.output, name="network",
                            output_features=config.output_features or None)
    return PixelRNN(network, config, name="pixelrnn")
