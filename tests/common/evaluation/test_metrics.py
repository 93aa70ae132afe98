"""Metric math against closed forms and hand-counted point sets."""

import numpy as np
import pytest
import scipy.linalg

from common.evaluation import metrics


# --------------------------------------------------------------------- FID


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_diagonal_gaussians_match_closed_form(method):
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 1.0])
    # Diagonal covariances: FID = ||mu1-mu2||^2 + sum(s1 + s2 - 2 sqrt(s1 s2)).
    # = (1 + 4 + 0.25) + (1 + 9 - 6) + (4 + 1 - 4) + (0.25 + 1 - 1) = 5.25 + 4 + 1 + 0.25
    expected = 10.5
    got = metrics.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2), method=method)
    assert got == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_full_covariances_match_direct_formula(method):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    # Direct formula with the symmetric form tr((S1^1/2 S2 S1^1/2)^1/2), via scipy.
    root1 = scipy.linalg.sqrtm(s1).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(
        scipy.linalg.sqrtm(root1 @ s2 @ root1).real)
    assert metrics.frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(expected, rel=1e-9)


def test_fid_zero_for_identical_sets_symmetric_and_non_negative():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8))
    y = rng.normal(size=(300, 8)) * 1.5 + 0.3
    assert metrics.fid_from_features(x, x) == pytest.approx(0.0, abs=1e-9)
    forward, backward = metrics.fid_from_features(x, y), metrics.fid_from_features(y, x)
    assert forward > 0.5
    assert forward == pytest.approx(backward, rel=1e-9)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_handles_singular_covariances(method):
    # 5 samples in 16 dimensions: both covariances have rank 4.
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 16)), rng.normal(size=(5, 16)) + 2.0
    value = metrics.fid_from_features(x, y, method=method)
    assert np.isfinite(value) and value > 0
    assert metrics.fid_from_features(x, y, method="eigh") == pytest.approx(value, rel=1e-3)
    # Identical rank-deficient sets: distance 0 up to the eps ridge.
    assert metrics.fid_from_features(x, x, method=method) == pytest.approx(0.0, abs=1e-4)


def test_fid_rejects_mismatched_shapes_and_unknown_method():
    with pytest.raises(ValueError, match="same feature network"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="eigh"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="svd")


def test_feature_accumulator_streams_moments_and_rows():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(103, 5)) * [1, 2, 3, 4, 5] + 100.0  # large offset stresses the update
    acc = metrics.FeatureAccumulator(capacity=50)  # grows past its capacity
    for start in range(0, 103, 17):
        acc.add(x[start:start + 17])
    mean, cov = acc.moments()
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False), rtol=1e-9)
    np.testing.assert_allclose(acc.features, x.astype(np.float32))
    moments_only = metrics.FeatureAccumulator(keep_features=False)
    moments_only.add(x)
    np.testing.assert_allclose(moments_only.moments()[1], cov, rtol=1e-9)
    with pytest.raises(ValueError, match="dimension"):
        acc.add(np.zeros((2, 4)))


# --------------------------------------------------------------------- KID


def _unbiased_mmd2_by_loops(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_matches_direct_unbiased_estimator():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3)) + 0.5
    expected = _unbiased_mmd2_by_loops(x, y)
    assert metrics.polynomial_mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-10)
    # One subset of the full size is a permutation of both sets: same value, std 0.
    mean, std = metrics.kid(x, y, num_subsets=1, subset_size=1000)
    assert mean == pytest.approx(expected, rel=1e-10) and std == 0.0


def test_kid_near_zero_for_same_distribution_positive_for_shifted():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    mean, std = metrics.kid(x, y, num_subsets=20, subset_size=100)
    assert abs(mean) < 3 * std + 1e-3
    shifted_mean, shifted_std = metrics.kid(x, y + 1.0, num_subsets=20, subset_size=100)
    assert shifted_mean > 5 * shifted_std and shifted_mean > 100 * abs(mean)


# --------------------------------------------------------------------- IS


def test_inception_score_uniform_is_one_and_confident_balanced_is_class_count():
    assert metrics.inception_score(np.full((100, 10), 0.1)) == pytest.approx((1.0, 0.0), abs=1e-12)
    confident = np.eye(10)[np.arange(1000) % 10]  # every split of 100 holds 10 of each class
    mean, std = metrics.inception_score(confident, num_splits=10)
    assert mean == pytest.approx(10.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    # Confident but collapsed onto one class: no diversity, score 1.
    assert metrics.inception_score(np.eye(10)[np.zeros(100, int)])[0] == pytest.approx(1.0)


def test_inception_score_rejects_logits():
    with pytest.raises(ValueError, match="softmax"):
        metrics.inception_score(np.random.default_rng(0).normal(size=(20, 4)), num_splits=2)


# --------------------------------------------------------- nearest neighbours


def test_kth_nearest_neighbour_distances_excludes_self_and_batches():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    # k=1: nearest other point; k=2: second nearest.
    np.testing.assert_allclose(metrics.kth_nearest_neighbour_distances(points, 1, batch_size=3), [1, 1, 2, 4])
    np.testing.assert_allclose(metrics.kth_nearest_neighbour_distances(points, 2, batch_size=1), [3, 2, 3, 6])


def test_precision_recall_on_hand_checked_points():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k=1 radii: 1, 1, 1, 1
    fake = np.array([[0.5], [3.5], [10.0], [12.0]])  # k=1 radii: 3, 3, 2, 2
    # Precision: 0.5 (inside) and 3.5 (within 1 of 3.0) inside real balls; 10 and 12 not -> 2/4.
    # Recall: real 0,1,2 within 3 of 0.5 and 3 within 3 of 0.5 -> 4/4.
    precision, recall = metrics.precision_recall(real, fake, k=1, batch_size=2)
    assert (precision, recall) == (0.5, 1.0)


def test_density_coverage_on_hand_checked_points():
    real = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])  # k=1 radius 4 each
    fake = np.array([[1.0, 1.0], [2.0, 0.5], [40.0, 40.0]])
    # (1,1): dist to (0,0)=1.41, (4,0)=3.16, (0,4)=3.16, (4,4)=4.24 -> inside 3 balls.
    # (2,0.5): dist (0,0)=2.06, (4,0)=2.06, (0,4)=4.03, (4,4)=4.03 -> inside 2 balls.
    # (40,40): none. Density = (3 + 2 + 0) / (k=1 * 3) = 5/3.
    # Coverage: real balls containing a fake: (0,0), (4,0), (0,4) yes; (4,4) nearest fake 4.24 -> 3/4.
    density, coverage = metrics.density_coverage(real, fake, k=1, batch_size=3)
    assert density == pytest.approx(5 / 3) and coverage == 0.75


def test_identical_sets_give_perfect_precision_recall_coverage():
    x = np.random.default_rng(6).normal(size=(50, 4))
    assert metrics.precision_recall(x, x) == (1.0, 1.0)
    density, coverage = metrics.density_coverage(x, x)
    assert coverage == 1.0 and density > 0.5


# ------------------------------------------------------- classifier metrics


def test_conditional_accuracy_and_mode_coverage():
    probabilities = np.eye(3)[[0, 1, 2, 2]]
    assert metrics.conditional_accuracy(probabilities, [0, 1, 2, 0]) == 0.75
    balanced = metrics.mode_coverage([0, 1, 2, 0, 1, 2], 3)
    assert balanced == {"histogram": [2, 2, 2], "modes_covered": 3, "num_modes": 3, "kl_to_uniform": 0.0}
    probabilities = np.array([[0.95, 0.05, 0.0], [0.5, 0.4, 0.1], [0.0, 0.1, 0.9], [0.2, 0.7, 0.1]])
    with_confidence = metrics.mode_coverage(probabilities.argmax(axis=1), 3, probabilities=probabilities)
    assert with_confidence["histogram"] == [2, 1, 1]
    assert with_confidence["confident_share"] == 0.5  # rows 0 (0.95) and 2 (0.9, at the threshold)
    assert metrics.confident_share(probabilities, threshold=0.6) == 0.75
    with pytest.raises(ValueError, match="non-empty"):
        metrics.confident_share(np.zeros((0, 3)))
    collapsed = metrics.mode_coverage([1, 1, 1, 1], 4)
    assert collapsed["modes_covered"] == 1
    assert collapsed["kl_to_uniform"] == pytest.approx(np.log(4))  # KL(one-hot || uniform of 4)


def test_intra_fid_per_class():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(200, 3))
    real_labels = np.arange(200) % 2
    fake = real.copy()
    fake[real_labels == 1] += 2.0  # class 0 identical, class 1 shifted by 2 in 3 dims
    result = metrics.intra_fid(real, real_labels, fake, real_labels)
    assert result["per_class"][0] == pytest.approx(0.0, abs=1e-9)
    assert result["per_class"][1] == pytest.approx(12.0, rel=1e-9)  # ||shift||^2 = 3 * 4
    assert result["mean"] == pytest.approx(6.0, rel=1e-9)


def test_conditional_accuracy_by_class_on_hand_counted_predictions():
    # Six samples, three classes. Argmax classes: 0, 1, 1, 2, 0, 0.
    probabilities = np.array([[0.7, 0.2, 0.1],   # asked 0, says 0: hit
                              [0.1, 0.8, 0.1],   # asked 0, says 1: miss
                              [0.2, 0.5, 0.3],   # asked 1, says 1: hit
                              [0.1, 0.1, 0.8],   # asked 1, says 2: miss
                              [0.6, 0.3, 0.1],   # asked 1, says 0: miss
                              [0.5, 0.25, 0.25]])  # asked 2, says 0: miss
    requested = np.array([0, 0, 1, 1, 1, 2])
    result = metrics.conditional_accuracy_by_class(probabilities, requested, 3)
    assert result["accuracy"] == pytest.approx(2 / 6)  # hits: samples 0 and 2
    assert result["per_class"] == pytest.approx([1 / 2, 1 / 3, 0.0])
    assert result["requested"] == [2, 3, 1]
    assert result["predicted_share"] == pytest.approx([3 / 6, 2 / 6, 1 / 6])
    assert result["accuracy"] == pytest.approx(metrics.conditional_accuracy(probabilities, requested))
    # A class no sample was requested of has no accuracy (None, not 0): class 3 of four.
    padded = np.hstack([probabilities, np.zeros((6, 1))])
    assert metrics.conditional_accuracy_by_class(padded, requested, 4)["per_class"][3] is None
    with pytest.raises(ValueError, match=r"\[N, num_classes=4\]"):
        metrics.conditional_accuracy_by_class(probabilities, requested, 4)
    with pytest.raises(ValueError, match="6 predictions but 5 requested labels"):
        metrics.conditional_accuracy_by_class(probabilities, requested[:5], 3)
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        metrics.conditional_accuracy_by_class(probabilities, [0, 0, 1, 1, 1, 3], 3)
