"""The two digit domains CoGAN trains on, built from one single-domain digit dataset.

As in the paper's digit experiments (Liu & Tuzel 2016,
https://arxiv.org/abs/1606.07536, section 5): domain a holds the digits of one
half of the training set, domain b the transformed digits of the other half,
so the training data never contains a corresponding pair. Here the halves are
the examples at even and at odd positions of the dataset's stored order (a
fixed, seed-independent split; the authors' code splits a random permutation).

Transforms (`TRANSFORMS`, on images in [-1, 1]; intensities v = (x + 1) / 2 in [0, 1]):

- "edge": the external morphological gradient, dilation(v) - v, with a 3x3
  square structuring element, as the authors' code computes the MNIST edge
  domain (``cv2.dilate(img, ones((3, 3))) - img``). Borders: pixels outside the
  image do not take part in the maximum (OpenCV's default for dilation). A
  stroke becomes its one-pixel outer outline; flat regions become 0 (black).
- "invert": 1 - v, i.e. x -> -x (white digits on black become black on white).

Both run inside the tf.data pipeline on batches. Everything is deterministic
for a fixed seed: the split does not depend on it, and each domain is shuffled
with its own seed derived from it.
"""

from __future__ import annotations

import tensorflow as tf

from common.data import reader as data_lib

__all__ = ["edge_map", "invert", "TRANSFORMS", "pair_dataset", "pair_dataset_fn"]


def edge_map(images):
    """External morphological gradient of images in [-1, 1]: 2 * (dilate3x3(v) - v) - 1, v = (x + 1) / 2.

    Args:
      images: float [B, H, W, C] (or [H, W, C]) in [-1, 1].

    Returns:
      Float32 tensor of the same shape in [-1, 1] (per channel).
    """
    images = tf.convert_to_tensor(images, tf.float32)
    single = images.shape.rank == 3
    if single:
        images = images[None]
    intensity = (images + 1.0) / 2.0
    dilated = tf.nn.max_pool2d(intensity, ksize=3, strides=1, padding="SAME")  # SAME ignores outside pixels
    edges = (dilated - intensity) * 2.0 - 1.0
    return edges[0] if single else edges


def invert(images):
    """Negative of images in [-1, 1]: 1 - v in intensities, i.e. -x."""
    return -tf.convert_to_tensor(images, tf.float32)


TRANSFORMS = {"edge": edge_map, "invert": invert}


def pair_dataset(data, *, pairing: str, image_size: int, channels: int, batch_size: int, seed: int,
                 split: str = "train", shuffle_buffer: int = 10_000,
                 input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Repeated batches {"image_a", "image_b"} of unpaired digits and transformed digits.

    Args:
      data: a digit dataset for `common.data.reader.load_dataset` (None: the default digits).
      pairing: "edge" or "invert" (`TRANSFORMS`), applied to domain b.
      image_size, channels: what images are resized / converted to.
      batch_size: images per domain in a batch of this input pipeline.
      seed: shuffling seed (domain a uses seed, domain b seed + 1).
      split: the split to read.
      shuffle_buffer: shuffle buffer size of each domain.
      input_context: for distributed input, each pipeline keeps every
        `num_input_pipelines`-th example of each domain.

    Returns:
      A repeated `tf.data.Dataset` of dicts with float32 [batch_size, H, W, C] "image_a" and "image_b".

    Raises:
      common.data.reader.DataError: the dataset cannot be read, or is too small to split.
    """
    if pairing not in TRANSFORMS:
        raise data_lib.DataError(f"pairing must be one of {', '.join(TRANSFORMS)}; got {pairing!r}.")
    if not isinstance(data, str) or not data.startswith("tfds:"):
        count = (data_lib.describe(data).num_examples or {}).get(split)
        if count is not None and count < 2:
            raise data_lib.DataError(
                f"Split {split!r} of {data or 'the default digits'} holds {count} example(s); CoGAN splits it into "
                "two halves (one per domain) and needs at least 2. Use a larger digit dataset.")
    examples = data_lib.load_dataset(
        data, split=split, image_size=image_size, channels=channels, batch_size=None, shuffle=False,
        repeat=False, seed=seed)
    indexed = examples.enumerate()
    transform = TRANSFORMS[pairing]

    def half(parity: int, domain_seed: int):
        images = indexed.filter(lambda index, example: tf.equal(index % 2, parity))
        images = images.map(lambda index, example: example["image"])
        if input_context is not None and input_context.num_input_pipelines > 1:
            images = images.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        images = images.shuffle(shuffle_buffer, seed=domain_seed, reshuffle_each_iteration=True).repeat()
        return images.batch(batch_size, drop_remainder=True)

    pairs = tf.data.Dataset.zip(half(0, seed), half(1, seed + 1))
    pairs = pairs.map(lambda a, b: {"image_a": a, "image_b": transform(b)}, num_parallel_calls=tf.data.AUTOTUNE,
                      deterministic=True)
    return pairs.prefetch(tf.data.AUTOTUNE)


def pair_dataset_fn(run, config):
    """`common.training.runtime.train`'s dataset_fn: per-replica batches of `pair_dataset(run.data, ...)`."""

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        return pair_dataset(
            run.data, pairing=config.pairing, image_size=config.image_size, channels=config.channels,
            batch_size=input_context.get_per_replica_batch_size(run.batch_size), seed=run.seed,
            input_context=input_context)

    return dataset_fn
