"""MetricsLogger's metrics.jsonl: every line is on disk as soon as it is logged; the TensorBoard sample grid
of unconditional and class-conditional models."""

import glob
import json
import os

import numpy as np
import tensorflow as tf

from common.training import callbacks, runtime
from common.training.runtime_config import RuntimeConfig


def test_metrics_lines_are_readable_while_the_run_goes_on(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    progress = callbacks.RunProgress(0, 10_000, 4)
    logger = callbacks.MetricsLogger(progress, log_every=1000, metrics_path=path, stream=None)
    logger.on_train_begin()
    for step in range(1, 4):
        logs = {callbacks.STEP_KEY: float(step), "d_loss": 0.5 * step}
        progress.step = step
        logger.on_train_batch_end(step - 1, logs)
        # Another reader, mid-run (the file is still open and no progress line was due):
        with open(path) as reader:
            lines = reader.read().splitlines()
        assert [json.loads(line) for line in lines] == [{"step": s, "d_loss": 0.5 * s} for s in range(1, step + 1)]
    logger.on_train_end()
    assert os.path.getsize(path) > 0


class RecordingConditionalModel:
    """A class-conditional model stand-in: every image is filled with its label (scaled to [-1, 1])."""

    def __init__(self, num_classes, latent_dim=3, size=2):
        self.num_classes, self.latent_dim, self.size = num_classes, latent_dim, size
        self.calls = []

    def sample(self, z, labels, training=False):
        z, labels = np.asarray(z), np.asarray(labels)
        self.calls.append((z, labels, training))
        value = 2.0 * labels.astype(np.float32) / max(self.num_classes - 1, 1) - 1.0
        return np.broadcast_to(value[:, None, None, None], (len(labels), self.size, self.size, 1)).copy()


class RecordingModel:
    def __init__(self, latent_dim=3):
        self.latent_dim = latent_dim
        self.calls = []

    def sample(self, z, training=False):
        self.calls.append(np.asarray(z))
        return np.zeros((len(z), 2, 2, 1), np.float32)


def written_grid(logdir):
    (path,) = glob.glob(os.path.join(str(logdir), "events.out.tfevents.*"))
    for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
            if value.tag == "samples":
                encoded = tf.make_ndarray(value.tensor)[2]  # [width, height, PNG]
                return tf.io.decode_png(encoded).numpy()
    raise AssertionError("no samples image was written")


def sample_writer(model, tmp_path, **run_options):
    run = RuntimeConfig(**{"sample_every": 1, "seed": 3, **run_options})
    writer = tf.summary.create_file_writer(str(tmp_path))
    return runtime._sample_writer(model, run, callbacks.RunProgress(0, 10, 4), writer), writer


def test_conditional_sample_grid_has_a_row_per_class_and_the_same_noise_down_each_column(tmp_path):
    model = RecordingConditionalModel(num_classes=3)
    sampler, writer = sample_writer(model, tmp_path, num_samples=8)  # 3 classes: 2 columns
    sampler.write(1)
    writer.close()
    ((z, labels, training),) = model.calls
    assert training is False
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2])  # row-major: row = class
    assert z.shape == (6, 3)
    for column in range(2):
        for row in range(1, 3):
            np.testing.assert_array_equal(z[row * 2 + column], z[column])
    assert not np.array_equal(z[0], z[1])
    # The first noise vectors of the seed, as the unconditional grid draws them.
    np.testing.assert_array_equal(z[:2], np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32))
    grid = written_grid(tmp_path)
    assert grid.shape == (3 * 2, 2 * 2, 1)  # 3 rows of 2x2 images, 2 columns
    for row, label in enumerate([0, 1, 2]):
        expected = round(255 * label / 2)  # image value (2 * label / 2 - 1) mapped to [0, 255]
        assert np.all(np.abs(grid[row * 2:(row + 1) * 2].astype(int) - expected) <= 1), row


def test_conditional_sample_grid_of_many_classes_shows_16_evenly_spaced_ones(tmp_path):
    model = RecordingConditionalModel(num_classes=1000)
    sampler, writer = sample_writer(model, tmp_path, num_samples=4)  # K > num_samples: one column of 16 rows
    sampler.write(1)
    writer.close()
    ((z, labels, _),) = model.calls
    assert len(labels) == 16 and labels[0] == 0 and labels[-1] == 999
    assert np.all(np.diff(labels) > 0) and np.ptp(np.diff(labels)) <= 1  # evenly spaced: steps of 66 or 67
    np.testing.assert_array_equal(z, np.repeat(z[:1], 16, axis=0))
    np.testing.assert_array_equal(callbacks.grid_classes(10), np.arange(10))


def test_unconditional_sample_grid_is_unchanged(tmp_path):
    model = RecordingModel()
    sampler, writer = sample_writer(model, tmp_path, num_samples=6)
    sampler.write(1)
    writer.close()
    (z,) = model.calls
    np.testing.assert_array_equal(z, np.random.default_rng(3).standard_normal((6, 3)).astype(np.float32))
    assert written_grid(tmp_path).shape == (2 * 2, 3 * 2, 1)  # ceil(sqrt(6)) = 3 columns, 2 rows
