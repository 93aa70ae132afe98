"""`common.training.progressive`: phase boundaries from image counts, alpha per step, the resolution map."""

import math

import pytest

from common.training import progressive


def _schedule(**overrides):
    options = dict(batch_size=16, batch_sizes={256: 14}, fade_images=800, stable_images=800)
    options.update(overrides)
    return progressive.ProgressiveSchedule(progressive.resolutions_between(4, 256), **options)


def test_phases_follow_the_image_counts_and_batch_sizes():
    schedule = _schedule()
    phases = schedule.phases
    assert [p.resolution for p in phases] == [4, 8, 16, 32, 64, 128, 256]
    assert [p.batch_size for p in phases] == [16] * 6 + [14]
    # The first phase has no fade: 800 / 16 = 50 stable steps; the others 50 fade + 50 stable steps.
    assert (phases[0].start_step, phases[0].fade_steps, phases[0].end_step) == (0, 0, 50)
    assert (phases[1].start_step, phases[1].fade_steps, phases[1].end_step) == (50, 50, 150)
    assert phases[5].end_step == 50 + 5 * 100
    # 256x256 at 14 per batch: ceil(800 / 14) = 58 steps of each part; the last phase has no end.
    assert (phases[6].start_step, phases[6].fade_steps, phases[6].end_step) == (550, 58, None)
    assert schedule.total_steps == 550 + 2 * math.ceil(800 / 14)
    assert schedule.images_before(550) == 16 * 550
    assert schedule.images_before(560) == 16 * 550 + 14 * 10


def test_alpha_grows_over_the_fade_and_starts_where_the_last_phase_ended():
    schedule = _schedule()
    assert schedule.alpha(0) == schedule.alpha(49) == 1.0  # first phase: nothing to fade
    assert schedule.phase_at(49).resolution == 4 and schedule.phase_at(50).resolution == 8
    assert schedule.alpha(50) == 0.0  # the first fade step: exactly the previous resolution
    assert schedule.alpha(75) == 0.5
    assert schedule.alpha(99) == 49 / 50
    assert schedule.alpha(100) == schedule.alpha(149) == 1.0
    assert schedule.alpha(550 + 29) == 29 / 58
    assert schedule.phase_at(10**9).resolution == 256  # the last phase goes on


def test_next_boundary_splits_each_phase_into_its_fade_and_stable_parts():
    schedule = _schedule()
    assert schedule.next_boundary(0) == 50  # the first phase: one part
    assert schedule.next_boundary(50) == schedule.next_boundary(99) == 100  # the 8x8 fade ends
    assert schedule.next_boundary(100) == schedule.next_boundary(149) == 150  # then its stable part
    assert schedule.next_boundary(550) == 608  # the last phase's fade
    assert schedule.next_boundary(608) is None and schedule.next_boundary(10**6) is None


def test_resolution_map_and_bad_input():
    assert progressive.parse_resolution_map("256:14, 512:6,1024:3") == {256: 14, 512: 6, 1024: 3}
    assert progressive.parse_resolution_map("") == {}
    with pytest.raises(ValueError, match="resolution:number"):
        progressive.parse_resolution_map("256=14")
    with pytest.raises(ValueError, match="positive"):
        progressive.parse_resolution_map("256:0")
    with pytest.raises(ValueError, match="power of two"):
        progressive.resolutions_between(4, 48)
    with pytest.raises(ValueError, match="must not exceed"):
        progressive.resolutions_between(16, 8)
    with pytest.raises(ValueError, match=r"never trains at"):
        _schedule(batch_sizes={512: 6})
    with pytest.raises(ValueError, match="fade_images"):
        _schedule(fade_images=0)
    with pytest.raises(ValueError, match="step must be >= 0"):
        _schedule().phase_at(-1)
