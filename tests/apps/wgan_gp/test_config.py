"""WGANGPConfig defaults and errors (apps/wgan_gp/config.py)."""

import pytest

from apps.wgan_gp.config import WGANGPConfig


def test_defaults_are_the_papers():
    config = WGANGPConfig()
    assert (config.penalty_weight, config.critic_steps, config.one_sided_penalty) == (10.0, 5, False)
    assert (config.learning_rate, config.beta_1, config.beta_2) == (1e-4, 0.0, 0.9)
    assert config.critic_normalization == "layer"
    assert config.schedule.is_constant and config.schedule.steps_at(0) == 5


@pytest.mark.parametrize("kwargs,message", [
    (dict(critic_normalization="batch"), "critic_normalization must be one of layer, none"),
    (dict(penalty_weight=-1.0), "penalty_weight must be >= 0"),
    (dict(critic_steps=0), "critic_steps must be a positive integer"),
    (dict(beta_2=1.0), "beta_2 must be in"),
    (dict(channels=2), "channels must be 1"),
])
def test_errors_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WGANGPConfig(**kwargs)
