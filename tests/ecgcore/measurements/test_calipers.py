"""Calipers: interval, rate and amplitude difference from two marked points, on exact values."""

from __future__ import annotations

import math

import pytest

from ecgcore.measurements.calipers import Caliper, caliper, caliper_from_box


def test_an_rr_of_800_ms_is_75_bpm() -> None:
    c = caliper(1.0, 1.8, 0.1, 1.3)
    assert c.interval_ms == pytest.approx(800.0, abs=1e-9)
    assert c.rate_bpm == pytest.approx(75.0, abs=1e-9)
    assert c.delta_mv == pytest.approx(1.2, abs=1e-12)


def test_the_order_of_the_points_changes_the_sign_of_the_amplitude_only() -> None:
    forward, backward = caliper(2.0, 3.0, -0.5, 0.5), caliper(3.0, 2.0, 0.5, -0.5)
    assert forward.interval_ms == backward.interval_ms == pytest.approx(1000.0)
    assert forward.rate_bpm == backward.rate_bpm == pytest.approx(60.0)
    assert forward.delta_mv == pytest.approx(1.0) and backward.delta_mv == pytest.approx(-1.0)


@pytest.mark.parametrize(("interval_s", "bpm"), [(0.5, 120.0), (1.5, 40.0), (0.4, 150.0), (2.0, 30.0)])
def test_rate_is_60000_over_the_interval(interval_s: float, bpm: float) -> None:
    assert caliper(10.0, 10.0 + interval_s, 0.0, 0.0).rate_bpm == pytest.approx(bpm)


def test_a_zero_interval_has_no_rate() -> None:
    c = caliper(4.2, 4.2, 0.0, 2.5)
    assert c == Caliper(interval_ms=0.0, rate_bpm=None, delta_mv=2.5)
    assert c.describe() == "Interval 0 ms, amplitude difference +2.50 mV"


def test_describe() -> None:
    assert caliper(1.0, 1.8, 0.1, 1.3).describe() == "Interval 800 ms (75 bpm), amplitude difference +1.20 mV"
    assert caliper(0.0, 0.16, 1.0, 0.25).describe() == "Interval 160 ms (375 bpm), amplitude difference -0.75 mV"


def test_a_box_is_its_width_and_height() -> None:
    c = caliper_from_box([3.2, 2.4], [0.9, -0.3])  # drawn right to left, top to bottom
    assert c.interval_ms == pytest.approx(800.0)
    assert c.rate_bpm == pytest.approx(75.0)
    assert c.delta_mv == pytest.approx(1.2)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_points_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        caliper(bad, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        caliper(0.0, 1.0, 0.0, bad)
    with pytest.raises(ValueError, match="finite"):
        caliper_from_box([0.0, 1.0], [bad, 0.0])


def test_a_box_needs_two_corners() -> None:
    with pytest.raises(ValueError, match="two values"):
        caliper_from_box([0.0, 1.0, 2.0], [0.0, 1.0])
