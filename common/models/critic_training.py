"""Training a generator against a critic that takes several updates per generator update.

Wasserstein GANs update the critic ``n_critic`` times per generator update, each
time on its own batch of real images: Arjovsky et al. 2017, "Wasserstein GAN"
(https://arxiv.org/abs/1701.07875, Algorithm 1: n_critic = 5, and 100 for the
first 25 generator iterations and every 500th one in the authors' code), and
Gulrajani et al. 2017, "Improved Training of Wasserstein GANs"
(https://arxiv.org/abs/1704.00028, Algorithm 1: n_critic = 5).

What lives here, shared by apps/wgan and apps/wgan_gp:

- `CriticSchedule`: how many critic updates generator step g takes.
- `group_critic_batches` / `critic_dataset_fn`: a dataset whose element for
  generator step g holds that many real batches, critic axis second:
  ``image`` [B, K, H, W, C]. Keras splits the batch axis across replicas, so
  every replica gets its own rows of each of the K batches.
- `run_critic_steps`: runs K critic updates inside one traced ``train_step``.
  A static K (constant schedule) is unrolled in the graph, which works under
  every `tf.distribute` strategy; a dynamic K (a schedule that changes) is a
  `tf.while_loop`, which reads exactly K batches per step.
- `CriticGAN`: the `keras.Model` both apps subclass; it runs the critic loop and
  the generator update and reports the Wasserstein estimate. A subclass
  supplies the critic's objective (`critic_objective`).
- `WeightClip` / `clip_weights`: WGAN's weight clipping as a Keras constraint,
  which the optimizer applies right after each update (Algorithm 1, line 7).
- `interpolated_gradient_penalty`: WGAN-GP's penalty with the model's noise,
  one interpolation factor per example drawn per replica from one global draw,
  and a float16-safe inner gradient (WGAN-GP, ProGAN).

Limitation: a `tf.while_loop` cannot contain the cross-replica synchronisation
that `MirroredStrategy` with its default reduction (`merge_call`) needs for
optimizer updates and synchronised batch normalisation, so a changing schedule
runs on one device; with a constant schedule every strategy works.
`check_schedule_for_strategy` refuses the combination before training.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import tensorflow as tf
from keras import ops

from common.nn import losses
from common.models.adversarial_model import AdversarialModel
from common.models.gan_step import replica_rows

FLOAT16_PENALTY_SCALE = 2.0**8
"""Factor on the critic's score inside the penalty's inner gradient under float16 (a power of two: exact)."""


def interpolated_gradient_penalty(critic_fn: Callable, real_images, fake_images, seed_generator, *,
                                  compute_dtype: str, one_sided: bool = False):
    """Unweighted WGAN-GP penalty E[(||grad_x_hat f(x_hat)||_2 - 1)^2] on this replica's batch, float32.

    x_hat = alpha x + (1 - alpha) G(z) with alpha ~ U[0, 1], one factor per example
    (Gulrajani et al. 2017, Algorithm 1, line 6), this replica's rows of one global
    draw from ``seed_generator`` (`common.models.gan_step.replica_rows`), so N replicas
    compute what one device computes for the global batch.

    Under float16 (``compute_dtype``) the inner gradient has no loss scaling, so the
    critic's score is multiplied by `FLOAT16_PENALTY_SCALE` before differentiating
    (and the target norm with it) and the result divided by its square: the same
    value up to float rounding, with the float16 backward pass 256 times away from
    underflow. ``one_sided`` penalises only norms above 1.
    """
    rank = len(real_images.shape)
    alpha = replica_rows(
        lambda n: keras.random.uniform((n,) + (1,) * (rank - 1), 0.0, 1.0, dtype="float32", seed=seed_generator),
        ops.shape(real_images)[0])
    scale = FLOAT16_PENALTY_SCALE if compute_dtype == "float16" else 1.0

    def scaled_critic(x):
        return ops.cast(critic_fn(x), "float32") * scale

    penalty = losses.gradient_penalty(scaled_critic, real_images, fake_images, alpha, one_sided=one_sided,
                                      target=scale)
    return penalty / (scale * scale)  # (scale * ||g|| - scale)^2 / scale^2 = (||g|| - 1)^2

__all__ = [
    "CriticSchedule",
    "WeightClip",
    "clip_weights",
    "group_critic_batches",
    "critic_dataset_fn",
    "check_schedule_for_strategy",
    "num_examples_fn",
    "run_critic_steps",
    "CriticGAN",
    "FLOAT16_PENALTY_SCALE",
    "interpolated_gradient_penalty",
]


# --- Schedule ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CriticSchedule:
    """Critic updates per generator step.

    ``steps_at(g)`` is ``warmup_critic_steps`` when ``g < warmup_steps`` or
    ``boost_every > 0 and g % boost_every == 0``, else ``critic_steps``
    (WGAN's code: ``Diters = 100 if gen_iterations < 25 or gen_iterations % 500 == 0 else 5``).

    Attributes:
      critic_steps: Critic updates of an ordinary generator step (n_critic).
      warmup_steps: Generator steps at the start that take ``warmup_critic_steps``.
      warmup_critic_steps: Critic updates of a warm-up or boosted generator step.
      boost_every: Every this many generator steps (0: never), one boosted step.
    """

    critic_steps: int = 5
    warmup_steps: int = 0
    warmup_critic_steps: int = 100
    boost_every: int = 0

    def __post_init__(self):
        for name in ("critic_steps", "warmup_critic_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer (critic updates per generator step); "
                                 f"got {value!r}.")
        for name in ("warmup_steps", "boost_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0 (0 turns it off); got {value!r}.")

    @property
    def is_constant(self) -> bool:
        """True when every generator step takes ``critic_steps`` critic updates."""
        varies = (self.warmup_steps > 0 or self.boost_every > 0) and self.warmup_critic_steps != self.critic_steps
        return not varies

    def steps_at(self, generator_step):
        """Critic updates of generator step ``generator_step`` (a Python int or an int64 tensor)."""
        if isinstance(generator_step, int):
            boosted = generator_step < self.warmup_steps or (
                self.boost_every > 0 and generator_step % self.boost_every == 0)
            return self.warmup_critic_steps if boosted else self.critic_steps
        step = tf.cast(generator_step, tf.int64)
        boosted = step < self.warmup_steps
        if self.boost_every > 0:
            boosted = tf.logical_or(boosted, tf.equal(step % self.boost_every, 0))
        return tf.where(boosted, tf.constant(self.warmup_critic_steps, tf.int64),
                        tf.constant(self.critic_steps, tf.int64))


# --- Weight clipping (Arjovsky et al. 2017) ------------------------------------------


class WeightClip(keras.constraints.Constraint):
    """Clips every weight to [-clip_value, clip_value] (WGAN, Algorithm 1, line 7).

    As a constraint it is applied by the optimizer right after each update of
    the variable, inside the optimizer's own (distribution-aware) update.
    """

    def __init__(self, clip_value: float):
        if not clip_value > 0:
            raise ValueError(f"clip_value must be > 0; got {clip_value!r}.")
        self.clip_value = float(clip_value)

    def __call__(self, w):
        return ops.clip(w, -self.clip_value, self.clip_value)

    def get_config(self):
        return {"clip_value": self.clip_value}


def clip_weights(network: keras.Model, clip_value: float) -> keras.Model:
    """Clips every trainable variable of ``network`` now and after each of its updates; returns it.

    The variables are clipped at once (so the bound holds from the start, also
    when the first updates are skipped, as a `LossScaleOptimizer` does on
    non-finite gradients; the authors' code clamps before every critic update,
    the initial weights included) and get a `WeightClip` constraint, which the
    optimizer applies after each update. Non-trainable variables (batch-norm
    moving statistics) are not parameters of the critic and are not clipped, as
    in the paper's code.
    """
    constraint = WeightClip(clip_value)
    for variable in network.trainable_variables:
        variable.constraint = constraint
        variable.assign(constraint(variable))
    return network


# --- Data ----------------------------------------------------------------------------


def group_critic_batches(dataset: tf.data.Dataset, schedule: CriticSchedule,
                         elements_per_step: int = 1) -> tf.data.Dataset:
    """Groups a dataset of batches into one element per generator step, critic axis second.

    Args:
      dataset: Elements are dicts (or tensors) of batches, [B, ...].
      schedule: The critic schedule; element g holds ``schedule.steps_at(g)`` batches.
      elements_per_step: Consecutive elements that belong to the same generator
        step (replicas fed by one input pipeline each take one element per step).

    Returns:
      A dataset whose tensors are [B, K, ...]: batch b of critic update k is
      ``element[:, k]``. K is static for a constant schedule, else dynamic.
    """
    def swap(tensor):  # [K, B, ...] -> [B, K, ...]; any dtype (captions are strings)
        return tf.transpose(tensor, [1, 0, *range(2, tensor.shape.rank)])

    if schedule.is_constant:
        grouped = dataset.batch(schedule.critic_steps, drop_remainder=True)
        return grouped.map(lambda element: tf.nest.map_structure(swap, element))

    per_step = tf.constant(elements_per_step, tf.int64)

    def label(state, element):
        index, used = state  # output element index, batches already in it
        size = schedule.steps_at(index // per_step)
        full = tf.equal(used + 1, size)
        new_state = (tf.where(full, index + 1, index), tf.where(full, tf.constant(0, tf.int64), used + 1))
        return new_state, (index, element)

    labelled = dataset.scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), label)
    grouped = labelled.group_by_window(
        key_func=lambda index, element: index,
        reduce_func=lambda index, window: window.map(lambda i, element: element).batch(
            max(schedule.warmup_critic_steps, schedule.critic_steps)),
        window_size_func=lambda index: schedule.steps_at(index // per_step),
    )
    return grouped.map(lambda element: tf.nest.map_structure(swap, element))


def critic_dataset_fn(dataset_fn: Callable, schedule: CriticSchedule) -> Callable:
    """Wraps a runtime `DatasetFn` (per-replica batches) into one of grouped critic batches."""

    def grouped_dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_pipeline = max(1, input_context.num_replicas_in_sync // input_context.num_input_pipelines)
        return group_critic_batches(dataset_fn(input_context), schedule, elements_per_step=per_pipeline)

    return grouped_dataset_fn


def check_schedule_for_strategy(schedule: CriticSchedule, strategy: tf.distribute.Strategy) -> None:
    """Refuses a changing schedule under a multi-replica `MirroredStrategy` (see the module docstring).

    Raises:
      common.training.runtime.ConfigError, naming the flags that make the schedule constant.
    """
    from common.training.runtime import ConfigError

    if (isinstance(strategy, tf.distribute.MirroredStrategy) and strategy.num_replicas_in_sync > 1
            and not schedule.is_constant):
        raise ConfigError(
            "A changing critic schedule (warmup_steps or boost_every > 0) runs its critic updates in a "
            "tf.while_loop, which MirroredStrategy cannot synchronise. Pass --warmup_steps=0 --boost_every=0 "
            "(a constant --critic_steps) to train on several devices, or train on one device.")


def num_examples_fn(data, schedule: CriticSchedule) -> Callable[[], int]:
    """For ``--epochs``: training examples divided by ``critic_steps``, the batches of an ordinary step.

    One generator step reads ``schedule.steps_at(g)`` batches, so an epoch is about
    ``examples / (batch_size * critic_steps)`` steps (the warm-up and boosted steps
    read more and are not counted).
    """

    def num_examples() -> int:
        from common.data import reader as data_lib

        counts = data_lib.describe(data).num_examples or {}
        if not counts.get("train"):
            from common.training.runtime import ConfigError

            raise ConfigError(f"Cannot use --epochs: the number of training examples of {data!r} is unknown; "
                              "pass --steps instead.")
        return max(1, int(counts["train"]) // schedule.critic_steps)

    return num_examples


# --- The critic loop -------------------------------------------------------------------


def run_critic_steps(real_batches, critic_step: Callable, names):
    """Runs one critic update per real batch inside the traced train step.

    Args:
      real_batches: Dict (or tensor) of [B, K, ...] tensors; update k gets ``[:, k]``.
      critic_step: Callable(batch of [B, ...] tensors) -> dict of float32 scalars; it
        updates the critic and returns its statistics.
      names: The keys of ``critic_step``'s dict to average.

    Returns:
      (means, count): dict of each statistic's mean over the K updates, and K as float32.
    """
    first = tf.nest.flatten(real_batches)[0]
    static_count = first.shape[1]
    take = lambda k: tf.nest.map_structure(lambda t: t[:, k], real_batches)  # noqa: E731
    names = tuple(names)
    if static_count is not None:  # unrolled: any strategy can synchronise inside
        totals = [tf.constant(0.0)] * len(names)
        for k in range(static_count):
            stats = critic_step(take(k))
            totals = [total + ops.cast(stats[name], "float32") for total, name in zip(totals, names)]
        count = tf.constant(float(static_count))
    else:  # one tf.while_loop iteration per batch actually delivered
        def body(k, totals):
            stats = critic_step(take(k))
            return k + 1, tuple(total + ops.cast(stats[name], "float32") for total, name in zip(totals, names))

        dynamic_count = tf.shape(first)[1]
        _, totals = tf.while_loop(lambda k, totals: k < dynamic_count, body,
                                  (tf.constant(0), tuple(tf.constant(0.0) for _ in names)))
        count = tf.cast(dynamic_count, "float32")
    return {name: total / count for name, total in zip(names, totals)}, count


# --- The model -----------------------------------------------------------------------------


class CriticGAN(AdversarialModel):
    """Generator trained against a critic with several critic updates per generator update.

    Args:
      generator: Model z [B, latent_dim] -> images [B, H, W, C] in [-1, 1].
      critic: Model images -> float32 scores [B, 1] (no sigmoid).
      config: App config with ``latent_dim``, ``seed`` and ``ema_decay``.
      **kwargs: `keras.Model` arguments.

    Subclasses implement ``critic_objective(real_images, fake_images, real_scores,
    fake_scores)`` -> (loss, extra statistics dict), evaluated inside the critic's
    gradient tape. The train step expects ``batch["image"]`` of shape [B, K, H, W, C]
    (`group_critic_batches`).
    """

    TRACKED = ("d_loss", "g_loss", "wasserstein_estimate", "critic_steps")

    extra_statistics: tuple = ()
    """Names of the extra statistics `critic_objective` returns (reported as means)."""

    def __init__(self, generator: keras.Model, critic: keras.Model, config, **kwargs):
        super().__init__(generator, critic, config, **kwargs)
        self.extra_trackers = {name: keras.metrics.Mean(name=name) for name in self.extra_statistics}

    @property
    def critic(self):
        """The discriminator of the model protocol, under the paper's name."""
        return self.discriminator

    @property
    def metrics(self):
        return [*super().metrics, *self.extra_trackers.values()]

    def critic_objective(self, real_images, fake_images, real_scores, fake_scores):
        raise NotImplementedError(f"{type(self).__name__} must define critic_objective.")

    def _critic_step(self, real_batch):
        """One critic update on one real batch [B, H, W, C] and a fresh fake batch."""
        real_images = real_batch["image"]
        fake_images = self.generator(self._latents(ops.shape(real_images)[0]), training=True)
        with tf.GradientTape() as tape:
            real_scores = ops.cast(self.critic(real_images, training=True), "float32")
            fake_scores = ops.cast(self.critic(fake_images, training=True), "float32")
            d_loss, extras = self.critic_objective(real_images, fake_images, real_scores, fake_scores)
            d_scaled = self.d_optimizer.scale_loss(losses.scale_for_replicas(d_loss))
        weights = self.critic.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_scaled, weights), weights))
        # E[f(x)] - E[f(G(z))] on this batch: the critic's estimate of the Wasserstein distance.
        wasserstein = ops.mean(real_scores) - ops.mean(fake_scores)
        return {"d_loss": d_loss, "wasserstein_estimate": wasserstein, **extras}

    def train_step(self, batch):
        """One generator step after K critic steps, K = the batch's critic axis.

        1. K critic updates (`run_critic_steps`), update k on real batch
           ``batch["image"][:, k]`` and fresh z; the critic's constraint (clipping)
           or penalty comes from `critic_objective` and the critic's variables.
        2. Generator update on fresh z: minimise ``-E[f(G(z))]``; then the EMA.
        3. Trackers: critic loss and Wasserstein estimate averaged over the K
           updates, generator loss, K.
        """
        if isinstance(batch, (tuple, list)):  # train_on_batch / fit(x=...) pack the dict as (x,)
            batch = batch[0]
        real_batches = {"image": batch["image"]}  # [B, K, H, W, C]
        batch_size = ops.shape(real_batches["image"])[0]

        # 1. Critic updates.
        critic_means, critic_count = run_critic_steps(
            real_batches, self._critic_step, ("d_loss", "wasserstein_estimate", *self.extra_statistics))

        # 2. Generator update.
        with tf.GradientTape() as tape:
            generated = self.generator(self._latents(batch_size), training=True)
            g_loss = losses.wasserstein_generator_loss(self.critic(generated, training=True))
            g_scaled = self.g_optimizer.scale_loss(losses.scale_for_replicas(g_loss))
        g_weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_scaled, g_weights), g_weights))
        if self.ema is not None:
            self.ema.update(self.generator)

        # 3. Metrics.
        self.d_loss_tracker.update_state(critic_means["d_loss"])
        self.wasserstein_estimate_tracker.update_state(critic_means["wasserstein_estimate"])
        self.g_loss_tracker.update_state(g_loss)
        self.critic_steps_tracker.update_state(critic_count)
        for name, tracker in self.extra_trackers.items():
            tracker.update_state(critic_means[name])
        return {tracker.name: tracker.result() for tracker in self.metrics}
