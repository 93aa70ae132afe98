"""A two-worker MultiWorkerMirroredStrategy run on 127.0.0.1 through TF_CONFIG.

Two processes (`python -m tests.common.training.test_runtime`, the tiny GAN) train
together for three steps with a global batch of 8 (4 per worker; each worker
reads every other image) and must both exit by themselves. The chief's logged
losses must equal a one-process run on the same global batches. A second run
reads a built dataset of one shard file, fewer files than the two workers'
input pipelines, which the reader shards by record.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.common.training.test_distribute import CONFIG
from tests.common.training.test_runtime import read_metrics, run_tiny, tiny_dataset_fn
from tests.tolerances import NETWORK_RTOL

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# What this catches is a worker that never exits, not a slow one: on two shared cores
# importing TensorFlow alone has taken over two minutes per process.
TIMEOUT_SECONDS = 600


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run_two_workers(model_dir, extra_flags) -> list[str]:
    """Starts the tiny GAN on two local workers; returns their outputs once both exited with status 0."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        command = [sys.executable, "-m", "tests.common.training.test_runtime", f"--model_dir={model_dir}",
                   "--strategy=multi_worker", "--batch_size=8", "--steps=3", "--checkpoint_every=2",
                   "--precision=float32", "--sample_every=0", *extra_flags]
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=TIMEOUT_SECONDS)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    return outputs


def test_two_workers_train_together_and_report_global_losses(tmp_path):
    model_dir = tmp_path / "multi"
    _run_two_workers(model_dir, ["--noshuffle_data", f"--noise={CONFIG.noise}", f"--optimizer={CONFIG.optimizer}",
                                 f"--learning_rate={CONFIG.learning_rate}"])

    run_tiny(tmp_path / "single", config=CONFIG, batch_size=8, steps=3, sample_every=0,
             dataset_fn=tiny_dataset_fn(8, shuffle_seed=None))
    multi_log, single_log = read_metrics(model_dir), read_metrics(tmp_path / "single")
    assert sorted(multi_log) == [1, 2, 3]
    # Each worker sums half the batch: the losses (means of non-negative terms) agree to
    # NETWORK_RTOL (tests/tolerances.py), not to the bit.
    for step in (1, 2, 3):
        for key in ("g_loss", "d_loss"):
            assert multi_log[step][key] == pytest.approx(single_log[step][key], rel=NETWORK_RTOL), (step, key)
    assert (model_dir / "ckpt-3.index").exists() and (model_dir / "ckpt-2.index").exists()
    assert not (model_dir / "workers").exists()  # the other worker's private checkpoints are gone


def test_two_workers_train_on_a_dataset_of_one_shard_file_by_record_sharding(tmp_path):
    import numpy as np

    from tests.common.training.test_runtime import IMAGE_SIZE
    from tfrecords.build import build_dataset

    images = np.random.default_rng(0).integers(0, 256, (40, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    np.savez(tmp_path / "images.npz", images=images)
    manifest = build_dataset(source=str(tmp_path / "images.npz"), output=str(tmp_path / "data"), num_workers=1,
                             progress=False)
    with open(manifest) as file:
        assert len(json.load(file)["splits"]["train"]["shards"]) == 1
    model_dir = tmp_path / "multi"
    outputs = _run_two_workers(model_dir, [f"--data={tmp_path / 'data'}"])
    for output in outputs:
        assert output.count("sharding by record instead of by file") == 1, output[-3000:]
        assert "keeps 1/2 of the records" in output
    assert sorted(read_metrics(model_dir)) == [1, 2, 3]
    assert (model_dir / "ckpt-3.index").exists()
