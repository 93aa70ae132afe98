"""Tests of common/export/export_command.py: a restored model's num_classes reaches the export."""
import json
import os

import pytest
from absl import flags

from common.export import export_command, generator_export
from common.training import runtime
from tests.common.export.test_generator_export import (
    LATENT_DIM,
    build_conditional_generator,
    build_generator,
)


class FakeRestoredModel:
    """What `runtime.restore_app_for_inference` returns, as far as the export command reads it."""

    def __init__(self, generator, num_classes=None):
        self.generator = generator
        self.ema = None
        self.latent_dim = LATENT_DIM
        if num_classes is not None:
            self.num_classes = num_classes


def run_export(tmp_path, monkeypatch, model, data=None):
    """Runs the export command on a run folder whose config.json names `data`; returns export_info.json."""
    model_dir, export_dir = tmp_path / "run", tmp_path / "export"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps({"model": {}, "runtime": {"data": data}}))
    checkpoint = str(model_dir / "ckpt-12")
    monkeypatch.setattr(runtime, "restore_app_for_inference", lambda *args: (model, checkpoint))
    flag_values = flags.FlagValues()
    export_command.define_export_flags(flag_values)
    flag_values(["export", f"--model_dir={model_dir}", f"--export_dir={export_dir}"])
    export_command.main(["export"], app_name="tiny", config_class=object, build_model=None, flag_values=flag_values)
    return generator_export.read_export_info(os.path.join(export_dir, "1"))


def test_conditional_model_exports_labelled_signatures_with_dataset_label_names(tmp_path, monkeypatch):
    # No --data: the offline default digits, classes "0".."9".
    info = run_export(tmp_path, monkeypatch, FakeRestoredModel(build_conditional_generator(num_classes=10), 10))
    assert info["num_classes"] == 10
    assert info["label_names"] == [str(digit) for digit in range(10)]
    assert sorted(info["signatures"]["serving_default"]["inputs"]) == ["labels", "z"]
    assert info["metadata"] == {"app": "tiny", "checkpoint": str(tmp_path / "run" / "ckpt-12"), "step": 12,
                                "ema": False}


def test_conditional_model_whose_data_is_gone_exports_without_label_names(tmp_path, monkeypatch):
    model = FakeRestoredModel(build_conditional_generator(num_classes=3), 3)
    info = run_export(tmp_path, monkeypatch, model, data=str(tmp_path / "moved_dataset"))
    assert info["num_classes"] == 3 and "label_names" not in info


def test_unconditional_model_exports_z_signatures(tmp_path, monkeypatch):
    model = FakeRestoredModel(build_generator(channels=1))
    model.num_classes = None
    info = run_export(tmp_path, monkeypatch, model)
    assert "num_classes" not in info
    assert list(info["signatures"]["serving_default"]["inputs"]) == ["z"]


@pytest.mark.parametrize("num_classes", [3, 11])
def test_label_names_are_left_out_when_their_number_is_not_num_classes(tmp_path, num_classes):
    (tmp_path / "config.json").write_text(json.dumps({"runtime": {"data": None}}))
    assert export_command.run_label_names(str(tmp_path), num_classes) is None
    assert export_command.run_label_names(str(tmp_path), 10) == [str(digit) for digit in range(10)]
