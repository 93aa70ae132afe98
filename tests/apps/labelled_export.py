"""The check the class-conditional apps' command tests share: a published export with labelled signatures."""

import json
import os

import pytest
import tensorflow as tf


def assert_labelled_export(export_dir, num_classes, image_shape):
    """Version 1 of ``export_dir`` records its classes and the parity labels checked before it was published,
    its ``sample`` signature draws images of the given labels, and a label outside [0, num_classes) fails."""
    with open(os.path.join(export_dir, "1", "assets.extra", "export_info.json")) as f:
        info = json.load(f)
    assert info["num_classes"] == num_classes and info["parity"]["labels"] == [0, 1, 2, 3]
    loaded = tf.saved_model.load(os.path.join(export_dir, "1"))
    images = loaded.signatures["sample"](labels=tf.constant([2, 7], tf.int32), seed=tf.constant(1, tf.int64))
    assert images["images"].shape == (2, *image_shape)
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"\[0, {num_classes}\)"):
        loaded.signatures["sample"](labels=tf.constant([num_classes], tf.int32), seed=tf.constant(1, tf.int64))
