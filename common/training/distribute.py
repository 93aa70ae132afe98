"""Choosing a tf.distribute strategy and the per-worker roles a training run needs.

Synchronous data parallelism: every replica runs the same step on its slice of
the global batch, and Keras 3 optimizers SUM the gradients over replicas (so a
replica differentiates its local mean loss divided by the replica count; see
the model protocol). Strategies:

- `auto`: MirroredStrategy over all local GPUs when there are two or more, else
  the default strategy (one GPU, or the CPU).
- `default`: no distribution.
- `mirrored`: MirroredStrategy over all local GPUs, or over `devices`
  (for example `/cpu:0,/cpu:1` when the CPU is split into logical devices).
- `multi_worker`: MultiWorkerMirroredStrategy; the cluster comes from the
  TF_CONFIG environment variable. Every worker runs the same command; the
  chief (task `chief`, or `worker` 0 when there is no chief) writes logs,
  samples and the checkpoints in `--model_dir`, which must be on storage all
  workers can read (they all restore from it).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from common.training.runtime_config import STRATEGIES, ConfigError


def make_strategy(name: str = "auto", devices: str | list[str] | None = None) -> tf.distribute.Strategy:
    """The strategy called `name` (see the module docstring); ConfigError for an unusable choice."""
    if isinstance(devices, str):
        devices = [d.strip() for d in devices.split(",") if d.strip()]
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy([g.name for g in gpus])
        return tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices or None)
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError(
                "--strategy=multi_worker reads the cluster from the TF_CONFIG environment variable, "
                'which is not set. Set it on every worker, e.g. TF_CONFIG=\'{"cluster": {"worker": '
                '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\'.'
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise ConfigError(f"TF_CONFIG is not valid JSON ({error}).") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}.")


def task(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """(task type, task index) of this process; (None, 0) outside a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the one process that writes logs, samples and the model directory's checkpoints."""
    task_type, task_id = task(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def checkpoint_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Where this process saves checkpoints: the model directory on the chief, a private
    folder on other workers (they must save too, as all replicas take part, but their
    copies are deleted at the end)."""
    if is_chief(strategy):
        return model_dir
    task_type, task_id = task(strategy)
    return os.path.join(model_dir, "workers", f"{task_type}-{task_id}")


def per_replica_batch_size(global_batch_size: int, strategy: tf.distribute.Strategy) -> int:
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ConfigError(
            f"--batch_size={global_batch_size} does not split evenly over {replicas} replicas; "
            f"pass a multiple of {replicas}."
        )
    return global_batch_size // replicas
