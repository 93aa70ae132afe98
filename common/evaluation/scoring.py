"""Scores a generator against real data: every metric of `common.evaluation.metrics` in one call.

`evaluate_generator` draws samples from a sample function batch by batch, runs
them through a feature network (`common.evaluation.feature_networks` / `common.evaluation.classifier`),
compares them with the real data's features (computed here, passed in, or taken
from the `common.evaluation.reference_stats` cache) and returns a dict of plain numbers plus
a "settings" entry recording how each was computed: network, resize method, sample
counts, KID subsets, IS splits, nearest-neighbour k, FID square-root route, seed.

Metrics by source:
- features of generated and real images: FID, KID, precision/recall, density/coverage;
  per class for conditional models: intra-FID (needs real labels).
- the feature network's softmax head (the FID Inception's 1008 classes, or the
  dataset classifier's), else the `classifier`'s: Inception Score.
- a classifier of the dataset's own classes (`classifier`, or the feature network
  itself when its head has `num_classes` outputs): for conditional models the
  accuracy on the requested classes; for unconditional models the class histogram
  (mode coverage) and its KL to uniform. ImageNet heads are never used for these.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import numpy as np

from common.evaluation import metrics
from common.evaluation import reference_stats as reference_stats_lib

__all__ = ["EvaluationError", "ALL_METRICS", "class_shares", "evaluate_generator"]

ALL_METRICS = ("fid", "kid", "inception_score", "precision_recall", "density_coverage",
               "class_accuracy", "intra_fid", "mode_coverage")
_NEEDS_REAL_ROWS = ("kid", "precision_recall", "density_coverage", "intra_fid")


class EvaluationError(ValueError):
    """An evaluation was asked for something its inputs cannot give."""


def _as_numpy(value):
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def evaluate_generator(
    sample_fn: Callable[[int, np.ndarray | None], Any],
    real_dataset: Iterable[Any] | None,
    feature_extractor,
    num_samples: int,
    *,
    num_real: int | None = None,
    batch_size: int = 50,
    num_classes: int | None = None,
    conditional: bool = False,
    classifier=None,
    reference: reference_stats_lib.ReferenceStats | None = None,
    dataset_checksum: str | None = None,
    split: str = "train",
    cache_dir: str | None = None,
    metrics_to_compute: Sequence[str] | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    is_splits: int = 10,
    pr_k: int = 3,
    dc_k: int = 5,
    fid_method: str = "eigh",
    seed: int = 0,
) -> dict:
    """Evaluates `num_samples` generated images; returns {metric: value, ..., "settings": {...}}.

    Args:
      sample_fn: `sample_fn(n, labels)` -> n images in [-1, 1] (NHWC, NumPy or tensor);
        `labels` is an int array of the requested classes for conditional models, else None.
      real_dataset: batches of real images (dicts with "image"/"label" as from
        `common.data.reader.load_dataset`, (images, labels) pairs or arrays); unused when
        `reference` is given or a cached entry matches.
      feature_extractor: a `FeatureExtractor` for the distance metrics.
      num_samples: generated images to score.
      num_real: real images for the statistics (default `num_samples`).
      num_classes: classes of the dataset; a conditional model is asked for balanced
        classes (i % num_classes, shuffled with `seed`).
      classifier: a `FeatureExtractor` over the dataset's classes (e.g.
        `common.evaluation.classifier.classifier_features`) for accuracy / mode coverage, and for
        IS when the feature network has no head. Default: `feature_extractor` when its
        head has exactly `num_classes` outputs.
      reference: precomputed real statistics (must come from the same network and resize).
      dataset_checksum: with it, real statistics are cached in `cache_dir`
        (see `common.evaluation.reference_stats`).
      metrics_to_compute: subset of ALL_METRICS; default every metric the inputs allow.

    Conditional results: "class_accuracy" (float) and "class_accuracy_by_class"
    (`metrics.conditional_accuracy_by_class`: per requested class, and the
    classifier's class shares) when a classifier is available; "intra_fid"
    (`metrics.intra_fid`: "mean", "per_class", "skipped_classes").
    """
    num_real = int(num_real or num_samples)
    if conditional and not num_classes:
        raise EvaluationError("A conditional evaluation needs num_classes.")
    if classifier is not None and not classifier.has_probabilities:
        raise EvaluationError(f"The classifier {classifier.name} has no softmax head.")
    if classifier is None and feature_extractor.has_probabilities and num_classes == feature_extractor.num_classes:
        classifier = feature_extractor
    if classifier is not None:
        num_classes = num_classes or classifier.num_classes
        if num_classes != classifier.num_classes:
            raise EvaluationError(f"num_classes={num_classes} but the classifier {classifier.name} has "
                                  f"{classifier.num_classes} classes.")
    score_head = feature_extractor if feature_extractor.has_probabilities else classifier
    requested = _choose_metrics(metrics_to_compute, conditional, classifier, score_head)
    needs_real_rows = any(m in requested for m in _NEEDS_REAL_ROWS)
    smallest = min(num_samples, num_real if reference is None else reference.count)
    neighbours = max([k for m, k in (("precision_recall", pr_k), ("density_coverage", dc_k)) if m in requested],
                     default=1)
    if smallest <= neighbours or ("inception_score" in requested and num_samples < is_splits):
        raise EvaluationError(
            f"{num_samples} generated and {smallest} real samples are too few: nearest-neighbour metrics need "
            f"more than k={neighbours} per set and the Inception Score at least is_splits={is_splits}.")
    if reference is not None and (reference.network, reference.resize) != (feature_extractor.name,
                                                                            feature_extractor.resize):
        raise EvaluationError(
            f"The reference statistics were computed with {reference.network} ({reference.resize}) but the "
            f"feature network is {feature_extractor.name} ({feature_extractor.resize}); they cannot be compared. "
            "Recompute the reference with this network.")
    if reference is not None and needs_real_rows and reference.features is None:
        raise EvaluationError(
            f"{[m for m in requested if m in _NEEDS_REAL_ROWS]} need the real feature rows, but the reference "
            "holds only mean and covariance. Compute it with keep_features=True, or ask only for 'fid'.")
    if "intra_fid" in requested and reference is not None and reference.labels is None:
        raise EvaluationError("Intra-FID needs real labels; the reference statistics have none.")

    # 1. Real statistics: given, cached, or computed now (and cached when the dataset has a checksum).
    reused = reference is not None
    if reference is None and dataset_checksum is not None:
        reference = reference_stats_lib.load_reference_stats(
            cache_dir, dataset_checksum=dataset_checksum, network=feature_extractor.name,
            resize=feature_extractor.resize, split=split, num_samples=num_real, need_features=needs_real_rows)
        reused = reference is not None
    if reference is None:
        if real_dataset is None:
            raise EvaluationError("No reference statistics were given or cached; pass real_dataset to compute "
                                  "them.")
        reference = reference_stats_lib.compute_reference_stats(
            real_dataset, feature_extractor, num_real, dataset_checksum=dataset_checksum or "", split=split,
            keep_features=needs_real_rows)
        if dataset_checksum is not None:
            reference_stats_lib.save_reference_stats(reference, cache_dir)
    if "intra_fid" in requested and reference.labels is None:
        raise EvaluationError("Intra-FID needs real labels; the real data has none.")

    # 2. Generated features (and probabilities), batch by batch.
    requested_labels = None
    if conditional:
        requested_labels = np.random.default_rng(seed).permutation(np.arange(num_samples) % num_classes)
    fake = metrics.FeatureAccumulator(num_samples, keep_features=needs_real_rows)
    score_probabilities, class_probabilities = [], []
    needs_score = "inception_score" in requested
    needs_classes = any(m in requested for m in ("class_accuracy", "mode_coverage"))
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        labels = None if requested_labels is None else requested_labels[start:start + count]
        images = _as_numpy(sample_fn(count, labels))
        if images.shape[0] != count:
            raise EvaluationError(f"sample_fn({count}, labels) returned {images.shape[0]} images.")
        outputs = feature_extractor(images)
        fake.add(outputs["features"])
        classified = None
        if needs_classes:
            classified = outputs if classifier is feature_extractor else classifier(images)
            class_probabilities.append(classified["probabilities"])
        if needs_score:
            if score_head is feature_extractor:
                score_probabilities.append(outputs["probabilities"])
            else:
                scored = classified if classified is not None else classifier(images)
                score_probabilities.append(scored["probabilities"])

    # 3. Metrics.
    results: dict[str, Any] = {}
    fake_mean, fake_cov = fake.moments()
    if "fid" in requested:
        results["fid"] = metrics.frechet_distance(reference.mean, reference.cov, fake_mean, fake_cov,
                                                  method=fid_method)
    effective_subset = None
    if "kid" in requested:
        effective_subset = min(kid_subset_size, reference.features.shape[0], num_samples)
        results["kid_mean"], results["kid_std"] = metrics.kid(
            reference.features, fake.features, num_subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    if "precision_recall" in requested:
        results["precision"], results["recall"] = metrics.precision_recall(reference.features, fake.features,
                                                                           k=pr_k)
    if "density_coverage" in requested:
        results["density"], results["coverage"] = metrics.density_coverage(reference.features, fake.features,
                                                                           k=dc_k)
    if "inception_score" in requested:
        results["inception_score_mean"], results["inception_score_std"] = metrics.inception_score(
            np.concatenate(score_probabilities), num_splits=is_splits)
    if "class_accuracy" in requested:
        by_class = metrics.conditional_accuracy_by_class(np.concatenate(class_probabilities), requested_labels,
                                                         num_classes)
        results["class_accuracy"] = by_class["accuracy"]
        results["class_accuracy_by_class"] = by_class
    if "intra_fid" in requested:
        try:
            results["intra_fid"] = metrics.intra_fid(reference.features, reference.labels, fake.features,
                                                     requested_labels, classes=range(num_classes),
                                                     method=fid_method)
        except ValueError as error:  # no class has 2 real and 2 generated samples
            raise EvaluationError(f"{error} Score more samples: at least 2 of every class, real and "
                                  "generated.") from None
    if "mode_coverage" in requested:
        probabilities = np.concatenate(class_probabilities)
        results["mode_coverage"] = metrics.mode_coverage(probabilities.argmax(axis=1), num_classes,
                                                         probabilities=probabilities)
    results["settings"] = {
        **feature_extractor.describe(),
        "classifier": None if classifier is None else classifier.name,
        "inception_score_network": None if score_head is None else score_head.name,
        "num_generated": int(num_samples),
        "num_real": int(reference.count),
        "reference_reused": bool(reused),
        "conditional": bool(conditional),
        "metrics": list(requested),
        "fid_method": fid_method,
        "kid_subsets": kid_subsets,
        "kid_subset_size": effective_subset,
        "is_splits": is_splits,
        "precision_recall_k": pr_k,
        "density_coverage_k": dc_k,
        "seed": seed,
    }
    return results


def class_shares(mode_coverage: dict, class_names: Sequence[str] | None) -> dict[str, float]:
    """{class name: share of the samples} from a `mode_coverage` result, in class-index order.

    `class_names` are the dataset's label names (`common.data.reader.describe(data).labels`,
    the manifest's `labels`); the class index is used as the name when they are
    missing or do not match the histogram's length.
    """
    counts = [int(c) for c in mode_coverage["histogram"]]
    total = max(sum(counts), 1)
    names = list(class_names) if class_names and len(class_names) == len(counts) else [str(i) for i in
                                                                                        range(len(counts))]
    return {name: count / total for name, count in zip(names, counts)}


def _choose_metrics(requested: Sequence[str] | None, conditional: bool, classifier,
                    score_head) -> tuple[str, ...]:
    if requested is None:
        chosen = ["fid", "kid", "precision_recall", "density_coverage"]
        if score_head is not None:
            chosen.append("inception_score")
        if conditional:
            chosen.append("intra_fid")
        if classifier is not None:
            chosen.append("class_accuracy" if conditional else "mode_coverage")
        return tuple(chosen)
    unknown = [m for m in requested if m not in ALL_METRICS]
    if unknown:
        raise EvaluationError(f"Unknown metrics {unknown}; choose from {ALL_METRICS}.")
    if score_head is None and "inception_score" in requested:
        raise EvaluationError("inception_score needs class probabilities; the feature network has no softmax "
                              "head. Pass classifier=... (e.g. common.evaluation.classifier.classifier_features).")
    class_metrics = [m for m in requested if m in ("class_accuracy", "mode_coverage")]
    if classifier is None and class_metrics:
        raise EvaluationError(
            f"{class_metrics} need class probabilities over the dataset's classes; pass classifier=... "
            "(e.g. common.evaluation.classifier.classifier_features) or num_classes matching the feature network's head.")
    if not conditional and any(m in requested for m in ("class_accuracy", "intra_fid")):
        raise EvaluationError("class_accuracy and intra_fid score conditional models; set conditional=True "
                              "and num_classes.")
    if conditional and "mode_coverage" in requested:
        raise EvaluationError("mode_coverage scores unconditional models; conditional ones report "
                              "class_accuracy.")
    return tuple(requested)
