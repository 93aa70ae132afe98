"""MetricsLogger's metrics.jsonl: every line is on disk as soon as it is logged."""

import json
import os

from common.training import callbacks


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
