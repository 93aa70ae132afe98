"""Training speed of each app under runtime variants (XLA, precision), interleaved in one run.

    python tests/benchmarks/step_speed.py --apps=dcgan,cyclegan --variants=float32,xla,bfloat16
    python tests/benchmarks/step_speed.py            # every app, float32 with and without XLA

Every measurement is a fresh `python -m apps.<app>.train` process on the
offline default data with the app's small configuration below, so it goes
through the real runtime (input pipeline, the step wrapper, callbacks). The
speed of a run is the images per second its last progress line reports: the
rate over the last `--log_every` steps, after tracing and XLA compilation are
done. The machine is shared and noisy, so variants run in rounds (every variant
of every app once per round, in the same order) and each variant is reported
as the median over rounds of its speed relative to the baseline variant of the
same app in the same round.

A run the runtime refuses (XLA on a model with an op that has no
deterministic XLA kernel, such as CoGAN's max pooling) is recorded as
"refused" with the reason, and a run still going after `--timeout` seconds as
"timeout"; neither stops the benchmark.

Variants: `float32` (the baseline: --precision=float32 --nojit_compile), `xla`
(float32 with --jit_compile), `bfloat16` (--precision=mixed_bfloat16), `bfloat16_xla`,
`float16` (--precision=mixed_float16).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A configuration each app trains at in seconds per step on a CPU: the offline
# default data and, where the paper's widths take minutes a step, narrower nets.
APP_FLAGS = {
    "dcgan": ["--image_size=32", "--channels=1", "--batch_size=64"],
    "gan": ["--batch_size=100"],
    "lsgan": ["--image_size=32", "--channels=1", "--batch_size=64"],
    "wgan": ["--image_size=32", "--channels=1", "--batch_size=64"],
    "wgan_gp": ["--image_size=32", "--channels=1", "--batch_size=64"],
    "cgan": ["--batch_size=100"],
    "acgan": ["--channels=1", "--batch_size=64"],
    "adcgan": ["--channels=1", "--batch_size=64"],
    "cogan": ["--batch_size=32"],
    "cyclegan": ["--batch_size=1"],
    "csgan": ["--batch_size=1"],
    "discogan": ["--batch_size=16"],
}
VARIANTS = {
    "float32": ["--precision=float32", "--nojit_compile"],
    "xla": ["--precision=float32", "--jit_compile"],
    "bfloat16": ["--precision=mixed_bfloat16", "--nojit_compile"],
    "bfloat16_xla": ["--precision=mixed_bfloat16", "--jit_compile"],
    "float16": ["--precision=mixed_float16", "--nojit_compile"],
}
RATE = re.compile(r"^step\s+(\d+)/(\d+)\s.*\s([0-9.]+) img/s", re.MULTILINE)


class NotMeasured(Exception):
    """A run that gave no speed: refused by the runtime before training, or over the time limit."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


def images_per_second(app: str, variant: str, steps: int, log_every: int, work_dir: str,
                      extra: list[str], timeout: float) -> float:
    model_dir = tempfile.mkdtemp(prefix=f"{app}-{variant}-", dir=work_dir)
    command = [sys.executable, "-m", f"apps.{app}.train", f"--model_dir={model_dir}", f"--steps={steps}",
               f"--log_every={log_every}", f"--checkpoint_every={steps}", "--sample_every=0",
               *APP_FLAGS[app], *VARIANTS[variant], *extra]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        process = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                                 check=False)
    except subprocess.TimeoutExpired:
        raise NotMeasured("timeout", f"still running after {timeout:.0f} s") from None
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    refusal = re.search(r"^Error: (--jit_compile.*)$", process.stderr, re.MULTILINE)
    if process.returncode == 2 and refusal:  # the runtime's ConfigError: refused before training
        raise NotMeasured("refused", refusal.group(1))
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{process.stderr[-3000:]}")
    rates = RATE.findall(process.stdout)
    if not rates:
        raise RuntimeError(f"no progress line in the output of {' '.join(command)}:\n{process.stdout[-2000:]}")
    return float(rates[-1][2])


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor()
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    wanted = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
              if flags and flag in flags.group(1).split()]
    return f"{model.group(1) if model else platform.processor()} ({', '.join(wanted)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", default=",".join(APP_FLAGS))
    parser.add_argument("--variants", default="float32,xla")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="steps per run; the last --log_every are timed")
    parser.add_argument("--log_every", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a run may take before it is stopped")
    parser.add_argument("--extra_flags", default="", help="more train flags for every run")
    parser.add_argument("--work_dir", default=None)
    args = parser.parse_args()
    apps = [a for a in args.apps.split(",") if a]
    variants = [v for v in args.variants.split(",") if v]
    for name in apps:
        if name not in APP_FLAGS:
            parser.error(f"unknown app {name!r}; one of {', '.join(APP_FLAGS)}")
    for name in variants:
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r}; one of {', '.join(VARIANTS)}")
    baseline = variants[0]
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="step-speed-")
    os.makedirs(work_dir, exist_ok=True)
    print(f"CPU: {cpu_flags()}; load average {os.getloadavg()[0]:.1f}; baseline variant: {baseline}", flush=True)
    speeds = {(app, variant): [] for app in apps for variant in variants}  # float, or NotMeasured
    for round_index in range(args.rounds):
        for app in apps:
            for variant in variants:
                try:
                    rate = images_per_second(app, variant, args.steps, args.log_every, work_dir,
                                             args.extra_flags.split(), args.timeout)
                    shown = f"{rate:9.2f} img/s"
                except NotMeasured as not_measured:
                    rate, shown = not_measured, str(not_measured)
                speeds[app, variant].append(rate)
                print(f"round {round_index + 1} {app:9s} {variant:13s} {shown}", flush=True)

    def median_rate(values: list) -> str:
        rates = [v for v in values if isinstance(v, float)]
        if rates:
            return f"{statistics.median(rates):.2f}" + (" (some runs not measured)" if len(rates) < len(values) else "")
        return " / ".join(sorted({v.kind for v in values}))

    def median_ratio(values: list, baselines: list) -> str:
        ratios = [a / b for a, b in zip(values, baselines) if isinstance(a, float) and isinstance(b, float)]
        if ratios:
            return f"{statistics.median(ratios):.2f}" + (f" ({len(ratios)} of {len(values)} rounds)"
                                                          if len(ratios) < len(values) else "")
        return "-"

    header = ["app", *(f"{v} img/s" for v in variants), *(f"{v} / {baseline}" for v in variants[1:])]
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for app in apps:
        cells = [app, *(median_rate(speeds[app, v]) for v in variants),
                 *(median_ratio(speeds[app, v], speeds[app, baseline]) for v in variants[1:])]
        print("| " + " | ".join(cells) + " |")
    reasons = {(app, v.detail) for (app, _), values in speeds.items() for v in values if isinstance(v, NotMeasured)}
    for app, detail in sorted(reasons):
        print(f"{app}: {detail}")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
