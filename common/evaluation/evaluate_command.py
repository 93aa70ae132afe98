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
  batches (as a first use of Keras downloads its weights);
  ``--notrain_classifier`` refuses and exits with an error instead. Works
  offline; numbers compare only between runs scored with the same classifier.
- ``inception_v3``: Keras InceptionV3 ImageNet pool features (downloaded once to
  ``~/.keras/models``, or ``--inception_weights=file.h5``). Not comparable with
  published FIDs (different weights); no Inception Score (no class head).
- ``fid_inception``: the 2015 TensorFlow Inception graph of published FID/IS
  numbers, with ``--fid_weights=pt_inception-2015-12-05-6726825d.pth``.
- ``auto`` (default): ``classifier`` when the dataset has labels and a test split,
  else ``inception_v3``. Labelled small datasets (digits, MNIST) are then scored
  offline with features that see their content; unlabelled photos get the usual
  ImageNet features.

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
    "build_feature_extractor",
    "restore_model",
    "make_sample_fn",
    "run_evaluation",
    "format_table",
    "main",
]

FEATURE_NETWORKS = ("auto", "classifier", "inception_v3", "fid_inception")
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
    classifier_width: int | None = None
    classifier_feature_dim: int | None = None
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
                      "else inception_v3.", **kwargs)
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


def classifier_settings(data, image_size=None, channels: int | None = None, *, epochs: int | None = None,
                        width: int | None = None, feature_dim: int | None = None):
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
                                                                feature_dim=feature_dim)
    except classifier_lib.ClassifierError as error:
        raise EvaluateAppError(str(error)) from None
    return settings, classifier_lib.classifier_fingerprint(settings, shape, num_classes)


def _check_feature_network(kind: str, *, data, dataset_info, checksum: str, classifier_path: str | None,
                           train_classifier: bool, fid_weights: str | None, inception_weights: str | None,
                           flag_prefix: str = "") -> None:
    """Raises EvaluateAppError when the network's weights or classifier are missing (cheap checks only)."""
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


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} minutes"


def _cached_classifier_info(path: str, checksum: str) -> dict | None:
    """The sidecar of the classifier at `path` when it was trained on this dataset, else None."""
    from common.evaluation import classifier as classifier_lib

    sidecar = path + classifier_lib.SIDECAR_SUFFIX
    if not (os.path.isfile(path) and os.path.isfile(sidecar)):
        return None
    with open(sidecar) as file:
        info = json.load(file)
    if info.get("dataset_checksum") != checksum:
        return None
    return info


def build_feature_extractor(kind: str, *, data, image_size=None, channels: int | None = None,
                            classifier_path: str | None = None, train_classifier: bool = True,
                            classifier_epochs: int | None = None, classifier_width: int | None = None,
                            classifier_feature_dim: int | None = None, fid_weights: str | None = None,
                            inception_weights: str | None = None, seed: int = 0, verbose: int = 1,
                            flag_prefix: str = "", stream=None):
    """(FeatureExtractor, facts dict) for `kind` ("auto" resolved against `data`).

    The facts hold the resolved kind and, for the classifier, its path and test
    accuracy. Missing weights, or a missing classifier with `train_classifier`
    False, raise EvaluateAppError before any network is built; otherwise a
    classifier that is not cached is trained (progress and estimate on `stream`).
    `seed` is unused by the classifier, whose seed is part of its settings.
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
                                                    width=classifier_width, feature_dim=classifier_feature_dim)
    if kind == "classifier" and not classifier_path and fingerprint:
        name = (info.manifest or {}).get("name") or "dataset"
        classifier_path = default_classifier_path(name, checksum, image_size, channels, fingerprint)
    _check_feature_network(kind, data=data, dataset_info=info, checksum=checksum, classifier_path=classifier_path,
                           train_classifier=train_classifier, fid_weights=fid_weights,
                           inception_weights=inception_weights, flag_prefix=flag_prefix)
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
    """`sample_fn(n, labels)` for `evaluate_generator`: z from a stateless normal seeded by (seed, batch number).

    The same seed gives the same noise in every process. `use_ema=False` samples
    `model.generator` instead of `model.sample` (which prefers the moving average).
    """
    import tensorflow as tf

    latent_dim = int(model.latent_dim)
    if use_ema or getattr(model, "ema", None) is None:
        generate = lambda z: model.sample(z, training=False)  # noqa: E731
    else:
        generate = lambda z: model.generator(z, training=False)  # noqa: E731
    generate = tf.function(generate, reduce_retracing=True)
    state = {"batch": 0}

    def sample_fn(count: int, labels=None):
        z = tf.random.stateless_normal([count, latent_dim], seed=[seed, state["batch"]])
        state["batch"] += 1
        return generate(z)

    return sample_fn


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
                                             feature_dim=options.classifier_feature_dim)
        classifier_path = default_classifier_path((info.manifest or {}).get("name") or "dataset", checksum,
                                                  image_size, channels, fingerprint)
    _check_feature_network(kind, data=data, dataset_info=info, checksum=checksum, classifier_path=classifier_path,
                           train_classifier=options.train_classifier, fid_weights=options.fid_weights,
                           inception_weights=options.inception_weights)

    # 2. The model at the chosen checkpoint, and the feature network. The global seed is set
    #    because tf.data's seeded shuffle of the real images also depends on it.
    import keras

    keras.utils.set_random_seed(options.seed)
    model, path = restore_model(options.model_dir, build_model, options.checkpoint, model_defaults)
    step = checkpointing.checkpoint_step(path)
    extractor, facts = build_feature_extractor(
        kind, data=data, image_size=image_size, channels=channels, classifier_path=classifier_path,
        train_classifier=options.train_classifier, classifier_epochs=options.classifier_epochs,
        classifier_width=options.classifier_width, classifier_feature_dim=options.classifier_feature_dim,
        fid_weights=options.fid_weights, inception_weights=options.inception_weights, seed=options.seed,
        verbose=options.verbose, stream=stream)
    used_ema = bool(options.ema and getattr(model, "ema", None) is not None)

    # 3. Metrics.
    try:
        results = scoring.evaluate_generator(
            make_sample_fn(model, use_ema=options.ema, seed=options.seed),
            real_dataset(data, options.split, image_size, channels, options.batch_size, options.seed),
            extractor, options.num_samples, num_real=num_real, batch_size=options.batch_size,
            num_classes=facts.get("num_classes"),
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
    for key in ("classifier_path", "classifier_test_accuracy", "classifier_fingerprint"):
        if key in facts:
            report[key] = facts[key]
    if bounds is not None:
        report.update(bounds)
    if "mode_coverage" in results:
        report["mode_coverage"] = results["mode_coverage"]
        report["class_shares"] = scoring.class_shares(results["mode_coverage"], info.labels)
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
    """The report as an aligned two-column text table."""

    def number(value, digits=4):
        return "n/a" if value is None else f"{value:.{digits}f}"

    def pair(mean, std, digits=4):
        return "n/a" if mean is None else f"{mean:.{digits}f} +- {std:.{digits}f}"

    metric_rows = [("FID", "fid", 3), ("KID (mean +- std over subsets)", "kid", 5),
                   ("Inception Score (mean +- std)", "inception_score", 3), ("precision", "precision", 4),
                   ("recall", "recall", 4), ("density", "density", 4), ("coverage", "coverage", 4)]
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
    if report.get("classifier_test_accuracy") is not None:
        rows.append(("classifier test accuracy", number(report["classifier_test_accuracy"])))
    coverage = report.get("mode_coverage")
    if coverage:
        rows.append(("modes covered", f"{coverage['modes_covered']} of {coverage['num_modes']} "
                                      f"(KL to uniform {coverage['kl_to_uniform']:.4f})"))
        for name, share in (report.get("class_shares") or {}).items():
            rows.append((f"class {name}", f"{100 * share:.1f}% of samples"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


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
