"""A CIFAR-10 app (AC-GAN, ADC-GAN, SAGAN, BigGAN, BigGAN-deep, DCGAN) for a wall-clock budget, then its evaluation.

Run on purpose (not collected by pytest), from the repository root, one app at a time
or the two side by side (each pinned to one core with `taskset -c N`):

    python tests/benchmarks/conditional_quality.py --app=acgan --minutes=60 \\
        --cifar_dir=../shared/data/cifar10 --work_dir=/tmp/conditional_quality
    python tests/benchmarks/conditional_quality.py --app=adcgan --minutes=60 \\
        --cifar_dir=../shared/data/cifar10 --work_dir=/tmp/conditional_quality

What it does, with the suite's own commands:
1. builds CIFAR-10 (class folders `train/<class>/`, `test/<class>/`, 32x32 RGB)
   into TFRecords with `python -m tfrecords.build`, once per --work_dir;
2. trains `python -m apps.<module>.train` on them into <work_dir>/<app> (the app's
   CIFAR-10 configuration: its defaults, or `CIFAR10_FLAGS` where the defaults
   are another dataset's: SAGAN's and BigGAN's ImageNet networks, DCGAN's 64x64
   images; plus --extra_train_flags, which come after and so win) and
   stops it with SIGTERM after --minutes of wall time (the train command saves
   a checkpoint of the step reached and exits with 143); a run already in the
   model dir is resumed, so a second call adds another --minutes;
3. evaluates the newest checkpoint with `python -m apps.<module>.evaluate
   --feature_network=classifier` (the dataset classifier's features, trained on
   first use and cached) on --num_samples generated images, and prints and
   writes <work_dir>/<app>-step-<step>.json: FID, KID, precision/recall, the
   conditional accuracy with the classifier's accuracy on real test images
   beside it, and intra-FID (per class and the mean), as far as the evaluate
   command reports them (DCGAN is unconditional: no class metrics).

<app> names a configuration; `biggan_deep` is `apps.biggan` with --variant=deep.

The numbers are classifier-feature values: they compare runs of this script
with each other, not with published Inception FIDs. --steps bounds the run
when the budget is not reached first.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The app module each --app runs.
APPS = {"acgan": "acgan", "adcgan": "adcgan", "sagan": "sagan", "biggan": "biggan", "biggan_deep": "biggan",
        "dcgan": "dcgan"}
# BigGAN-PyTorch's `launch_cifar_ema.sh`: batch 50 per D step, 4 D steps, both rates 2e-4, Adam epsilon 1e-8,
# no shared embedding, no hierarchical z, no orthogonal regularisation, EMA from iteration 1,000.
_BIGGAN_CIFAR10 = ["--architecture=cifar32", "--num_classes=10", "--latent_dim=128", "--shared_dim=0",
                   "--hierarchical_z=false", "--ortho_beta=0", "--batch_size=200", "--d_steps=4", "--accumulate=1",
                   "--g_learning_rate=2e-4", "--d_learning_rate=2e-4", "--adam_epsilon=1e-8", "--ema_start=1000",
                   "--standing_batch_size=50"]
# Train flags that select an app's CIFAR-10 configuration where its defaults are another dataset's.
CIFAR10_FLAGS = {"sagan": ["--architecture=cifar32", "--num_classes=10"],
                 "biggan": _BIGGAN_CIFAR10,
                 # BigGAN-deep conditions every block on [shared embedding, z]: the ImageNet model's 128.
                 "biggan_deep": _BIGGAN_CIFAR10 + ["--variant=deep", "--shared_dim=128"],
                 "dcgan": ["--image_size=32"]}
CIFAR10_LABELS = "airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck"
# Keys of the evaluate report summarised on one line; the JSON keeps every key the command wrote.
SUMMARY_KEYS = ("fid", "kid_mean", "kid_std", "precision", "recall", "conditional_accuracy",
                "classifier_test_accuracy", "intra_fid_mean", "checkpoint_step")


def _command(args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True, **kwargs)


def build_cifar10(cifar_dir: str, data_dir: str) -> None:
    """TFRecords of CIFAR-10's class folders (labels 0..9 in the canonical order), unless already built."""
    if os.path.exists(os.path.join(data_dir, "manifest.json")):
        return
    if not os.path.isdir(os.path.join(cifar_dir, "train")):
        raise SystemExit(f"{cifar_dir} has no train/ folder; pass --cifar_dir=<CIFAR-10 class folders>.")
    code = _command(["tfrecords.build", f"--source={cifar_dir}", f"--output={data_dir}"]).wait()
    if code != 0:
        raise SystemExit(f"tfrecords.build failed with status {code}.")


def train_for(module: str, data_dir: str, model_dir: str, minutes: float, steps: int, extra_flags: list[str]) -> float:
    """Runs the app's train command until --steps or `minutes` of wall time (then SIGTERM); returns seconds."""
    process = _command([f"apps.{module}.train", f"--data={data_dir}", f"--model_dir={model_dir}", f"--steps={steps}",
                        *extra_flags])
    start = time.monotonic()
    try:
        process.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        process.wait()
    elapsed = time.monotonic() - start
    if process.returncode not in (0, 128 + signal.SIGTERM):
        raise SystemExit(f"apps.{module}.train failed with status {process.returncode}.")
    return elapsed


def evaluate(module: str, model_dir: str, output: str, num_samples: int, extra_flags: list[str]) -> dict:
    """Runs the app's evaluate command with classifier features and returns its JSON report."""
    code = _command([f"apps.{module}.evaluate", f"--model_dir={model_dir}", "--feature_network=classifier",
                     f"--num_samples={num_samples}", f"--output={output}", *extra_flags]).wait()
    if code != 0:
        raise SystemExit(f"apps.{module}.evaluate failed with status {code}.")
    with open(output) as file:
        return json.load(file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", choices=APPS, required=True)
    parser.add_argument("--minutes", type=float, default=60.0, help="Wall-clock budget of the training run.")
    parser.add_argument("--steps", type=int, default=1_000_000, help="Upper bound on the run's steps.")
    parser.add_argument("--cifar_dir", default=os.path.join(ROOT, "..", "shared", "data", "cifar10"))
    parser.add_argument("--data", default=None, help="A CIFAR-10 TFRecord build to use instead of --cifar_dir.")
    parser.add_argument("--work_dir", default="/tmp/conditional_quality")
    parser.add_argument("--num_samples", type=int, default=10_000, help="Generated images to score.")
    parser.add_argument("--extra_train_flags", default="", help="More flags for the train command, space-separated.")
    parser.add_argument("--extra_eval_flags", default="", help="More flags for the evaluate command.")
    parser.add_argument("--skip_train", action="store_true", help="Only evaluate the run in --work_dir.")
    args = parser.parse_args()

    os.makedirs(args.work_dir, exist_ok=True)
    data_dir = args.data or os.path.join(args.work_dir, "cifar10")
    if args.data is None:
        build_cifar10(args.cifar_dir, data_dir)
    model_dir = os.path.join(args.work_dir, args.app)
    seconds = None
    if not args.skip_train:
        flags = CIFAR10_FLAGS.get(args.app, []) + args.extra_train_flags.split()
        seconds = train_for(APPS[args.app], data_dir, model_dir, args.minutes, args.steps, flags)
    output = os.path.join(args.work_dir, f"{args.app}-eval.json")
    report = evaluate(APPS[args.app], model_dir, output, args.num_samples, args.extra_eval_flags.split())
    step = report.get("checkpoint_step")
    result = {"app": args.app, "train_seconds": seconds, "minutes": args.minutes, "data": data_dir,
              "model_dir": model_dir, "extra_train_flags": args.extra_train_flags, "evaluation": report}
    path = os.path.join(args.work_dir, f"{args.app}-step-{step}.json")
    with open(path, "w") as file:
        json.dump(result, file, indent=2, sort_keys=True)
    summary = {key: report[key] for key in SUMMARY_KEYS if report.get(key) is not None}
    print(json.dumps({"app": args.app, "train_seconds": seconds, **summary}, sort_keys=True))
    print(f"Wrote {path}.")


if __name__ == "__main__":
    main()
