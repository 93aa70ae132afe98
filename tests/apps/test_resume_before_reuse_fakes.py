"""Runs of the alternating-step apps written before `reuse_fakes` existed (DCGAN, LSGAN).

Their config.json has no `reuse_fakes`: the generator step then drew fresh z,
so they resume only with --reuse_fakes=false (`VALUES_BEFORE_FIELD`).
"""

import json

import pytest

from apps.dcgan.config import DCGANConfig
from apps.lsgan.config import LSGANConfig
from common.training import runtime
from common.training.runtime_config import RuntimeConfig, field_defaults, resolved_config


@pytest.mark.parametrize("app,config_class", [("dcgan", DCGANConfig), ("lsgan", LSGANConfig)])
def test_a_run_from_before_reuse_fakes_resumes_only_with_fresh_z(tmp_path, app, config_class):
    run = RuntimeConfig(model_dir=str(tmp_path))
    old = resolved_config(app, config_class(reuse_fakes=False), run)
    del old["model"]["reuse_fakes"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    defaults = field_defaults(config_class)
    with pytest.raises(runtime.ConfigMismatchError, match="--reuse_fakes: False in the model directory, True now"):
        runtime.check_model_dir(str(tmp_path), resolved_config(app, config_class(), run), defaults)
    assert runtime.check_model_dir(
        str(tmp_path), resolved_config(app, config_class(reuse_fakes=False), run), defaults) == old
