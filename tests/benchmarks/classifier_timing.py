"""Where the dataset classifier's training time goes on this machine: the step, XLA, width, and an epoch's rest.

Run on purpose (not collected by pytest), from the repository root, on a dataset built
with `tfrecords.build` (see tests/benchmarks/classifier_quality.py):

    # speed of the training step: --seconds of batches, then the held-out evaluation of that epoch
    python tests/benchmarks/classifier_timing.py --data=/tmp/data/cifar10 --image_size=32 --channels=3 \\
        --width=32 --jit_compile=off --seconds=45
    # a whole schedule on a slice of train, to set the printed estimates against the wall time
    python tests/benchmarks/classifier_timing.py --data=/tmp/data/mnist --image_size=32 --channels=1 \\
        --num_train=10000 --verbose

It trains through `common.evaluation.classifier.train_classifier` (the recommended
settings of `ClassifierSettings.for_images` for the images and the train split's size,
with the overrides given) and a callback that records when every batch, epoch and
held-out evaluation begins and ends; --seconds stops the training after that many
seconds of batches (Keras still runs that epoch's held-out evaluation). The test
split is cut to its first 500 images, so measuring it costs little. Printed:

- the first batch (tracing and compilation, plus filling the shuffle buffer);
- the mean time of batches 2-21 (the window the first estimate is measured on), of the
  first epoch's later batches and of later epochs' batches, and of each later epoch's
  first batch (which refills the shuffle buffer);
- every epoch's wall time and its held-out evaluation; then one more held-out
  evaluation, timed after training (its function is compiled by then);
- a projected epoch of the full schedule: batches per epoch times the mean batch time
  after the first 21, plus that held-out evaluation;
- with a whole schedule, the estimates `train_classifier` printed and recorded
  (after the first batches, after the first epoch) against its wall time.
--json writes all of it to a file.

--compare instead times variants of the training step side by side in one process, so
that they share the machine's load: each variant's model is compiled as
`train_classifier` compiles it (`compiled_classifier`) and fed by its own training
pipeline; after 3 warm-up batches each (tracing, XLA compilation), blocks of --block
batches of the variants take turns until --seconds have passed. Printed per variant:
the median and mean time per batch over its blocks and the ratio of medians to the
first variant's, e.g.

    python tests/benchmarks/classifier_timing.py --data=/tmp/data/cifar10 --image_size=32 --channels=3 \
        --compare="jit=off;jit=on" --seconds=60
    python tests/benchmarks/classifier_timing.py --data=/tmp/data/cifar10 --image_size=32 --channels=3 \
        --compare="width=16;width=32" --seconds=60
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def _timeline_callback(seconds: float | None):
    import keras

    class Timeline(keras.callbacks.Callback):
        """Wall-clock times of the batches, epochs and held-out evaluations of one fit."""

        def __init__(self):
            super().__init__()
            self.batches, self.epochs, self.validations = [], [], []
            self._batch = self._epoch = self._test = None
            self.first_batch_end = None

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            self._batch = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.batches.append((len(self.epochs), batch, now - self._batch))
            if self.first_batch_end is None:
                self.first_batch_end = now
            elif seconds and now - self.first_batch_end >= seconds:
                self.model.stop_training = True

        def on_test_begin(self, logs=None):
            self._test = time.perf_counter()

        def on_test_end(self, logs=None):
            self.validations.append(time.perf_counter() - self._test)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self._epoch)

    return Timeline()


def _compare(args, train, num_classes) -> dict:
    """Interleaved blocks of training batches of each variant in --compare; their times per batch."""
    import statistics

    from common.evaluation import classifier as classifier_lib

    variants = []
    for text in args.compare.split(";"):
        fields = dict(item.split("=", 1) for item in text.split(",") if item)
        jit = {"on": True, "off": False, "auto": "auto"}[fields.pop("jit", args.jit_compile)]
        overrides = {"epochs": args.epochs, "width": args.width, "blocks_per_stage": args.blocks_per_stage,
                     "feature_dim": args.feature_dim, "batch_size": args.batch_size}
        overrides.update({key: int(value) for key, value in fields.items()})
        settings = classifier_lib.ClassifierSettings.for_images(train[0].shape[-1], len(train[0]), **overrides)
        settings = settings.resolved(train[0].shape[-1])
        batch = classifier_lib._train_batch_size(settings, len(train[0]))
        model = classifier_lib.compiled_classifier(settings, train[0].shape[1:], num_classes,
                                                   len(train[0]) // batch, jit_compile=jit)
        batches = iter(classifier_lib._train_pipeline(*train, settings).repeat())
        for _ in range(3):
            model.train_on_batch(*next(batches))
        variants.append({"name": text, "model": model, "batches": batches, "times": [],
                         "resolved_jit_compile": bool(model.jit_compile)})
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for variant in variants:
            begin = time.perf_counter()
            for _ in range(args.block):
                variant["model"].train_on_batch(*next(variant["batches"]))
            variant["times"].append((time.perf_counter() - begin) / args.block)
    first = statistics.median(variants[0]["times"])
    return {"variants": [{"variant": variant["name"], "resolved_jit_compile": variant["resolved_jit_compile"],
                          "blocks": len(variant["times"]),
                          "median_ms_per_batch": round(1000 * statistics.median(variant["times"]), 1),
                          "mean_ms_per_batch": round(1000 * statistics.mean(variant["times"]), 1),
                          "ratio_to_first": round(statistics.median(variant["times"]) / first, 3)}
                         for variant in variants],
            "block": args.block, "seconds": args.seconds, "load_average": os.getloadavg()[0]}


def _mean_ms(values) -> float | None:
    values = list(values)
    return round(1000 * sum(values) / len(values), 1) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="Built dataset folder (default: the offline digits).")
    parser.add_argument("--image_size", type=int, default=None)
    parser.add_argument("--channels", type=int, default=None)
    parser.add_argument("--num_train", type=int, default=None, help="Train on the first N train images only.")
    parser.add_argument("--seconds", type=float, default=None, help="Stop after this many seconds of batches.")
    parser.add_argument("--jit_compile", choices=("on", "off", "auto"), default="off")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--blocks_per_stage", type=int, default=None)
    parser.add_argument("--feature_dim", type=int, default=None)
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--verbose", action="store_true", help="The progress bar and the printed estimates.")
    parser.add_argument("--compare", default=None, help="Variants to time side by side, ';'-separated, each "
                        "','-separated key=value (jit=on|off|auto, width, blocks_per_stage, feature_dim, "
                        "batch_size).")
    parser.add_argument("--block", type=int, default=5, help="Batches per turn of a variant with --compare.")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import tensorflow as tf

    from common.data import reader as data_lib
    from common.evaluation import classifier as classifier_lib

    started = time.perf_counter()
    train = classifier_lib.decode_split(args.data, "train", image_size=args.image_size, channels=args.channels)
    test = classifier_lib.decode_split(args.data, "test", image_size=args.image_size, channels=args.channels)
    decode_seconds = time.perf_counter() - started
    if args.num_train:
        train = (train[0][:args.num_train], train[1][:args.num_train])
    test = (test[0][:500], test[1][:500])
    num_classes = len(data_lib.describe(args.data).labels)
    if args.compare:
        if not args.seconds:
            parser.error("--compare needs --seconds.")
        result = _compare(args, train, num_classes)
        print(json.dumps(result, indent=1))
        if args.json:
            with open(args.json, "w") as file:
                json.dump(result, file, indent=2)
        return
    settings = classifier_lib.ClassifierSettings.for_images(
        train[0].shape[-1], len(train[0]), epochs=args.epochs, width=args.width,
        blocks_per_stage=args.blocks_per_stage, feature_dim=args.feature_dim, batch_size=args.batch_size)
    jit = {"on": True, "off": False, "auto": "auto"}[args.jit_compile]
    print(f"images {train[0].shape} (decoded in {decode_seconds:.0f} s), settings "
          f"{json.dumps(dataclasses.asdict(settings.resolved(train[0].shape[-1])), sort_keys=True)}, "
          f"jit_compile={args.jit_compile}, threads: intra-op {tf.config.threading.get_intra_op_parallelism_threads()}"
          f", load average {os.getloadavg()[0]:.1f}", flush=True)

    timeline = _timeline_callback(args.seconds)
    model, report = classifier_lib.train_classifier(train, test, num_classes, settings, jit_compile=jit,
                                                    verbose=1 if args.verbose else 0, callbacks=[timeline])
    # One more held-out evaluation, with the evaluation function already compiled.
    _, _, val_images, val_labels = classifier_lib._split_validation(*train, settings.resolved(train[0].shape[-1]))
    started = time.perf_counter()
    model.evaluate(classifier_lib._eval_pipeline(val_images, val_labels, 500), verbose=0)
    validation_seconds = time.perf_counter() - started

    steps_per_epoch = report["num_train"] // classifier_lib._train_batch_size(settings, report["num_train"])
    batches = timeline.batches
    window = [seconds for epoch, batch, seconds in batches[1:21]]
    first_epoch_rest = [seconds for epoch, batch, seconds in batches[21:] if epoch == 0]
    later = [seconds for epoch, batch, seconds in batches if epoch > 0 and batch > 0]
    epoch_starts = [seconds for epoch, batch, seconds in batches if epoch > 0 and batch == 0]
    steady = [seconds for epoch, batch, seconds in batches[21:] if batch > 0]
    steady_ms = _mean_ms(steady) or _mean_ms(window)
    result = {
        "settings": dataclasses.asdict(settings), "jit_compile": args.jit_compile,
        "resolved_jit_compile": bool(model.jit_compile),
        "num_train": report["num_train"], "num_validation": report["num_validation"],
        "steps_per_epoch": steps_per_epoch, "batches_run": len(batches),
        "first_batch_ms": round(1000 * batches[0][2], 1),
        "batches_2_to_21_ms": _mean_ms(window),
        "first_epoch_later_batches_ms": _mean_ms(first_epoch_rest),
        "later_epochs_batches_ms": _mean_ms(later),
        "later_epochs_first_batch_ms": _mean_ms(epoch_starts),
        "epoch_seconds": [round(value, 1) for value in timeline.epochs],
        "validation_seconds_in_fit": [round(value, 2) for value in timeline.validations],
        "validation_seconds_compiled": round(validation_seconds, 2),
        "projected_epoch_seconds": round(steps_per_epoch * steady_ms / 1000 + validation_seconds, 1),
        "train_seconds": report["train_seconds"],
        "estimated_seconds": report.get("estimated_seconds"),
        "estimated_seconds_after_first_epoch": report.get("estimated_seconds_after_first_epoch"),
        "epochs_trained": report["epochs_trained"], "epochs_scheduled": report["epochs_scheduled"],
        "validation_accuracy": report["history"].get("val_accuracy"),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
