"""Evaluation during training: sample-quality metrics every N steps, and the best checkpoint kept.

`PeriodicEvaluation` is a Keras callback for `runtime.train(extra_callbacks=[...])`.
Every `every_n_steps` global training steps (the runtime's step counter, read from
the `_step` entry of the logs; rounded up to the end of a compiled call when
`steps_per_execution` > 1) it:

1. computes metrics with `evaluate_fn(model) -> {name: float}`; the default
   (`make_evaluate_fn`) scores `num_samples` images drawn from the same fixed,
   seeded noise at every evaluation with `common.evaluation.scoring.evaluate_generator`
   against real statistics computed once;
2. writes every scalar as ``eval/<name>`` to TensorBoard, in the run
   ``<model_dir>/tensorboard/eval`` (next to the runtime's own scalars, step =
   global training step), and appends them to ``<model_dir>/eval/history.jsonl``;
   with a dataset classifier, one row per class, ``eval/class_share/<name>``
   (the share of samples it assigns that class, named by the dataset's labels),
   plus ``eval/modes_covered`` and ``eval/kl_to_uniform``; for a class-conditional
   model (`common.models.conditional_protocol.is_conditional`), sampled with balanced requested
   labels, ``eval/intra_fid`` (mean over classes) and, with the dataset classifier,
   ``eval/conditional_accuracy`` (share of samples classified as their requested
   class) and ``eval/conditional_accuracy/<name>`` per class;
3. when the chosen metric improved (lower for FID/KID, higher for
   precision/recall/density/coverage/Inception Score; NaN never improves), saves
   the model's variables (`checkpointing.inference_checkpoint`, the part of a
   training checkpoint inference needs: generator, EMA, discriminator) to
   ``<model_dir>/best/ckpt-<step>`` (one kept) and writes ``<model_dir>/best/best.json``
   (metric, mode, value, step, checkpoint, all scalars).

A resumed run reads ``best.json`` first, so a worse value after a restart never
replaces the best checkpoint. Steps whose losses were not finite are skipped.
Only the chief process evaluates. ``python -m apps.<name>.evaluate --checkpoint=best``
scores the kept checkpoint.

Flags: `define_eval_flags()` declares ``--eval_every`` (0 = off), ``--eval_metric``,
``--eval_num_samples``, ``--eval_feature_network`` and the weights, classifier and
contrastive encoder flags; `callbacks_from_flags(run, config)` returns ``[]`` or ``[PeriodicEvaluation]``.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from common.training import callbacks as callbacks_lib
from common.training import checkpointing

__all__ = [
    "METRIC_MODES",
    "BEST_DIR",
    "BEST_FILE",
    "PeriodicEvaluation",
    "make_evaluate_fn",
    "define_eval_flags",
    "callbacks_from_flags",
]

# metric name -> (key in evaluate_generator's results, better direction)
METRIC_MODES = {
    "fid": ("fid", "min"),
    "kid": ("kid_mean", "min"),
    "precision": ("precision", "max"),
    "recall": ("recall", "max"),
    "density": ("density", "max"),
    "coverage": ("coverage", "max"),
    "inception_score": ("inception_score_mean", "max"),
}
BEST_DIR = "best"
BEST_FILE = "best.json"
HISTORY_FILE = os.path.join("eval", "history.jsonl")
TENSORBOARD_RUN = os.path.join("tensorboard", "eval")


def _scalars(results: Mapping) -> dict[str, float]:
    return {key: float(value) for key, value in results.items()
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)}


def make_evaluate_fn(real_data, feature_extractor, num_samples: int, *, num_real: int | None = None,
                     batch_size: int = 50, seed: int = 0, use_ema: bool = True, num_classes: int | None = None,
                     dataset_checksum: str | None = None, split: str = "train", cache_dir: str | None = None,
                     metrics_to_compute=None) -> Callable[[keras.Model], dict]:
    """`evaluate_fn(model)` scoring `model.sample` with `evaluate_generator`.

    Real statistics are computed at the first call (or read from the
    `common.evaluation.reference_stats` cache when `dataset_checksum` is given) and reused;
    every call samples the same noise (stateless normal seeded by `seed`), so
    successive values differ only through the weights. A class-conditional model
    (`common.models.conditional_protocol.is_conditional`) is sampled with the same balanced
    requested labels every time (`evaluate_command.make_sample_fn`) and scored with
    intra-FID and, with a dataset classifier, conditional accuracy; its
    `num_classes` replaces `num_classes`.
    """
    from common.evaluation import evaluate_command
    from common.evaluation import scoring
    from common.evaluation import reference_stats as reference_stats_lib
    from common.models.conditional_protocol import is_conditional

    num_real = int(num_real or num_samples)
    state: dict[str, Any] = {"reference": None}

    def evaluate_fn(model) -> dict:
        if state["reference"] is None:
            if dataset_checksum is not None:
                state["reference"], _ = reference_stats_lib.get_reference_stats(
                    real_data, feature_extractor, num_real, dataset_checksum=dataset_checksum, split=split,
                    cache_dir=cache_dir)
            else:
                state["reference"] = reference_stats_lib.compute_reference_stats(
                    real_data, feature_extractor, num_real, dataset_checksum="", split=split)
        conditional = is_conditional(model)
        results = scoring.evaluate_generator(
            evaluate_command.make_sample_fn(model, use_ema=use_ema, seed=seed), None, feature_extractor, num_samples,
            batch_size=batch_size, num_classes=int(model.num_classes) if conditional else num_classes,
            conditional=conditional, reference=state["reference"], metrics_to_compute=metrics_to_compute,
            seed=seed)
        results.pop("settings")
        return results

    return evaluate_fn


def _conditional_scalars(results: Mapping, class_names: Sequence[str] | None) -> dict[str, float]:
    """Scalars of a class-conditional evaluation, named as logged under ``eval/``.

    With a dataset classifier: ``conditional_accuracy`` (share of samples classified
    as their requested class), ``conditional_accuracy/<name>`` per class and
    ``class_share/<name>`` (share of all samples classified as the class). With
    intra-FID: ``intra_fid`` (its mean over classes). Class names are the dataset's
    labels, or class indices when they are missing or of another length.
    """
    scalars: dict[str, float] = {}
    by_class = results.get("class_accuracy_by_class")
    if isinstance(by_class, Mapping):
        count = len(by_class["per_class"])
        names = list(class_names) if class_names and len(class_names) == count else [str(k) for k in range(count)]
        scalars["conditional_accuracy"] = float(by_class["accuracy"])
        for name, accuracy, share in zip(names, by_class["per_class"], by_class["predicted_share"]):
            if accuracy is not None:
                scalars[f"conditional_accuracy/{name}"] = float(accuracy)
            scalars[f"class_share/{name}"] = float(share)
    intra = results.get("intra_fid")
    if isinstance(intra, Mapping) and "mean" in intra:
        scalars["intra_fid"] = float(intra["mean"])
    return scalars


class PeriodicEvaluation(keras.callbacks.Callback):
    """Every `every_n_steps` steps: metrics to TensorBoard, and the best checkpoint kept (module docstring).

    Args:
      every_n_steps: evaluation interval in global training steps.
      model_dir: the training run's directory (best/, eval/, tensorboard/eval go inside).
      evaluate_fn: model -> {metric name: value}; must contain the key of `metric`
        (see METRIC_MODES: "fid" -> "fid", "kid" -> "kid_mean", ...). Default:
        `make_evaluate_fn(real_data, feature_extractor, num_samples, ...)`.
      real_data, feature_extractor, num_samples, batch_size, seed, dataset_checksum,
        cache_dir: for the default `evaluate_fn`.
      metric: a METRIC_MODES name, or any key `evaluate_fn` returns (then give `mode`).
      mode: "min" or "max"; default from METRIC_MODES.
      class_names: the dataset's label names (manifest `labels`), naming the
        ``eval/class_share/<name>`` rows; class indices when None.
    """

    def __init__(self, every_n_steps: int, *, model_dir: str, evaluate_fn: Callable[[Any], Mapping] | None = None,
                 real_data=None, feature_extractor=None, num_samples: int = 2000, batch_size: int = 50,
                 seed: int = 0, dataset_checksum: str | None = None, cache_dir: str | None = None,
                 metric: str = "fid", mode: str | None = None, num_classes: int | None = None,
                 class_names: Sequence[str] | None = None):
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1; got {every_n_steps}.")
        key, default_mode = METRIC_MODES.get(metric, (metric, None))
        mode = mode or default_mode
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max' for metric {metric!r}; got {mode!r}. Known metrics: "
                             f"{', '.join(METRIC_MODES)}.")
        if evaluate_fn is None:
            if real_data is None or feature_extractor is None:
                raise ValueError("Pass evaluate_fn, or real_data and feature_extractor.")
            evaluate_fn = make_evaluate_fn(real_data, feature_extractor, num_samples, batch_size=batch_size,
                                           seed=seed, num_classes=num_classes, dataset_checksum=dataset_checksum,
                                           cache_dir=cache_dir)
        self.every_n_steps = int(every_n_steps)
        self.class_names = list(class_names) if class_names else None
        self.model_dir = model_dir
        self.evaluate_fn = evaluate_fn
        self.metric = metric
        self.metric_key = key
        self.mode = mode
        self.best: dict | None = None
        self.history: list[tuple[int, float]] = []
        self._next: int | None = None
        self._writer = None
        self._manager = None
        self._batches_seen = 0

    @property
    def best_dir(self) -> str:
        return os.path.join(self.model_dir, BEST_DIR)

    def _is_chief(self) -> bool:
        from common.training import distribute

        model = getattr(self, "_model", None)
        strategy = getattr(model, "distribute_strategy", None) if model is not None else None
        return strategy is None or distribute.is_chief(strategy)

    def on_train_begin(self, logs=None):
        self._next = None
        path = os.path.join(self.best_dir, BEST_FILE)
        if self.best is None and os.path.isfile(path):
            with open(path) as file:
                saved = json.load(file)
            if saved.get("metric") == self.metric and saved.get("mode") == self.mode:
                self.best = saved

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self._batches_seen += 1
        if int(logs.get(callbacks_lib.NONFINITE_KEY, -1)) >= 0:
            return
        step = int(logs.get(callbacks_lib.STEP_KEY, self._batches_seen))
        if self._next is None:  # first call of this fit: the step before it was at most step - 1
            self._next = ((step - 1) // self.every_n_steps + 1) * self.every_n_steps
        if step < self._next:
            return
        self._next = (step // self.every_n_steps + 1) * self.every_n_steps
        if self._is_chief():
            self.evaluate(step)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _is_better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value < self.best["value"] if self.mode == "min" else value > self.best["value"]

    def evaluate(self, step: int) -> dict:
        """Runs `evaluate_fn` now, logs it as `step`, and keeps the checkpoint if it is the best so far."""
        results = dict(self.evaluate_fn(self.model))
        if self.metric_key not in results:
            raise KeyError(f"The evaluation returned {sorted(results)}, without {self.metric_key!r} "
                           f"(--eval_metric={self.metric}).")
        scalars = _scalars(results)
        conditional = _conditional_scalars(results, self.class_names)
        if "conditional_accuracy" in conditional:
            scalars.pop("class_accuracy", None)  # logged as conditional_accuracy
        scalars.update(conditional)
        coverage = results.get("mode_coverage")
        if isinstance(coverage, Mapping) and "histogram" in coverage:
            from common.evaluation import scoring

            scalars.update({key: float(coverage[key]) for key in ("modes_covered", "kl_to_uniform")
                            if key in coverage})
            for name, share in scoring.class_shares(coverage, self.class_names).items():
                scalars[f"class_share/{name}"] = share
        value = float(results[self.metric_key])
        self.history.append((step, value))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.model_dir, TENSORBOARD_RUN))
        with self._writer.as_default(step=step):
            for key, number in scalars.items():
                tf.summary.scalar(f"eval/{key}", number)
        self._writer.flush()
        history_path = os.path.join(self.model_dir, HISTORY_FILE)
        os.makedirs(os.path.dirname(history_path), exist_ok=True)
        with open(history_path, "a") as file:
            file.write(json.dumps({"step": step, **scalars}) + "\n")
        if self._is_better(value):
            self._save_best(step, value, scalars)
        return results

    def _save_best(self, step: int, value: float, scalars: dict) -> None:
        if self._manager is None:
            self._manager = tf.train.CheckpointManager(
                checkpointing.inference_checkpoint(self.model), self.best_dir, max_to_keep=1,
                checkpoint_name=checkpointing.CHECKPOINT_PREFIX)
        path = self._manager.save(checkpoint_number=step)
        self.best = {"metric": self.metric, "key": self.metric_key, "mode": self.mode, "value": value,
                     "step": int(step), "checkpoint": os.path.basename(path), "results": scalars}
        target = os.path.join(self.best_dir, BEST_FILE)
        with open(target + ".tmp", "w") as file:
            json.dump(self.best, file, indent=2, sort_keys=True)
        os.replace(target + ".tmp", target)


# --------------------------------------------------------------------------- flags


def define_eval_flags(flag_values=None) -> None:
    """Declares --eval_every, --eval_metric, --eval_num_samples, --eval_feature_network and friends."""
    from absl import flags

    from common.evaluation.evaluate_command import FEATURE_NETWORKS

    flag_values = flag_values if flag_values is not None else flags.FLAGS
    kwargs = dict(flag_values=flag_values)
    flags.DEFINE_integer("eval_every", 0, "Compute sample-quality metrics every N steps and keep the best "
                         "checkpoint in <model_dir>/best (0: never).", **kwargs)
    flags.DEFINE_enum("eval_metric", "fid", list(METRIC_MODES), "Metric that picks the best checkpoint.", **kwargs)
    flags.DEFINE_integer("eval_num_samples", 2000, "Generated (and real) images per evaluation.", **kwargs)
    flags.DEFINE_enum("eval_feature_network", "auto", list(FEATURE_NETWORKS),
                      "Features for the evaluation metrics (see apps.<name>.evaluate).", **kwargs)
    flags.DEFINE_string("eval_fid_weights", None, "pt_inception-2015-12-05-6726825d.pth for "
                        "--eval_feature_network=fid_inception.", **kwargs)
    flags.DEFINE_string("eval_classifier_path", None, "Dataset classifier .keras file (default: the cached one).",
                        **kwargs)
    flags.DEFINE_boolean("eval_train_classifier", False, "Train the dataset classifier before training when "
                         "none is cached.", **kwargs)
    flags.DEFINE_string("eval_contrastive_path", None, "Contrastive encoder .keras file for "
                        "--eval_feature_network=contrastive (default: the cached one).", **kwargs)
    flags.DEFINE_boolean("eval_train_contrastive", False, "Train the contrastive encoder (default settings) before "
                         "training when none is cached.", **kwargs)


def callbacks_from_flags(run, config, flag_values=None, *, cache_dir: str | None = None, verbose: int = 1,
                         **classifier_options) -> list[keras.callbacks.Callback]:
    """[] when --eval_every=0, else [PeriodicEvaluation] for `run` (RuntimeConfig) and the app's `config`.

    Real images: run.data's train split at the config's image_size/channels.
    `classifier_options` (classifier_epochs, classifier_width, classifier_blocks_per_stage,
    classifier_feature_dim) go to `evaluate_command.build_feature_extractor` when a classifier
    is trained.
    Missing weights or classifier raise `evaluate_command.EvaluateAppError` (a
    ConfigError) before any network is built.
    """
    from absl import flags

    from common.data import reader as data_lib
    from common.evaluation import evaluate_command
    from common.evaluation.reference_stats import dataset_checksum
    from common.models.conditional_protocol import is_conditional

    flag_values = flag_values if flag_values is not None else flags.FLAGS
    every = flag_values["eval_every"].value
    if not every:
        return []
    if every < 0:
        raise evaluate_command.EvaluateAppError(f"--eval_every must be >= 0; got {every}.")
    if not run.model_dir or run.dry_run:
        return []  # runtime.train reports a missing --model_dir; a dry run trains nothing
    num_samples = flag_values["eval_num_samples"].value
    if num_samples < 10:
        raise evaluate_command.EvaluateAppError(f"--eval_num_samples={num_samples} is too few; use at least 10.")
    image_size, channels = getattr(config, "image_size", None), getattr(config, "channels", None)
    conditional = is_conditional(config)
    if conditional:  # before the feature network is built or a classifier trained
        evaluate_command.check_conditional_evaluation(
            int(config.num_classes), data=run.data, dataset_info=data_lib.describe(run.data),
            num_samples=num_samples, flag_prefix="eval_")
    extractor, facts = evaluate_command.build_feature_extractor(
        flag_values["eval_feature_network"].value, data=run.data, image_size=image_size, channels=channels,
        classifier_path=flag_values["eval_classifier_path"].value,
        train_classifier=flag_values["eval_train_classifier"].value,
        fid_weights=flag_values["eval_fid_weights"].value, seed=run.seed, verbose=verbose, flag_prefix="eval_",
        contrastive_path=flag_values["eval_contrastive_path"].value,
        train_contrastive=flag_values["eval_train_contrastive"].value, **classifier_options)
    if conditional:
        evaluate_command.check_conditional_evaluation(
            int(config.num_classes), data=run.data, dataset_info=data_lib.describe(run.data),
            num_samples=num_samples, classifier_classes=facts.get("num_classes"),
            classifier_path=facts.get("classifier_path"), flag_prefix="eval_")
    metric = flag_values["eval_metric"].value
    if metric == "inception_score" and not extractor.has_probabilities:
        raise evaluate_command.EvaluateAppError(
            f"--eval_metric=inception_score needs a feature network with a class head; {extractor.name} has none. "
            "Use --eval_feature_network=classifier or fid_inception, or another --eval_metric.")
    count = (data_lib.describe(run.data).num_examples or {}).get("train") or num_samples
    real = evaluate_command.real_dataset(run.data, "train", image_size, channels, 50, run.seed)
    key = evaluate_command.real_data_key(dataset_checksum(run.data), image_size, channels, run.seed)  # checked above
    evaluate_fn = make_evaluate_fn(real, extractor, num_samples, num_real=min(num_samples, count), seed=run.seed,
                                   num_classes=facts.get("num_classes"), dataset_checksum=key, cache_dir=cache_dir)
    return [PeriodicEvaluation(every, model_dir=run.model_dir, evaluate_fn=evaluate_fn,
                               metric=metric, class_names=data_lib.describe(run.data).labels)]
