"""History buffer of generated images for discriminator updates.

Shrivastava et al. 2017, "Learning from Simulated and Unsupervised Images
through Adversarial Training", https://arxiv.org/abs/1612.07828 (section 3.2),
in the form CycleGAN uses (Zhu et al. 2017, https://arxiv.org/abs/1703.10593,
section 4: "we update the discriminators using a history of generated images
rather than the ones produced by the latest generators. We keep an image buffer
that stores the 50 previously created images"), following the reference code's
`ImagePool.query` (junyanz/pytorch-CycleGAN-and-pix2pix, util/image_pool.py),
one image of the batch after the other:

- while fewer than `capacity` images are stored: store the new image, return it;
- once full: with probability 0.5 return a stored image chosen uniformly and
  put the new image in its place; otherwise return the new image.

State: three variables, so the runtime's checkpoint of `model.variables` saves
and restores the buffer with the rest of a training run: `images`
[capacity, H, W, C] float32, `count` (images stored, saturating at capacity)
and `draws` (images queried so far, the counter of the random stream). The
random numbers are stateless functions of (`seed`, `draws`, replica id)
(`tf.random.stateless_uniform`), so a restored pool continues exactly as an
uninterrupted one would.

Distribution: each replica keeps its own buffer of the images it generated
(the variables are ON_READ, one copy per replica, no communication; the
checkpoint holds the first replica's copy and a restore gives it to every
replica). The query runs inside the traced train step as a `tf.while_loop`
over the batch, with no Python per step.

Deviations from the reference code: none in behaviour. (The reference draws
with Python's `random`; here the draws come from a seeded stateless stream.)
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["ImagePool"]


class ImagePool(keras.layers.Layer):
    """Query returns, per image, either the image itself or an older stored one (see module docstring).

    Args:
      capacity: Number of images kept (50 in CycleGAN); 0 turns the buffer off
        (the query returns its input).
      seed: Seed of the random stream deciding which images are swapped.
      **kwargs: `keras.layers.Layer` arguments (e.g. ``name``).

    Build it with the shape of one batch, ``pool.build((None, H, W, C))``, before
    the first query when the variables must exist early (checkpoint restore).
    """

    def __init__(self, capacity: int = 50, seed: int = 0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"capacity must be an integer >= 0; got {capacity!r}.")
        self.capacity = capacity
        self.seed = int(seed)

    def build(self, input_shape):
        image_shape = tuple(input_shape[1:])
        if any(d is None for d in image_shape):
            raise ValueError(f"ImagePool needs a fully known image shape (H, W, C); got {image_shape}.")

        def variable(name, shape, dtype):
            return keras.Variable(
                initializer="zeros", shape=shape, dtype=dtype, trainable=False, name=name,
                synchronization="on_read", aggregation="only_first_replica")

        self.images = variable("images", (max(self.capacity, 1),) + image_shape, "float32")
        self.count = variable("count", (), "int32")
        self.draws = variable("draws", (), "int32")
        self.built = True

    def _uniforms(self):
        """Two U[0, 1) numbers: the swap decision and the slot, from (seed, draws, replica id)."""
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context is not None else 0
        seed = tf.stack([tf.constant(self.seed, tf.int32), tf.convert_to_tensor(self.draws)])
        seed = tf.random.experimental.stateless_fold_in(seed, replica)
        return tf.random.stateless_uniform([2], seed=seed, dtype=tf.float32)

    def _query_one(self, image):
        """The reference code's per-image query; updates the variables and returns the image to use."""
        capacity = self.capacity
        count = tf.convert_to_tensor(self.count)
        uniforms = self._uniforms()
        self.draws.assign_add(1)
        full = count >= capacity
        swap = tf.logical_and(full, uniforms[0] > 0.5)  # reference: random.uniform(0, 1) > 0.5
        slot = tf.where(full, tf.minimum(tf.cast(uniforms[1] * capacity, tf.int32), capacity - 1), count)
        stored = tf.convert_to_tensor(self.images)
        old_image = stored[slot]

        def write():
            self.images.assign(tf.tensor_scatter_nd_update(stored, [[slot]], image[None]))
            return tf.constant(True)

        written = tf.cond(tf.logical_or(tf.logical_not(full), swap), write, lambda: tf.constant(False))
        with tf.control_dependencies([written]):
            self.count.assign(tf.minimum(count + 1, capacity))
            return tf.where(swap, old_image, image)

    def call(self, images):
        images = tf.cast(images, tf.float32)
        if self.capacity == 0:
            return images
        batch = tf.shape(images)[0]
        results = tf.TensorArray(tf.float32, size=batch, element_shape=images.shape[1:])

        def body(index, results):
            return index + 1, results.write(index, self._query_one(images[index]))

        _, results = tf.while_loop(lambda index, _: index < batch, body, (tf.constant(0), results))
        return tf.ensure_shape(results.stack(), images.shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(capacity=self.capacity, seed=self.seed)
        return config
