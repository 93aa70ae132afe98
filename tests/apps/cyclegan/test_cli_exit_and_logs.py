"""The CycleGAN train command as a new user runs it: no error lines on a CPU; a signal during the first
step of a process ends it at once.

A tiny configuration on the offline default two-domain data, resized to 16x16.
"""

import glob
import os
import signal
import subprocess
import time

from tests.commands import error_lines, start_command

TIMEOUT_SECONDS = 300
TINY = ["--image_size=16", "--base_filters=4", "--num_residual_blocks=1", "--discriminator_layers=2",
        "--pool_size=2"]
# A signal during a step that follows the last checkpoint needs no save: the process ends as soon as
# the signal is read (0.1 s measured at the default configuration). The step it abandons is the
# first one of the process, which traces and compiles the training step (seconds even when tiny).
EXIT_BOUND_SECONDS = 10


def _checkpoint_steps(model_dir):
    return sorted(int(os.path.basename(path)[len("ckpt-"):-len(".index")])
                  for path in glob.glob(os.path.join(model_dir, "ckpt-*.index")))


def test_quiet_train_and_a_signal_during_the_first_step(tmp_path):
    """One step to the end, then a resume that gets SIGTERM during its first step: it exits at once
    with 143, saving nothing (ckpt-1 holds every finished step)."""
    model_dir = str(tmp_path / "run")
    train = start_command("apps.cyclegan.train", f"--model_dir={model_dir}", "--steps=1", "--sample_every=0", *TINY)
    _out, train_err = train.communicate(timeout=TIMEOUT_SECONDS)
    assert train.returncode == 0, train_err[-3000:]
    assert _checkpoint_steps(model_dir) == [0, 1]

    resume = start_command("apps.cyclegan.train", f"--model_dir={model_dir}", "--steps=3", *TINY)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        # "Resuming ..." is printed once SIGINT/SIGTERM are trapped, right before the first step.
        while not resume.stdout.readline().startswith("Resuming cyclegan") and resume.poll() is None:
            assert time.monotonic() < deadline, "no 'Resuming cyclegan' line"
        signalled = time.monotonic()
        resume.send_signal(signal.SIGTERM)
        _out, err = resume.communicate(timeout=TIMEOUT_SECONDS)
    except (AssertionError, subprocess.TimeoutExpired):
        resume.kill()
        raise
    seconds = time.monotonic() - signalled
    assert resume.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM received during step 2, before it finished: nothing to save" in err
    assert seconds < EXIT_BOUND_SECONDS, f"exit took {seconds:.1f} s after SIGTERM"
    assert _checkpoint_steps(model_dir) == [0, 1]
    assert error_lines(err) == [], err[-3000:]

    assert error_lines(train_err) == [], train_err[-3000:]
