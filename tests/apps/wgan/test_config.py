"""WGANConfig defaults and errors (apps/wgan/config.py) and the networks it builds (apps/wgan/networks.py)."""

import pytest

from apps.wgan.config import WGANConfig
from apps.wgan.networks import build_critic, build_generator


def test_defaults_are_the_papers():
    config = WGANConfig()
    assert (config.learning_rate, config.clip_value, config.batch_size) == (5e-5, 0.01, 64)
    schedule = config.schedule
    assert [schedule.steps_at(g) for g in (0, 24, 25, 499, 500, 501)] == [100, 100, 5, 5, 100, 5]
    assert (config.image_size, config.channels, config.latent_dim) == (64, 3, 100)


@pytest.mark.parametrize("kwargs,message", [
    (dict(clip_value=0.0), "clip_value must be > 0"),
    (dict(learning_rate=-1.0), "learning_rate must be > 0"),
    (dict(critic_steps=0), "critic_steps must be a positive integer"),
    (dict(boost_every=-1), "boost_every must be an integer >= 0"),
    (dict(image_size=48), "image_size must be a power of two"),
    (dict(rmsprop_rho=1.0), "rmsprop_rho must be in"),
])
def test_errors_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WGANConfig(**kwargs)


def test_networks_are_dcgans_with_an_unbounded_critic():
    config = WGANConfig(image_size=16, channels=1, base_filters=4, latent_dim=8)
    generator, critic = build_generator(config), build_critic(config)
    assert generator.output_shape == (None, 16, 16, 1) and critic.output_shape == (None, 1)
    assert critic.layers[-1].activation.__name__ == "linear"
