"""A 12-lead ECG built from waves with exactly known timing, for measurement tests.

Each wave is a raised-cosine bump (smooth, with a clear onset and offset) carried by a frontal
dipole at a known angle, so the limb leads follow Einthoven/Goldberger exactly and the axis is
known. Times are in ms from each beat's QRS onset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgcore.leads import LEADS_12, derive_limb_leads
from ecgcore.record import Record

FS_HZ = 500.0


@dataclass(frozen=True)
class Beat:
    p_duration_ms: float = 100.0
    pr_ms: float = 160.0  # P onset to QRS onset
    qrs_ms: float = 90.0
    qt_ms: float = 380.0  # QRS onset to T end
    t_duration_ms: float = 160.0
    p_mv: float = 0.15
    qrs_mv: float = 1.2
    t_mv: float = 0.35
    axis_deg: float = 50.0  # not 60: aVL (at -30 degrees) would be exactly flat


def _bump(t_ms: np.ndarray, start_ms: float, duration_ms: float) -> np.ndarray:
    phase = (t_ms - start_ms) / duration_ms
    inside = (phase >= 0) & (phase <= 1)
    return np.where(inside, 0.5 * (1 - np.cos(2 * np.pi * np.clip(phase, 0, 1))), 0.0)


def _qrs(t_ms: np.ndarray, start_ms: float, duration_ms: float) -> np.ndarray:
    """A piecewise-linear q, R and s, exactly zero outside [start, start + duration] (crisp edges, as real QRS)."""
    knots = start_ms + duration_ms * np.array([0.0, 0.15, 0.45, 0.8, 1.0])
    return np.interp(t_ms, knots, [0.0, -0.1, 1.0, -0.25, 0.0], left=0.0, right=0.0)


def synthetic_record(beat: Beat = Beat(), rr_ms: list[float] | float = 800.0, duration_s: float = 10.0,
                     no_p: bool = False, first_qrs_ms: float = 400.0, record_name: str = "synthetic",
                     leads: tuple[str, ...] = LEADS_12, fs: float = FS_HZ) -> Record:
    """A record whose every beat has the given timing; ``rr_ms`` fixed or a list cycled through."""
    n = int(duration_s * fs)
    t_ms = np.arange(n) * 1000.0 / fs
    rrs = [rr_ms] if np.isscalar(rr_ms) else list(rr_ms)
    onsets, at, i = [], first_qrs_ms, 0
    while at < duration_s * 1000.0 - 200:
        onsets.append(at)
        at += rrs[i % len(rrs)]
        i += 1
    dipole = np.zeros(n)
    t_wave = np.zeros(n)
    p_wave = np.zeros(n)
    for onset in onsets:
        if not no_p:
            p_wave += beat.p_mv * _bump(t_ms, onset - beat.pr_ms, beat.p_duration_ms)
        dipole += beat.qrs_mv * _qrs(t_ms, onset, beat.qrs_ms)
        t_wave += beat.t_mv * _bump(t_ms, onset + beat.qt_ms - beat.t_duration_ms, beat.t_duration_ms)
    total = p_wave + dipole + t_wave
    theta = np.deg2rad(beat.axis_deg)
    lead_i, lead_ii = total * np.cos(theta), total * np.cos(theta - np.deg2rad(60.0))
    limb = {"I": lead_i, "II": lead_ii, **derive_limb_leads(lead_i, lead_ii)}
    precordial_gain = {"V1": -0.6, "V2": -0.3, "V3": 0.4, "V4": 0.9, "V5": 1.0, "V6": 0.8}
    rows = {**limb, **{name: g * total for name, g in precordial_gain.items()}}
    signal = np.stack([rows[name] for name in leads])
    return Record(signal=signal, fs=fs, leads=leads, record_name=record_name, allow_flat_leads=True)
