"""A self-supervised contrastive encoder trained on the evaluation dataset itself, as a feature network.

Unlabelled datasets (CelebA faces, a folder of photos) have no labels to train the
dataset classifier of `common.evaluation.classifier` on, and ImageNet Inception
weights need a download and were trained on other images. A SimCLR encoder (Chen
et al. 2020, "A Simple Framework for Contrastive Learning of Visual
Representations", arXiv:2002.05709) needs neither: it learns from the dataset's
own train split to map two random augmentations of an image close together and
away from every other image of the batch. Morozov et al. 2021 ("On Self-Supervised
Image Representations for GAN Evaluation", ICLR) argue for self-supervised
representations in place of supervised Inception features in GAN metrics. Its
"features" layer feeds FID/KID/precision/recall/density/coverage; there are no
class probabilities, so no Inception Score, class accuracy or mode coverage.
Values are only comparable between models scored with the same encoder (the
same fingerprint and sidecar, which name the feature network in every report).

Network: the dataset classifier's pre-activation ResNet body
(`classifier.residual_network`: a 3x3 stem, stages that halve the image until it
is at most 4 pixels, global average pooling), then a linear dense "features" layer
(`feature_dim`, default 128): the encoder, saved as ``<path>.keras`` and loaded with
``safe_mode=True``. The projection head g (SimCLR section 2.1), a 2-layer MLP
(dense `projection_hidden` with ReLU, dense `projection_dim`), exists only during
training: the loss is computed on its output and it is not saved; features come
from the layer before it, as SimCLR recommends (its section 4.2).

Loss (`nt_xent_loss`): NT-Xent (SimCLR eq. 1) on the l2-normalized projections,
cosine similarity divided by the temperature tau; each of the 2N views of a batch
of N images has one positive (the other view of its image) and 2N-2 negatives; the
loss is the mean over all 2N views.

Augmentation (`augment`, TensorFlow ops on a batch, stateless and seeded by
(seed, step)): random resized crop of area 0.3-1 of the image (SimCLR: 0.08-1 on
224-pixel ImageNet crops; at 64x64 and below an 8% crop keeps too few pixels of a
face or an object, so the floor is raised to 0.3, `crop_min_scale`) and aspect
ratio log-uniform in 3/4-4/3 (within what fits at that area), resized back
bilinearly; horizontal flip with probability 1/2;
colour jitter with probability 0.8: brightness, contrast and saturation factors
in [1 - 0.8 s, 1 + 0.8 s] and a hue turn of up to 0.2 s of the hue circle either way,
s = `jitter_strength` 0.5 (SimCLR's strength for CIFAR-10; 1.0 on ImageNet), the four
applied in a random order per image and clipped to [0, 1] after each; grayscale
with probability 0.2. Each jitter operation is a colour matrix per image, so one
pass over the pixels applies it: contrast is taken about the per-channel mean (as
`tf.image.adjust_contrast`), saturation blends with the luma (as torchvision), and
the hue turns as a rotation of RGB about the gray axis (as StyleGAN2-ADA's
augmentation) instead of a shift of HSV hue: grays stay fixed and every hue turns by
the same angle. A random order per image then costs one matrix product per slot
(the input pipeline took 0.40 s per batch of 512 64x64 views on one core, against
1.17 s with HSV hue and every operation computed in every slot). No Gaussian blur:
SimCLR leaves it out for CIFAR-10's 32x32 images, and its kernel of 10% of the side
would be about 6 pixels at 64x64. One-channel images get brightness and contrast
only.

Training (`train_contrastive_encoder`): the split is decoded once into memory as
uint8 (`classifier.decode_split`); every step draws a shuffled batch, augments it
twice in the input pipeline and runs one forward pass over all 2N views (batch
normalization then sees both views together, as SimCLR's global batch
normalization does across accelerators). Features are computed in inference mode,
with the moving statistics batch normalization collected on augmented views. AdamW (decoupled weight decay), a linear
warm-up over `warmup_epochs`, then a cosine decay to zero: SimCLR uses LARS for its
batches of 4096, which small batches on a CPU do not need. Defaults: batch 256 (510
negatives per positive pair), tau 0.2 (SimCLR's sweep with l2-normalized cosine
similarity favours 0.1 on ImageNet; its reference CIFAR-10 recipe uses 0.5 for 1000
epochs at batch 512; 0.2 sits between, for a few hundred steps at batch 256), peak
learning rate 2e-3, weight decay 1e-4, 6 epochs, width 16, one residual block per
stage: about 20 minutes for 10,000 64x64 images on one CPU core (the README has the
measured time). SimCLR trains for hundreds of epochs; this budget learns much less,
and the retrieval measure below says how much. With `verbose`, the
classifier's progress bar and time estimates (after the first batches and after the
first epoch) are printed; the bar's "accuracy" is the training batches' share of
views whose nearest other view is their positive.

Held-out measure (`retrieval_accuracy`): on up to RETRIEVAL_IMAGES test images, two
views each with fixed seeded augmentations; a view counts as retrieved when, among
the other 2N-1 views, the one with the highest cosine similarity of "features" is its
positive. Measured for the untrained network (the same initial weights) and the
trained one; chance is 1/(2N-1). Both are in the sidecar.

Files and keys, as for the dataset classifier: ``<path>.keras`` plus the sidecar
``<path>.keras.json`` (fingerprint, the dataset's manifest checksum, settings,
retrieval accuracies, training history and time). `contrastive_fingerprint` is
sha256 over the encoder's and the projection head's Keras configs, every setting
and the augmentation constants; `get_or_train_contrastive` reuses a file only when
the checksum and the fingerprint match, and callers put the fingerprint in cache
paths and in the feature network's name (which keys cached reference statistics).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from common.evaluation import classifier as classifier_lib
from common.evaluation.feature_networks import FeatureExtractor, float32_policy

__all__ = [
    "ContrastiveError",
    "ContrastiveSettings",
    "AUGMENTATION_CONSTANTS",
    "RETRIEVAL_IMAGES",
    "build_encoder",
    "build_projection_head",
    "untrained_encoder",
    "contrastive_fingerprint",
    "nt_xent_loss",
    "augment",
    "ContrastiveTrainer",
    "retrieval_accuracy",
    "train_contrastive_encoder",
    "check_trainable",
    "save_encoder",
    "load_encoder",
    "get_or_train_contrastive",
    "contrastive_features",
]

# Fixed parts of the augmentation; they enter the fingerprint with the settings.
AUGMENTATION_CONSTANTS = {
    "crop_aspect_ratio": [3 / 4, 4 / 3],
    "crop_resize": "bilinear",
    "flip_probability": 0.5,
    "jitter_factors": {"brightness": 0.8, "contrast": 0.8, "saturation": 0.8, "hue": 0.2},
    "jitter_order": "random per image",
    "gaussian_blur": False,
}
# Test images of the held-out retrieval measure (2N - 1 candidates per view), and its augmentation seed.
RETRIEVAL_IMAGES = 1000
RETRIEVAL_SEED = 20200213
LUMA = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale's weights


class ContrastiveError(ValueError):
    """A contrastive encoder cannot be trained, saved or loaded as asked."""


@dataclasses.dataclass(frozen=True)
class ContrastiveSettings:
    """Architecture, augmentation and training recipe of a contrastive encoder; all of it enters the fingerprint.

    `learning_rate` is the peak of the schedule (linear warm-up over `warmup_epochs`,
    then a cosine decay to zero at the end of `epochs`). `batch_size` is N images,
    2N views per step; it must be a multiple of 4 (2N a multiple of 8: TensorFlow
    2.21's oneDNN convolution gradients corrupted the heap at some batch sizes that
    are not multiples of 8) and at most the number of training images.
    """

    width: int = 16
    blocks_per_stage: int = 1
    feature_dim: int = 128
    projection_hidden: int = 256
    projection_dim: int = 64
    temperature: float = 0.2
    epochs: int = 6
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    crop_min_scale: float = 0.3
    jitter_strength: float = 0.5
    jitter_probability: float = 0.8
    grayscale_probability: float = 0.2
    seed: int = 0

    def __post_init__(self):
        positive = ("width", "blocks_per_stage", "feature_dim", "projection_hidden", "projection_dim", "epochs",
                    "batch_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ContrastiveError(f"Contrastive setting {name} must be >= 1; got {getattr(self, name)}.")
        if self.batch_size % 4:
            raise ContrastiveError(f"Contrastive batch_size must be a multiple of 4 (2N views a multiple of 8); got "
                                   f"{self.batch_size}.")
        for name in ("temperature", "learning_rate"):
            if not getattr(self, name) > 0:
                raise ContrastiveError(f"Contrastive {name} must be > 0; got {getattr(self, name)}.")
        if not 0.0 < self.crop_min_scale <= 1.0:
            raise ContrastiveError(f"Contrastive crop_min_scale must be in (0, 1]; got {self.crop_min_scale}.")
        for name in ("jitter_probability", "grayscale_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ContrastiveError(f"Contrastive {name} must be in [0, 1]; got {getattr(self, name)}.")
        if not 0.0 <= self.jitter_strength <= 1.25:  # 0.8 s <= 1 keeps brightness factors >= 0
            raise ContrastiveError(f"Contrastive jitter_strength must be in [0, 1.25]; got {self.jitter_strength}.")
        if self.weight_decay < 0 or self.warmup_epochs < 0:
            raise ContrastiveError("Contrastive weight_decay and warmup_epochs must be >= 0.")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- architecture


def build_encoder(image_shape, *, width: int = 16, blocks_per_stage: int = 1, feature_dim: int = 128):
    """Images in [-1, 1] -> "features" [B, feature_dim]: the classifier's ResNet body and a linear dense layer.

    The features are linear (no ReLU): FID fits a Gaussian to them and k-NN metrics
    measure Euclidean distances, which rectified, partly dead units distort.
    """
    inputs = keras.Input(tuple(int(s) for s in image_shape), name="images")
    x = classifier_lib.residual_network(inputs, image_shape, width=width, blocks_per_stage=blocks_per_stage)
    features = keras.layers.Dense(feature_dim, name="features")(x)
    return keras.Model(inputs, features, name="contrastive_encoder")


def build_projection_head(feature_dim: int, *, hidden: int = 256, projection_dim: int = 64):
    """SimCLR's g: features -> dense(hidden) -> ReLU -> dense(projection_dim); only used by the loss."""
    inputs = keras.Input((int(feature_dim),), name="features")
    x = keras.layers.Dense(hidden, activation="relu", name="projection_hidden")(inputs)
    outputs = keras.layers.Dense(projection_dim, name="projection")(x)
    return keras.Model(inputs, outputs, name="projection_head")


def _build_networks(settings: ContrastiveSettings, image_shape):
    with float32_policy():
        encoder = build_encoder(image_shape, width=settings.width, blocks_per_stage=settings.blocks_per_stage,
                                feature_dim=settings.feature_dim)
        head = build_projection_head(settings.feature_dim, hidden=settings.projection_hidden,
                                     projection_dim=settings.projection_dim)
    return encoder, head


def untrained_encoder(settings: ContrastiveSettings, image_shape):
    """The encoder with the initial weights `train_contrastive_encoder` starts from (seeded by `settings.seed`)."""
    keras.utils.set_random_seed(settings.seed)
    return _build_networks(settings, tuple(int(s) for s in image_shape))[0]


def contrastive_fingerprint(settings: ContrastiveSettings, image_shape) -> str:
    """16 hex digits of sha256 over the encoder's and projection head's Keras configs, every setting and
    the augmentation constants; changes with the architecture, the input shape or any setting."""
    encoder, head = _build_networks(settings, tuple(int(s) for s in image_shape))
    record = {"method": "simclr-nt-xent", "architecture": {"encoder": encoder.get_config(),
                                                           "projection_head": head.get_config()},
              "training": settings.as_dict(), "augmentation": AUGMENTATION_CONSTANTS}
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- loss


def nt_xent_loss(projections_a, projections_b, temperature: float):
    """NT-Xent (SimCLR eq. 1) over a batch of N positive pairs; returns (loss, top-1 accuracy).

    Args:
      projections_a, projections_b: [N, D] projections of the two views; row i of each comes from image i.
      temperature: tau.

    Returns:
      loss: mean over the 2N views k of -log(exp(s(k, pos(k)) / tau) / sum_{j != k} exp(s(k, j) / tau)),
        s the cosine similarity; each view has 1 positive and 2N - 2 negatives.
      accuracy: share of views whose most similar other view is their positive.
    """
    z = tf.concat([projections_a, projections_b], axis=0)                 # [2N, D]
    z = tf.math.l2_normalize(tf.cast(z, tf.float32), axis=1)
    count = tf.shape(projections_a)[0]
    logits = tf.matmul(z, z, transpose_b=True) / temperature             # [2N, 2N] cosine / tau
    logits = tf.where(tf.eye(2 * count, dtype=tf.bool), tf.constant(-1e9, tf.float32), logits)  # k != j
    positives = tf.concat([tf.range(count, 2 * count), tf.range(0, count)], axis=0)  # view k <-> k +- N
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=positives, logits=logits))
    hits = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), positives)
    return loss, tf.reduce_mean(tf.cast(hits, tf.float32))


# --------------------------------------------------------------------------- augmentation


def _uniform(seed, shape, low, high):
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def _random_resized_crop(images, seed, min_scale: float):
    """A crop of area U(min_scale, 1) of the image and aspect ratio log-uniform in 3/4..4/3, resized back.

    The ratio is drawn from the part of 3/4..4/3 where a crop of that area fits in the
    image, so the area is kept exactly (area 1 is the whole image).
    """
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    seeds = tf.random.experimental.stateless_split(seed, 4)
    low, high = AUGMENTATION_CONSTANTS["crop_aspect_ratio"]
    area = _uniform(seeds[0], [batch], min_scale, 1.0)
    # Crop width / height in pixels r; as fractions of the sides w = sqrt(area r H / W), h = sqrt(area W / (r H)),
    # both at most 1: r in [area W / H, W / (area H)].
    log_low = tf.maximum(math.log(low), tf.math.log(area * width / height))
    log_high = tf.maximum(log_low, tf.minimum(math.log(high), tf.math.log(width / (area * height))))
    ratio = tf.exp(log_low + _uniform(seeds[1], [batch], 0.0, 1.0) * (log_high - log_low))
    crop_w = tf.minimum(1.0, tf.sqrt(area * ratio * height / width))
    crop_h = tf.minimum(1.0, tf.sqrt(area / ratio * width / height))
    top = _uniform(seeds[2], [batch], 0.0, 1.0) * (1.0 - crop_h)
    left = _uniform(seeds[3], [batch], 0.0, 1.0) * (1.0 - crop_w)
    boxes = tf.stack([top, left, top + crop_h, left + crop_w], axis=1)
    return tf.image.crop_and_resize(images, boxes, tf.range(batch), (height, width), method="bilinear")


def _grayscale(images):
    luma = tf.reduce_sum(images * tf.constant(LUMA, images.dtype), axis=-1, keepdims=True)
    return tf.broadcast_to(luma, tf.shape(images))


def _jitter_matrices(channels: int, brightness, contrast, saturation, hue_angle):
    """Per-image colour matrices [B, C, C] of brightness, contrast, saturation and hue, in that order.

    Each operation maps a pixel x to M x (+ an offset for contrast). Brightness: b I.
    Contrast: c I, plus (1 - c) times the image's per-channel mean. Saturation: blends
    x with its luma, s I + (1 - s) 1 w^T (w the luma weights). Hue: a rotation by the
    angle about the gray axis v = (1, 1, 1) / sqrt(3) (Rodrigues: cos I + sin [v]x +
    (1 - cos) v v^T), which keeps grays fixed and turns every hue by the same angle.
    """
    eye = tf.eye(channels, batch_shape=[1])
    scaled = [factor[:, None, None] * eye for factor in (brightness, contrast)]
    if channels == 1:
        return scaled
    luma = tf.constant([LUMA] * 3, tf.float32)                                   # rows 1 w^T
    saturate = saturation[:, None, None] * eye + (1.0 - saturation)[:, None, None] * luma
    v = np.ones(3) / math.sqrt(3.0)
    cross = tf.constant([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]], tf.float32)  # [v]x
    outer = tf.constant(np.outer(v, v), tf.float32)
    cos, sin = tf.cos(hue_angle)[:, None, None], tf.sin(hue_angle)[:, None, None]
    rotate = cos * eye + sin * cross + (1.0 - cos) * outer
    return scaled + [saturate, rotate]


def _colour_jitter(images, seed, strength: float):
    """Brightness, contrast, saturation and hue with per-image factors, in a random order per image, each
    followed by clipping to [0, 1]. Every slot applies one colour matrix per image: [B, C, C] x pixels."""
    factors = AUGMENTATION_CONSTANTS["jitter_factors"]
    batch, channels = tf.shape(images)[0], images.shape[-1]
    seeds = tf.random.experimental.stateless_split(seed, 5)

    def factor(seed_, spread):
        return _uniform(seed_, [batch], max(0.0, 1.0 - spread), 1.0 + spread)

    hue_spread = factors["hue"] * strength                   # a fraction of the hue circle
    matrices = _jitter_matrices(channels, factor(seeds[0], factors["brightness"] * strength),
                                factor(seeds[1], factors["contrast"] * strength),
                                factor(seeds[2], factors["saturation"] * strength),
                                2.0 * math.pi * _uniform(seeds[3], [batch], -hue_spread, hue_spread))
    stacked = tf.stack(matrices, axis=1)                                          # [B, ops, C, C]
    # order[i, slot] = the operation image i gets in that slot: a random permutation per image.
    order = tf.argsort(_uniform(seeds[4], [batch, len(matrices)], 0.0, 1.0), axis=1)
    contrast_index = 1
    for slot in range(len(matrices)):
        matrix = tf.gather(stacked, order[:, slot], axis=1, batch_dims=1)          # [B, C, C]
        mixed = tf.einsum("bij,bhwj->bhwi", matrix, images)
        # Contrast keeps the per-channel mean: (x - m) c + m = c x + (1 - c) m.
        mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)                  # [B, 1, 1, C]
        is_contrast = tf.reshape(tf.equal(order[:, slot], contrast_index), [-1, 1, 1, 1])
        offset = mean - tf.einsum("bij,bhwj->bhwi", matrix, mean)
        images = tf.clip_by_value(mixed + tf.where(is_contrast, offset, tf.zeros_like(offset)), 0.0, 1.0)
    return images


def augment(images, seed, settings: ContrastiveSettings):
    """One random view of each image of a uint8 batch [B, H, W, C]: float32 in [-1, 1], the same shape.

    Stateless: the same `seed` (int64 [2]) gives the same views. Order: resized crop,
    flip, colour jitter (probability `jitter_probability`), grayscale
    (`grayscale_probability`, colour images only).
    """
    images = tf.cast(tf.convert_to_tensor(images), tf.float32) / 255.0
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, 6)
    images = _random_resized_crop(images, seeds[0], settings.crop_min_scale)

    def chosen(seed_, probability):
        return tf.reshape(_uniform(seed_, [batch], 0.0, 1.0) < probability, [-1, 1, 1, 1])

    images = tf.where(chosen(seeds[1], AUGMENTATION_CONSTANTS["flip_probability"]), tf.reverse(images, axis=[2]),
                      images)
    if settings.jitter_probability > 0 and settings.jitter_strength > 0:
        jittered = _colour_jitter(images, seeds[2], settings.jitter_strength)
        images = tf.where(chosen(seeds[3], settings.jitter_probability), jittered, images)
    if images.shape[-1] == 3 and settings.grayscale_probability > 0:
        images = tf.where(chosen(seeds[4], settings.grayscale_probability), _grayscale(images), images)
    return images * 2.0 - 1.0


def _train_pipeline(images: np.ndarray, settings: ContrastiveSettings):
    """Endless batches of 2N views [2N, H, W, C]: rows i and N + i are two views of image i.

    Reshuffled every pass over the images; the views are seeded by (seed, step). The
    batch is augmented as one of 2N images, so every view draws its own crop and colours.
    """
    dataset = tf.data.Dataset.from_tensor_slices(images)
    dataset = dataset.shuffle(len(images), seed=settings.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(settings.batch_size, drop_remainder=True).repeat().enumerate()

    @tf.autograph.experimental.do_not_convert  # plain TF ops: converting them only costs tracing time
    def views(step, batch):
        seed = tf.stack([tf.constant(settings.seed, tf.int64), step])
        return augment(tf.concat([batch, batch], axis=0), seed, settings)

    return dataset.map(views, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


# --------------------------------------------------------------------------- training


class ContrastiveTrainer(keras.Model):
    """Trains `encoder` and `projection_head` with NT-Xent on batches of 2N views (`_train_pipeline`).

    Metrics: "loss" and "accuracy" (the share of the 2N views whose most similar other
    view is their positive).
    """

    def __init__(self, encoder, projection_head, temperature: float, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.projection_head, self.temperature = encoder, projection_head, temperature
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, images, training=False):
        return self.projection_head(self.encoder(images, training=training), training=training)

    @tf.autograph.experimental.do_not_convert  # no tensor-dependent Python control flow
    def train_step(self, views):
        # 1. 2N views of N images from the input pipeline, [2N, H, W, C] in [-1, 1]: rows i and N + i pair up.
        # 2. One forward pass over all of them, so batch normalization sees both views together.
        # 3. NT-Xent over the 2N projections; its gradients reach the head and the encoder.
        count = tf.shape(views)[0] // 2
        with tf.GradientTape() as tape:
            projections = self(views, training=True)                                  # [2N, P]
            loss, accuracy = nt_xent_loss(projections[:count], projections[count:], self.temperature)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(accuracy)
        return {metric.name: metric.result() for metric in self.metrics}


def _features(encoder, images, batch_size: int = 500) -> np.ndarray:
    forward = tf.function(lambda x: encoder(x, training=False), reduce_retracing=True)
    return np.concatenate([forward(images[start:start + batch_size]).numpy()
                           for start in range(0, len(images), batch_size)])


def retrieval_accuracy(encoder, images: np.ndarray, settings: ContrastiveSettings, *,
                       max_images: int = RETRIEVAL_IMAGES, seed: int = RETRIEVAL_SEED) -> dict:
    """Top-1 retrieval of the positive view among the 2N-1 others, in "features" by cosine similarity.

    Up to `max_images` of `images` (uint8 [N, H, W, C]; a seeded choice when there are
    more) each get two views augmented as in training with fixed seeds, so untrained and
    trained networks, and runs on other machines, see the same views.

    Returns {"accuracy", "images", "candidates" (2N-1), "chance" (1 / (2N-1))}.
    """
    if len(images) < 2:
        raise ContrastiveError(f"Retrieval needs at least 2 images; got {len(images)}.")
    if len(images) > max_images:
        images = images[np.sort(np.random.default_rng(seed).permutation(len(images))[:max_images])]
    views = []
    for which in range(2):
        chunks = [augment(images[start:start + 250], tf.constant([seed, 2 * start + which], tf.int64), settings)
                  for start in range(0, len(images), 250)]
        views.append(tf.concat(chunks, axis=0).numpy())
    features = _features(encoder, np.concatenate(views)).astype(np.float64)                # [2N, D]
    features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    similarity = features @ features.T
    np.fill_diagonal(similarity, -np.inf)
    count = len(images)
    positives = np.concatenate([np.arange(count, 2 * count), np.arange(count)])
    accuracy = float((similarity.argmax(axis=1) == positives).mean())
    return {"accuracy": accuracy, "images": int(count), "candidates": int(2 * count - 1),
            "chance": 1.0 / (2 * count - 1)}


def check_trainable(num_train: int | None, num_test: int | None, settings: ContrastiveSettings,
                    where: str = "The dataset", batch_hint: str = "") -> None:
    """Raises ContrastiveError when the split sizes cannot train and measure an encoder with `settings`.

    `batch_hint` ends the message about too large a batch (how to set a smaller one).
    """
    if not num_train:
        raise ContrastiveError(f"{where} has no 'train' split (or it is empty); the contrastive encoder is trained "
                               "on the train split. Build the dataset with a train split.")
    if num_train < settings.batch_size:
        fits = num_train - num_train % 4
        needs = (f"a batch_size of at most {fits}, a multiple of 4{batch_hint}" if fits >= 4 else
                 "at least 4 training images")
        raise ContrastiveError(f"{where} has {num_train} training images, fewer than one batch of "
                               f"{settings.batch_size}; the contrastive encoder needs {needs}.")
    if not num_test or num_test < 2:
        raise ContrastiveError(f"{where} has no 'test' split with at least 2 images to measure the contrastive "
                               "encoder on; rebuild it with --test_fraction=0.1.")


def train_contrastive_encoder(train_images: np.ndarray, test_images: np.ndarray,
                              settings: ContrastiveSettings = ContrastiveSettings(), *,
                              jit_compile: bool | str = "auto", verbose: int = 0, stream=None,
                              callbacks: list | None = None) -> tuple[Any, dict]:
    """Trains an encoder with NT-Xent on uint8 images [N, H, W, C]; returns (encoder, report).

    Args:
      train_images, test_images: uint8 [N, H, W, C], as `classifier.decode_split` returns them.
      jit_compile: XLA for the training step; "auto" leaves it to Keras (off without an accelerator).
      verbose: 1 prints the time estimates and a progress bar to `stream`.
      callbacks: more Keras callbacks for `fit`.

    Returns:
      The encoder (images -> features) and a report: retrieval accuracy on the test split
      trained and untrained, with its image count and chance level; the loss and training
      accuracy per epoch; steps, wall time, XLA, and with `verbose` the two time estimates.
    """
    stream = stream or sys.stdout
    for name, images in (("Training", train_images), ("Test", test_images)):
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ContrastiveError(f"{name} images must be uint8 [N, H, W, C]; got {images.dtype} {images.shape}.")
    check_trainable(len(train_images), len(test_images), settings, where="The data")
    started = time.perf_counter()
    keras.utils.set_random_seed(settings.seed)
    encoder, head = _build_networks(settings, train_images.shape[1:])
    untrained = retrieval_accuracy(encoder, test_images, settings)
    steps_per_epoch = len(train_images) // settings.batch_size
    total_steps = steps_per_epoch * settings.epochs
    warmup = min(int(round(settings.warmup_epochs * steps_per_epoch)), total_steps // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else settings.learning_rate, decay_steps=max(1, total_steps - warmup), alpha=0.0,
        warmup_target=settings.learning_rate if warmup else None, warmup_steps=warmup)
    trainer = ContrastiveTrainer(encoder, head, settings.temperature, name="contrastive_trainer")
    trainer.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=settings.weight_decay),
                    jit_compile=jit_compile)
    trainer.optimizer.build(trainer.trainable_variables)  # now, or the first step creates them and traces twice
    fit_callbacks, progress = [], None
    if verbose:
        progress = classifier_lib._Progress(settings.epochs, steps_per_epoch, stream, batch_size=settings.batch_size,
                                            early_stopping=False)
        fit_callbacks.append(progress)
    fit_callbacks.extend(callbacks or [])
    history = trainer.fit(_train_pipeline(train_images, settings), epochs=settings.epochs,
                          steps_per_epoch=steps_per_epoch, callbacks=fit_callbacks, verbose=0)
    train_seconds = time.perf_counter() - started
    trained = retrieval_accuracy(encoder, test_images, settings)
    report = {
        "retrieval_accuracy": trained["accuracy"],
        "retrieval_accuracy_untrained": untrained["accuracy"],
        "retrieval_images": trained["images"],
        "retrieval_candidates": trained["candidates"],
        "retrieval_chance": trained["chance"],
        "epochs_trained": len(history.history.get("loss", [])),
        "steps": int(total_steps),
        "num_train": int(len(train_images)),
        "num_test": int(len(test_images)),
        "history": {key: [round(float(v), 6) for v in values] for key, values in history.history.items()},
        "train_seconds": round(train_seconds, 1),
        "jit_compile": bool(trainer.jit_compile),
        "projection_head_saved": False,
    }
    if progress is not None and progress.estimate is not None:
        report["estimated_seconds"] = round(progress.estimate["estimated_seconds"], 1)
    if progress is not None and progress.epoch_estimate is not None:
        report["estimated_seconds_after_first_epoch"] = round(progress.epoch_estimate["estimated_seconds"], 1)
    return encoder, report


# --------------------------------------------------------------------------- files


def save_encoder(encoder, path: str, *, dataset_checksum: str | None, fingerprint: str,
                 settings: ContrastiveSettings, report: dict) -> dict:
    """Saves the encoder as `<path>` (.keras; the projection head is not saved) and its sidecar."""
    info = dict(report)
    info.update({"dataset_checksum": dataset_checksum, "fingerprint": fingerprint, "kind": "contrastive",
                 "image_shape": list(encoder.input_shape[1:]), "feature_dim": int(encoder.output_shape[-1]),
                 "settings": settings.as_dict(), "augmentation": AUGMENTATION_CONSTANTS})
    try:
        return classifier_lib.save_with_sidecar(encoder, path, info, what="Contrastive encoder")
    except classifier_lib.ClassifierError as error:
        raise ContrastiveError(str(error)) from None


def load_encoder(path: str) -> tuple[Any, dict]:
    """(encoder, sidecar info); the encoder is loaded with safe_mode=True."""
    try:
        return classifier_lib.load_with_sidecar(path, what="contrastive encoder",
                                                how="train one with get_or_train_contrastive()")
    except classifier_lib.ClassifierError as error:
        raise ContrastiveError(str(error)) from None


def get_or_train_contrastive(data: str | None, path: str, settings: ContrastiveSettings | None = None, *,
                             image_size=None, channels: int | None = None, jit_compile: bool | str = "auto",
                             verbose: int = 1, stream=None) -> tuple[Any, dict]:
    """The contrastive encoder of dataset `data` at `path`: reused when its manifest checksum and
    fingerprint match, else trained on the train split (labels, if any, unused) and saved there.

    `data` is what `common.data.reader.load_dataset` takes (None = offline default dataset); it
    needs a train split of at least `settings.batch_size` images and a test split. Every
    check runs before anything is decoded or trained.
    """
    from common.data import reader as data_lib
    from common.evaluation.reference_stats import dataset_checksum

    settings = settings or ContrastiveSettings()
    info = data_lib.describe(data)
    where = "The default dataset" if data is None else f"Dataset {data!r}"
    counts = info.num_examples or {}
    if "train" not in counts:
        check_trainable(0, None, settings, where=where)
    if counts.get("train") is not None:  # a manifest knows the counts: check before decoding
        check_trainable(counts["train"], counts.get("test"), settings, where=where)
    checksum = dataset_checksum(data)
    shape = classifier_lib.split_image_shape(data, image_size=image_size, channels=channels)
    fingerprint = contrastive_fingerprint(settings, shape)
    saved = classifier_lib.read_sidecar(path)
    if saved is not None and saved.get("dataset_checksum") == checksum and saved.get("fingerprint") == fingerprint:
        return load_encoder(path)
    train_images, _ = classifier_lib.decode_split(data, "train", image_size=image_size, channels=channels,
                                                  with_labels=False)
    test_images, _ = classifier_lib.decode_split(data, "test", image_size=image_size, channels=channels,
                                                 with_labels=False)
    encoder, report = train_contrastive_encoder(train_images, test_images, settings, jit_compile=jit_compile,
                                                verbose=verbose, stream=stream)
    sidecar = save_encoder(encoder, path, dataset_checksum=checksum, fingerprint=fingerprint, settings=settings,
                           report=report)
    return encoder, sidecar


def contrastive_features(encoder, *, name: str | None = None, info: dict | None = None) -> FeatureExtractor:
    """FeatureExtractor over a contrastive encoder's "features" (no class probabilities, so no Inception Score).

    The name holds the encoder's fingerprint and a digest of the sidecar `info` when
    given, so reference statistics of different encoders never mix. Generated images
    are resized bilinearly to the encoder's input size when they differ.
    """
    if name is None:
        name = "contrastive-encoder"
        if info:
            if info.get("fingerprint"):
                name += f"-{info['fingerprint']}"
            name += "-" + hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:8]
    height, width, channels = encoder.input_shape[1:]
    return FeatureExtractor(encoder, name=name, input_size=(height, width), channels=channels)
