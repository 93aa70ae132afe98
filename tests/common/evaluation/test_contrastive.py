"""The contrastive encoder: NT-Xent by hand, seeded augmentation, fingerprint, a tiny training, cache keys.

The datasets here are tiny and synthetic (8x8 images built with the repo's
TFRecords builder), the networks 4 filters wide and trained for a few steps: the
numbers are meaningless, the math, files, keys and errors are what is checked.
The evaluate command with --feature_network=contrastive is run in
test_evaluate_command.py, on the tiny DCGAN run that file already trains.
"""

import dataclasses
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from absl import flags

from common.evaluation import contrastive
from common.evaluation import evaluate_command
from common.evaluation import reference_stats

TINY = contrastive.ContrastiveSettings(width=4, feature_dim=8, projection_hidden=8, projection_dim=4, epochs=2,
                                       batch_size=16, learning_rate=1e-3)


def write_blobs_dataset(folder, count=60, test_fraction=0.2):
    """Unlabelled 8x8 RGB images: a coloured square at a random place on a darker background."""
    from tfrecords.build import build_dataset

    rng = np.random.default_rng(0)
    images = rng.integers(0, 60, size=(count, 8, 8, 3)).astype(np.uint8)
    for image in images:
        top, left = rng.integers(0, 5, size=2)
        image[top:top + 4, left:left + 4] = rng.integers(100, 256, size=3)
    os.makedirs(folder, exist_ok=True)
    np.savez(os.path.join(folder, "blobs.npz"), images=images)
    manifest = build_dataset(source=os.path.join(folder, "blobs.npz"), output=os.path.join(folder, "dataset"),
                             kind="npz", channels=3, test_fraction=test_fraction, num_workers=1, progress=False)
    return os.path.dirname(manifest)


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    return write_blobs_dataset(str(tmp_path_factory.mktemp("blobs")))


@pytest.fixture(scope="module")
def trained(blobs, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("encoder") / "blobs.keras")
    stream = io.StringIO()
    encoder, info = contrastive.get_or_train_contrastive(blobs, path, TINY, verbose=1, stream=stream)
    return encoder, info, path, stream.getvalue()


# --------------------------------------------------------------------------- loss


def nt_xent_by_hand(a, b, temperature):
    """SimCLR eq. 1 with explicit loops: views 0..N-1 are a, N..2N-1 are b; view k's positive is k +- N."""
    z = np.concatenate([a, b]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    count = len(z)
    losses, hits = [], []
    for k in range(count):
        positive = (k + count // 2) % count
        similarity = {j: float(z[k] @ z[j]) for j in range(count) if j != k}   # 2N - 1 others
        denominator = sum(np.exp(value / temperature) for value in similarity.values())
        losses.append(-np.log(np.exp(similarity[positive] / temperature) / denominator))
        hits.append(max(similarity, key=similarity.get) == positive)
    return np.mean(losses), np.mean(hits)


def test_nt_xent_matches_a_hand_computation():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    b[0] = 2.0 * a[0]  # same direction: cosine 1, a sure hit in both directions
    for temperature in (0.2, 0.5):
        loss, accuracy = contrastive.nt_xent_loss(tf.constant(a, tf.float32), tf.constant(b, tf.float32),
                                                  temperature)
        expected_loss, expected_accuracy = nt_xent_by_hand(a, b, temperature)
        assert float(loss) == pytest.approx(expected_loss, rel=1e-5)
        assert float(accuracy) == pytest.approx(expected_accuracy)
    # All 2N projections alike: the positive is one of 2N - 1 equal candidates (1 positive, 2N - 2 negatives).
    same = np.ones((4, 3), np.float32)
    loss, _ = contrastive.nt_xent_loss(same, same, 0.2)
    assert float(loss) == pytest.approx(np.log(7.0), rel=1e-6)


# --------------------------------------------------------------------------- augmentation


def test_augmentation_keeps_shape_and_range_and_is_reproducible_from_its_seed():
    images = np.random.default_rng(0).integers(0, 256, size=(8, 16, 12, 3)).astype(np.uint8)
    seed = tf.constant([4, 7], tf.int64)
    view = contrastive.augment(images, seed, contrastive.ContrastiveSettings()).numpy()
    assert view.shape == images.shape and view.dtype == np.float32
    assert view.min() >= -1.0 and view.max() <= 1.0
    np.testing.assert_array_equal(view, contrastive.augment(images, seed, contrastive.ContrastiveSettings()))
    other = contrastive.augment(images, tf.constant([4, 8], tf.int64), contrastive.ContrastiveSettings()).numpy()
    assert not np.allclose(view, other)
    gray = np.repeat(images[..., :1], 3, axis=-1)
    gray_view = contrastive.augment(gray, seed, contrastive.ContrastiveSettings(jitter_probability=1.0)).numpy()
    np.testing.assert_allclose(gray_view[..., 0], gray_view[..., 2], atol=2e-6)  # jitter keeps grays gray
    single = contrastive.augment(images[..., :1], seed, contrastive.ContrastiveSettings()).numpy()
    assert single.shape == (8, 16, 12, 1) and -1.0 <= single.min() and single.max() <= 1.0


def test_augmentation_without_crop_and_colour_is_the_image_or_its_mirror():
    images = np.random.default_rng(1).integers(0, 256, size=(16, 8, 8, 3)).astype(np.uint8)
    plain = contrastive.ContrastiveSettings(crop_min_scale=1.0, jitter_probability=0.0, grayscale_probability=0.0)
    view = contrastive.augment(images, tf.constant([0, 1], tf.int64), plain).numpy()
    expected = images / 127.5 - 1.0
    flipped = [not np.allclose(v, e, atol=1e-5) for v, e in zip(view, expected)]
    for v, e, was_flipped in zip(view, expected, flipped):
        np.testing.assert_allclose(v, e[:, ::-1] if was_flipped else e, atol=1e-5)
    assert 0 < sum(flipped) < len(images)
    grayscale = dataclasses.replace(plain, grayscale_probability=1.0)
    view = contrastive.augment(images, tf.constant([0, 1], tf.int64), grayscale).numpy()
    np.testing.assert_allclose(view[..., 0], view[..., 1], atol=1e-6)


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_changes_with_architecture_and_every_setting():
    base = contrastive.contrastive_fingerprint(TINY, (8, 8, 3))
    assert base == contrastive.contrastive_fingerprint(TINY, (8, 8, 3))
    changed = {"width": 8, "blocks_per_stage": 2, "feature_dim": 16, "projection_hidden": 16, "projection_dim": 8,
               "temperature": 0.5, "epochs": 3, "batch_size": 32, "learning_rate": 2e-3, "weight_decay": 0.0,
               "warmup_epochs": 0.5, "crop_min_scale": 0.5, "jitter_strength": 1.0, "jitter_probability": 0.5,
               "grayscale_probability": 0.1, "seed": 1}
    assert set(changed) == {field.name for field in dataclasses.fields(contrastive.ContrastiveSettings)}
    fingerprints = {base}
    for name, value in changed.items():
        fingerprints.add(contrastive.contrastive_fingerprint(dataclasses.replace(TINY, **{name: value}), (8, 8, 3)))
    fingerprints.add(contrastive.contrastive_fingerprint(TINY, (12, 12, 3)))  # another input size
    fingerprints.add(contrastive.contrastive_fingerprint(TINY, (8, 8, 1)))    # grayscale
    assert len(fingerprints) == len(changed) + 3


def test_settings_and_split_sizes_are_checked_before_training():
    with pytest.raises(contrastive.ContrastiveError, match="multiple of 4"):
        contrastive.ContrastiveSettings(batch_size=30)
    with pytest.raises(contrastive.ContrastiveError, match="temperature must be > 0"):
        contrastive.ContrastiveSettings(temperature=0.0)
    with pytest.raises(contrastive.ContrastiveError, match="no 'train' split"):
        contrastive.check_trainable(0, 10, TINY)
    with pytest.raises(contrastive.ContrastiveError, match="10 training images, fewer than one batch of 16; .* "
                                                           "at most 8"):
        contrastive.check_trainable(10, 10, TINY)
    with pytest.raises(contrastive.ContrastiveError, match="no 'test' split"):
        contrastive.check_trainable(100, 0, TINY)
    images = np.zeros((20, 8, 8, 3), np.uint8)
    with pytest.raises(contrastive.ContrastiveError, match="must be uint8"):
        contrastive.train_contrastive_encoder(images.astype(np.float32), images, TINY)


# --------------------------------------------------------------------------- training and files


def test_tiny_training_saves_an_encoder_that_reloads_in_safe_mode_with_the_same_features(trained, blobs):
    encoder, info, path, printed = trained
    with open(path + ".json") as file:
        assert json.load(file) == info
    assert info["dataset_checksum"] == reference_stats.dataset_checksum(blobs)
    assert info["fingerprint"] == contrastive.contrastive_fingerprint(TINY, (8, 8, 3))
    assert (info["num_train"], info["num_test"], info["steps"], info["epochs_trained"]) == (48, 12, 6, 2)
    assert (info["retrieval_images"], info["retrieval_candidates"]) == (12, 23)
    assert info["retrieval_chance"] == pytest.approx(1 / 23)
    for key in ("retrieval_accuracy", "retrieval_accuracy_untrained"):
        assert 0.0 <= info[key] <= 1.0
    assert info["projection_head_saved"] is False and info["feature_dim"] == 8
    assert "Measured" in printed and "6/6" in printed  # estimate and progress bar
    reloaded, reloaded_info = contrastive.load_encoder(path)  # safe_mode=True inside
    assert reloaded_info == info
    assert [layer.name for layer in reloaded.layers][-1] == "features"
    images = np.random.default_rng(2).uniform(-1, 1, size=(5, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(reloaded(images, training=False), encoder(images, training=False), rtol=1e-5,
                               atol=1e-6)
    extractor = contrastive.contrastive_features(reloaded, info=info)
    assert extractor.name.startswith(f"contrastive-encoder-{info['fingerprint']}-")
    assert not extractor.has_probabilities and extractor.feature_dim == 8
    assert extractor(images)["probabilities"] is None
    # Reused, not retrained, while the dataset and the fingerprint are the same.
    trained_at = os.path.getmtime(path)
    _, again = contrastive.get_or_train_contrastive(blobs, path, TINY, verbose=0)
    assert again == info and os.path.getmtime(path) == trained_at
    with pytest.raises(contrastive.ContrastiveError, match="No contrastive encoder"):
        contrastive.load_encoder(path.replace("blobs.keras", "absent.keras"))


def test_retrieval_accuracy_finds_identical_views_and_respects_the_image_cap(trained, blobs):
    from common.evaluation.classifier import decode_split

    encoder = trained[0]
    images, labels = decode_split(blobs, "test", with_labels=False)
    assert labels is None and images.dtype == np.uint8
    identical = contrastive.ContrastiveSettings(crop_min_scale=1.0, jitter_probability=0.0,
                                                grayscale_probability=0.0)
    # Flips are the only change; a network fed the same image twice finds it unless the mirror is closer.
    result = contrastive.retrieval_accuracy(encoder, images, identical)
    assert result["images"] == 12 and result["accuracy"] > result["chance"]
    capped = contrastive.retrieval_accuracy(encoder, images, TINY, max_images=5)
    assert (capped["images"], capped["candidates"]) == (5, 9)


def test_too_small_a_train_split_is_refused_before_any_decoding(blobs, tmp_path):
    big_batch = dataclasses.replace(TINY, batch_size=64)
    with pytest.raises(contrastive.ContrastiveError, match="48 training images, fewer than one batch of 64"):
        contrastive.get_or_train_contrastive(blobs, str(tmp_path / "e.keras"), big_batch, verbose=0)
    assert not os.path.exists(tmp_path / "e.keras")
    no_test = write_blobs_dataset(str(tmp_path / "no_test"), count=24, test_fraction=0.0)
    with pytest.raises(contrastive.ContrastiveError, match="no 'test' split"):
        contrastive.get_or_train_contrastive(no_test, str(tmp_path / "f.keras"),
                                             dataclasses.replace(TINY, batch_size=8), verbose=0)


# --------------------------------------------------------------------------- evaluate command: keys and flags


def test_default_path_sits_beside_the_classifiers_and_follows_the_fingerprint(blobs, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = evaluate_command.default_contrastive_path("celeba64", "ab" * 32, 64, 3, "0123456789abcdef")
    assert path == str(tmp_path / "gansuite" / "contrastive" / f"celeba64-{'ab' * 8}-64x64x3-0123456789abcdef.keras")
    settings, fingerprint = evaluate_command.contrastive_settings(blobs, None, None)
    assert settings == contrastive.ContrastiveSettings()
    assert fingerprint == contrastive.contrastive_fingerprint(settings, (8, 8, 3))
    others = {evaluate_command.contrastive_settings(blobs, None, None, epochs=3)[1],
              evaluate_command.contrastive_settings(blobs, None, None, batch_size=16)[1],
              evaluate_command.contrastive_settings(blobs, 12, None)[1]}  # another image size
    assert len(others | {fingerprint}) == 4
    with pytest.raises(evaluate_command.EvaluateAppError, match="multiple of 4"):
        evaluate_command.contrastive_settings(blobs, None, None, batch_size=10)


def test_flags_reach_the_options():
    flag_values = flags.FlagValues()
    evaluate_command.define_evaluate_flags(flag_values)
    flag_values(["evaluate", "--feature_network=contrastive", "--contrastive_path=e.keras", "--notrain_contrastive",
                 "--contrastive_epochs=3", "--contrastive_batch_size=16"])
    parsed = evaluate_command.options_from_flags(flag_values)
    assert (parsed.feature_network, parsed.contrastive_path, parsed.train_contrastive, parsed.contrastive_epochs,
            parsed.contrastive_batch_size) == ("contrastive", "e.keras", False, 3, 16)
    assert parsed.feature_network in evaluate_command.FEATURE_NETWORKS
