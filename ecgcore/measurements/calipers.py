"""Calipers: what a reader gets from two points marked on the trace.

Two points ``(t1_s, v1_mv)`` and ``(t2_s, v2_mv)`` (record seconds, millivolts) give the interval
between them in ms, the rate that interval would be as an RR (60 000 / interval, in bpm) and the
amplitude difference ``v2 - v1`` in mV. The interval is unsigned (the order of the two clicks does
not matter); the amplitude difference is signed, from the first point to the second.

A box drawn on the trace (two opposite corners) is two points: :func:`caliper_from_box`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Caliper:
    """An interval read with calipers. ``rate_bpm`` is None for a zero interval."""

    interval_ms: float
    rate_bpm: float | None
    delta_mv: float

    def describe(self) -> str:
        """``'Interval 800 ms (75 bpm), amplitude difference +1.20 mV'``: as the page prints it."""
        rate = f" ({self.rate_bpm:.0f} bpm)" if self.rate_bpm is not None else ""
        return f"Interval {self.interval_ms:.0f} ms{rate}, amplitude difference {self.delta_mv:+.2f} mV"


def _finite(name: str, value: float) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"caliper: {name} must be a finite number; got {value!r}")
    return number


def caliper(t1_s: float, t2_s: float, v1_mv: float, v2_mv: float) -> Caliper:
    """The interval (ms), rate (bpm) and amplitude difference (mV) between two marked points.

    ``caliper(1.0, 1.8, 0.1, 1.3)`` is 800 ms, 75 bpm, +1.2 mV. Raises ValueError on a non-finite input.
    """
    t1, t2 = _finite("t1_s", t1_s), _finite("t2_s", t2_s)
    v1, v2 = _finite("v1_mv", v1_mv), _finite("v2_mv", v2_mv)
    interval_ms = abs(t2 - t1) * 1000.0
    rate = 60_000.0 / interval_ms if interval_ms > 0 else None
    return Caliper(interval_ms=interval_ms, rate_bpm=rate, delta_mv=v2 - v1)


def caliper_from_box(x: Sequence[float], y: Sequence[float]) -> Caliper:
    """A box's two opposite corners as calipers: ``x`` its two times (s), ``y`` its two voltages (mV).

    The box's width is the interval and its height the amplitude difference (taken from the lower
    edge to the upper, so always >= 0: a box does not say which point came first).
    """
    if len(x) != 2 or len(y) != 2:
        raise ValueError(f"caliper_from_box: x and y must each hold two values; got {list(x)!r} and {list(y)!r}")
    low, high = sorted((_finite("y", y[0]), _finite("y", y[1])))
    return caliper(x[0], x[1], low, high)
