"""Sample-quality metrics of generative models, as pure NumPy/SciPy math on features.

Every function here takes feature vectors (or class probabilities) that a feature
network computed elsewhere (`common.evaluation.feature_networks`, `common.evaluation.classifier`) and
returns plain Python floats. All arithmetic is done in float64.

Metrics and the papers they follow:

- Frechet Inception Distance, FID (Heusel et al. 2017, https://arxiv.org/abs/1706.08500):
  ``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))`` between Gaussian fits
  of two feature sets. ``tr((S1 S2)^(1/2))`` is computed by default through symmetric
  eigen-decompositions: it equals the sum of the square roots of the eigenvalues of
  the symmetric positive semi-definite matrix ``S1^(1/2) S2 S1^(1/2)``, which is real
  by construction and well defined for singular covariances (fewer samples than
  feature dimensions). ``method="sqrtm"`` reproduces the pytorch-fid / TTUR route
  instead: ``scipy.linalg.sqrtm(S1 S2)``; when the result is not finite, ``eps * I``
  is added to both covariances and the root is taken again; a complex result is
  accepted (real part kept) only when its diagonal's imaginary part is below 1e-3,
  otherwise a `ValueError` is raised. Both routes agree to rounding on
  well-conditioned inputs. A result below zero by rounding is reported as 0.
- Kernel Inception Distance, KID (Binkowski et al. 2018, https://arxiv.org/abs/1801.01401):
  the unbiased estimator of the squared MMD with the cubic polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets (default 100 subsets of
  1000 samples, the subset size capped by the smaller sample count); mean and
  standard deviation (ddof=0) over subsets, as in the authors' code.
- Inception Score, IS (Salimans et al. 2016, https://arxiv.org/abs/1606.03498):
  ``exp(E_x KL(p(y|x) || p(y)))`` on each of 10 consecutive splits; mean and standard
  deviation over splits. ``0 log 0`` is taken as 0.
- Precision and recall (Kynkaanniemi et al. 2019, https://arxiv.org/abs/1904.06991):
  the share of generated samples inside the real manifold (union of balls around
  every real feature, radius = distance to its k-th nearest real neighbour, k=3),
  and the share of real samples inside the generated manifold. Inside means
  ``distance <= radius`` as in the authors' code.
- Density and coverage (Naeem et al. 2020, https://arxiv.org/abs/2002.09797), k=5:
  density is the mean number of real balls containing a generated sample divided
  by k; coverage is the share of real balls that contain at least one generated
  sample. Inside means ``distance < radius`` as in the authors' code.
- Conditional accuracy: share of generated samples a classifier assigns to the class
  they were generated for; per class, the same share among the samples requested
  of that class. Mode coverage: histogram of the classes a classifier
  assigns to unconditional samples, the number of classes hit at least ``min_count``
  times, and ``KL(histogram || uniform)`` in nats (0 for a perfectly balanced model),
  as used for stacked MNIST in VEEGAN (Srivastava et al. 2017) and PacGAN.
- Intra-FID (Miyato & Koyama 2018, https://arxiv.org/abs/1802.05637): FID computed
  per class between generated samples of that class and real samples of that class,
  and its mean over classes.

Nearest-neighbour distances are computed in row batches, so memory holds one
``batch x N`` distance block at a time in addition to the feature matrices.
Features are streamed with `FeatureAccumulator`, which stores the feature matrix in
one preallocated float32 array and keeps a running float64 mean and covariance
(batched Welford/Chan update) so that FID never needs the matrix at all.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import scipy.linalg
from scipy.special import xlogy

__all__ = [
    "FeatureAccumulator",
    "gaussian_moments",
    "frechet_distance",
    "fid_from_features",
    "kid",
    "polynomial_mmd2_unbiased",
    "inception_score",
    "pairwise_distances",
    "kth_nearest_neighbour_distances",
    "precision_recall",
    "density_coverage",
    "conditional_accuracy",
    "conditional_accuracy_by_class",
    "class_histogram",
    "mode_coverage",
    "confident_share",
    "intra_fid",
]


# ---------------------------------------------------------------------------
# Streaming features
# ---------------------------------------------------------------------------


class FeatureAccumulator:
    """Collects feature batches; optionally keeps a running float64 mean/covariance.

    Args:
      capacity: number of rows to preallocate; the array doubles when it overflows.
        Pass the number of samples you will add to keep memory at one feature matrix.
      keep_features: store the rows (needed by KID, precision/recall, density/coverage).
      track_moments: keep the running mean and scatter matrix in float64 (enough for FID).
      dtype: storage dtype of the kept rows.
    """

    def __init__(self, capacity: int | None = None, *, keep_features: bool = True,
                 track_moments: bool = True, dtype=np.float32):
        if not keep_features and not track_moments:
            raise ValueError("FeatureAccumulator needs keep_features or track_moments set; both are False.")
        self.capacity = capacity
        self.keep_features = keep_features
        self.track_moments = track_moments
        self.dtype = dtype
        self.count = 0
        self._rows: np.ndarray | None = None
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None  # sum of (x - mean)(x - mean)^T

    @property
    def dim(self) -> int | None:
        if self._rows is not None:
            return self._rows.shape[1]
        return None if self._mean is None else self._mean.shape[0]

    def add(self, batch) -> None:
        """Adds a [B, D] batch of features."""
        batch = np.asarray(batch)
        if batch.ndim != 2:
            raise ValueError(f"Feature batches must be 2-D [batch, dim], got shape {batch.shape}.")
        if batch.shape[0] == 0:
            return
        if self.dim is not None and batch.shape[1] != self.dim:
            raise ValueError(f"Feature batch has dimension {batch.shape[1]}, earlier batches had {self.dim}.")
        if self.keep_features:
            self._append_rows(batch)
        if self.track_moments:
            self._update_moments(batch.astype(np.float64))
        self.count += batch.shape[0]

    def _append_rows(self, batch: np.ndarray) -> None:
        needed = self.count + batch.shape[0]
        if self._rows is None:
            size = max(self.capacity or 0, needed)
            self._rows = np.empty((size, batch.shape[1]), dtype=self.dtype)
        elif needed > self._rows.shape[0]:
            grown = np.empty((max(needed, 2 * self._rows.shape[0]), batch.shape[1]), dtype=self.dtype)
            grown[: self.count] = self._rows[: self.count]
            self._rows = grown
        self._rows[self.count:needed] = batch

    def _update_moments(self, batch: np.ndarray) -> None:
        n_batch = batch.shape[0]
        batch_mean = batch.mean(axis=0)
        centred = batch - batch_mean
        batch_scatter = centred.T @ centred
        if self._mean is None:
            self._mean, self._scatter = batch_mean, batch_scatter
            return
        total = self.count + n_batch
        delta = batch_mean - self._mean
        self._mean = self._mean + delta * (n_batch / total)
        self._scatter = self._scatter + batch_scatter + np.outer(delta, delta) * (self.count * n_batch / total)

    @property
    def features(self) -> np.ndarray:
        """The [count, D] rows added so far (a view, no copy)."""
        if not self.keep_features:
            raise ValueError("This FeatureAccumulator was created with keep_features=False.")
        if self._rows is None:
            raise ValueError("No features were added.")
        return self._rows[: self.count]

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean [D], covariance [D, D]) in float64, covariance with ddof=1 like np.cov."""
        if self.count < 2:
            raise ValueError(f"Mean and covariance need at least 2 samples, got {self.count}.")
        if self.track_moments:
            return self._mean.copy(), self._scatter / (self.count - 1)
        return gaussian_moments(self.features)


def gaussian_moments(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof=1, float64) of [N, D] features."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"Need a [N>=2, D] feature matrix, got shape {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1])


# ---------------------------------------------------------------------------
# FID
# ---------------------------------------------------------------------------


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    eigenvalues = np.clip(eigenvalues, 0.0, None)  # negative values are rounding noise
    return (eigenvectors * np.sqrt(eigenvalues)) @ eigenvectors.T


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    # tr((S1 S2)^1/2) = sum sqrt(eig(S1^1/2 S2 S1^1/2)); the inner matrix is symmetric PSD.
    sqrt_sigma1 = _sqrt_psd(sigma1)
    inner = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        largest_imaginary = np.max(np.abs(np.diagonal(covmean).imag))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"sqrtm(S1 S2) has an imaginary component of {largest_imaginary:.3g} on its diagonal; "
                "the covariances are too ill-conditioned for method='sqrtm'. Use method='eigh', or more samples.")
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(mu1, sigma1, mu2, sigma2, *, method: str = "eigh", eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    Args:
      mu1, mu2: [D] means. sigma1, sigma2: [D, D] covariances.
      method: "eigh" (default; symmetric eigen-decompositions, exact for singular
        covariances) or "sqrtm" (scipy.linalg.sqrtm with the pytorch-fid fix).
      eps: the ridge added to both covariances when sqrtm's result is not finite.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0],) * 2:
        raise ValueError(
            f"Mean/covariance shapes do not match: mu1 {mu1.shape}, sigma1 {sigma1.shape}, "
            f"mu2 {mu2.shape}, sigma2 {sigma2.shape}. Both sets must come from the same feature network.")
    if method == "eigh":
        trace_sqrt = _trace_sqrt_product_eigh(sigma1, sigma2)
    elif method == "sqrtm":
        trace_sqrt = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    else:
        raise ValueError(f"method must be 'eigh' or 'sqrtm', got {method!r}.")
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    return max(float(distance), 0.0)


def fid_from_features(features1, features2, *, method: str = "eigh") -> float:
    """FID between two [N, D] feature matrices."""
    return frechet_distance(*gaussian_moments(features1), *gaussian_moments(features2), method=method)


# ---------------------------------------------------------------------------
# KID
# ---------------------------------------------------------------------------


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def polynomial_mmd2_unbiased(x, y) -> float:
    """Unbiased MMD^2 between [m, D] and [n, D] features with k(x,y) = (x.y/D + 1)^3."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"Unbiased MMD needs at least 2 samples per set, got {m} and {n}.")
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kid(real_features, fake_features, *, num_subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: (mean, std) of unbiased polynomial MMD^2 over subsets.

    Each subset draws `min(subset_size, n_real, n_fake)` rows without replacement
    from each set, independently per subset.
    """
    real_features, fake_features = np.asarray(real_features), np.asarray(fake_features)
    size = min(subset_size, real_features.shape[0], fake_features.shape[0])
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {real_features.shape[0]} real "
                         f"and {fake_features.shape[0]} generated.")
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        real_subset = real_features[rng.choice(real_features.shape[0], size, replace=False)]
        fake_subset = fake_features[rng.choice(fake_features.shape[0], size, replace=False)]
        values[i] = polynomial_mmd2_unbiased(real_subset, fake_subset)
    return float(values.mean()), float(values.std())


# ---------------------------------------------------------------------------
# Inception Score
# ---------------------------------------------------------------------------


def inception_score(probabilities, *, num_splits: int = 10) -> tuple[float, float]:
    """(mean, std) of exp(E KL(p(y|x) || p(y))) over consecutive splits of [N, C] probabilities."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] < num_splits:
        raise ValueError(f"Inception Score needs [N, classes] probabilities with N >= num_splits={num_splits}, "
                         f"got shape {probabilities.shape}.")
    if np.any(probabilities < 0) or not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("Inception Score needs softmax probabilities (non-negative rows summing to 1), "
                         "not logits.")
    scores = []
    n = probabilities.shape[0]
    for i in range(num_splits):  # split boundaries i * n // num_splits, as in the authors' code
        part = probabilities[i * n // num_splits:(i + 1) * n // num_splits]
        marginal = part.mean(axis=0, keepdims=True)                      # p(y) on this split
        kl = (xlogy(part, part) - xlogy(part, marginal)).sum(axis=1)     # KL(p(y|x) || p(y)) per sample
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


# ---------------------------------------------------------------------------
# Nearest-neighbour metrics
# ---------------------------------------------------------------------------


def pairwise_distances(a, b) -> np.ndarray:
    """Euclidean distances [len(a), len(b)] in float64 (one block; see the batched users below)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    squared = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared, 0.0, None))


def _row_batches(n: int, batch_size: int) -> Iterable[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def kth_nearest_neighbour_distances(features, k: int, *, batch_size: int = 1000) -> np.ndarray:
    """Distance of every row to its k-th nearest other row (the row itself excluded)."""
    features = np.asarray(features)
    n = features.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k={k} nearest neighbours need more than k samples and k >= 1; got {n} samples.")
    radii = np.empty(n)
    for rows in _row_batches(n, batch_size):
        distances = pairwise_distances(features[rows], features)
        distances[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = -1.0  # self first
        radii[rows] = np.partition(distances, k, axis=1)[:, k]
    return radii


def _count_inside_balls(points, centres, radii, *, strict: bool, batch_size: int) -> np.ndarray:
    """For every point, the number of balls (centre, radius) that contain it."""
    counts = np.empty(len(points), dtype=np.int64)
    for rows in _row_batches(len(points), batch_size):
        distances = pairwise_distances(points[rows], centres)
        inside = distances < radii[None, :] if strict else distances <= radii[None, :]
        counts[rows] = inside.sum(axis=1)
    return counts


def precision_recall(real_features, fake_features, *, k: int = 3, batch_size: int = 1000) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019)."""
    real_features, fake_features = np.asarray(real_features), np.asarray(fake_features)
    real_radii = kth_nearest_neighbour_distances(real_features, k, batch_size=batch_size)
    fake_radii = kth_nearest_neighbour_distances(fake_features, k, batch_size=batch_size)
    precision = (_count_inside_balls(fake_features, real_features, real_radii,
                                     strict=False, batch_size=batch_size) > 0).mean()
    recall = (_count_inside_balls(real_features, fake_features, fake_radii,
                                  strict=False, batch_size=batch_size) > 0).mean()
    return float(precision), float(recall)


def density_coverage(real_features, fake_features, *, k: int = 5, batch_size: int = 1000) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020); balls only around real samples."""
    real_features, fake_features = np.asarray(real_features), np.asarray(fake_features)
    real_radii = kth_nearest_neighbour_distances(real_features, k, batch_size=batch_size)
    density = _count_inside_balls(fake_features, real_features, real_radii,
                                  strict=True, batch_size=batch_size).sum() / (k * len(fake_features))
    covered = np.empty(len(real_features), dtype=bool)
    for rows in _row_batches(len(real_features), batch_size):
        nearest_fake = pairwise_distances(real_features[rows], fake_features).min(axis=1)
        covered[rows] = nearest_fake < real_radii[rows]
    return float(density), float(covered.mean())


# ---------------------------------------------------------------------------
# Classifier-based metrics
# ---------------------------------------------------------------------------


def conditional_accuracy(probabilities, requested_labels) -> float:
    """Share of samples whose argmax class equals the class they were generated for."""
    probabilities, requested_labels = np.asarray(probabilities), np.asarray(requested_labels)
    if probabilities.shape[0] != requested_labels.shape[0]:
        raise ValueError(f"{probabilities.shape[0]} predictions but {requested_labels.shape[0]} requested labels.")
    return float((probabilities.argmax(axis=1) == requested_labels).mean())


def conditional_accuracy_by_class(probabilities, requested_labels, num_classes: int) -> dict:
    """Conditional accuracy overall and per requested class, with the classifier's class shares.

    Args:
      probabilities: [N, num_classes] class probabilities of N generated samples.
      requested_labels: [N] int, the class each sample was generated for.
      num_classes: K, the number of classes.

    Returns:
      {"accuracy": share of all samples whose argmax is their requested class,
       "per_class": [K] share of the samples requested of class k whose argmax is k
         (None for a class no sample was requested of),
       "requested": [K] number of samples requested of each class,
       "predicted_share": [K] share of all samples whose argmax is class k}.
    """
    probabilities, requested_labels = np.asarray(probabilities), np.asarray(requested_labels, np.int64)
    if probabilities.ndim != 2 or probabilities.shape[1] != num_classes:
        raise ValueError(f"probabilities must be [N, num_classes={num_classes}]; got shape {probabilities.shape}.")
    if probabilities.shape[0] != requested_labels.shape[0] or probabilities.shape[0] == 0:
        raise ValueError(f"{probabilities.shape[0]} predictions but {requested_labels.shape[0]} requested labels; "
                         "give one requested label per sample, and at least one sample.")
    if requested_labels.min() < 0 or requested_labels.max() >= num_classes:
        raise ValueError(f"Requested labels must lie in [0, {num_classes}); got {requested_labels.min()}.."
                         f"{requested_labels.max()}.")
    predicted = probabilities.argmax(axis=1)
    correct = predicted == requested_labels
    requested = np.bincount(requested_labels, minlength=num_classes)
    hits = np.bincount(requested_labels, weights=correct.astype(np.float64), minlength=num_classes)
    per_class = [float(hits[k] / requested[k]) if requested[k] else None for k in range(num_classes)]
    return {
        "accuracy": float(correct.mean()),
        "per_class": per_class,
        "requested": requested.tolist(),
        "predicted_share": (class_histogram(predicted, num_classes) / len(predicted)).tolist(),
    }


def class_histogram(predicted_labels, num_classes: int) -> np.ndarray:
    """Counts [num_classes] of each predicted class."""
    return np.bincount(np.asarray(predicted_labels, np.int64), minlength=num_classes)[:num_classes]


def confident_share(probabilities, threshold: float = 0.9) -> float:
    """Share of samples whose most probable class has probability >= `threshold` (rows of `probabilities`)."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 2 or len(probabilities) == 0:
        raise ValueError(f"probabilities must be a non-empty [N, classes] array; got shape {probabilities.shape}.")
    return float(np.mean(probabilities.max(axis=1) >= threshold))


def mode_coverage(predicted_labels, num_classes: int, *, min_count: int = 1, probabilities=None,
                  confidence_threshold: float = 0.9) -> dict:
    """Histogram, modes covered (classes hit >= min_count times), KL(histogram || uniform) in nats.

    With the classifier's `probabilities` [N, num_classes] (whose argmax is
    `predicted_labels`), also ``confident_share``: the share of samples
    classified with probability >= `confidence_threshold` (`confident_share`),
    the "does it look like a member of some class" reading of the same classifier.
    """
    counts = class_histogram(predicted_labels, num_classes)
    shares = counts / max(counts.sum(), 1)
    kl_to_uniform = float(xlogy(shares, shares * num_classes).sum())
    result = {
        "histogram": counts.tolist(),
        "modes_covered": int((counts >= min_count).sum()),
        "num_modes": int(num_classes),
        "kl_to_uniform": kl_to_uniform,
    }
    if probabilities is not None:
        result["confident_share"] = confident_share(probabilities, confidence_threshold)
        result["confidence_threshold"] = float(confidence_threshold)
    return result


def intra_fid(real_features, real_labels, fake_features, fake_labels, *, classes: Sequence[int] | None = None,
              method: str = "eigh") -> dict:
    """Per-class FID and its mean over classes with >= 2 real and >= 2 generated samples."""
    real_features, fake_features = np.asarray(real_features), np.asarray(fake_features)
    real_labels, fake_labels = np.asarray(real_labels), np.asarray(fake_labels)
    if classes is None:
        classes = sorted(set(np.unique(real_labels).tolist()) & set(np.unique(fake_labels).tolist()))
    per_class, skipped = {}, []
    for label in classes:
        real_rows, fake_rows = real_features[real_labels == label], fake_features[fake_labels == label]
        if len(real_rows) < 2 or len(fake_rows) < 2:
            skipped.append(int(label))
            continue
        per_class[int(label)] = fid_from_features(real_rows, fake_rows, method=method)
    if not per_class:
        raise ValueError("Intra-FID needs at least 2 real and 2 generated samples of some class; none had them.")
    return {"mean": float(np.mean(list(per_class.values()))), "per_class": per_class, "skipped_classes": skipped}
