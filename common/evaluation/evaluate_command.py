"""The `evaluate` command every app shares: score a trained generator against its dataset.

`python -m apps.<name>.evaluate --model_dir=runs/x --num_samples=10000` rebuilds the
model from ``runs/x/config.json``, restores its newest readable checkpoint (or
``--checkpoint``: a checkpoint path, or ``best`` for the one kept by
`common.evaluation.periodic_evaluation.PeriodicEvaluation`), draws ``--num_samples`` images from
seeded stateless normal noise and reports, through `common.evaluation.scoring.evaluate_generator`:
FID (Heusel et al. 2017), KID (Binkowski et al. 2018; mean and std over subsets),
Inception Score (Salimans et al. 2016; mean and std over splits; only for networks
with a class head), precision/recall (Kynkaanniemi et al. 2019) and
density/coverage (Naeem et al. 2020). It prints a table and writes
``<model_dir>/eval/step-<step>-<feature network>.json`` (or ``--output``).

Feature networks (``--feature_network``):

- ``classifier``: a ResNet classifier trained on the dataset itself
  (`common.evaluation.classifier`), cached under ``$XDG_CACHE_HOME/gansuite/classifiers/``
  (else ``~/.cache/...``) keyed by the dataset's manifest checksum, the image size
  and the classifier's fingerprint (architecture and training settings), or at
  ``--classifier_path``. Needs labels and a "test" split. On first use it is
  trained there, with a progress bar and a time estimate measured on the first
  batches and corrected after the first epoch (as a first use of Keras
  downloads its weights); ``--classifier_epochs``, ``--classifier_width``,
  ``--classifier_blocks_per_stage`` and ``--classifier_feature_dim`` change the
  recommended recipe, and so the fingerprint and the cached file;
  ``--notrain_classifier`` refuses and exits with an error instead. Works
  offline; numbers compare only between runs scored with the same classifier.
- ``contrastive``: a SimCLR encoder trained without labels on the dataset's train
  split (`common.evaluation.contrastive`), for unlabelled data such as CelebA. Cached
  under ``$XDG_CACHE_HOME/gansuite/contrastive/`` (else ``~/.cache/...``) keyed like
  the classifier (manifest checksum, image size, fingerprint of the architecture and
  every setting), or at ``--contrastive_path``. Needs a train split of at least one
  batch (``--contrastive_batch_size``, default 256) and a "test" split, on which its
  retrieval accuracy (trained and untrained) is measured and printed. On first use it
  is trained there with a progress bar and time estimates; ``--contrastive_epochs``
  changes the recipe (and so the file), ``--notrain_contrastive`` refuses instead.
  No class head: no Inception Score (the table leaves the row out), class accuracy
  or mode coverage. Numbers compare only between runs scored with the same encoder.
- ``inception_v3``: Keras InceptionV3 ImageNet pool features (downloaded once to
  ``~/.keras/models``, or ``--inception_weights=file.h5``). Not comparable with
  published FIDs (different weights); no Inception Score (no class head).
- ``fid_inception``: the 2015 TensorFlow Inception graph of published FID/IS
  numbers, with ``--fid_weights=pt_inception-2015-12-05-6726825d.pth``.
- ``auto`` (default): ``classifier`` when the dataset has labels and a test split,
  else ``inception_v3``. Labelled small datasets (digits, MNIST) are then scored
  offline with features that see their content; unlabelled photos get the usual
  ImageNet features (``contrastive`` is only used when asked for by name).

A class-conditional model (`common.models.conditional_protocol.is_conditional`: its config
and model have ``num_classes``) is asked for balanced classes, and the report adds
its conditional accuracy (the share of samples the dataset classifier assigns to
the requested class, overall and per class; only with the classifier as feature
network, otherwise reported as unavailable with the reason), intra-FID per class
(Miyato & Koyama 2018) and its mean, and a per-class table (label name,
conditional accuracy, intra-FID, share of samples classified as the class), next
to the classifier's own accuracy on real test images. Such a model needs a
labelled dataset with as many classes as it has and at least 2 samples per class.

``--bounds`` also scores, with the same feature network and reference
statistics, real images of the other split (``test`` against ``train``: the
floor a perfect generator would reach at this sample size) and uniform noise in
[-1, 1] (the ceiling of a broken generator), so every number can be read
between them.

Real images come from ``--split`` of ``--data`` (default: the training run's
data), resized and converted to the run's ``image_size``/``channels`` as in
training, shuffled with ``--seed``; at most the split's size are used. Their
statistics are cached (`common.evaluation.reference_stats`) under ``--cache_dir``, keyed by
the manifest checksum, that image size and the seed as well, so runs trained at
different resolutions never share real statistics.

An app's evaluate.py declares the flags with `define_evaluate_flags()` and calls
`main(argv, config_class=AppConfig, build_model=build_model)`, which rebuilds
the run's model as export does: fields its config.json predates take the values
they had before they existed (`runtime_config.field_defaults`).
`run_evaluation(EvaluateOptions(...), build_fields, model_defaults=...)` is the
same without flags (for tests and scripts).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any, Callable, Mapping

import numpy as np

from common.models.conditional_protocol import is_conditional
from common.training.runtime_config import ConfigError

__all__ = [
    "EvaluateAppError",
    "jsonable",
    "EvaluateOptions",
    "FEATURE_NETWORKS",
    "define_evaluate_flags",
    "options_from_flags",
    "resolve_feature_network",
    "default_classifier_path",
    "default_contrastive_path",
    "contrastive_settings",
    "build_feature_extractor",
    "restore_model",
    "make_sample_fn",
    "check_conditional_evaluation",
    "conditional_report",
    "run_evaluation",
    "format_table",
    "per_class_table",
    "main",
]

FEATURE_NETWORKS = ("auto", "classifier", "contrastive", "inception_v3", "fid_inception")
BEST_CHECKPOINT = "best"
EVAL_DIR = "eval"


class EvaluateAppError(ConfigError):
    """An evaluation cannot run as asked (bad option, missing weights, classifier or checkpoint)."""


@dataclasses.dataclass(frozen=True)
class EvaluateOptions:
    """Options of one evaluation; the flags of `define_evaluate_flags` map one to one."""

    model_dir: str | None = None
    data: str | None = None            # None: the training run's --data
    num_samples: int = 10_000
    feature_network: str = "auto"
    fid_weights: str | None = None
    inception_weights: str | None = None
    classifier_path: str | None = None
    train_classifier: bool = True      # False: refuse to train a classifier that is not cached
    classifier_epochs: int | None = None       # None: ClassifierSettings.for_images' value
    classifier_width: int | None = None        # None: ClassifierSettings' 16 filters in the first stage
    classifier_blocks_per_stage: int | None = None  # None: 1 for grayscale, 2 for colour images
    classifier_feature_dim: int | None = None  # None: 128
    contrastive_path: str | None = None
    train_contrastive: bool = True     # False: refuse to train a contrastive encoder that is not cached
    contrastive_epochs: int | None = None      # None: ContrastiveSettings' 6
    contrastive_batch_size: int | None = None  # None: ContrastiveSettings' 256
    bounds: bool = False               # also score real images of the other split and uniform noise
    split: str = "train"
    ema: bool = True
    batch_size: int = 50
    seed: int = 0
    checkpoint: str | None = None      # None: newest; "best": <model_dir>/best; else a checkpoint path
    output: str | None = None
    cache_dir: str | None = None       # reference statistics; None: common.evaluation.reference_stats default
    verbose: int = 1


def define_evaluate_flags(flag_values=None) -> None:
    """Declares the evaluate command's flags (all optional; read only in `main`)."""
    from absl import flags

    flag_values = flag_values if flag_values is not None else flags.FLAGS
    kwargs = dict(flag_values=flag_values)
    flags.DEFINE_string("model_dir", None, "Directory of the training run to evaluate.", **kwargs)
    flags.DEFINE_string("data", None, "Dataset of real images (folder with manifest.json); default: the run's "
                        "--data.", **kwargs)
    flags.DEFINE_integer("num_samples", 10_000, "Generated images to score; as many real ones (at most the "
                         "split's size).", **kwargs)
    flags.DEFINE_enum("feature_network", "auto", list(FEATURE_NETWORKS),
                      "Features for the metrics: auto = classifier when the data has labels and a test split, "
                      "else inception_v3; contrastive = a SimCLR encoder trained on the data without labels.",
                      **kwargs)
    flags.DEFINE_string("fid_weights", None, "pt_inception-2015-12-05-6726825d.pth for "
                        "--feature_network=fid_inception.", **kwargs)
    flags.DEFINE_string("inception_weights", None, "Keras InceptionV3 no-top .h5 weights file (default: "
                        "~/.keras/models, downloaded when missing).", **kwargs)
    flags.DEFINE_string("classifier_path", None, "Dataset classifier .keras file (default: cached under "
                        "~/.cache/gansuite/classifiers/ by dataset checksum, image size and classifier "
                        "fingerprint).", **kwargs)
    flags.DEFINE_boolean("train_classifier", True, "Train the dataset classifier when none is cached (first use); "
                         "--notrain_classifier exits with an error instead.", **kwargs)
    flags.DEFINE_integer("classifier_epochs", None, "Epochs of a newly trained dataset classifier (default: "
                         "8 for grayscale, 20 for colour images; at least 1,500 steps).", **kwargs)
    flags.DEFINE_integer("classifier_width", None, "Filters of the first stage of a newly trained dataset "
                         "classifier; each later stage doubles them, up to 8 times (default 16).", **kwargs)
    flags.DEFINE_integer("classifier_blocks_per_stage", None, "Residual blocks per stage of a newly trained "
                         "dataset classifier (default: 1 for grayscale, 2 for colour images).", **kwargs)
    flags.DEFINE_integer("classifier_feature_dim", None, "Width of the dataset classifier's penultimate "
                         "\"features\" layer, the features of FID/KID/precision/recall (default 128).", **kwargs)
    flags.DEFINE_string("contrastive_path", None, "Contrastive encoder .keras file for --feature_network=contrastive "
                        "(default: cached under ~/.cache/gansuite/contrastive/ by dataset checksum, image size and "
                        "encoder fingerprint).", **kwargs)
    flags.DEFINE_boolean("train_contrastive", True, "Train the contrastive encoder when none is cached (first use); "
                         "--notrain_contrastive exits with an error instead.", **kwargs)
    flags.DEFINE_integer("contrastive_epochs", None, "Epochs of a newly trained contrastive encoder (default 6).",
                         **kwargs)
    flags.DEFINE_integer("contrastive_batch_size", None, "Images per step of a newly trained contrastive encoder, a "
                         "multiple of 4, at most the train split's size (default 256: 2N = 512 views).", **kwargs)
    flags.DEFINE_boolean("bounds", False, "Also score real images of the other split (floor) and uniform noise "
                         "(ceiling) with the same feature network.", **kwargs)
    flags.DEFINE_string("split", "train", "Split of real images to compare with.", **kwargs)
    flags.DEFINE_boolean("ema", True, "Sample the generator's moving average when the run kept one.", **kwargs)
    flags.DEFINE_integer("batch_size", 50, "Images per generator / feature-network batch.", **kwargs)
    flags.DEFINE_integer("seed", 0, "Seed of the latent noise, real-image order and KID subsets.", **kwargs)
    flags.DEFINE_string("checkpoint", None, "Checkpoint to evaluate: a ckpt-<step> path, or 'best' for "
                        "<model_dir>/best (default: the newest).", **kwargs)
    flags.DEFINE_string("output", None, "JSON file to write (default <model_dir>/eval/step-<step>-<network>.json).",
                        **kwargs)
    flags.DEFINE_string("cache_dir", None, "Folder of cached real-image statistics (default "
                        "~/.cache/gansuite/reference_stats).", **kwargs)


def options_from_flags(flag_values=None) -> EvaluateOptions:
    from absl import flags

    flag_values = flag_values if flag_values is not None else flags.FLAGS
    values = {field.name: flag_values[field.name].value for field in dataclasses.fields(EvaluateOptions)
              if field.name in flag_values}
    return EvaluateOptions(**values)


# --------------------------------------------------------------------------- feature networks


def resolve_feature_network(kind: str, dataset_info) -> str:
    """`kind`, with "auto" replaced by "classifier" (labels and a test split) or "inception_v3"."""
    if kind not in FEATURE_NETWORKS:
        raise EvaluateAppError(f"--feature_network={kind!r} is not one of {', '.join(FEATURE_NETWORKS)}.")
    if kind != "auto":
        return kind
    splits = dataset_info.num_examples or {}
    return "classifier" if dataset_info.labels and splits.get("test") else "inception_v3"


def _cache_base() -> str:
    return os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


def _size_tag(image_size, channels) -> str:
    if image_size is None:
        size = "stored"
    elif isinstance(image_size, int):
        size = f"{image_size}x{image_size}"
    else:
        size = "x".join(str(int(s)) for s in image_size)
    return f"{size}x{channels if channels else 'stored'}"


def default_classifier_path(dataset_name: str, checksum: str, image_size, channels, fingerprint: str) -> str:
    """Where the classifier of a dataset (at the image size a model uses, with the architecture and
    training settings `fingerprint` stands for) is cached."""
    name = f"{dataset_name}-{checksum[:16]}-{_size_tag(image_size, channels)}-{fingerprint}.keras"
    return os.path.join(_cache_base(), "gansuite", "classifiers", name)


def default_contrastive_path(dataset_name: str, checksum: str, image_size, channels, fingerprint: str) -> str:
    """Where the contrastive encoder of a dataset (at the image size a model uses, with the architecture and
    settings `fingerprint` stands for) is cached: beside the classifiers."""
    name = f"{dataset_name}-{checksum[:16]}-{_size_tag(image_size, channels)}-{fingerprint}.keras"
    return os.path.join(_cache_base(), "gansuite", "contrastive", name)


def contrastive_settings(data, image_size=None, channels: int | None = None, *, epochs: int | None = None,
                         batch_size: int | None = None):
    """(ContrastiveSettings, fingerprint) of the contrastive encoder for `data`'s images at `image_size`/`channels`.

    The defaults of `ContrastiveSettings` with the given overrides; the fingerprint covers
    them and the networks they build. Raises EvaluateAppError for settings that are not
    valid and for a dataset without a train split.
    """
    from common.data import reader as data_lib
    from common.evaluation import classifier as classifier_lib
    from common.evaluation import contrastive as contrastive_lib

    overrides = {name: value for name, value in (("epochs", epochs), ("batch_size", batch_size)) if value is not None}
    try:
        settings = contrastive_lib.ContrastiveSettings(**overrides)
        if "train" not in (data_lib.describe(data).num_examples or {}):
            contrastive_lib.check_trainable(0, None, settings, where=_where(data))
    except contrastive_lib.ContrastiveError as error:
        raise EvaluateAppError(str(error)) from None
    shape = classifier_lib.split_image_shape(data, image_size=image_size, channels=channels)
    return settings, contrastive_lib.contrastive_fingerprint(settings, shape)


def _where(data) -> str:
    return "The default dataset" if data is None else f"Dataset {data!r}"


def classifier_settings(data, image_size=None, channels: int | None = None, *, epochs: int | None = None,
                        width: int | None = None, feature_dim: int | None = None,
                        blocks_per_stage: int | None = None):
    """(ClassifierSettings, fingerprint) of the classifier for `data`'s images at `image_size`/`channels`.

    The settings are `ClassifierSettings.for_images` of the images' channel count with
    the given overrides; the fingerprint covers them and the network they build.
    """
    from common.data import reader as data_lib
    from common.evaluation import classifier as classifier_lib

    try:
        shape, num_classes = classifier_lib.dataset_image_shape(data, image_size=image_size, channels=channels)
        num_train = (data_lib.describe(data).num_examples or {}).get("train")
        settings = classifier_lib.ClassifierSettings.for_images(shape[-1], num_train, epochs=epochs, width=width,
                                                                feature_dim=feature_dim,
                                                                blocks_per_stage=blocks_per_stage)
    except classifier_lib.ClassifierError as error:
        raise EvaluateAppError(str(error)) from None
    return settings, classifier_lib.classifier_fingerprint(settings, shape, num_classes)


def _check_feature_network(kind: str, *, data, dataset_info, checksum: str, classifier_path: str | None,
                           train_classifier: bool, fid_weights: str | None, inception_weights: str | None,
                           flag_prefix: str = "", contrastive_path: str | None = None,
                           train_contrastive: bool = True, contrastive=None) -> None:
    """Raises EvaluateAppError when the network's weights, classifier or encoder are missing (cheap checks only).

    `contrastive`: the ContrastiveSettings an encoder that is not cached would be trained with.
    """
    from common.evaluation import feature_networks

    if kind == "fid_inception" and not (fid_weights and os.path.isfile(fid_weights)):
        given = f" ({fid_weights!r} is not a file)" if fid_weights else ""
        raise EvaluateAppError(
            f"--{flag_prefix}feature_network=fid_inception needs the FID Inception weights: pass "
            f"--{flag_prefix}fid_weights=path/pt_inception-2015-12-05-6726825d.pth{given}. Download it from "
            f"{feature_networks.FID_INCEPTION_URL} on a machine with internet. Offline alternatives: "
            f"--{flag_prefix}feature_network=classifier (labelled data) or inception_v3 with its weights file.")
    if kind == "inception_v3" and inception_weights and not os.path.isfile(inception_weights):
        raise EvaluateAppError(f"--{flag_prefix}inception_weights={inception_weights!r} is not a file; pass the "
                               f"path of {feature_networks.KERAS_INCEPTION_NOTOP_FILE}.")
    if kind == "contrastive" and _cached_classifier_info(contrastive_path, checksum) is None:
        _check_contrastive_training(data, dataset_info, contrastive, flag_prefix)
        if not train_contrastive:
            raise EvaluateAppError(
                f"No contrastive encoder for {'the default dataset' if data is None else repr(data)} is cached at "
                f"{contrastive_path}, and training one is turned off. Pass --{flag_prefix}train_contrastive to train "
                "it there (the time it takes is measured on the first batches and printed; CelebA 64x64's 10,000 "
                "train images took about 20 minutes on one CPU core), or "
                f"--{flag_prefix}contrastive_path=... to use another file.")
    if kind != "classifier":
        return
    if not dataset_info.labels:
        raise EvaluateAppError(
            f"--{flag_prefix}feature_network=classifier needs a labelled dataset; {data!r} has no labels. Use "
            f"--{flag_prefix}feature_network=inception_v3 or fid_inception.")
    if not (dataset_info.num_examples or {}).get("test"):
        raise EvaluateAppError(
            f"--{flag_prefix}feature_network=classifier needs a 'test' split of {data!r} to measure the "
            "classifier on; rebuild the dataset with --test_fraction=0.1, or use another feature network.")
    if _cached_classifier_info(classifier_path, checksum) is None and not train_classifier:
        raise EvaluateAppError(
            f"No dataset classifier for {'the default dataset' if data is None else repr(data)} is cached at "
            f"{classifier_path}, and training one is turned off. Pass --{flag_prefix}train_classifier to train "
            "it there (the time it takes is measured on the first batches and printed; MNIST at 32x32 took "
            "40 minutes on 2 CPU cores shared at a load average of 14 to 22), or "
            f"--{flag_prefix}classifier_path=... to use another file.")


def _check_contrastive_training(data, dataset_info, settings, flag_prefix: str) -> None:
    """Raises EvaluateAppError when `data`'s splits cannot train and measure an encoder with `settings`."""
    from common.evaluation import contrastive as contrastive_lib

    counts = dataset_info.num_examples or {}
    if counts.get("train") is None and "train" in counts:
        return  # no manifest counts: `get_or_train_contrastive` checks the decoded splits
    hint = (" (--contrastive_batch_size)" if not flag_prefix else
            f" (train the encoder with the evaluate command's --contrastive_batch_size and pass its file as "
            f"--{flag_prefix}contrastive_path)")
    try:
        contrastive_lib.check_trainable(counts.get("train"), counts.get("test"), settings or
                                        contrastive_lib.ContrastiveSettings(), where=_where(data), batch_hint=hint)
    except contrastive_lib.ContrastiveError as error:
        raise EvaluateAppError(str(error)) from None


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} minutes"


def _cached_classifier_info(path: str, checksum: str) -> dict | None:
    """The sidecar of the classifier (or contrastive encoder) at `path` when it was trained on this dataset."""
    from common.evaluation import classifier as classifier_lib

    sidecar = path + classifier_lib.SIDECAR_SUFFIX
    if not path or not (os.path.isfile(path) and os.path.isfile(sidecar)):
        return None
    with open(sidecar) as file:
        info = json.load(file)
    if info.get("dataset_checksum") != checksum:
        return None
    return info


def build_feature_extractor(kind: str, *, data, image_size=None, channels: int | None = None,
                            classifier_path: str | None = None, train_classifier: bool = True,
                            classifier_epochs: int | None = None, classifier_width: int | None = None,
                            classifier_feature_dim: int | None = None,
                            classifier_blocks_per_stage: int | None = None, fid_weights: str | None = None,
                            inception_weights: str | None = None, seed: int = 0, verbose: int = 1,
                            flag_prefix: str = "", stream=None, contrastive_path: str | None = None,
                            train_contrastive: bool = True, contrastive_epochs: int | None = None,
                            contrastive_batch_size: int | None = None):
    """(FeatureExtractor, facts dict) for `kind` ("auto" resolved against `data`).

    The facts hold the resolved kind and, for the classifier, its path and test
    accuracy; for the contrastive encoder, its path, fingerprint and retrieval
    accuracies. Missing weights, or a missing classifier (encoder) with
    `train_classifier` (`train_contrastive`) False, raise EvaluateAppError before any
    network is built; otherwise a classifier or encoder that is not cached is trained
    (progress and estimate on `stream`). `seed` is unused by both, whose seeds are part
    of their settings.
    """
    from common.evaluation import classifier as classifier_lib
    from common.data import reader as data_lib
    from common.evaluation import feature_networks
    from common.evaluation.reference_stats import dataset_checksum

    from common.evaluation.reference_stats import ReferenceStatsError

    info = data_lib.describe(data)
    kind = resolve_feature_network(kind, info)
    try:
        checksum = dataset_checksum(data)
    except ReferenceStatsError as error:
        raise EvaluateAppError(str(error)) from None
    settings = fingerprint = None
    if kind == "classifier" and info.labels and (info.num_examples or {}).get("test"):
        settings, fingerprint = classifier_settings(data, image_size, channels, epochs=classifier_epochs,
                                                    width=classifier_width, feature_dim=classifier_feature_dim,
                                                    blocks_per_stage=classifier_blocks_per_stage)
    if kind == "classifier" and not classifier_path and fingerprint:
        name = (info.manifest or {}).get("name") or "dataset"
        classifier_path = default_classifier_path(name, checksum, image_size, channels, fingerprint)
    encoder_settings = None
    if kind == "contrastive":
        encoder_settings, encoder_fingerprint = contrastive_settings(data, image_size, channels,
                                                                     epochs=contrastive_epochs,
                                                                     batch_size=contrastive_batch_size)
        contrastive_path = contrastive_path or default_contrastive_path(
            (info.manifest or {}).get("name") or "dataset", checksum, image_size, channels, encoder_fingerprint)
    _check_feature_network(kind, data=data, dataset_info=info, checksum=checksum, classifier_path=classifier_path,
                           train_classifier=train_classifier, fid_weights=fid_weights,
                           inception_weights=inception_weights, flag_prefix=flag_prefix,
                           contrastive_path=contrastive_path, train_contrastive=train_contrastive,
                           contrastive=encoder_settings)
    if kind == "contrastive":
        return _contrastive_extractor(data, contrastive_path, encoder_settings, checksum=checksum,
                                      image_size=image_size, channels=channels, verbose=verbose,
                                      flag_prefix=flag_prefix, stream=stream)
    facts: dict[str, Any] = {"feature_network": kind}
    try:
        if kind == "fid_inception":
            return feature_networks.fid_inception_features(fid_weights), facts
        if kind == "inception_v3":
            return feature_networks.inception_v3_features(inception_weights or "imagenet"), facts
        if _cached_classifier_info(classifier_path, checksum) is not None:
            model, sidecar = classifier_lib.load_classifier(classifier_path)
        else:
            stream = stream or sys.stdout
            if verbose:
                print(f"No dataset classifier is cached for {'the default dataset' if data is None else data} "
                      f"with these settings (fingerprint {fingerprint}); training one into {classifier_path} "
                      f"(once; --{flag_prefix}notrain_classifier refuses).", file=stream, flush=True)
            model, sidecar = classifier_lib.get_or_train_classifier(
                data, classifier_path, settings, image_size=image_size, channels=channels,
                verbose=1 if verbose else 0, stream=stream)
            if verbose:
                print(f"Classifier trained in {_minutes(sidecar['train_seconds'])}: test accuracy "
                      f"{sidecar['test_accuracy']:.4f}, test class histogram within "
                      f"{sidecar['test_histogram_max_deviation_points']:.2f} points of the true one.",
                      file=stream, flush=True)
    except (feature_networks.FeatureNetworkError, classifier_lib.ClassifierError) as error:
        raise EvaluateAppError(str(error)) from None
    if channels and model.input_shape[-1] == 1 and channels == 3:
        raise EvaluateAppError(f"The classifier at {classifier_path} takes grayscale images but the model makes "
                               "RGB ones; pass --train_classifier with another --classifier_path.")
    facts.update(classifier_path=classifier_path, classifier_test_accuracy=sidecar.get("test_accuracy"),
                 classifier_fingerprint=sidecar.get("fingerprint"), num_classes=int(model.output_shape[-1]))
    return classifier_lib.classifier_features(model, info=sidecar), facts


def _contrastive_extractor(data, path: str, settings, *, checksum: str, image_size, channels, verbose: int,
                           flag_prefix: str, stream) -> tuple[Any, dict]:
    """(FeatureExtractor, facts) of the contrastive encoder at `path`, trained there first when not cached."""
    from common.evaluation import classifier as classifier_lib
    from common.evaluation import contrastive as contrastive_lib

    try:
        if _cached_classifier_info(path, checksum) is not None:
            encoder, sidecar = contrastive_lib.load_encoder(path)
        else:
            stream = stream or sys.stdout
            if verbose:
                print(f"No contrastive encoder is cached for {'the default dataset' if data is None else data} "
                      f"with these settings; training one into {path} (once; --{flag_prefix}notrain_contrastive "
                      "refuses).", file=stream, flush=True)
            encoder, sidecar = contrastive_lib.get_or_train_contrastive(
                data, path, settings, image_size=image_size, channels=channels, verbose=1 if verbose else 0,
                stream=stream)
            if verbose:
                print(f"Contrastive encoder trained in {_minutes(sidecar['train_seconds'])}: "
                      f"{_retrieval_text(sidecar)}.", file=stream, flush=True)
    except (contrastive_lib.ContrastiveError, classifier_lib.ClassifierError) as error:
        raise EvaluateAppError(str(error)) from None
    if channels and encoder.input_shape[-1] == 1 and channels == 3:
        raise EvaluateAppError(f"The contrastive encoder at {path} takes grayscale images but the model makes RGB "
                               f"ones; pass another --{flag_prefix}contrastive_path.")
    if sidecar.get("kind") != "contrastive" or len(encoder.outputs) != 1:
        raise EvaluateAppError(f"{path} is not a contrastive encoder (a dataset classifier?); pass the file of one "
                               f"as --{flag_prefix}contrastive_path, or leave it out to train one.")
    facts = {"feature_network": "contrastive", "contrastive_path": path,
             "contrastive_fingerprint": sidecar.get("fingerprint"),
             "contrastive_retrieval_accuracy": sidecar.get("retrieval_accuracy"),
             "contrastive_retrieval_accuracy_untrained": sidecar.get("retrieval_accuracy_untrained"),
             "contrastive_retrieval_images": sidecar.get("retrieval_images")}
    return contrastive_lib.contrastive_features(encoder, info=sidecar), facts


def _retrieval_text(values: Mapping) -> str:
    """The held-out retrieval accuracies of a contrastive sidecar (or report), as one phrase."""
    count = values.get("retrieval_images") or values.get("contrastive_retrieval_images")
    trained = values.get("retrieval_accuracy", values.get("contrastive_retrieval_accuracy"))
    untrained = values.get("retrieval_accuracy_untrained", values.get("contrastive_retrieval_accuracy_untrained"))
    if trained is None:
        return "retrieval accuracy n/a"
    return (f"retrieval accuracy {trained:.4f} on {count} test images (top-1 of the other view among "
            f"{2 * count - 1}; untrained {untrained:.4f}, chance {1 / (2 * count - 1):.4f})")


def extractor_from_options(options: EvaluateOptions, *, data, image_size=None, channels: int | None = None,
                           kind: str | None = None, classifier_path: str | None = None,
                           contrastive_path: str | None = None, stream=None):
    """`build_feature_extractor` with the feature-network fields of `options` (the evaluate flags);
    ``kind`` and the two paths default to the options' own."""
    return build_feature_extractor(
        kind or options.feature_network, data=data, image_size=image_size, channels=channels,
        classifier_path=classifier_path or options.classifier_path, train_classifier=options.train_classifier,
        classifier_epochs=options.classifier_epochs, classifier_width=options.classifier_width,
        classifier_feature_dim=options.classifier_feature_dim,
        classifier_blocks_per_stage=options.classifier_blocks_per_stage, fid_weights=options.fid_weights,
        inception_weights=options.inception_weights, seed=options.seed, verbose=options.verbose, stream=stream,
        contrastive_path=contrastive_path or options.contrastive_path, train_contrastive=options.train_contrastive,
        contrastive_epochs=options.contrastive_epochs, contrastive_batch_size=options.contrastive_batch_size)


# --------------------------------------------------------------------------- model and samples


def _checkpoint_directory(model_dir: str, checkpoint: str) -> str | None:
    """The folder of the best checkpoint for "best", None for a checkpoint path; errors if neither exists."""
    from common.training import checkpointing

    directory = os.path.join(model_dir, BEST_CHECKPOINT) if checkpoint == BEST_CHECKPOINT else None
    if directory is not None and not checkpointing.has_checkpoints(directory):
        raise EvaluateAppError(f"{directory} holds no best checkpoint; train with --eval_every to keep one, or "
                               "leave out --checkpoint.")
    if directory is None and not os.path.isfile(checkpoint + ".index"):
        raise EvaluateAppError(f"--checkpoint={checkpoint!r} is not a checkpoint (no {checkpoint}.index); pass "
                               "a path like runs/x/ckpt-1000, or 'best'.")
    return directory


def restore_model(model_dir: str, build_model: Callable[[Mapping], Any], checkpoint: str | None = None,
                  model_defaults: Mapping | None = None):
    """(model, checkpoint path): the newest checkpoint, `checkpoint` ("best" or a path) when given.

    `model_defaults` fills in the model fields config.json lacks (see `runtime_config.field_defaults`).
    """
    from common.training import checkpointing
    from common.training import precision as precision_lib
    from common.training import runtime
    from common.training.runtime_config import CONFIG_FILENAME, read_saved_config

    if not model_dir or not os.path.isdir(model_dir):
        raise EvaluateAppError(f"--model_dir={model_dir!r} is not a directory; pass the --model_dir of a "
                               "training run.")
    saved = read_saved_config(model_dir)
    if saved is None:
        raise EvaluateAppError(f"{model_dir} has no {CONFIG_FILENAME}; pass the --model_dir of a training run.")

    def build(fields):
        try:
            return build_model(fields)
        except TypeError as error:  # config.json fields unknown to this app's config
            raise EvaluateAppError(f"{model_dir}/{CONFIG_FILENAME} does not fit this app: {error}") from None

    if checkpoint is None:
        if not checkpointing.has_checkpoints(model_dir):
            raise EvaluateAppError(f"{model_dir} has no checkpoint yet; train first.")
        return runtime.restore_for_inference_with_path(model_dir, build, model_defaults)
    directory = _checkpoint_directory(model_dir, checkpoint)
    with precision_lib.dtype_policy("float32"):
        model = build({**(model_defaults or {}), **saved["model"]})
    target = checkpointing.inference_checkpoint(model)
    if directory is not None:
        path = checkpointing.restore_latest(lambda: checkpointing.inference_checkpoint(model), directory,
                                            partial=True, quarantine=False)
    else:
        try:
            status = target.restore(checkpoint)
            status.expect_partial()
            status.assert_existing_objects_matched()
        except (ValueError, AssertionError) as error:
            raise checkpointing.CheckpointError(
                f"Checkpoint {checkpoint} does not fit the model built now ({str(error).splitlines()[0][:300]})."
            ) from None
        path = checkpoint
    return model, path


def make_sample_fn(model, *, use_ema: bool = True, seed: int = 0):
    """`sample_fn(n, labels)` for `evaluate_generator`: z from a stateless draw seeded by (seed, batch number).

    z follows the model's prior: normal, or U[0, 1) when `model.latent_distribution`
    is "uniform". The same seed gives the same noise in every process. `use_ema=False` samples
    `model.generator` instead of `model.sample` (which prefers the moving average).
    A class-conditional model (`common.models.conditional_protocol.is_conditional`) gets the
    requested `labels` as int32: ``model.sample(z, labels)``, or
    ``model.generator([z, labels])`` with `use_ema=False`; calling its `sample_fn`
    without labels raises ValueError. An unconditional model ignores `labels`.
    """
    import tensorflow as tf

    from common.models.conditional_protocol import is_conditional, prepare_sampling

    latent_dim = int(model.latent_dim)
    conditional = is_conditional(model)
    raw = not use_ema and getattr(model, "ema", None) is not None
    num_classes = int(model.num_classes) if conditional else None
    prepare_sampling(model, model.generator if raw else None)  # e.g. BigGAN's standing statistics

    def generate(z, labels=None):
        if conditional:
            if raw:
                return model.generator([z, labels], training=False)
            return model.sample(z, labels, training=False)
        if raw:
            return model.generator(z, training=False)
        return model.sample(z, training=False)

    generate = tf.function(generate, reduce_retracing=True)
    state = {"batch": 0}

    draw = tf.random.stateless_uniform if getattr(model, "latent_distribution", "normal") == "uniform" else (
        tf.random.stateless_normal)

    def sample_fn(count: int, labels=None):
        z = draw([count, latent_dim], seed=[seed, state["batch"]])
        state["batch"] += 1
        if not conditional:
            return generate(z)
        if labels is None:
            raise ValueError(f"{type(model).__name__} is class-conditional (num_classes={num_classes}): "
                             "sample_fn needs the requested labels, one per sample.")
        labels = np.asarray(labels)
        if labels.shape != (count,) or labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"sample_fn({count}, labels) needs {count} labels in [0, {num_classes}); got "
                             f"shape {labels.shape}, values {labels.min()}..{labels.max()}.")
        return generate(z, tf.constant(labels, tf.int32))

    return sample_fn


# --------------------------------------------------------------------------- class-conditional models


def check_conditional_evaluation(num_classes: int, *, data, dataset_info, num_samples: int,
                                 classifier_classes: int | None = None, classifier_path: str | None = None,
                                 flag_prefix: str = "") -> None:
    """Raises EvaluateAppError when a model of `num_classes` classes cannot be scored against `data`.

    Intra-FID and conditional accuracy compare the samples of each class with the
    real images of that class, so the dataset needs labels, as many classes as the
    model (`dataset_info.labels`, when the manifest names them) and, for the
    dataset classifier, as many outputs (`classifier_classes`). Intra-FID needs at
    least 2 generated samples per class: `num_samples` >= 2 * num_classes.
    """
    where = "the default dataset" if data is None else repr(data)
    if not dataset_info.has_labels:
        raise EvaluateAppError(
            f"The model is class-conditional (num_classes={num_classes}), but {where} has no labels: intra-FID "
            "and conditional accuracy compare each class with the real images of that class. Pass "
            "--data=... the labelled dataset the run was trained on.")
    if dataset_info.labels and len(dataset_info.labels) != num_classes:
        raise EvaluateAppError(
            f"The model generates {num_classes} classes, but {where} has {len(dataset_info.labels)} "
            f"({_names_preview(dataset_info.labels)}). Score it against the dataset it was trained on "
            "(--data=...).")
    if classifier_classes is not None and int(classifier_classes) != num_classes:
        raise EvaluateAppError(
            f"The model generates {num_classes} classes, but the dataset classifier at {classifier_path} has "
            f"{classifier_classes} outputs, so it was trained on other data. Pass --{flag_prefix}classifier_path="
            f"... of a classifier of this dataset, or a new path with --{flag_prefix}train_classifier to train one.")
    if num_samples < 2 * num_classes:
        raise EvaluateAppError(
            f"--{flag_prefix}num_samples={num_samples} gives fewer than 2 samples of each of the model's "
            f"{num_classes} classes; intra-FID needs at least 2 per class. Pass --{flag_prefix}num_samples="
            f"{2 * num_classes} or more (50+ per class for numbers worth comparing).")


def _names_preview(names, limit: int = 5) -> str:
    shown = ", ".join(str(name) for name in names[:limit])
    return shown + (", ..." if len(names) > limit else "")


def conditional_report(results: Mapping, num_classes: int, class_names, feature_network: str) -> dict:
    """The class-conditional part of an evaluate report, from `scoring.evaluate_generator`'s `results`.

    Returns {"conditional": True, "num_classes", "conditional_accuracy" (None when
    unavailable), "conditional_accuracy_unavailable" (the reason, or None),
    "intra_fid_mean", "intra_fid_skipped_classes", "per_class"}. "per_class" is one
    row per class: "class" (index), "name" (the dataset's label name, else the
    index), "conditional_accuracy" (share of the samples requested of the class that
    the dataset classifier assigns to it), "intra_fid" (FID of the class's samples
    against the real images of that class; None for a class with fewer than 2 of
    either), "share" (share of all generated samples the classifier assigns to the
    class; 1/K for a balanced, accurate model) and "requested" (samples asked of it).
    Conditional accuracy needs the dataset classifier's probabilities: with another
    feature network (inception_v3, fid_inception) it is None and the reason says so.
    """
    by_class = results.get("class_accuracy_by_class")
    intra = results.get("intra_fid")
    names = ([str(name) for name in class_names] if class_names and len(class_names) == num_classes
             else [str(k) for k in range(num_classes)])
    reason = None
    if by_class is None:
        reason = (f"the feature network {feature_network} is not the dataset classifier, so no classifier of the "
                  "dataset's classes scored the samples; evaluate with --feature_network=classifier (a labelled "
                  "dataset with a test split) for it")
    per_class_fid = {int(k): float(v) for k, v in (intra or {}).get("per_class", {}).items()}
    rows = []
    for k in range(num_classes):
        rows.append({
            "class": k,
            "name": names[k],
            "conditional_accuracy": None if by_class is None else by_class["per_class"][k],
            "intra_fid": per_class_fid.get(k),
            "share": None if by_class is None else by_class["predicted_share"][k],
            "requested": None if by_class is None else by_class["requested"][k],
        })
    return {
        "conditional": True,
        "num_classes": int(num_classes),
        "conditional_accuracy": None if by_class is None else by_class["accuracy"],
        "conditional_accuracy_unavailable": reason,
        "intra_fid_mean": None if intra is None else intra["mean"],
        "intra_fid_skipped_classes": [] if intra is None else list(intra.get("skipped_classes", [])),
        "per_class": rows,
    }


# --------------------------------------------------------------------------- the command


def real_dataset(data, split: str, image_size, channels, batch_size: int, seed: int):
    from common.data import reader as data_lib

    # Unbatched then batched here, so the last partial batch counts too (load_dataset drops it).
    return data_lib.load_dataset(data, split=split, image_size=image_size, channels=channels,
                                 batch_size=None, shuffle=True, repeat=False, seed=seed).batch(batch_size)


def image_stream(dataset):
    """`sample_fn(n, labels)` over a dataset of image batches (dicts or arrays): exactly n images per call."""
    iterator = iter(dataset)
    pending = None

    def sample_fn(count: int, labels=None):
        nonlocal pending
        parts, have = ([] if pending is None else [pending]), (0 if pending is None else len(pending))
        while have < count:
            batch = next(iterator)
            images = np.asarray((batch["image"] if isinstance(batch, dict) else batch))
            parts.append(images)
            have += len(images)
        images = np.concatenate(parts)
        pending = images[count:]
        return images[:count]

    return sample_fn


def uniform_noise(image_shape, seed: int = 0):
    """`sample_fn(n, labels)` of images drawn uniformly from [-1, 1]: a generator that learned nothing."""
    import tensorflow as tf

    state = {"batch": 0}

    def sample_fn(count: int, labels=None):
        images = tf.random.stateless_uniform([count, *image_shape], seed=[seed, state["batch"]], minval=-1.0,
                                             maxval=1.0)
        state["batch"] += 1
        return images

    return sample_fn


BOUND_METRICS = ("fid", "kid_mean", "kid_std", "inception_score_mean", "inception_score_std", "precision", "recall",
                 "density", "coverage")


def score_bounds(data, *, split: str, image_size, channels, extractor, num_samples: int, num_real: int,
                 batch_size: int, seed: int, dataset_checksum: str, num_classes: int | None = None,
                 cache_dir: str | None = None) -> dict:
    """{"floor": ..., "ceiling": ...}: the metrics of real images and of uniform noise against `split`.

    Floor: real images of the other split ("test" when `split` is "train", else
    "train"), as many as the generated side would have (at most that split's
    size): what a generator indistinguishable from the data scores at this sample
    size. Ceiling: `num_samples` images of uniform noise in [-1, 1]. Both use the
    reference statistics of `split` (`dataset_checksum` keys them as for the model).
    """
    from common.data import reader as data_lib
    from common.evaluation import scoring

    counts = data_lib.describe(data).num_examples or {}
    other = "test" if split != "test" else "train"
    if not counts.get(other):
        raise EvaluateAppError(f"Dataset {data!r} has no {other!r} split to measure the floor with; build it with "
                               "--test_fraction=0.1, or leave out --bounds.")
    reference = lambda: real_dataset(data, split, image_size, channels, batch_size, seed)  # noqa: E731
    other_images = real_dataset(data, other, image_size, channels, batch_size, seed + 1)
    shape = tuple(other_images.element_spec["image"].shape[1:])
    if None in shape:
        shape = tuple(next(iter(other_images))["image"].shape[1:])
    rows = {}
    for name, sample_fn, count in (
            ("floor", image_stream(other_images), min(num_samples, counts[other])),
            ("ceiling", uniform_noise(shape, seed), num_samples)):
        results = scoring.evaluate_generator(
            sample_fn, reference(), extractor, count, num_real=num_real, batch_size=batch_size,
            num_classes=num_classes, dataset_checksum=dataset_checksum, split=split, cache_dir=cache_dir, seed=seed)
        row = {key: results.get(key) for key in BOUND_METRICS}
        row.update(num_generated=count, source=f"real {other} images" if name == "floor" else "uniform noise")
        if "mode_coverage" in results:
            row["mode_coverage"] = results["mode_coverage"]
        rows[name] = row
    return rows


def real_data_key(checksum: str, image_size, channels, seed: int) -> str:
    """The reference-statistics key of real images: dataset, the size they were loaded at, shuffle seed."""
    return f"{checksum}|{_size_tag(image_size, channels)}|seed={seed}"


def run_evaluation(options: EvaluateOptions, build_model: Callable[[Mapping], Any], *,
                   model_defaults: Mapping | None = None, stream=None) -> dict:
    """Evaluates the run in `options.model_dir`; prints the table, writes the JSON, returns the report.

    `build_model`: the "model" section of config.json (a dict) -> the app's model.
    `model_defaults`: values for the model fields config.json lacks (`runtime_config.field_defaults`).
    Raises EvaluateAppError (and data.DataError) for anything the user can fix, before
    any network is built.
    """
    from common.training import checkpointing
    from common.evaluation import scoring
    from common.data import reader as data_lib
    from common.evaluation.reference_stats import ReferenceStatsError, dataset_checksum
    from common.training.runtime_config import read_saved_config

    stream = stream or sys.stdout
    if options.num_samples < 10:
        raise EvaluateAppError(f"--num_samples={options.num_samples} is too few; use at least 10 (10,000+ for "
                               "numbers worth reporting).")
    if options.batch_size < 1:
        raise EvaluateAppError(f"--batch_size must be positive; got {options.batch_size}.")
    # 1. Cheap checks: run directory and checkpoint, data and split, feature-network prerequisites.
    if not options.model_dir or not os.path.isdir(options.model_dir):
        raise EvaluateAppError(f"--model_dir={options.model_dir!r} is not a directory; pass the --model_dir of a "
                               "training run.")
    saved = read_saved_config(options.model_dir)
    if saved is None:
        raise EvaluateAppError(f"{options.model_dir} has no config.json; pass the --model_dir of a training run.")
    if options.checkpoint is None and not checkpointing.has_checkpoints(options.model_dir):
        raise EvaluateAppError(f"{options.model_dir} has no checkpoint yet; train first.")
    if options.checkpoint is not None:
        _checkpoint_directory(options.model_dir, options.checkpoint)
    data = options.data if options.data is not None else saved.get("runtime", {}).get("data")
    fields = saved.get("model", {})
    image_size, channels = fields.get("image_size"), fields.get("channels")
    info = data_lib.describe(data)
    counts = info.num_examples or {}
    if options.split not in counts:
        raise EvaluateAppError(f"Dataset {data!r} has no split {options.split!r}; it has "
                               f"{', '.join(sorted(counts)) or 'none'}. Pass --split=...")
    saved_num_classes = {**(model_defaults or {}), **fields}.get("num_classes")
    if saved_num_classes is not None:
        check_conditional_evaluation(int(saved_num_classes), data=data, dataset_info=info,
                                     num_samples=options.num_samples)
    try:
        checksum = dataset_checksum(data)
    except ReferenceStatsError as error:
        raise EvaluateAppError(str(error)) from None
    num_real = min(options.num_samples, counts[options.split]) if counts[options.split] else options.num_samples
    kind = resolve_feature_network(options.feature_network, info)
    classifier_path = options.classifier_path
    if kind == "classifier" and not classifier_path and info.labels and counts.get("test"):
        _, fingerprint = classifier_settings(data, image_size, channels, epochs=options.classifier_epochs,
                                             width=options.classifier_width,
                                             feature_dim=options.classifier_feature_dim,
                                             blocks_per_stage=options.classifier_blocks_per_stage)
        classifier_path = default_classifier_path((info.manifest or {}).get("name") or "dataset", checksum,
                                                  image_size, channels, fingerprint)
    contrastive_path, encoder_settings = options.contrastive_path, None
    if kind == "contrastive":
        encoder_settings, encoder_fingerprint = contrastive_settings(
            data, image_size, channels, epochs=options.contrastive_epochs, batch_size=options.contrastive_batch_size)
        contrastive_path = contrastive_path or default_contrastive_path(
            (info.manifest or {}).get("name") or "dataset", checksum, image_size, channels, encoder_fingerprint)
    _check_feature_network(kind, data=data, dataset_info=info, checksum=checksum, classifier_path=classifier_path,
                           train_classifier=options.train_classifier, fid_weights=options.fid_weights,
                           inception_weights=options.inception_weights, contrastive_path=contrastive_path,
                           train_contrastive=options.train_contrastive, contrastive=encoder_settings)

    # 2. The model at the chosen checkpoint, and the feature network. The global seed is set
    #    because tf.data's seeded shuffle of the real images also depends on it.
    import keras

    keras.utils.set_random_seed(options.seed)
    model, path = restore_model(options.model_dir, build_model, options.checkpoint, model_defaults)
    step = checkpointing.checkpoint_step(path)
    extractor, facts = extractor_from_options(options, data=data, image_size=image_size, channels=channels,
                                              kind=kind, classifier_path=classifier_path,
                                              contrastive_path=contrastive_path, stream=stream)
    used_ema = bool(options.ema and getattr(model, "ema", None) is not None)
    conditional = is_conditional(model)
    num_classes = facts.get("num_classes")
    if conditional:
        num_classes = int(model.num_classes)
        check_conditional_evaluation(num_classes, data=data, dataset_info=info, num_samples=options.num_samples,
                                     classifier_classes=facts.get("num_classes"),
                                     classifier_path=facts.get("classifier_path"))

    # 3. Metrics.
    try:
        results = scoring.evaluate_generator(
            make_sample_fn(model, use_ema=options.ema, seed=options.seed),
            real_dataset(data, options.split, image_size, channels, options.batch_size, options.seed),
            extractor, options.num_samples, num_real=num_real, batch_size=options.batch_size,
            num_classes=num_classes, conditional=conditional,
            dataset_checksum=real_data_key(checksum, image_size, channels, options.seed), split=options.split,
            cache_dir=options.cache_dir, seed=options.seed)
    except scoring.EvaluationError as error:
        raise EvaluateAppError(str(error)) from None
    settings = results.pop("settings")
    bounds = None
    if options.bounds:
        try:
            bounds = score_bounds(data, split=options.split, image_size=image_size, channels=channels,
                                  extractor=extractor, num_samples=options.num_samples, num_real=num_real,
                                  batch_size=options.batch_size, seed=options.seed,
                                  dataset_checksum=real_data_key(checksum, image_size, channels, options.seed),
                                  num_classes=facts.get("num_classes"), cache_dir=options.cache_dir)
        except scoring.EvaluationError as error:
            raise EvaluateAppError(str(error)) from None
    report = {
        "fid": results.get("fid"),
        "kid_mean": results.get("kid_mean"),
        "kid_std": results.get("kid_std"),
        "inception_score_mean": results.get("inception_score_mean"),
        "inception_score_std": results.get("inception_score_std"),
        "precision": results.get("precision"),
        "recall": results.get("recall"),
        "density": results.get("density"),
        "coverage": results.get("coverage"),
        "num_real": settings["num_real"],
        "num_generated": settings["num_generated"],
        "feature_network": facts["feature_network"],
        "network": settings["network"],
        "resize": settings["resize"],
        "checkpoint_step": step,
        "checkpoint": path,
        "ema": used_ema,
        "data": data,
        "split": options.split,
        "seed": options.seed,
    }
    for key in ("classifier_path", "classifier_test_accuracy", "classifier_fingerprint", "contrastive_path",
                "contrastive_fingerprint", "contrastive_retrieval_accuracy", "contrastive_retrieval_accuracy_untrained",
                "contrastive_retrieval_images"):
        if key in facts:
            report[key] = facts[key]
    if bounds is not None:
        report.update(bounds)
    if "mode_coverage" in results:
        report["mode_coverage"] = results["mode_coverage"]
        report["class_shares"] = scoring.class_shares(results["mode_coverage"], info.labels)
    if conditional:
        report.update(conditional_report(results, num_classes, info.labels, facts["feature_network"]))
    report["settings"] = settings

    output = options.output or os.path.join(options.model_dir, EVAL_DIR,
                                            f"step-{step}-{facts['feature_network']}.json")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output + ".tmp", "w") as file:
        json.dump(jsonable(report), file, indent=2, sort_keys=True)
    os.replace(output + ".tmp", output)
    report["output"] = output
    print(format_table(report), file=stream, flush=True)
    print(f"Wrote {output}", file=stream, flush=True)
    return report


def jsonable(value):
    """A report as JSON-ready Python values: NumPy scalars to numbers, arrays to lists, keys to strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def format_table(report: Mapping) -> str:
    """The report as an aligned two-column text table.

    The Inception Score's row is left out when the feature network has no class head
    (inception_v3, contrastive) and so computed none.
    """

    def number(value, digits=4):
        return "n/a" if value is None else f"{value:.{digits}f}"

    def pair(mean, std, digits=4):
        return "n/a" if mean is None else f"{mean:.{digits}f} +- {std:.{digits}f}"

    metric_rows = [("FID", "fid", 3), ("KID (mean +- std over subsets)", "kid", 5),
                   ("Inception Score (mean +- std)", "inception_score", 3), ("precision", "precision", 4),
                   ("recall", "recall", 4), ("density", "density", 4), ("coverage", "coverage", 4)]
    if report.get("inception_score_mean") is None:
        metric_rows = [row for row in metric_rows if row[1] != "inception_score"]
    if report.get("floor") is not None and report.get("ceiling") is not None:
        return _bounds_table(report, metric_rows)
    rows = [
        ("FID", number(report.get("fid"), 3)),
        ("KID (mean +- std over subsets)", pair(report.get("kid_mean"), report.get("kid_std"), 5)),
        ("Inception Score (mean +- std)", pair(report.get("inception_score_mean"),
                                               report.get("inception_score_std"), 3)),
        ("precision", number(report.get("precision"))),
        ("recall", number(report.get("recall"))),
        ("density", number(report.get("density"))),
        ("coverage", number(report.get("coverage"))),
        ("real samples", str(report.get("num_real"))),
        ("generated samples", str(report.get("num_generated"))),
        ("feature network", f"{report.get('feature_network')} ({report.get('network')})"),
        ("resize", str(report.get("resize"))),
        ("checkpoint step", f"{report.get('checkpoint_step')}{' (EMA generator)' if report.get('ema') else ''}"),
    ]
    if report.get("inception_score_mean") is None:
        rows = [row for row in rows if not row[0].startswith("Inception Score")]
    if report.get("classifier_test_accuracy") is not None:
        rows.append(("classifier test accuracy", number(report["classifier_test_accuracy"])))
    if report.get("contrastive_retrieval_accuracy") is not None:
        rows.append(("contrastive encoder", _retrieval_text(report)))
    coverage = report.get("mode_coverage")
    if coverage:
        rows.append(("modes covered", f"{coverage['modes_covered']} of {coverage['num_modes']} "
                                      f"(KL to uniform {coverage['kl_to_uniform']:.4f})"))
        for name, share in (report.get("class_shares") or {}).items():
            rows.append((f"class {name}", f"{100 * share:.1f}% of samples"))
    rows.extend(_conditional_rows(report))
    width = max(len(name) for name, _ in rows)
    table = "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
    if report.get("per_class"):
        table += "\n\n" + per_class_table(report["per_class"])
    return table


def _conditional_rows(report: Mapping) -> list[tuple[str, str]]:
    """Summary rows of a class-conditional report: conditional accuracy and mean intra-FID."""
    if not report.get("conditional"):
        return []
    accuracy = report.get("conditional_accuracy")
    if accuracy is None:
        accuracy_text = f"n/a ({report.get('conditional_accuracy_unavailable')})"
    else:
        accuracy_text = f"{accuracy:.4f} (share of samples classified as their requested class)"
    mean = report.get("intra_fid_mean")
    skipped = report.get("intra_fid_skipped_classes") or []
    intra_text = "n/a" if mean is None else f"{mean:.3f}"
    if mean is not None and skipped:
        intra_text += f" (classes left out, with fewer than 2 real or generated samples: {len(skipped)})"
    return [(f"conditional accuracy ({report.get('num_classes')} classes)", accuracy_text),
            ("intra-FID (mean over classes)", intra_text)]


def per_class_table(rows) -> str:
    """One line per class: name, conditional accuracy, intra-FID, share of samples classified as it."""

    def cell(value, digits):
        return "n/a" if value is None else f"{value:.{digits}f}"

    header = ["class", "conditional accuracy", "intra-FID", "share classified as it"]
    body = [[f"{row['class']} {row['name']}" if row["name"] != str(row["class"]) else str(row["class"]),
             cell(row.get("conditional_accuracy"), 4), cell(row.get("intra_fid"), 3),
             "n/a" if row.get("share") is None else f"{100 * row['share']:.1f}%"] for row in rows]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    return "\n".join("  ".join(value.ljust(widths[i]) for i, value in enumerate(line)).rstrip()
                     for line in [header] + body)


def _bounds_table(report: Mapping, metric_rows) -> str:
    """Metrics in three columns: the model, the floor (real images of the other split), the ceiling (noise)."""

    def cell(row, key, digits):
        if key in ("kid", "inception_score"):
            mean, std = row.get(f"{key}_mean"), row.get(f"{key}_std")
            return "n/a" if mean is None else f"{mean:.{digits}f} +- {std:.{digits}f}"
        value = row.get(key)
        return "n/a" if value is None else f"{value:.{digits}f}"

    columns = [report, report["floor"], report["ceiling"]]
    header = ["", "model", f"floor ({report['floor']['source']})", f"ceiling ({report['ceiling']['source']})"]
    body = [[name] + [cell(column, key, digits) for column in columns] for name, key, digits in metric_rows]
    body.append(["generated samples"] + [str(column.get("num_generated")) for column in columns])
    widths = [max(len(row[i]) for row in [header] + body) for i in range(4)]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in [header] + body]
    lines.append(f"real samples: {report.get('num_real')} of {report.get('split')}; feature network "
                 f"{report.get('feature_network')} ({report.get('network')}); checkpoint step "
                 f"{report.get('checkpoint_step')}{' (EMA generator)' if report.get('ema') else ''}")
    if report.get("classifier_test_accuracy") is not None:
        lines.append(f"classifier test accuracy {report['classifier_test_accuracy']:.4f}")
    if report.get("contrastive_retrieval_accuracy") is not None:
        lines.append(f"contrastive encoder {_retrieval_text(report)}")
    lines.extend(f"{name}: {value}" for name, value in _conditional_rows(report))
    if report.get("per_class"):
        lines.extend(["", per_class_table(report["per_class"])])
    return "\n".join(lines)


def main(argv, *, config_class: type, build_model: Callable[[Any], Any], flag_values=None) -> dict:
    """An app's evaluate `main`: reads the flags, runs `run_evaluation`, exits cleanly on user errors.

    `config_class`: the app's config dataclass; `build_model`: an instance of it -> the app's model.
    """
    from common.training import flags as flags_lib
    from common.training import runtime
    from common.training.runtime_config import field_defaults

    flags_lib.check_no_positional_args(argv)
    with runtime.exit_on_user_error():
        return run_evaluation(options_from_flags(flag_values), lambda fields: build_model(config_class(**fields)),
                              model_defaults=field_defaults(config_class))
