"""Reading datasets: the tf.data reader of the suite's TFRecords and the offline default datasets.

What turns stored records into batches belongs here; writing datasets belongs in
`tfrecords/`, and augmentation that runs inside a training step in `common.nn`.
"""
