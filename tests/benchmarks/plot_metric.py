"""Draws one logged metric of training runs against the step, as a PNG (for READMEs).

Run on purpose, from the repository root, e.g. the critic's Wasserstein estimate
of WGAN and WGAN-GP runs:

    python tests/benchmarks/plot_metric.py --metric=wasserstein_estimate \
        --runs=wgan:runs/wgan_mnist,wgan_gp:runs/wgan_gp_mnist --output=wasserstein.png

Reads each run's `metrics.jsonl` (one JSON object per logged step, written by
the runtime) or any .jsonl file of such objects (e.g. the per-checkpoint scores
of `mnist_metrics_table.py --all_checkpoints`, with `--metric=fid --log`), smooths the values with a centred moving average over
`--smooth` logged points (the raw values are drawn faintly behind), and draws
all runs on shared axes with Pillow. Prints, per run, the mean of the metric
over the first and the last tenth of the logged steps.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]


def read_metric(source: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of `metric` in a .jsonl file, or in `<source>/metrics.jsonl` for a run folder.

    Lines are JSON objects with a "step"; later lines win for a repeated step.
    """
    path = source if source.endswith(".jsonl") else os.path.join(source, "metrics.jsonl")
    if not os.path.exists(path):
        raise SystemExit(f"{path} does not exist: pass the --model_dir of a training run or a .jsonl file.")
    by_step = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if metric in record and record[metric] is not None and np.isfinite(record[metric]):
                by_step[int(record["step"])] = float(record[metric])
    if not by_step:
        raise SystemExit(f"{path} has no finite values of {metric!r}.")
    steps = np.array(sorted(by_step))
    return steps, np.array([by_step[s] for s in steps])


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average; the window shrinks at both ends so the output has the input's length."""
    if window <= 1 or len(values) < 3:
        return values.copy()
    half = window // 2
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    out = np.empty_like(values)
    for i in range(len(values)):
        lo, hi = max(0, i - half), min(len(values), i + half + 1)
        out[i] = (cumulative[hi] - cumulative[lo]) / (hi - lo)
    return out


def draw(curves: list, metric: str, output: str, size=(900, 500), log_scale: bool = False) -> None:
    """Draws (name, steps, raw values, smoothed values) curves; `log_scale` plots log10 of positive values."""
    from PIL import Image, ImageDraw

    width, height = size
    left, right, top, bottom = 80, 20, 30, 50
    image = Image.new("RGB", size, "white")
    pen = ImageDraw.Draw(image)
    all_steps = np.concatenate([c[1] for c in curves])
    all_values = np.concatenate([np.concatenate([c[2], c[3]]) for c in curves])
    x0, x1 = float(all_steps.min()), float(max(all_steps.max(), all_steps.min() + 1))
    y0, y1 = np.percentile(all_values, [0.5, 99.5])
    if y1 <= y0:
        y1 = y0 + 1.0

    def xy(step, value):
        x = left + (step - x0) / (x1 - x0) * (width - left - right)
        y = top + (1.0 - (np.clip(value, y0, y1) - y0) / (y1 - y0)) * (height - top - bottom)
        return float(x), float(y)

    pen.rectangle([left, top, width - right, height - bottom], outline="black")
    for fraction in np.linspace(0, 1, 5):
        value = y0 + fraction * (y1 - y0)
        _, y = xy(x0, value)
        pen.line([left - 4, y, left, y], fill="black")
        pen.text((4, y - 6), f"{10 ** value if log_scale else value:.3g}", fill="black")
        step = x0 + fraction * (x1 - x0)
        x, _ = xy(step, y0)
        pen.line([x, height - bottom, x, height - bottom + 4], fill="black")
        pen.text((x - 15, height - bottom + 8), f"{int(step)}", fill="black")
    pen.text((width // 2 - 20, height - 18), "step", fill="black")
    pen.text((left, 8), f"{metric} (log scale)" if log_scale else metric, fill="black")
    for index, (name, steps, raw, smooth) in enumerate(curves):
        colour = COLOURS[index % len(COLOURS)]
        faint = tuple(int(c + (255 - c) * 0.75) for c in colour)
        pen.line([xy(s, v) for s, v in zip(steps, raw)], fill=faint, width=1)
        pen.line([xy(s, v) for s, v in zip(steps, smooth)], fill=colour, width=2)
        pen.text((width - right - 160, top + 8 + 14 * index), name, fill=colour)
    image.save(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--metric", default="wasserstein_estimate")
    parser.add_argument("--runs", required=True,
                        help="Comma-separated name:source pairs; a source is a run folder or a .jsonl file.")
    parser.add_argument("--smooth", type=int, default=51, help="Moving-average window in logged points.")
    parser.add_argument("--output", default="metric.png")
    parser.add_argument("--log", action="store_true", help="Logarithmic value axis (positive metrics such as FID).")
    args = parser.parse_args()

    curves = []
    for item in args.runs.split(","):
        name, model_dir = item.split(":", 1)
        steps, values = read_metric(model_dir, args.metric)
        tenth = max(1, len(values) // 10)
        print(f"{name}: {len(values)} points, steps {steps[0]}-{steps[-1]}; mean {args.metric} "
              f"first tenth {values[:tenth].mean():.4g}, last tenth {values[-tenth:].mean():.4g}")
        smooth = moving_average(values, args.smooth)
        if args.log:
            if (values <= 0).any():
                raise SystemExit(f"--log needs positive values; {name} has {args.metric} <= 0.")
            values, smooth = np.log10(values), np.log10(smooth)
        curves.append((name, steps, values, smooth))
    draw(curves, args.metric, args.output, log_scale=args.log)
    print("wrote", args.output)


if __name__ == "__main__":
    main()
