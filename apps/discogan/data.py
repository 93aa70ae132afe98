"""DiscoGAN's input: unpaired batches {"a": images of domain A, "b": images of domain B}.

`train_options(run, config)` gives `common.training.runtime.train` a `dataset_fn` over
`common.data.reader.load_unpaired(run.data)` (each domain shuffled on its own, with
seeds ``run.seed`` and ``run.seed + 1``), resized and centre-cropped to
``config.image_size`` and converted to ``config.channels``. Without ``--data``
it trains on the offline default two-domain dataset
(`common.data.default_datasets.default_dataset("two_domain")`: colour photo crops as A,
sepia-toned crops as B). An epoch (``--epochs``) is one pass over the smaller
domain, as in the reference code (``min(len(A), len(B)) // batch_size`` batches).
The reference code applies no augmentation; neither does this pipeline.

With ``--model_dir`` and ``--sample_every`` the run also writes TensorBoard
image rows (`common.training.translator_training.TranslationImageWriter`): real A |
G_AB(A) | G_BA(G_AB(A)), and the same from B, for fixed images of the test
split (train when there is none).
"""

from __future__ import annotations

import os

import tensorflow as tf

from common.data import reader as data_lib
from common.training import runtime
from common.training import translator_training
from common.training.runtime_config import ConfigError

__all__ = ["resolve_data", "dataset_fn", "num_train_examples", "train_options"]


def resolve_data(data: str | None) -> str:
    """`data`, or the folder of the default two-domain dataset (built on first use) when it is None."""
    return translator_training.resolve_data(data)


def dataset_fn(run, config):
    """InputContext -> this pipeline's repeated, shuffled batches of {"a", "b"} float32 images in [-1, 1]."""

    def make(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        return data_lib.load_unpaired(
            resolve_data(run.data),
            split="train",
            image_size=config.image_size,
            channels=config.channels,
            batch_size=input_context.get_per_replica_batch_size(run.batch_size),
            shuffle=True,
            repeat=True,
            seed=run.seed,
            input_context=input_context,
        )

    return make


def num_train_examples(data: str | None) -> int:
    """Images in the smaller domain of the train split (one epoch), from the dataset's manifest."""
    info = data_lib.describe(resolve_data(data))
    per_domain = ((info.manifest or {}).get("splits", {}).get("train", {}) or {}).get("per_domain") or {}
    if not per_domain or not min(per_domain.values()):
        raise ConfigError(f"Cannot use --epochs: the per-domain counts of the train split of {data!r} are "
                          "unknown (no manifest); pass --steps instead.")
    return int(min(per_domain.values()))


def train_options(run, config) -> dict:
    """`common.training.train_command` options of DiscoGAN: the unpaired dataset, its epoch size, TensorBoard image rows."""
    options = {"dataset_fn": dataset_fn(run, config), "num_examples": lambda: num_train_examples(run.data),
               "extra_callbacks": []}
    if run.model_dir and not run.dry_run and run.sample_every:
        images_a, images_b = translator_training.fixed_images(
            run.data, config, min(run.num_samples, translator_training.MAX_SAMPLE_ROWS))
        options["extra_callbacks"].append(translator_training.TranslationImageWriter(
            os.path.join(run.model_dir, runtime.TENSORBOARD_DIR), images_a, images_b, run.sample_every))
    return options
