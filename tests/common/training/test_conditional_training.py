"""Labelled data checks of class-conditional runs, and the class-row sample grid's inputs."""

import numpy as np
import pytest

from common.training import conditional_training
from common.training.runtime import class_grid_inputs
from common.training.runtime_config import ConfigError
from tests.common.data.test_reader import write_dataset


def test_unlabelled_data_is_refused_with_how_to_build_labels(tmp_path):
    write_dataset(str(tmp_path), count=4, size=(8, 8), num_shards=1)
    with pytest.raises(ConfigError, match="has no labels.*one subfolder per class"):
        conditional_training.check_labelled_data(str(tmp_path), num_classes=10)


def test_more_classes_than_the_model_is_refused_and_fewer_accepted(tmp_path):
    write_dataset(str(tmp_path), count=6, size=(8, 8), num_shards=1, labels=["a", "b", "c"])
    with pytest.raises(ConfigError, match="has 3 classes .* Pass --num_classes=3"):
        conditional_training.check_labelled_data(str(tmp_path), num_classes=2)
    conditional_training.check_labelled_data(str(tmp_path), num_classes=3)
    conditional_training.check_labelled_data(str(tmp_path), num_classes=5)


def test_class_grid_has_one_row_per_class_and_the_same_z_down_each_column():
    z, labels, columns = class_grid_inputs(seed=1, num_samples=64, num_classes=10, latent_dim=3)
    assert columns == 6 and z.shape == (60, 3) and labels.dtype == np.int32
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 6))
    grid = z.reshape(10, 6, 3)
    np.testing.assert_array_equal(grid, np.broadcast_to(grid[:1], grid.shape))
    assert len({tuple(row) for row in grid[0]}) == 6
    assert class_grid_inputs(1, 4, 10, 3)[2] == 1  # fewer samples than classes: one column
