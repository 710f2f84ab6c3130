"""Which leads can be measured, and what the rhythm rules out: flat, saturated or noisy leads,
pacing spikes, an irregular RR.

These decide between a number and a reason: a lead that is flat or clipped is left out (and the
user is told); a record whose every lead is unusable gets no measurements at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecgcore import config
from ecgcore.measurements.filters import lowpass
from ecgcore.measurements.median_beat import ms_to_samples
from ecgcore.measurements.params import MeasurementParams


@dataclass(frozen=True)
class LeadSignal:
    """What ``lead_quality`` measured on one lead (the values its limits are compared with)."""

    ptp_mv: float  # peak to peak of the raw lead (flat below the flat limit)
    rail_run_ms: float  # longest run of samples stuck at the lead's maximum or minimum
    noise_ratio: float  # 4 x std of the 40-100 Hz residual over the 0.5-99.5 percentile spread
    clipped: bool  # the run rule of ``clipped`` (one long run, or several shorter ones)


@dataclass(frozen=True)
class LeadQuality:
    usable: np.ndarray  # bool per lead
    problems: dict[str, str]  # lead -> why it was left out
    signals: dict[str, LeadSignal] = field(default_factory=dict)  # lead -> measured values


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in a 1-D mask."""
    if not mask.any():
        return np.zeros(0, dtype=np.int64)
    padded = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return edges[1::2] - edges[::2]


def clipped(x: np.ndarray, run: int, repeated_run: int | None = None) -> bool:
    """Stuck at its top or bottom value for one run of ``run`` samples, or for 3+ runs of half
    ``repeated_run`` (default ``run``; each beat's R clipped): a flat top of the same value repeated
    is what an amplifier's limit leaves. ``measure()`` and ``assess()`` both decide clipping here."""
    repeated = run if repeated_run is None else repeated_run
    for extreme in (x.max(), x.min()):
        runs = _runs(x == extreme)
        if runs.size and (runs.max() >= run or (runs >= max(2, repeated // 2)).sum() >= 3):
            return True
    return False


def _rail_run(x: np.ndarray) -> int:
    """Longest run of samples at the lead's maximum or minimum value."""
    return int(max((_runs(x == extreme).max(initial=0) for extreme in (x.max(), x.min())), default=0))


FLAT_PTP_MV = max(config.FLAT_LEAD_PTP_MV, 0.02)  # a lead whose peak to peak is below this is flat


def lead_signal(raw_lead: np.ndarray, filtered_lead: np.ndarray, residual_lead: np.ndarray, fs: float,
                params: MeasurementParams) -> LeadSignal:
    """The values ``lead_quality`` decides on, for one lead."""
    x = raw_lead[np.isfinite(raw_lead)]
    if x.size == 0:
        return LeadSignal(0.0, 0.0, 0.0, False)
    spread = np.percentile(filtered_lead, 99.5) - np.percentile(filtered_lead, 0.5)
    noise = 4.0 * np.std(residual_lead)
    return LeadSignal(
        ptp_mv=float(np.ptp(x)), rail_run_ms=_rail_run(x) * 1000.0 / fs,
        noise_ratio=float(noise / spread) if spread > 0 else 0.0,
        clipped=clipped(x, ms_to_samples(params.saturation_run_ms, fs)),
    )


def lead_quality(raw: np.ndarray, filtered: np.ndarray, leads: tuple[str, ...], fs: float,
                 params: MeasurementParams) -> LeadQuality:
    """Leave out flat leads, leads stuck at their rails (saturation) and leads mostly noise.

    ``LeadQuality.signals`` keeps each lead's measured values (``ecgcore.assess`` reports them)."""
    usable = np.ones(len(leads), dtype=bool)
    problems: dict[str, str] = {}
    signals: dict[str, LeadSignal] = {}
    residual = filtered - lowpass(filtered, params.detail_lowpass_hz * 1.6, fs)
    for i, lead in enumerate(leads):
        s = signals[lead] = lead_signal(raw[i], filtered[i], residual[i], fs, params)
        if s.ptp_mv < FLAT_PTP_MV:
            usable[i], problems[lead] = False, "flat (no signal: electrode off?)"
        elif s.clipped:
            usable[i], problems[lead] = False, "saturated (the signal is clipped at the amplifier's limit)"
        elif s.noise_ratio > params.noise_max_fraction:
            usable[i], problems[lead] = False, "too noisy (muscle or electrode noise)"
    return LeadQuality(usable, problems, signals)


def pacing_spikes(raw: np.ndarray, fs: float, params: MeasurementParams) -> np.ndarray:
    """Sample positions of pacemaker spikes: deflections far narrower than any cardiac wave.

    A spike lasts one or two milliseconds, so a sample stands out from the mean of its neighbours
    ``pacing_spike_half_width_ms`` away by more than ``pacing_spike_min_mv``, which a QRS (whose
    steepest 4 ms is nearly straight) does not. Spikes within 100 ms are one spike.
    """
    x = np.nan_to_num(raw)
    k = max(1, ms_to_samples(params.pacing_spike_half_width_ms, fs))
    if x.shape[-1] <= 2 * k:
        return np.zeros(0, dtype=np.int64)
    sharpness = np.abs(x[:, k:-k] - 0.5 * (x[:, :-2 * k] + x[:, 2 * k:])).max(axis=0)
    spikes = np.flatnonzero(sharpness >= params.pacing_spike_min_mv) + k
    if spikes.size == 0:
        return spikes.astype(np.int64)
    keep = np.concatenate([[True], np.diff(spikes) > ms_to_samples(100.0, fs)])
    return spikes[keep].astype(np.int64)


def paced_beats(spikes: np.ndarray, beats: np.ndarray, fs: float) -> int:
    """How many beats have a spike within the 300 ms before their QRS peak (atrial or ventricular)."""
    if spikes.size == 0 or beats.size == 0:
        return 0
    reach = ms_to_samples(300.0, fs)
    return int(sum(((spikes <= b) & (spikes >= b - reach)).any() for b in beats))


def rr_irregular(beats: np.ndarray, params: MeasurementParams) -> bool | None:
    """Whether the RR intervals vary more than sinus rhythm does (coefficient of variation)."""
    if beats.size < 4:
        return None
    rr = np.diff(beats).astype(np.float64)
    return bool(np.std(rr) / np.mean(rr) > params.rr_irregular_cv)
