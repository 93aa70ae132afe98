"""Fault-injection campaign: real DCGAN runs on the offline digits, a fault each, the outcome checked.

```
python tests/benchmarks/fault_campaign.py --work_dir=/tmp/faults [--kill_trials=20] [--parallel=2]
```

Every trial starts `python -m apps.dcgan.train` (16x16 grayscale, 4 base
filters, batch 4; the kill-during-write trials use the 32x32, 16-filter,
batch-16 configuration of a first run on the digits), injects one fault and
checks what happens next:

| fault | expected |
|---|---|
| kill -9 at a random step | the resumed run's losses equal the uninterrupted run's, bit for bit |
| kill -9 while a checkpoint is written | the resume uses a complete checkpoint; a partial one is never taken |
| newest `.data`/`.index` zeroed, bit-flipped, truncated; `.data` deleted | the same invocation goes on from the previous checkpoint; only the damaged one is moved to `corrupt/` |
| `checkpoint` state file missing, garbage, empty, stale | the newest checkpoint on disk is used |
| every checkpoint unreadable | exit status 2, each file named, nothing moved |
| disk full while writing a checkpoint (a tmpfs as `--model_dir`) | exit status 1 and a clear error; the previous checkpoint intact; the next run resumes |
| SIGTERM / SIGINT during a step, during an evaluation | a checkpoint at the step reached, exit status 143 / 130, bit-equal resume |
| a TFRecord shard damaged mid-file | exit status 2 naming the file: before training (manifest checksum), or when read (shard glob) |
| NaN in the loss at step k | `--on_nan=stop`: exit 1 naming step k; `--on_nan=rollback`: restored and finished with finite losses |

The evaluation and NaN trials run the same app through `runtime.train` in a
driver process (this script with `--driver=eval|nan`): the evaluation is a
pixel-space FID of 4,000 samples, long enough for a signal sent from outside
to land inside it; the NaN is an Inf written into the k-th batch. The disk-full
trial mounts a tmpfs (needs root); without one it is reported as not run.
Prints a table of (fault, trials, passed) and exits 1 if any trial failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.faults import injection  # noqa: E402  (no TensorFlow import at module level)

TINY = ["--image_size=16", "--channels=1", "--base_filters=4", "--latent_dim=8", "--batch_size=4"]
ISSUE = ["--image_size=32", "--channels=1", "--base_filters=16", "--batch_size=16"]
COMMON = ["--log_every=1", "--sample_every=0", "--strategy=default"]
REFERENCE_STEPS = 120
TIMEOUT = 600


# ----------------------------------------------------------------------------- processes and logs


def start(args: list[str], **kwargs) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


def train_args(model_dir: str, steps: int, *extra: str, size=TINY) -> list[str]:
    return ["-m", "apps.dcgan.train", f"--model_dir={model_dir}", f"--steps={steps}", *size, *COMMON, *extra]


def finish(process: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        return -999, out, err + "\n(timed out)"
    return process.returncode, out, err


def run(args: list[str], timeout: float = TIMEOUT) -> tuple[int, str, str]:
    return finish(start(args), timeout)


def logged(model_dir: str) -> list[dict]:
    path = os.path.join(model_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def last_step(model_dir: str) -> int:
    return max((line["step"] for line in logged(model_dir)), default=0)


def wait_for(condition, process: subprocess.Popen, timeout: float = TIMEOUT, interval: float = 0.002) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(interval)
    return False


def losses_mismatch(model_dir: str, reference: dict) -> str | None:
    """None if every logged line equals the reference run's line of that step, else the first difference."""
    lines = logged(model_dir)
    if not lines:
        return "nothing logged"
    for line in lines:
        line = dict(line)
        step = line.pop("step")
        if step not in reference:
            return f"step {step} beyond the reference run"
        if line != reference[step]:
            return f"step {step}: {line} != {reference[step]}"
    return None


class Trial(Exception):
    """A trial's expectation failed; the message says which."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Trial(message)


def tail(text: str, lines: int = 6) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


# ----------------------------------------------------------------------------- trials


def resume_all(model_dirs: list[str], totals: list[int], *extra: str) -> tuple[int, dict, str]:
    """Resumes every directory in one `--driver=resume` process: (exit, {dir: (resumed ckpt step, ok)}, stderr)."""
    code, out, err = run([os.path.abspath(__file__), "--driver=resume", "--model_dirs=" + ",".join(model_dirs),
                          "--steps_list=" + ",".join(map(str, totals)), *extra], timeout=TIMEOUT * len(model_dirs))
    outcome, last_resume = {}, None
    for line in out.splitlines():
        if line.startswith("Resuming dcgan from ckpt-"):
            last_resume = int(line.split("ckpt-")[1].split(" ")[0])
        elif line.endswith(" done"):
            outcome[line[: -len(" done")]] = (last_resume, "done")
            last_resume = None
        elif " failed: " in line:
            directory, why = line.split(" failed: ", 1)
            outcome[directory] = (last_resume, why)
            last_resume = None
    return code, outcome, err


def kill_at_random_steps(work: str, trials: int, reference: dict, rng: random.Random) -> list:
    """`trials` runs, each killed after a random step, three at a time; then two processes resume them.

    The resumes call `runtime.train` with the configuration the command line
    gave (`--driver=resume`), one after another in each process, to save a
    TensorFlow start-up per trial.
    """
    targets = [rng.randint(2, REFERENCE_STEPS - 30) for _ in range(trials)]
    model_dirs = [os.path.join(work, f"kill9_step_{trial}") for trial in range(trials)]

    def kill(model_dir, target):
        process = start(train_args(model_dir, 100000, "--checkpoint_every=5"))
        reached = wait_for(lambda: last_step(model_dir) >= target, process)
        process.kill()
        code, _, err = finish(process)
        return reached and code == -signal.SIGKILL, f"exit {code} {tail(err)}"

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        killed = list(pool.map(kill, model_dirs, targets))
    killed_at = [last_step(d) for d in model_dirs]
    totals = [min(REFERENCE_STEPS, k + 5) for k in killed_at]
    halves = [slice(0, trials // 2), slice(trials // 2, trials)]  # two resume processes side by side
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(lambda half: resume_all(model_dirs[half], totals[half]), halves))
    resumed = {k: v for part in parts for k, v in part[1].items()}
    err = " ".join(part[2][-500:] for part in parts)
    outcomes = []
    for model_dir, target, (ok, why), at, total in zip(model_dirs, targets, killed, killed_at, totals):
        fault = "kill -9 at a random step"
        if not ok:
            outcomes.append((fault, False, f"not killed at step {target}: {why}"))
            continue
        mismatch = losses_mismatch(model_dir, reference)
        finished = last_step(model_dir) == total
        start_step, status = resumed.get(model_dir, (None, "no result"))
        if status != "done" or mismatch or not finished:
            outcomes.append((fault, False, f"killed after step {at}: resume {status}, finished {finished}, "
                                           f"{mismatch} {tail(err)}"))
        else:
            outcomes.append((fault, True, f"killed after step {at}, resumed from ckpt-{start_step} to step {total}, "
                                          "all losses equal"))
    return outcomes


def kill_during_checkpoint_write(work: str, trial: int, rng: random.Random) -> str:
    """kill -9 as soon as a checkpoint's temporary folder or files appear (checkpoint every step)."""
    model_dir = os.path.join(work, f"kill9_write_{trial}")
    first = rng.randint(3, 12)
    process = start(train_args(model_dir, 100000, "--checkpoint_every=1", size=ISSUE))

    def writing() -> bool:
        if last_step(model_dir) < first:
            return False
        try:
            names = os.listdir(model_dir)
        except FileNotFoundError:
            return False
        return any("_temp" in name or name.endswith(".tmp") for name in names)

    reached = wait_for(writing, process, interval=0.0002)
    process.kill()
    code, _, err = finish(process)
    expect(reached and code == -signal.SIGKILL, f"no write seen: exit {code} {tail(err)}")
    leftovers = sorted(name for name in os.listdir(model_dir) if "_temp" in name or name.endswith(".tmp"))
    state = open(os.path.join(model_dir, "checkpoint")).read() if os.path.exists(
        os.path.join(model_dir, "checkpoint")) else ""
    on_disk = sorted(int(p.split("-")[-1][:-6]) for p in glob.glob(os.path.join(model_dir, "ckpt-*.index")))
    listed = [int(s) for s in re.findall(r'all_model_checkpoint_paths: "ckpt-(\d+)"', state)]
    killed_at = last_step(model_dir)
    before = logged(model_dir)
    code, out, err = run(train_args(model_dir, killed_at + 2, "--checkpoint_every=1", size=ISSUE))
    expect(code == 0, f"resume exit {code}: {tail(err)}")
    resumed_from = int(re.search(r"Resuming dcgan from ckpt-(\d+)", out).group(1))
    expect(resumed_from in on_disk, f"resumed from ckpt-{resumed_from}, not a checkpoint on disk {on_disk}")
    # The resumed run recomputes steps the killed run had logged: they must be equal.
    first_run = {line["step"]: line for line in before}
    redone = [line for line in logged(model_dir)[len(before):] if line["step"] in first_run]
    expect(all(line == first_run[line["step"]] for line in redone), "recomputed steps differ")
    unlisted = sorted(set(on_disk) - set(listed))
    return (f"killed after step {killed_at}: leftovers {leftovers or 'none'}, on disk {on_disk[-3:]}, "
            f"unlisted {unlisted}; resumed from ckpt-{resumed_from}, {len(redone)} steps recomputed equal")


def base_run(work: str) -> tuple[str, dict]:
    """A 30-step run with ckpt-10, 20, 30, and its logged losses."""
    model_dir = os.path.join(work, "base")
    code, _, err = run(train_args(model_dir, 30, "--checkpoint_every=10"))
    if code != 0:
        raise RuntimeError(f"base run failed: {tail(err)}")
    return model_dir, {line["step"]: line for line in logged(model_dir)}


def copy_of(base: str, work: str, name: str) -> str:
    target = os.path.join(work, name)
    shutil.copytree(base, target)
    return target


def damaged_and_state_file_trials(work: str, base: str, base_log: dict) -> list:
    """Copies of the 30-step run, each with a damaged newest checkpoint or state file, resumed to step 32.

    The resumes run in one `--driver=resume` process with `--checkpoint_every=10
    --keep_checkpoints=10` (the healthy checkpoints stay, so a move of one would show).
    """
    labels = {"zero": "64 zeroed bytes in", "flip": "8 flipped bits in", "truncate": "truncated", "delete": "deleted"}
    trials = []  # (fault, model_dir, expected resume step, listing before)
    for kind in injection.CHECKPOINT_DAMAGES:
        part, how = kind.split(":")
        model_dir = copy_of(base, work, "damage_" + kind.replace(":", "_"))
        injection.damage(kind, model_dir, 30)
        trials.append((f"newest .{part}: {labels[how]}", model_dir, 20, injection.listing(model_dir)))
    for fault in ("missing", "garbage", "empty", "stale"):
        model_dir = copy_of(base, work, "state_" + fault)
        path = os.path.join(model_dir, "checkpoint")
        if fault == "missing":
            os.remove(path)
        elif fault == "garbage":
            with open(path, "wb") as f:
                f.write(os.urandom(300))
        elif fault == "empty":
            open(path, "w").close()
        else:  # as if the process died after writing ckpt-30, before listing it
            with open(path, "w") as f:
                f.write('model_checkpoint_path: "ckpt-20"\nall_model_checkpoint_paths: "ckpt-10"\n'
                        'all_model_checkpoint_paths: "ckpt-20"\n')
        trials.append((f"state file {fault}", model_dir, 30, injection.listing(model_dir)))
    code, resumed, err = resume_all([t[1] for t in trials], [32] * len(trials), "--checkpoint_every=10",
                                    "--keep_checkpoints=10")
    outcomes = []
    for fault, model_dir, expected, before in trials:
        try:
            start_step, status = resumed.get(model_dir, (None, "no result"))
            expect(status == "done", f"resume {status}; {tail(err)}")
            expect(start_step == expected, f"resumed from ckpt-{start_step}, not ckpt-{expected}")
            corrupt = os.path.join(model_dir, "corrupt")
            quarantined = sorted(os.listdir(corrupt)) if os.path.isdir(corrupt) else []
            after = injection.listing(model_dir)
            if expected == 20:
                expect(quarantined and all(name.startswith("ckpt-30.") for name in quarantined),
                       f"quarantined {quarantined}")
                redone = {line["step"]: line for line in logged(model_dir)[len(base_log):]}
                expect(all(redone[s] == base_log[s] for s in range(21, 31)), "steps 21-30 recomputed differently")
            else:
                expect(all(not name.startswith("ckpt-") for name in quarantined), f"quarantined {quarantined}")
                expect(after.get("ckpt-30.index") == before["ckpt-30.index"], "ckpt-30 changed")
            for name in ("ckpt-10.index", "ckpt-20.index", "ckpt-20.data-00000-of-00001"):
                expect(after.get(name) == before[name], f"{name} moved or changed")
            detail = f"resumed from ckpt-{start_step}; corrupt/ holds {quarantined or 'nothing'}"
            if expected == 20:
                detail += "; steps 21-30 recomputed equal"
            outcomes.append((fault, True, detail))
        except Trial as failure:
            outcomes.append((fault, False, str(failure)))
    return outcomes


def every_checkpoint_unreadable(work: str, base: str) -> str:
    model_dir = copy_of(base, work, "all_unreadable")
    injection.damage("data:zero", model_dir, 30)
    injection.damage("index:truncate", model_dir, 20)
    injection.damage("data:flip", model_dir, 10)
    before = injection.listing(model_dir)
    code, out, err = run(train_args(model_dir, 32, "--checkpoint_every=10"))
    expect(code == 2, f"exit {code}: {tail(err)}")
    for step in (10, 20, 30):
        expect(f"ckpt-{step}: " in err, f"ckpt-{step} not named: {tail(err)}")
    after = injection.listing(model_dir)
    expect({k: v for k, v in after.items() if k != "config.json"}
           == {k: v for k, v in before.items() if k != "config.json"}, "files moved or changed")
    return tail(err, 1)[:160]


def disk_full(work: str) -> str:
    mount = os.path.join(work, "tmpfs")
    os.makedirs(mount, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount], capture_output=True, text=True)
    if result.returncode != 0:
        raise NotImplementedError(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        model_dir = os.path.join(mount, "run")
        process = start(train_args(model_dir, 100000, "--checkpoint_every=20", "--log_every=1000"))
        expect(wait_for(lambda: last_step(model_dir) >= 3, process), "run did not start")
        checkpoint_bytes = os.path.getsize(injection.checkpoint_file(model_dir, 0, "data"))
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        filler = os.path.join(mount, "filler")
        with open(filler, "wb") as f:  # leave less room than one checkpoint needs
            f.write(b"\0" * max(0, free - checkpoint_bytes // 2))
        code, out, err = finish(process)
        expect(code == 1, f"exit {code}: {tail(err)}")
        expect("Traceback" not in err, f"traceback: {tail(err, 12)}")
        messages = [line for line in err.splitlines() if line.startswith("Error:")]
        expect(bool(messages), f"no error message: {tail(err)}")
        message = messages[0]
        found = re.search(r"Could not write the checkpoint of step (\d+) .*No space left on device.*; "
                          r"ckpt-(\d+) is the newest checkpoint", message)
        expect(found is not None, f"unclear error: {message}")
        failed_step, previous = int(found.group(1)), int(found.group(2))
        expect(previous == failed_step - 20, f"ckpt-{previous} named, the write of {failed_step} failed")
        from common.training import checkpointing

        reason = checkpointing.unreadable_reason(os.path.join(model_dir, f"ckpt-{previous}"))
        expect(reason is None, f"ckpt-{previous} damaged: {reason}")
        os.remove(filler)
        leftovers = sorted(name for name in os.listdir(model_dir) if "_temp" in name)
        code, out, err = run(train_args(model_dir, previous + 2, "--checkpoint_every=20", "--log_every=1000"))
        expect(code == 0 and f"Resuming dcgan from ckpt-{previous} " in out, f"resume exit {code}: {tail(err)}")
        return f"{message[:200]} (checkpoint {checkpoint_bytes} bytes; temporary leftovers {leftovers})"
    finally:
        subprocess.run(["umount", mount], capture_output=True)


def signal_during_step(work: str, trial: int, signum: int, reference: dict, rng: random.Random) -> str:
    name = signal.Signals(signum).name
    model_dir = os.path.join(work, f"{name.lower()}_step_{trial}")
    target = rng.randint(3, REFERENCE_STEPS - 30)
    process = start(train_args(model_dir, 100000, "--checkpoint_every=5"))
    reached = wait_for(lambda: last_step(model_dir) >= target, process)
    process.send_signal(signum)
    code, _, err = finish(process)
    expect(reached and code == 128 + signum, f"exit {code}: {tail(err)}")
    saved = int(re.search(rf"{name} received: saved a checkpoint at step (\d+)", err).group(1))
    expect(saved == last_step(model_dir), f"saved {saved}, logged {last_step(model_dir)}")
    expect(os.path.exists(os.path.join(model_dir, f"ckpt-{saved}.index")), f"no ckpt-{saved}")
    code, out, err = run(train_args(model_dir, saved + 3, "--checkpoint_every=5"))
    expect(code == 0 and f"Resuming dcgan from ckpt-{saved} " in out, f"resume exit {code}: {tail(err)}")
    mismatch = losses_mismatch(model_dir, reference)
    expect(mismatch is None, mismatch or "")
    return f"signalled after step {target}, saved step {saved}"


def signal_during_evaluation(work: str, trial: int, signum: int) -> str:
    name = signal.Signals(signum).name
    model_dir = os.path.join(work, f"{name.lower()}_eval_{trial}")
    eval_step = 10 * (trial + 1)
    process = start([os.path.abspath(__file__), "--driver=eval", f"--model_dir={model_dir}", "--steps=100000",
                     f"--eval_every={eval_step}"])
    marker = os.path.join(model_dir, f"evaluating-{eval_step}")
    reached = wait_for(lambda: os.path.exists(marker), process)
    process.send_signal(signum)
    code, _, err = finish(process)
    expect(reached and code == 128 + signum, f"exit {code}: {tail(err)}")
    finished = os.path.exists(os.path.join(model_dir, f"evaluated-{eval_step}"))
    saved = int(re.search(rf"{name} received: saved a checkpoint at step (\d+)", err).group(1))
    expect(saved == eval_step, f"saved step {saved}, evaluation at step {eval_step}")
    expect(os.path.exists(os.path.join(model_dir, f"ckpt-{saved}.index")), f"no ckpt-{saved}")
    from common.training import checkpointing

    reason = checkpointing.unreadable_reason(os.path.join(model_dir, f"ckpt-{saved}"))
    expect(reason is None, f"ckpt-{saved} does not read back: {reason}")
    return f"signal during the evaluation of step {eval_step} (it then finished: {finished}); saved step {saved}"


def damaged_shard(work: str) -> list[tuple[str, bool, str]]:
    from common.data import default_datasets

    source = default_datasets.default_dataset("digits")
    data = os.path.join(work, "digits")
    shutil.copytree(source, data)
    (shard,) = glob.glob(os.path.join(data, "*-train-*.tfrecord"))
    injection.zero_bytes(shard, count=64)
    outcomes = []
    for label, path in (("manifest", data), ("glob", os.path.join(data, "*-train-*.tfrecord"))):
        model_dir = os.path.join(work, f"shard_{label}")
        code, out, err = run(train_args(model_dir, 400, f"--data={path}", "--checkpoint_every=100"))
        steps = last_step(model_dir)
        try:
            expect(code == 2, f"exit {code}: {tail(err)}")
            expect(shard in err, f"file not named: {tail(err)}")
            expect("Traceback" not in err, f"traceback: {tail(err, 12)}")
            message = [line for line in err.splitlines() if line.startswith("Error:")][0]
            outcomes.append((f"TFRecord shard damaged mid-file ({label})", True,
                             f"after {steps} steps: {message[:220]}"))
        except Trial as failure:
            outcomes.append((f"TFRecord shard damaged mid-file ({label})", False, str(failure)))
    return outcomes


def nan_at_step(work: str, trial: int, mode: str, rng: random.Random) -> str:
    model_dir = os.path.join(work, f"nan_{mode}_{trial}")
    nan_step = rng.randint(3, 40)
    total = nan_step + 10
    code, out, err = run([os.path.abspath(__file__), "--driver=nan", f"--model_dir={model_dir}",
                          f"--steps={total}", f"--nan_step={nan_step}", f"--on_nan={mode}"])
    if mode == "stop":
        expect(code == 1, f"exit {code}: {tail(err)}")
        expect(f"Non-finite loss at step {nan_step} " in err, f"step not named: {tail(err)}")
        return f"NaN at step {nan_step}: {tail(err, 1)[:100]}"
    expect(code == 0, f"exit {code}: {tail(err)}")
    rolled = re.search(r"rolled back to step (\d+)", out)
    expect(rolled is not None, f"no rollback: {tail(out)}")
    lines = logged(model_dir)
    expect(lines[-1]["step"] == total, f"ended at {lines[-1]['step']}")
    expect(all(v == v and abs(v) != float("inf") for line in lines for k, v in line.items() if k != "step"),
           "non-finite value logged")
    return f"NaN at step {nan_step}, rolled back to step {rolled.group(1)}, finished {total} steps"


# ----------------------------------------------------------------------------- drivers


def driver(args) -> None:
    """A DCGAN run through `runtime.train`, with an evaluation callback or an Inf in one batch."""
    import numpy as np
    import tensorflow as tf

    from apps.dcgan.config import DCGANConfig
    from apps.dcgan.model import build_model, make_optimizers
    from common.evaluation import metrics, periodic_evaluation
    from common.training import runtime
    from common.training.runtime_config import RuntimeConfig

    config = DCGANConfig(image_size=16, channels=1, base_filters=4, latent_dim=8, batch_size=4)

    def build_optimizers(c):
        return dict(zip(("g_optimizer", "d_optimizer"), make_optimizers(c)))

    if args.driver == "resume":  # what `train_args(model_dir, steps, ...)` runs, for several directories
        for model_dir, steps in zip(args.model_dirs.split(","), args.steps_list.split(",")):
            run = RuntimeConfig(model_dir=model_dir, steps=int(steps), batch_size=4, log_every=1,
                                checkpoint_every=args.checkpoint_every, keep_checkpoints=args.keep_checkpoints,
                                sample_every=0, strategy="default")
            try:
                runtime.train(app="dcgan", config=config, run=run, build_model=build_model,
                              build_optimizers=build_optimizers)
                print(f"{model_dir} done", flush=True)
            except Exception as error:  # noqa: BLE001  (reported per directory; the others still run)
                print(f"{model_dir} failed: {type(error).__name__}: {str(error).splitlines()[0][:300]}", flush=True)
        return
    run = RuntimeConfig(model_dir=args.model_dir, steps=args.steps, batch_size=4, log_every=1, checkpoint_every=5,
                        sample_every=0, strategy="default", on_nan=args.on_nan, max_rollbacks=1)

    callbacks = []
    dataset_fn = runtime.image_dataset_fn(run, config)
    if args.driver == "eval":
        real = np.random.default_rng(0).normal(size=(4000, 256))

        def evaluate_fn(model):
            z = np.random.default_rng(1).standard_normal((4000, config.latent_dim)).astype(np.float32)
            fake = np.concatenate([np.asarray(model.sample(z[i:i + 500])).reshape(500, -1)
                                   for i in range(0, 4000, 500)])
            return {"fid": metrics.fid_from_features(real, fake)}

        class MarkedEvaluation(periodic_evaluation.PeriodicEvaluation):
            """Leaves evaluating-<step> and evaluated-<step> files around each evaluation."""

            def evaluate(self, step):
                open(os.path.join(args.model_dir, f"evaluating-{step}"), "w").close()
                results = super().evaluate(step)
                open(os.path.join(args.model_dir, f"evaluated-{step}"), "w").close()
                return results

        callback = MarkedEvaluation(args.eval_every, model_dir=args.model_dir, evaluate_fn=evaluate_fn)
        callbacks.append(callback)
    else:
        clean_fn = dataset_fn

        def dataset_fn(context):
            def poison(index, batch):
                image = tf.where(tf.equal(index, args.nan_step - 1), tf.fill(tf.shape(batch["image"]), np.inf),
                                 batch["image"])
                return {**batch, "image": image}

            return clean_fn(context).enumerate().map(poison)

    with runtime.exit_on_user_error():
        runtime.train(app="dcgan", config=config, run=run, build_model=build_model,
                      build_optimizers=build_optimizers, dataset_fn=dataset_fn, extra_callbacks=callbacks)


# ----------------------------------------------------------------------------- campaign


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work_dir", default="/tmp/faults")
    parser.add_argument("--kill_trials", type=int, default=20)
    parser.add_argument("--write_trials", type=int, default=3)
    parser.add_argument("--signal_trials", type=int, default=1, help="per signal and place")
    parser.add_argument("--nan_trials", type=int, default=2, help="per --on_nan mode")
    parser.add_argument("--parallel", type=int, default=2, help="trials run at the same time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated parts of fault names: run only those trials")
    parser.add_argument("--driver", choices=["eval", "nan", "resume"], help=argparse.SUPPRESS)
    parser.add_argument("--model_dirs", help=argparse.SUPPRESS)
    parser.add_argument("--steps_list", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint_every", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--keep_checkpoints", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--model_dir", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--eval_every", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--nan_step", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--on_nan", default="stop", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        driver(args)
        return 0

    work = os.path.abspath(args.work_dir)
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    rng = random.Random(args.seed)
    started = time.time()

    def wanted(fault: str) -> bool:
        return not args.only or any(part in fault for part in args.only.split(","))

    reference, base, base_log = {}, None, {}
    print("Reference runs ...", flush=True)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        if wanted("kill -9 at a random step") or wanted("SIGTERM during a step") or wanted("SIGINT during a step"):
            reference_job = pool.submit(run, train_args(os.path.join(work, "reference"), REFERENCE_STEPS,
                                                        "--checkpoint_every=5"))
            code, _, err = reference_job.result()
            if code != 0:
                print(f"reference run failed: {tail(err)}")
                return 1
            reference = {line.pop("step"): line for line in logged(os.path.join(work, "reference"))}
        if wanted("newest .") or wanted("state file") or wanted("every checkpoint unreadable"):
            base, base_log = pool.submit(base_run, work).result()

    jobs = []  # (fault, callable)
    for trial in range(args.write_trials):
        jobs.append(("kill -9 during a checkpoint write", lambda t=trial, r=random.Random(rng.random()):
                     kill_during_checkpoint_write(work, t, r)))
    jobs.append(("every checkpoint unreadable", lambda: every_checkpoint_unreadable(work, base)))
    jobs.append(("disk full during a checkpoint write (tmpfs)", lambda: disk_full(work)))
    for signum in (signal.SIGTERM, signal.SIGINT):
        name = signal.Signals(signum).name
        for trial in range(args.signal_trials):
            jobs.append((f"{name} during a step", lambda t=trial, s=signum, r=random.Random(rng.random()):
                         signal_during_step(work, t, s, reference, r)))
            jobs.append((f"{name} during an evaluation", lambda t=trial, s=signum:
                         signal_during_evaluation(work, t, s)))
    for mode in ("stop", "rollback"):
        for trial in range(args.nan_trials):
            jobs.append((f"NaN at step k, --on_nan={mode}", lambda t=trial, m=mode, r=random.Random(rng.random()):
                         nan_at_step(work, t, m, r)))

    results: list[tuple[str, bool | None, str]] = []

    def attempt(fault, job):
        try:
            return [(fault, True, job())]
        except Trial as failure:
            return [(fault, False, str(failure))]
        except NotImplementedError as skipped:
            return [(fault, None, str(skipped))]
        except Exception:  # noqa: BLE001  (a crash of the campaign itself counts as a failed trial)
            return [(fault, False, traceback.format_exc(limit=3).strip().replace("\n", " | "))]

    def attempt_many(fault, job):
        try:
            return job()
        except Exception:  # noqa: BLE001
            return [(fault, False, traceback.format_exc(limit=3).strip().replace("\n", " | "))]

    kill_rng = random.Random(rng.random())
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        futures = []  # the longest first
        if wanted("kill -9 at a random step"):
            futures.append(pool.submit(attempt_many, "kill -9 at a random step",
                                       lambda: kill_at_random_steps(work, args.kill_trials, reference, kill_rng)))
        if wanted("newest .") or wanted("state file"):
            futures.append(pool.submit(attempt_many, "damaged checkpoint or state file",
                                       lambda: damaged_and_state_file_trials(work, base, base_log)))
        futures += [pool.submit(attempt, fault, job) for fault, job in jobs if wanted(fault)]
        if wanted("TFRecord shard damaged mid-file"):
            futures.append(pool.submit(attempt_many, "TFRecord shard damaged mid-file", lambda: damaged_shard(work)))
        for future in concurrent.futures.as_completed(futures):
            for fault, passed, detail in future.result():
                results.append((fault, passed, detail))
                mark = {True: "pass", False: "FAIL", None: "not run"}[passed]
                print(f"  [{mark}] {fault}: {detail}", flush=True)

    labels = {"zero": "64 zeroed bytes in", "flip": "8 flipped bits in", "truncate": "truncated", "delete": "deleted"}
    order = (["kill -9 at a random step", "kill -9 during a checkpoint write"]
             + [f"newest .{k.split(':')[0]}: {labels[k.split(':')[1]]}" for k in injection.CHECKPOINT_DAMAGES]
             + [f"state file {f}" for f in ("missing", "garbage", "empty", "stale")]
             + [fault for fault, _ in jobs] + ["TFRecord shard damaged mid-file (manifest)",
                                               "TFRecord shard damaged mid-file (glob)"])
    summary: dict[str, list[int]] = {}
    for fault, passed, _ in sorted(results, key=lambda r: order.index(r[0]) if r[0] in order else len(order)):
        counts = summary.setdefault(fault, [0, 0, 0])
        counts[0 if passed is not None else 2] += 1
        counts[1] += passed is True
    print(f"\nFault campaign: {len(results)} trials in {(time.time() - started) / 60:.1f} min\n")
    print("| fault | trials | passed |")
    print("|---|---|---|")
    for fault, (trials, passed, skipped) in summary.items():
        print(f"| {fault} | {trials} | {passed} |" if not skipped else f"| {fault} | 0 (not run) | - |")
    failed = any(passed is False for _, passed, _ in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
