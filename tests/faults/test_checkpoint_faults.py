"""Damaged checkpoints, state files and checkpoint writes: the run goes on from the newest readable checkpoint.

One uninterrupted tiny run (tests.common.training.test_runtime's TinyGAN, 6
steps, a checkpoint every 2) is copied for every case and damaged the way
storage fails. Restores go through `checkpointing.Checkpointer` on a freshly
built model, as the runtime does; one case resumes through `runtime.train`
and compares the recomputed losses with the uninterrupted ones bit for bit.
`tests/benchmarks/fault_campaign.py` injects the same faults into real app runs.
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil

import numpy as np
import pytest

from common.training import checkpointing
from common.training import runtime
from tests.common.training.test_runtime import TinyConfig, build_tiny_gan, run_tiny, tiny_optimizers, weights
from tests.faults import injection


def metric_lines(model_dir) -> list[dict]:
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A 6-step run with ckpt-2, ckpt-4, ckpt-6, and the weights each checkpoint holds."""
    model_dir = tmp_path_factory.mktemp("uninterrupted")
    run_tiny(model_dir, steps=6, checkpoint_every=2, sample_every=0)
    held = {}
    for step in (2, 4, 6):
        model, state, path = restore_fresh(model_dir, only=step)
        held[step] = weights(model)
    return model_dir, held


def restore_fresh(model_dir, only: int | None = None):
    """(model, training state, restored path) from a new build of the tiny GAN, as the runtime restores."""
    config = TinyConfig()
    model = build_tiny_gan(config)
    optimizers = tiny_optimizers(config)
    model.compile(**optimizers)
    state = checkpointing.TrainingState()

    def make():
        return checkpointing.training_checkpoint(model, optimizers, state)

    if only is not None:
        make().restore(os.path.join(model_dir, f"ckpt-{only}")).assert_consumed()
        return model, state, None
    path = checkpointing.Checkpointer(make, str(model_dir)).restore()
    return model, state, path


def copy_run(uninterrupted, tmp_path):
    model_dir = tmp_path / "run"
    shutil.copytree(uninterrupted[0], model_dir)
    return model_dir


def listed_steps(model_dir) -> list[int]:
    return [checkpointing.checkpoint_step(p) for p in checkpointing.list_checkpoints(model_dir)]


def test_a_zeroed_newest_checkpoint_falls_back_in_the_same_run_and_reproduces_the_losses(uninterrupted, tmp_path,
                                                                                           caplog):
    model_dir = copy_run(uninterrupted, tmp_path)
    injection.damage("data:zero", model_dir, 6)
    before = injection.listing(model_dir)
    with caplog.at_level("WARNING"):
        result = run_tiny(model_dir, steps=6, checkpoint_every=2, sample_every=0)
    assert (result.start_step, result.step) == (4, 6)
    lines = metric_lines(model_dir)
    # Steps 5 and 6 were logged by the uninterrupted run, then again by the resumed one: bitwise equal.
    assert [line["step"] for line in lines] == [1, 2, 3, 4, 5, 6, 5, 6]
    assert lines[6:] == lines[4:6]
    assert sorted(os.listdir(model_dir / "corrupt")) == sorted(
        os.path.basename(p) for p in before if p.startswith("ckpt-6."))
    assert "ckpt-6 could not be read" in caplog.text and "ckpt-4 could not be read" not in caplog.text
    for name in ("ckpt-2.index", "ckpt-4.index"):  # the healthy ones were not touched
        assert injection.listing(model_dir)[name] == before[name]
    assert listed_steps(model_dir) == [2, 4, 6]  # ckpt-6 written anew by the resumed run


@pytest.mark.parametrize("kind", injection.CHECKPOINT_DAMAGES)
def test_a_damaged_newest_checkpoint_is_skipped_and_only_it_is_quarantined(uninterrupted, tmp_path, kind):
    model_dir = copy_run(uninterrupted, tmp_path)
    damaged = injection.damage(kind, model_dir, 6)
    model, state, path = restore_fresh(model_dir)
    assert path == os.path.join(str(model_dir), "ckpt-4") and int(state.step.numpy()) == 4
    for restored, held in zip(weights(model), uninterrupted[1][4]):
        np.testing.assert_array_equal(restored, held)
    quarantined = sorted(os.listdir(model_dir / "corrupt"))
    assert quarantined and all(name.startswith("ckpt-6.") for name in quarantined)
    if kind != "data:delete":
        assert os.path.basename(damaged) in quarantined
    assert not glob.glob(str(model_dir / "ckpt-6.*"))
    assert listed_steps(model_dir) == [2, 4]
    assert checkpointing.unreadable_reason(os.path.join(str(model_dir), "ckpt-4")) is None


@pytest.mark.parametrize("state_file", ["missing", "garbage", "empty", "stale"])
def test_the_newest_checkpoint_is_found_without_a_usable_state_file(uninterrupted, tmp_path, state_file):
    model_dir = copy_run(uninterrupted, tmp_path)
    path = model_dir / "checkpoint"
    if state_file == "missing":
        path.unlink()
    elif state_file == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif state_file == "empty":
        path.write_bytes(b"")
    else:  # written before ckpt-6 finished: the process died between the checkpoint and its state file
        path.write_text('model_checkpoint_path: "ckpt-4"\nall_model_checkpoint_paths: "ckpt-2"\n'
                        'all_model_checkpoint_paths: "ckpt-4"\n')
    model, state, restored = restore_fresh(model_dir)
    assert restored == os.path.join(str(model_dir), "ckpt-6") and int(state.step.numpy()) == 6
    for a, b in zip(weights(model), uninterrupted[1][6]):
        np.testing.assert_array_equal(a, b)
    assert listed_steps(model_dir) == [2, 4, 6]
    assert sorted(glob.glob(str(model_dir / "ckpt-*.index"))) == sorted(
        str(model_dir / f"ckpt-{s}.index") for s in (2, 4, 6))
    # The state file is rebuilt so the manager keeps deleting the oldest checkpoints.
    assert [os.path.basename(p) for p in
            checkpointing.tf.train.get_checkpoint_state(str(model_dir)).all_model_checkpoint_paths] == [
                "ckpt-2", "ckpt-4", "ckpt-6"]
    if state_file in ("garbage", "empty"):
        assert os.listdir(model_dir / "corrupt") == ["checkpoint"]  # kept for inspection, not deleted


def test_when_no_checkpoint_can_be_read_nothing_is_moved_and_the_error_names_each_file(uninterrupted, tmp_path,
                                                                                       capsys):
    model_dir = copy_run(uninterrupted, tmp_path)
    injection.damage("data:zero", model_dir, 6)
    injection.damage("index:truncate", model_dir, 4)
    injection.damage("data:delete", model_dir, 2)
    before = injection.listing(model_dir)
    with pytest.raises(SystemExit) as exited, runtime.exit_on_user_error():
        run_tiny(model_dir, steps=8, checkpoint_every=2, sample_every=0)
    assert exited.value.code == 2
    message = capsys.readouterr().err
    assert "None of the 3 checkpoints" in message and "Nothing was moved" in message
    for step, why in ((6, "Checksum does not match"), (4, "ckpt-4"), (2, "ckpt-2")):
        assert f"{model_dir}/ckpt-{step}: " in message and why in message, (step, message)
    after = injection.listing(model_dir)
    assert {k: v for k, v in after.items() if k != "config.json"} == {
        k: v for k, v in before.items() if k != "config.json"}


def test_the_files_of_a_write_killed_midway_are_not_taken_for_a_checkpoint(uninterrupted, tmp_path):
    """What a kill -9 during `CheckpointManager.save` of step 8 can leave: the shard still in its
    temporary folder, a data file without its index, or an index cut short; no state-file entry."""
    model_dir = copy_run(uninterrupted, tmp_path)
    data = injection.checkpoint_file(model_dir, 6, "data")
    os.makedirs(model_dir / "ckpt-8_temp")
    shutil.copy(data, model_dir / "ckpt-8_temp" / "part-00000-of-00001.data-00000-of-00001")
    injection.truncate(str(model_dir / "ckpt-8_temp" / "part-00000-of-00001.data-00000-of-00001"))
    shutil.copy(data, model_dir / "ckpt-10.data-00000-of-00001")  # renamed, index not yet written
    shutil.copy(data, model_dir / "ckpt-12.data-00000-of-00001")
    shutil.copy(injection.checkpoint_file(model_dir, 6, "index"), model_dir / "ckpt-12.index")
    injection.truncate(str(model_dir / "ckpt-12.index"), 0.3)
    model, state, path = restore_fresh(model_dir)
    assert path == os.path.join(str(model_dir), "ckpt-6") and int(state.step.numpy()) == 6
    assert sorted(os.listdir(model_dir / "corrupt")) == ["ckpt-12.data-00000-of-00001", "ckpt-12.index"]
    assert listed_steps(model_dir) == [2, 4, 6]


def test_a_checkpoint_that_cannot_be_written_stops_with_a_clear_error_and_the_next_run_resumes(
        uninterrupted, tmp_path, capsys):
    """The write of ckpt-8 fails in the file system (its temporary folder cannot be created, as on a
    full disk); the fault campaign does the same with a full tmpfs."""
    model_dir = copy_run(uninterrupted, tmp_path)
    (model_dir / "ckpt-8_temp").write_bytes(b"")  # a file where the writer needs a folder
    before = {name: value for name, value in injection.listing(model_dir).items() if name.startswith("ckpt-6")}
    with pytest.raises(SystemExit) as exited, runtime.exit_on_user_error():
        run_tiny(model_dir, steps=10, checkpoint_every=2, sample_every=0)
    assert exited.value.code == 1
    message = capsys.readouterr().err
    assert "Could not write the checkpoint of step 8" in message and "ckpt-6 is the newest checkpoint" in message
    assert "Traceback" not in message
    assert {k: v for k, v in injection.listing(model_dir).items() if k.startswith("ckpt-6")} == before
    assert listed_steps(model_dir) == [2, 4, 6]
    (model_dir / "ckpt-8_temp").unlink()  # space freed
    result = run_tiny(model_dir, steps=10, checkpoint_every=2, sample_every=0, stream=io.StringIO())
    assert (result.start_step, result.step) == (6, 10)
    lines = metric_lines(model_dir)
    first_run = {line["step"]: line for line in lines[:8]}  # 1..6, then 7 and 8 before the failed write
    resumed = {line["step"]: line for line in lines[8:]}
    assert resumed[7] == first_run[7] and resumed[8] == first_run[8]
