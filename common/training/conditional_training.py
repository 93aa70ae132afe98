"""What the train commands of class-conditional apps add to the shared one: labelled data, checked first.

A class-conditional step reads ``batch["label"]``, so a dataset without labels,
or with more classes than the model's ``num_classes``, is refused before any
model is built, with what to do instead. An app's `train.py` passes
`train_options` to `common.training.train_command.main`.
"""

from __future__ import annotations

import logging

from common.training.runtime_config import ConfigError

__all__ = ["check_labelled_data", "train_options"]

log = logging.getLogger(__name__)


def check_labelled_data(data: str | None, num_classes: int) -> None:
    """Raises ConfigError when `data` has no labels or more label names than `num_classes`.

    `data` is a `--data` value (None: the offline default digits, labelled 0..9).
    A `tfds:` source is not described without loading it, so it is left to the
    reader.
    """
    if isinstance(data, str) and data.startswith("tfds:"):
        return
    from common.data import reader as data_lib

    info = data_lib.describe(data)
    if not info.has_labels:
        raise ConfigError(
            f"{data} has no labels, and a class-conditional model trains on labelled images. Build the dataset "
            "with labels: one subfolder per class (python -m tfrecords.build --source=path/to/classes "
            "--output=data/name), MNIST idx files or an .npz with a labels array (tfrecords/README.md).")
    if info.labels:
        if len(info.labels) > num_classes:
            raise ConfigError(
                f"{data} has {len(info.labels)} classes ({', '.join(map(str, info.labels[:12]))}"
                f"{', ...' if len(info.labels) > 12 else ''}) and the model has num_classes={num_classes}. "
                f"Pass --num_classes={len(info.labels)}.")
        if len(info.labels) < num_classes:
            log.warning("%s has %d classes; the model generates num_classes=%d, so classes %d..%d never appear "
                        "in the data.", data, len(info.labels), num_classes, len(info.labels), num_classes - 1)


def train_options(run, config) -> dict:
    """`train_command.main`'s train_options for a class-conditional app: checks the data, adds nothing."""
    check_labelled_data(run.data, int(config.num_classes))
    return {}
