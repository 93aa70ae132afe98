"""Training-side pieces shared by the two-domain translation apps (CycleGAN, CSGAN).

- `unpaired_dataset_fn`: per-replica batches {"a": images A, "b": images B}
  from `common.data.reader.load_unpaired`, with CycleGAN's jitter (resize to
  `load_size`, random crop to `image_size`, random horizontal flip), read from
  `--data` or, without it, the offline default `two_domain` dataset
  (`common.data.default_datasets`).
- `paired_dataset_fn`: the same from `common.data.reader.load_paired`, where row i
  of "a" and "b" is one aligned pair with one crop and one flip; for apps whose
  config has `paired=True`, on datasets built with `tfrecords.build --paired`.
- `TranslationImageWriter`: every `every` steps writes two TensorBoard images,
  ``a_to_b`` (rows of real A | G(a) | F(G(a))) and ``b_to_a`` (rows of real B |
  F(b) | G(F(b))), for fixed test images (`fixed_images`).
- `train_options`: the `common.training.train_command` options that wire both into a run,
  plus optimizers whose learning-rate schedule knows the run's length.
- `main`: the train command of such an app (`common.training.train_command.main` with
  these options; without --data, --image_size defaults to the default
  dataset's 64).

The model protocol is that of `common.export.translator_export`: `model.translators()` ->
{"a_to_b": G, "b_to_a": F}.

No paper; no deviations.
"""

from __future__ import annotations

import math
import os
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from common.data import reader as data_lib
from common.training import distribute
from common.training import runtime

__all__ = ["main", "default_data_image_size", "resolve_data", "unpaired_dataset_fn", "paired_dataset_fn",
           "dataset_fn_for", "num_train_examples", "fixed_images", "TranslationImageWriter", "train_options"]

MAX_SAMPLE_ROWS = 4


def default_data_image_size(flag_values) -> None:
    """Without --data and --image_size, sets --image_size to the default dataset's 64 (its stored size).

    The paper's 256x256 stays the default for real data; upsampling the 64x64
    default images to 256 would only cost time.
    """
    from common.data.default_datasets import TWO_DOMAIN_SIZE

    if not flag_values["data"].value and not flag_values["image_size"].present:
        flag_values["image_size"].value = TWO_DOMAIN_SIZE


def resolve_data(data: str | None) -> str:
    """`data`, or the folder of the offline default two-domain dataset when it is None or empty."""
    if data:
        return data
    from common.data.default_datasets import default_dataset

    return default_dataset("two_domain")


def _jittered_dataset_fn(load: Callable, data: str, config, seed: int, batch_size: int):
    """InputContext -> `load(data, ...)` of the train split: repeated, shuffled, jittered, this replica's batch."""
    load_size = getattr(config, "resolved_load_size", None)

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        return load(
            data, split="train", seed=seed, image_size=config.image_size, channels=config.channels,
            random_crop_from=load_size if load_size and load_size > config.image_size else None,
            random_flip=True, batch_size=input_context.get_per_replica_batch_size(batch_size),
            shuffle=True, repeat=True, input_context=input_context)

    return dataset_fn


def unpaired_dataset_fn(data: str | None, config, seed: int, batch_size: int):
    """InputContext -> repeated, shuffled, jittered batches {"a", "b"} of this replica's share of `batch_size`.

    `config` provides image_size, channels and, when it has them,
    `resolved_load_size` (resize before the random crop) and random flips.
    """
    return _jittered_dataset_fn(data_lib.load_unpaired, resolve_data(data), config, seed, batch_size)


def paired_dataset_fn(data: str | None, config, seed: int, batch_size: int):
    """`unpaired_dataset_fn` for aligned pairs: row i of "a" and "b" is one stored pair, cropped and flipped alike.

    Raises DataError at once (before any model is built) unless `data` was
    built with `python -m tfrecords.build --paired`.
    """
    if not data:
        raise data_lib.DataError(
            "--paired trains on aligned pairs, and the offline default dataset (used without --data) holds two "
            "unpaired domains. Pass --data=<a dataset built with `python -m tfrecords.build --domains=a_dir,b_dir "
            "--paired --output=...`>, or drop --paired.")
    data_lib.check_paired(data)
    return _jittered_dataset_fn(data_lib.load_paired, data, config, seed, batch_size)


def dataset_fn_for(data: str | None, config, seed: int, batch_size: int):
    """`paired_dataset_fn` when `config.paired` is set, else `unpaired_dataset_fn`."""
    make = paired_dataset_fn if getattr(config, "paired", False) else unpaired_dataset_fn
    return make(data, config, seed, batch_size)


def num_train_examples(data: str | None) -> int:
    """Images in the larger training domain: one epoch of unpaired training (the reference code's rule).

    For a paired dataset both domains hold one image per pair, so this is the number of pairs.
    """
    info = data_lib.describe(resolve_data(data))
    split = ((info.manifest or {}).get("splits") or {}).get("train") or {}
    per_domain = split.get("per_domain") if isinstance(split, dict) else None
    if per_domain:
        return int(max(per_domain.values()))
    count = (info.num_examples or {}).get("train")
    if not count:
        raise runtime.ConfigError("Cannot use --epochs: the size of the training split is unknown; pass --steps.")
    return int(math.ceil(count / 2))


def fixed_images(data: str | None, config, count: int = MAX_SAMPLE_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` images of each domain of the test split (train when there is none), centre-cropped.

    With `config.paired`, row i of both arrays is one stored pair, so the
    TensorBoard rows show each translation next to its true counterpart's row.
    """
    data = resolve_data(data)
    info = data_lib.describe(data)
    split = "test" if (info.num_examples or {}).get("test") else "train"
    load = data_lib.load_paired if getattr(config, "paired", False) else data_lib.load_unpaired
    dataset = load(data, split=split, seed=0, image_size=config.image_size, channels=config.channels,
                   batch_size=count, shuffle=False, repeat=True, cache=False)
    batch = next(iter(dataset.take(1)))
    return batch["a"].numpy(), batch["b"].numpy()


def _rows(columns: list) -> np.ndarray:
    """[N, H, W, C] arrays side by side per row -> one [1, N*H, len(columns)*W, C] image in [0, 1]."""
    rows = np.concatenate([np.asarray(c, np.float32) for c in columns], axis=2)  # [N, H, k*W, C]
    grid = np.concatenate(list(rows), axis=0)  # [N*H, k*W, C]
    return np.clip((grid[None] + 1.0) / 2.0, 0.0, 1.0)


class TranslationImageWriter(keras.callbacks.Callback):
    """Writes ``a_to_b`` and ``b_to_a`` image rows to TensorBoard every `every` steps and at the end.

    The end is the end of a fit that ran its steps; a fit stopped by a signal or a
    non-finite loss writes no final rows.

    The step is the generator optimizer's iteration count (one update per step).

    Args:
      logdir: TensorBoard folder (the run's `<model_dir>/tensorboard`).
      images_a, images_b: fixed images [N, H, W, C] in [-1, 1].
      every: interval in steps (0: only at the end).
    """

    def __init__(self, logdir: str, images_a: np.ndarray, images_b: np.ndarray, every: int):
        super().__init__()
        self.logdir = logdir
        self.images_a = images_a
        self.images_b = images_b
        self.every = every
        self._writer = None
        self._next = None
        self._compiled = {}

    def _step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.g_optimizer.iterations))

    def on_train_begin(self, logs=None):
        if not distribute.is_chief(self.model.distribute_strategy):
            return
        self._writer = tf.summary.create_file_writer(self.logdir)
        if self.every:
            self._next = (self._step() // self.every + 1) * self.every

    def on_train_batch_end(self, batch, logs=None):
        if self._writer is None or not self.every:
            return
        step = self._step()
        if step >= self._next:
            self.write(step)
            self._next = (step // self.every + 1) * self.every

    def on_train_end(self, logs=None):
        if self._writer is not None:
            # A fit stopped early (SIGINT/SIGTERM, a non-finite loss) skips the final rows:
            # after a signal, the seconds they take count against the process's grace period.
            if not self.model.stop_training:
                self.write(self._step())
            self._writer.close()
            self._writer = None

    def _translate_and_back(self, direction: str) -> Callable:
        """A compiled function: images -> (translated, translated back), both in inference mode.

        Compiled once per direction and called one image at a time (the
        translators' default training batch), so a write needs no buffers
        larger than a batch-1 step's: calling the networks eagerly on the
        4-image batch added about 500 MiB to the peak memory of a 256x256
        CycleGAN run (BUILD.md, *Sample grids*).
        """
        if direction not in self._compiled:
            translators = self.model.translators()
            other = "b_to_a" if direction == "a_to_b" else "a_to_b"
            forward, back = translators[direction], translators[other]

            def translate_and_back(images):
                translated = forward(images, training=False)
                return translated, back(translated, training=False)

            self._compiled[direction] = tf.function(translate_and_back)
        return self._compiled[direction]

    def _row_images(self, direction: str, images: np.ndarray) -> np.ndarray:
        translate_and_back = self._translate_and_back(direction)
        translated, back = [], []
        for index in range(len(images)):
            one_translated, one_back = translate_and_back(tf.constant(images[index:index + 1]))
            translated.append(one_translated.numpy())
            back.append(one_back.numpy())
        return _rows([images, np.concatenate(translated), np.concatenate(back)])

    def write(self, step: int):
        a_to_b = self._row_images("a_to_b", self.images_a)
        b_to_a = self._row_images("b_to_a", self.images_b)
        with self._writer.as_default(step=step):
            tf.summary.image("a_to_b", a_to_b, step=step)
            tf.summary.image("b_to_a", b_to_a, step=step)
        self._writer.flush()


def train_options(run, config, make_optimizers: Callable) -> dict:
    """`common.training.train_command` options of a two-domain translation app.

    Returns a dict with `dataset_fn` (jittered; aligned pairs when `config.paired`
    is set, else unpaired), `num_examples` (for
    --epochs), `build_optimizers` (`make_optimizers(config, total_steps)` ->
    (generator optimizer, discriminator optimizer), so the learning-rate
    schedule decays over the run's steps) and `extra_callbacks` (TensorBoard
    image rows every --sample_every steps, when --model_dir is set).
    """
    count = lambda: num_train_examples(run.data)  # noqa: E731
    steps = runtime.total_steps(run, count)
    options = {
        "dataset_fn": dataset_fn_for(run.data, config, run.seed, run.batch_size),
        "num_examples": count,
        "build_optimizers": lambda c: dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c, steps))),
        "extra_callbacks": [],
    }
    if run.model_dir and not run.dry_run and run.sample_every:
        images_a, images_b = fixed_images(run.data, config, min(run.num_samples, MAX_SAMPLE_ROWS))
        options["extra_callbacks"].append(TranslationImageWriter(
            os.path.join(run.model_dir, runtime.TENSORBOARD_DIR), images_a, images_b, run.sample_every))
    return options


def main(argv, *, app_name: str, config_class: type, build_model: Callable, make_optimizers: Callable) -> None:
    """The train command of a two-domain translation app; its train.py declares the flags with
    `common.training.train_command.define_train_flags(config_class)` and calls this from absl's main.

    Args:
      make_optimizers: (config, total_steps) -> (generator optimizer, discriminator optimizer).
    """
    from absl import flags

    from common.training import train_command

    if "eval_every" in flags.FLAGS and flags.FLAGS["eval_every"].value:
        raise SystemExit(
            f"Error: --eval_every evaluates samples drawn from a latent space; {app_name} translates images and has "
            "none. Watch the a_to_b / b_to_a image rows in TensorBoard (--sample_every) and measure translations "
            "of an export instead.")
    default_data_image_size(flags.FLAGS)
    train_command.main(argv, app_name=app_name, config_class=config_class, build_model=build_model,
                   make_optimizers=make_optimizers,
                   train_options=lambda run, config: train_options(run, config, make_optimizers))
