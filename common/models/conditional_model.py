"""`ConditionalAdversarialModel`: the generator/discriminator pair of the class-conditional apps.

The generator takes ``[z, labels]`` (z float32 [B, latent_dim], labels int32
[B] in [0, K)) and returns images in [-1, 1]. What the discriminator takes and
returns differs by paper, so the step asks the subclass three things:

- `discriminate(images, labels, training)`: D's outputs on a batch of images of
  the given classes (CGAN and the projection discriminator take the label, AC-GAN
  and ADC-GAN's heads read it only in the loss);
- `discriminator_objective(real_outputs, fake_outputs, real_labels, fake_labels)`
  -> (reported adversarial loss, total loss to minimise, {extra metrics});
- `generator_objective(outputs, labels)` -> (reported adversarial loss, total
  loss to minimise, {extra metrics});

plus `source_logits(outputs)`, the real/fake logits that ``d_real`` and
``d_fake`` report through `output_statistic`. The defaults (D takes
``[images, labels]`` and returns one logit, the adversarial loss of
`discriminator_loss` / `generator_loss`) are CGAN's.

The step is `AdversarialModel.train_step`'s alternating update with labels:
real images come with their dataset labels; generated images are drawn for
labels balanced within each replica's batch (`common.models.gan_step.replica_balanced_labels`),
with z from the config's prior (``latent_distribution``: "normal" N(0, I) or
"uniform" U[0, 1)). With ``reuse_fakes`` the generator update reuses the
discriminator update's fakes (same z and labels), else it draws both afresh.

With ``d_steps = k > 1`` (a config field, default 1) a step is k discriminator
updates then one generator update, as in GAN's Algorithm 1 (`apps.gan.model`)
and BigGAN-PyTorch's ``num_D_steps``: the real batch is split into k parts of
m = B / k images (with their labels), each discriminator update reads its own
part and m generated images of fresh labels and z, and the generator update
draws m fresh labels and z of its own (``reuse_fakes`` must then be off). Per
update the draws come in the same order as with k = 1: labels, then z. The
reported discriminator metrics are means over the k updates.

With ``accumulate = N > 1`` (a config field, default 1; BigGAN-PyTorch's
``num_D_accumulations`` and ``num_G_accumulations``, one N for both) each
update's batch is split into N micro-batches whose gradients are averaged
before the one optimizer step: a batch too large for memory takes the step of
the whole batch. Each discriminator update's m real images (m = B with one D
step, B / k with k) are split into N parts of m / N; the update's m labels and
z are drawn for the whole update, in the order of the unsplit step, and split
alike; each micro-batch generates its m / N fakes (no tape), runs D on its
real and fake part and differentiates its loss divided by N, and the summed
gradients make one D update. The generator update draws its m labels and z,
then accumulates N micro-batches the same way before one G update (and one
EMA update). So the draws, the losses' means and the updates are those of the
unsplit step; ``batch_size`` must be a multiple of k * N (per replica, checked
when the step is traced), and ``reuse_fakes`` must be off (the reused fakes
would keep every micro-batch's generator activations alive). What is not the
unsplit step's, as in BigGAN-PyTorch:

- batch normalisation: each micro-batch normalises with its own statistics
  (of m / N images), and the moving statistics are updated once per
  micro-batch (N times per update, each with the layer's momentum);
- spectral normalisation: one power-method step per training-mode forward
  call, as without accumulation, so ``u`` takes N times as many steps per
  update, and micro-batch j computes with the ``sigma`` estimate after j of
  them.

Networks with neither take the unsplit step up to rounding (tested). The
reported losses, ``d_real``/``d_fake`` and extra metrics are means over the
micro-batches (equal to the unsplit batch's means); the gradient norms are
those of the accumulated gradients.

Extra metrics are named in the subclass's ``TRACKED`` (after the shared ones)
and reported like the others (`keras.metrics.Mean`, averaged across replicas).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from common.models import gan_step
from common.models.adversarial_model import AdversarialModel
from common.nn import losses

__all__ = ["LATENT_DISTRIBUTIONS", "ConditionalAdversarialModel", "check_batch_split", "check_fields", "positive_int"]

LATENT_DISTRIBUTIONS = ("normal", "uniform")


def positive_int(name: str, value) -> None:
    """Raises ValueError unless ``value`` is an int >= 1 (not a bool)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def check_fields(config, *, positive_ints=(), positive=(), unit_interval=(), losses_allowed=()) -> None:
    """The field checks the class-conditional configs share; each error names the field and its value.

    ``num_classes`` must be at least 2, ``channels`` 1 or 3, ``loss`` one of ``losses_allowed``; the
    fields named in ``positive_ints`` positive integers, in ``positive`` > 0, in ``unit_interval`` in [0, 1).
    """
    for name in positive_ints:
        positive_int(name, getattr(config, name))
    if config.num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 for a class-conditional model; got {config.num_classes}.")
    if config.channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {config.channels!r}.")
    if config.loss not in losses_allowed:
        raise ValueError(f"loss must be one of {', '.join(losses_allowed)}; got {config.loss!r}.")
    for name in positive:
        if not getattr(config, name) > 0:
            raise ValueError(f"{name} must be > 0; got {getattr(config, name)!r}.")
    for name in unit_interval:
        if not 0.0 <= getattr(config, name) < 1.0:
            raise ValueError(f"{name} must be in [0, 1); got {getattr(config, name)!r}.")


def check_batch_split(batch_size: int, d_steps: int, accumulate: int, reuse_fakes: bool) -> None:
    """Raises ValueError unless a step's batch splits into ``d_steps`` updates of ``accumulate`` micro-batches.

    See `ConditionalAdversarialModel`: each discriminator update reads batch_size / d_steps real images
    in ``accumulate`` equal micro-batches, and reusing the discriminator update's fakes for the generator
    update needs one update of one batch.
    """
    if batch_size % d_steps:
        raise ValueError(
            f"batch_size ({batch_size}) must be a multiple of d_steps ({d_steps}): each of the k discriminator "
            f"updates uses batch_size / k real images. Use e.g. --batch_size={d_steps * max(1, batch_size // d_steps)}.")
    if d_steps > 1 and reuse_fakes:
        raise ValueError(f"d_steps={d_steps} draws fresh z and labels for the generator update; "
                         "pass --reuse_fakes=false.")
    parts = d_steps * accumulate
    if batch_size % parts:
        raise ValueError(
            f"batch_size ({batch_size}) must be a multiple of d_steps * accumulate ({d_steps} * {accumulate} = "
            f"{parts}): each discriminator update reads batch_size / d_steps real images in accumulate equal "
            f"micro-batches. Use e.g. --batch_size={parts * max(1, batch_size // parts)}.")
    if accumulate > 1 and reuse_fakes:
        raise ValueError(f"accumulate={accumulate} generates the generator update's fakes micro-batch by "
                         "micro-batch; pass --reuse_fakes=false.")


class ConditionalAdversarialModel(AdversarialModel):
    """A class-conditional generator and its discriminator; see the module docstring.

    Args:
      generator: Model [z [B, latent_dim], labels [B]] -> images [B, H, W, C] in [-1, 1].
      discriminator: Model read by `discriminate`.
      config: App config with ``num_classes``, ``latent_dim``, ``seed``, ``ema_decay``,
        ``reuse_fakes`` and optionally ``latent_distribution`` (default "normal"), ``d_steps``
        (default 1), ``accumulate`` (micro-batches per update, default 1) and ``batch_size``
        (checked against them when present).
      **kwargs: `keras.Model` arguments.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, config, **kwargs):
        if float(getattr(config, "r1_gamma", 0.0)) > 0:
            raise ValueError("The class-conditional step has no R1 penalty; set r1_gamma=0.")
        super().__init__(generator, discriminator, config, **kwargs)
        self.num_classes = int(config.num_classes)
        self.latent_distribution = getattr(config, "latent_distribution", "normal")
        if self.latent_distribution not in LATENT_DISTRIBUTIONS:
            raise ValueError(f"latent_distribution must be one of {', '.join(LATENT_DISTRIBUTIONS)}; "
                             f"got {self.latent_distribution!r}.")
        self.d_steps = getattr(config, "d_steps", 1)
        if not isinstance(self.d_steps, int) or isinstance(self.d_steps, bool) or self.d_steps < 1:
            raise ValueError(f"d_steps must be a positive integer; got {self.d_steps!r}.")
        if self.d_steps > 1 and config.reuse_fakes:
            raise ValueError(f"d_steps={self.d_steps} draws fresh z and labels for the generator update; "
                             "set reuse_fakes=False.")
        self.accumulate = getattr(config, "accumulate", 1)
        if not isinstance(self.accumulate, int) or isinstance(self.accumulate, bool) or self.accumulate < 1:
            raise ValueError(f"accumulate must be a positive integer; got {self.accumulate!r}.")
        if self.accumulate > 1 and config.reuse_fakes:
            raise ValueError(f"accumulate={self.accumulate} generates the generator update's fakes micro-batch "
                             "by micro-batch; set reuse_fakes=False.")
        batch_size = getattr(config, "batch_size", None)
        if batch_size is not None:
            self._check_batch_size(batch_size, "batch_size")

    def _check_batch_size(self, batch_size, what):
        """Refuses a batch that the k discriminator updates and N micro-batches cannot split evenly."""
        parts = self.d_steps * self.accumulate
        if parts > 1 and batch_size % parts:
            raise ValueError(
                f"{what} ({batch_size}) must be a multiple of d_steps * accumulate ({self.d_steps} * "
                f"{self.accumulate} = {parts}): each discriminator update reads batch_size / d_steps real images "
                f"in accumulate equal micro-batches. Use e.g. a batch of {parts * max(1, batch_size // parts)}.")

    def sample(self, z, labels, training=False):
        """Images in [-1, 1] of classes `labels` [B] for latents z [B, latent_dim], from the EMA generator when kept."""
        generator = self.ema.shadow if self.ema is not None else self.generator
        return generator([z, labels], training=training)

    def _latents(self, batch_size):
        if self.latent_distribution == "uniform":
            return gan_step.replica_latents_uniform(self.seed_generator, batch_size, self.latent_dim)
        return super()._latents(batch_size)

    def _fake_labels(self, batch_size):
        return gan_step.replica_balanced_labels(self.seed_generator, batch_size, self.num_classes)

    # --- what the subclasses change -------------------------------------------------

    def discriminate(self, images, labels, training=True):
        """D's outputs on `images` of classes `labels`; by default D takes [images, labels]."""
        return self.discriminator([images, labels], training=training)

    def source_logits(self, outputs):
        """The real/fake logits among D's outputs (reported as d_real / d_fake)."""
        return outputs

    def discriminator_objective(self, real_outputs, fake_outputs, real_labels, fake_labels):
        """(adversarial loss, total loss, {metric: value}) of the discriminator step."""
        d_loss = self.discriminator_loss(self.source_logits(real_outputs), self.source_logits(fake_outputs))
        return d_loss, d_loss, {}

    def generator_objective(self, outputs, labels):
        """(adversarial loss, total loss, {metric: value}) of the generator step."""
        g_loss = self.generator_loss(self.source_logits(outputs))
        return g_loss, g_loss, {}

    # --- the step -------------------------------------------------------------------

    def train_step(self, batch):
        """One alternating update on a batch of labelled real images; see the module docstring."""
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        real_images, real_labels = batch["image"], ops.cast(batch["label"], "int32")
        if self.accumulate > 1:
            replica_batch = real_images.shape[0]
            if replica_batch is not None:
                self._check_batch_size(replica_batch, "The batch of each replica")
            return self._accumulated_step(real_images, real_labels)
        if self.d_steps > 1:
            return self._multi_step(real_images, real_labels)
        batch_size = ops.shape(real_images)[0]
        reuse_fakes = self.config.reuse_fakes

        # 1. Labels and z -> G(z, y); recorded for the generator's gradient when step 3 reuses it.
        fake_labels = self._fake_labels(batch_size)
        g_tape = tf.GradientTape()
        if reuse_fakes:
            with g_tape:
                fake_images = self.generator([self._latents(batch_size), fake_labels], training=True)
        else:
            fake_images = self.generator([self._latents(batch_size), fake_labels], training=True)

        # 2. Discriminator step.
        real_outputs, fake_outputs, d_loss, d_extra, d_grad_norm = self._discriminator_update(
            real_images, real_labels, fake_images, fake_labels)

        # 3. Generator step through the updated discriminator.
        with g_tape:
            if reuse_fakes:
                generated_images, generated_labels = fake_images, fake_labels
            else:
                generated_labels = self._fake_labels(batch_size)
                generated_images = self.generator([self._latents(batch_size), generated_labels], training=True)
            generated_outputs = self.discriminate(generated_images, generated_labels, training=True)
            g_loss, g_total, g_extra = self.generator_objective(generated_outputs, generated_labels)
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_total))
        g_weights = self.generator.trainable_weights
        g_gradients = g_tape.gradient(g_scaled, g_weights)
        g_grad_norm = gan_step.unscaled_global_norm(g_gradients, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))
        self.update_ema()

        # 4. Metrics.
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(self.output_statistic(self.source_logits(real_outputs)))
        self.d_fake_tracker.update_state(self.output_statistic(self.source_logits(fake_outputs)))
        gan_step.update_if_finite(self.d_grad_norm_tracker, d_grad_norm)
        gan_step.update_if_finite(self.g_grad_norm_tracker, g_grad_norm)
        for name, value in {**d_extra, **g_extra}.items():
            getattr(self, f"{name}_tracker").update_state(value)
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def _discriminator_update(self, real_images, real_labels, fake_images, fake_labels):
        """One discriminator update; returns (real outputs, fake outputs, d_loss, extra metrics, gradient norm)."""
        with tf.GradientTape() as tape:
            real_outputs = self.discriminate(real_images, real_labels, training=True)
            fake_outputs = self.discriminate(fake_images, fake_labels, training=True)
            d_loss, d_total, d_extra = self.discriminator_objective(real_outputs, fake_outputs, real_labels,
                                                                    fake_labels)
            d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_total))
        d_weights = self.discriminator.trainable_weights
        d_gradients = tape.gradient(d_scaled, d_weights)
        d_grad_norm = gan_step.unscaled_global_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))
        return real_outputs, fake_outputs, d_loss, d_extra, d_grad_norm

    def _multi_step(self, real_images, real_labels):
        """k = ``d_steps`` discriminator updates on B / k real images each, then one generator update."""
        image_parts = ops.split(real_images, self.d_steps, axis=0)
        label_parts = ops.split(real_labels, self.d_steps, axis=0)
        m = ops.shape(image_parts[0])[0]

        # 1. k discriminator updates, each on its own real part and fresh labels and z.
        for part_images, part_labels in zip(image_parts, label_parts):
            fake_labels = self._fake_labels(m)
            fake_images = self.generator([self._latents(m), fake_labels], training=True)
            real_outputs, fake_outputs, d_loss, d_extra, d_grad_norm = self._discriminator_update(
                part_images, part_labels, fake_images, fake_labels)
            self.d_loss_tracker.update_state(d_loss)
            self.d_real_tracker.update_state(self.output_statistic(self.source_logits(real_outputs)))
            self.d_fake_tracker.update_state(self.output_statistic(self.source_logits(fake_outputs)))
            gan_step.update_if_finite(self.d_grad_norm_tracker, d_grad_norm)
            for name, value in d_extra.items():
                getattr(self, f"{name}_tracker").update_state(value)

        # 2. Generator update on m fresh labels and z, through the updated discriminator.
        with tf.GradientTape() as tape:
            generated_labels = self._fake_labels(m)
            generated_images = self.generator([self._latents(m), generated_labels], training=True)
            generated_outputs = self.discriminate(generated_images, generated_labels, training=True)
            g_loss, g_total, g_extra = self.generator_objective(generated_outputs, generated_labels)
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_total))
        g_weights = self.generator.trainable_weights
        g_gradients = tape.gradient(g_scaled, g_weights)
        gan_step.update_if_finite(self.g_grad_norm_tracker,
                                  gan_step.unscaled_global_norm(g_gradients, self.g_optimizer))
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))
        self.update_ema()

        # 3. Metrics.
        self.g_loss_tracker.update_state(g_loss)
        for name, value in g_extra.items():
            getattr(self, f"{name}_tracker").update_state(value)
        return {tracker.name: tracker.result() for tracker in self.metrics}

    # --- gradient accumulation ------------------------------------------------------

    def _accumulated_gradients(self, micro_batch_loss, weights, optimizer, parts):
        """Sums the gradients of ``micro_batch_loss(j) / N`` over the N micro-batches j.

        ``micro_batch_loss(j)`` runs micro-batch j's forward pass and returns (total loss, values to
        average); returns (summed gradients, [the N values]).
        """
        gradients, values = None, []
        for j in range(parts):
            with tf.GradientTape() as tape:
                total, value = micro_batch_loss(j)
                scaled = optimizer.scale_loss(losses.scale_for_replicas(total) / parts)
            part_gradients = [gan_step.dense_gradient(g) for g in tape.gradient(scaled, weights)]
            gradients = part_gradients if gradients is None else [
                b if a is None else (a if b is None else a + b) for a, b in zip(gradients, part_gradients)]
            values.append(value)
        return gradients, values

    def _accumulated_discriminator_update(self, real_images, real_labels, latents, fake_labels):
        """One D update over N micro-batches; returns (real outputs, fake outputs, d_loss, extra, gradient norm)."""
        parts = self.accumulate
        real_image_parts = ops.split(real_images, parts, axis=0)
        real_label_parts = ops.split(real_labels, parts, axis=0)
        latent_parts = ops.split(latents, parts, axis=0)
        fake_label_parts = ops.split(fake_labels, parts, axis=0)

        def micro_batch_loss(j):
            fake_images = tf.stop_gradient(self.generator([latent_parts[j], fake_label_parts[j]], training=True))
            real_outputs = self.discriminate(real_image_parts[j], real_label_parts[j], training=True)
            fake_outputs = self.discriminate(fake_images, fake_label_parts[j], training=True)
            d_loss, d_total, d_extra = self.discriminator_objective(real_outputs, fake_outputs, real_label_parts[j],
                                                                    fake_label_parts[j])
            return d_total, (real_outputs, fake_outputs, d_loss, d_extra)

        d_weights = self.discriminator.trainable_weights
        d_gradients, values = self._accumulated_gradients(micro_batch_loss, d_weights, self.d_optimizer, parts)
        d_grad_norm = gan_step.unscaled_global_norm(d_gradients, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_weights))
        real_outputs = tf.nest.map_structure(lambda *t: ops.concatenate(t, axis=0), *[v[0] for v in values])
        fake_outputs = tf.nest.map_structure(lambda *t: ops.concatenate(t, axis=0), *[v[1] for v in values])
        d_loss = ops.mean(ops.stack([v[2] for v in values]))
        d_extra = {name: ops.mean(ops.stack([v[3][name] for v in values])) for name in values[0][3]}
        return real_outputs, fake_outputs, d_loss, d_extra, d_grad_norm

    def _accumulated_step(self, real_images, real_labels):
        """k = ``d_steps`` discriminator updates, then one generator update, each over N = ``accumulate`` micro-batches."""
        image_parts = ops.split(real_images, self.d_steps, axis=0)
        label_parts = ops.split(real_labels, self.d_steps, axis=0)
        m = ops.shape(image_parts[0])[0]

        # 1. k discriminator updates, each on its own real part and fresh labels and z (drawn whole, then split).
        for part_images, part_labels in zip(image_parts, label_parts):
            fake_labels = self._fake_labels(m)
            latents = self._latents(m)
            real_outputs, fake_outputs, d_loss, d_extra, d_grad_norm = self._accumulated_discriminator_update(
                part_images, part_labels, latents, fake_labels)
            self.d_loss_tracker.update_state(d_loss)
            self.d_real_tracker.update_state(self.output_statistic(self.source_logits(real_outputs)))
            self.d_fake_tracker.update_state(self.output_statistic(self.source_logits(fake_outputs)))
            gan_step.update_if_finite(self.d_grad_norm_tracker, d_grad_norm)
            for name, value in d_extra.items():
                getattr(self, f"{name}_tracker").update_state(value)

        # 2. Generator update on m fresh labels and z, through the updated discriminator.
        generated_labels = self._fake_labels(m)
        latents = self._latents(m)
        label_parts = ops.split(generated_labels, self.accumulate, axis=0)
        latent_parts = ops.split(latents, self.accumulate, axis=0)

        def micro_batch_loss(j):
            generated_images = self.generator([latent_parts[j], label_parts[j]], training=True)
            generated_outputs = self.discriminate(generated_images, label_parts[j], training=True)
            g_loss, g_total, g_extra = self.generator_objective(generated_outputs, label_parts[j])
            return g_total, (g_loss, g_extra)

        g_weights = self.generator.trainable_weights
        g_gradients, values = self._accumulated_gradients(micro_batch_loss, g_weights, self.g_optimizer,
                                                          self.accumulate)
        gan_step.update_if_finite(self.g_grad_norm_tracker,
                                  gan_step.unscaled_global_norm(g_gradients, self.g_optimizer))
        self.g_optimizer.apply_gradients(zip(g_gradients, g_weights))
        self.update_ema()

        # 3. Metrics.
        self.g_loss_tracker.update_state(ops.mean(ops.stack([v[0] for v in values])))
        for name in values[0][1]:
            getattr(self, f"{name}_tracker").update_state(ops.mean(ops.stack([v[1][name] for v in values])))
        return {tracker.name: tracker.result() for tracker in self.metrics}
