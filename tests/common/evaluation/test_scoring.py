"""evaluate_generator end to end with a tiny feature network whose classes are known by construction."""

import keras
import numpy as np
import pytest

from common.evaluation import scoring
from common.evaluation import feature_networks
from common.evaluation import reference_stats


def _extractor(name="channel-net"):
    """Features: the 12 pixel values of a 2x2x3 image; class: the channel with the largest sum."""
    inputs = keras.Input((2, 2, 3))
    flat = keras.layers.Flatten()(inputs)
    channel_of_feature = np.arange(12) % 3
    kernel = 10.0 * np.eye(3)[channel_of_feature]  # [12, 3]
    logits = keras.layers.Dense(3, use_bias=False, kernel_initializer=keras.initializers.Constant(kernel))(flat)
    return feature_networks.FeatureExtractor(keras.Model(inputs, [flat, logits]), name=name, input_size=(2, 2))


def _images(labels, rng, shift=0.0):
    base = np.eye(3)[labels][:, None, None, :] * np.ones((1, 2, 2, 1))
    return (base + shift + 0.1 * rng.normal(size=base.shape)).astype(np.float32)


def _real_batches(n=60, batch=20):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 3
    images = _images(labels, rng)
    return [{"image": images[i:i + batch], "label": labels[i:i + batch]} for i in range(0, n, batch)]


def _unconditional_sampler(shift=0.0):
    rng, state = np.random.default_rng(1), {"next": 0}

    def sample(n, labels):
        assert labels is None
        classes = (state["next"] + np.arange(n)) % 3  # balanced in every consecutive run of 3
        state["next"] += n
        return _images(classes, rng, shift)
    return sample


def test_unconditional_evaluation_reports_every_metric_and_settings():
    results = scoring.evaluate_generator(_unconditional_sampler(), _real_batches(), _extractor(), 60,
                                            batch_size=25, num_classes=3)
    assert results["fid"] < 0.1
    assert abs(results["kid_mean"]) < 0.05
    assert results["precision"] > 0.8 and results["recall"] > 0.8 and results["coverage"] > 0.8
    assert results["inception_score_mean"] == pytest.approx(3.0, rel=1e-3)
    assert results["mode_coverage"]["histogram"] == [20, 20, 20]
    assert results["mode_coverage"]["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert results["mode_coverage"]["confident_share"] == 1.0  # logits ~40 apart: every sample is confident
    settings = results["settings"]
    assert settings["network"] == "channel-net" and settings["resize"].startswith("tf.image.resize bilinear 2x2")
    assert settings["kid_subset_size"] == 60 and settings["num_real"] == 60 and settings["num_generated"] == 60
    assert (settings["precision_recall_k"], settings["density_coverage_k"], settings["is_splits"]) == (3, 5, 10)

    shifted = scoring.evaluate_generator(_unconditional_sampler(shift=1.0), _real_batches(), _extractor(), 60,
                                            batch_size=25, metrics_to_compute=["fid", "precision_recall"])
    assert shifted["fid"] == pytest.approx(12.0, rel=0.1)  # 12 features, each shifted by 1
    assert shifted["precision"] == 0.0 and set(shifted) == {"fid", "precision", "recall", "settings"}


def test_conditional_evaluation_scores_requested_classes():
    rng = np.random.default_rng(2)
    faithful = lambda n, labels: _images(labels, rng)            # noqa: E731
    off_by_one = lambda n, labels: _images((labels + 1) % 3, rng)  # noqa: E731
    good = scoring.evaluate_generator(faithful, _real_batches(), _extractor(), 60, batch_size=25,
                                         num_classes=3, conditional=True)
    bad = scoring.evaluate_generator(off_by_one, _real_batches(), _extractor(), 60, batch_size=25,
                                        num_classes=3, conditional=True)
    assert good["class_accuracy"] == 1.0 and bad["class_accuracy"] == 0.0
    assert good["class_accuracy_by_class"]["per_class"] == [1.0, 1.0, 1.0]
    assert good["class_accuracy_by_class"]["requested"] == [20, 20, 20]  # balanced: 60 samples, 3 classes
    assert bad["class_accuracy_by_class"]["per_class"] == [0.0, 0.0, 0.0]
    assert good["intra_fid"]["mean"] < 0.1 < bad["intra_fid"]["mean"]
    assert sorted(good["intra_fid"]["per_class"]) == [0, 1, 2]
    assert good["fid"] < 0.1 and bad["fid"] < 0.1  # the marginal distributions agree; only intra-FID sees it


def test_cached_reference_is_reused_and_foreign_reference_refused(tmp_path):
    extractor = _extractor()
    first = scoring.evaluate_generator(_unconditional_sampler(), _real_batches(), extractor, 60,
                                          dataset_checksum="digits-v1", cache_dir=str(tmp_path))
    second = scoring.evaluate_generator(_unconditional_sampler(), None, extractor, 60,
                                           dataset_checksum="digits-v1", cache_dir=str(tmp_path))
    assert not first["settings"]["reference_reused"] and second["settings"]["reference_reused"]
    assert second["fid"] == pytest.approx(first["fid"], rel=1e-9)
    stats, _ = reference_stats.get_reference_stats(None, extractor, 60, dataset_checksum="digits-v1",
                                                   cache_dir=str(tmp_path))
    with pytest.raises(scoring.EvaluationError, match="cannot be compared"):
        scoring.evaluate_generator(_unconditional_sampler(), None, _extractor("other-net"), 60, reference=stats)


def test_metrics_the_inputs_cannot_give_are_refused_before_sampling():
    def never_called(n, labels):
        raise AssertionError("sampled before validating the request")
    features_only = _features_only()
    with pytest.raises(scoring.EvaluationError, match="class probabilities"):
        scoring.evaluate_generator(never_called, _real_batches(), features_only, 60,
                                      metrics_to_compute=["inception_score"])
    with pytest.raises(scoring.EvaluationError, match="Unknown metrics"):
        scoring.evaluate_generator(never_called, _real_batches(), features_only, 60, metrics_to_compute=["lpips"])
    with pytest.raises(scoring.EvaluationError, match="too few"):
        scoring.evaluate_generator(never_called, _real_batches(), features_only, 3)
    with pytest.raises(scoring.EvaluationError, match="num_classes"):
        scoring.evaluate_generator(never_called, _real_batches(), features_only, 60, conditional=True)


def _features_only(name="pixels"):
    inputs = keras.Input((2, 2, 3))
    return feature_networks.FeatureExtractor(keras.Model(inputs, keras.layers.Flatten()(inputs)), name=name,
                                             input_size=None)


def test_class_metrics_use_the_dataset_classifier_not_a_foreign_head():
    # A head with another class count (like the FID Inception's 1008 ImageNet classes) gives IS only.
    foreign = scoring.evaluate_generator(_unconditional_sampler(), _real_batches(), _extractor(), 60,
                                            num_classes=5)
    assert "inception_score_mean" in foreign and "mode_coverage" not in foreign
    assert foreign["settings"]["classifier"] is None
    # A features-only network plus the dataset classifier: IS and modes come from the classifier.
    results = scoring.evaluate_generator(_unconditional_sampler(), _real_batches(), _features_only(), 60,
                                            classifier=_extractor())
    assert results["mode_coverage"]["modes_covered"] == 3
    assert results["inception_score_mean"] == pytest.approx(3.0, rel=1e-3)
    assert results["settings"]["inception_score_network"] == "channel-net"
    with pytest.raises(scoring.EvaluationError, match="dataset's classes"):
        scoring.evaluate_generator(_unconditional_sampler(), _real_batches(), _features_only(), 60,
                                      metrics_to_compute=["mode_coverage"])
