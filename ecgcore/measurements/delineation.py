"""P, QRS and T onset, peak and offset on single-lead rows of beats, all rows at once.

Every row is one lead of one beat (a median beat, or one beat of the record), with its QRS peak at
the same index ``r``. The rules are the ones a reader applies with a ruler, written as slopes and
amplitudes (see ``params.py`` for the values):

- QRS: the steep part around the QRS peak is where the slope exceeds a fraction of the QRS's largest
  slope; the onset is where, going back from it, the slope falls below a small fraction of that
  largest slope, the offset likewise going forward.
- Baseline: the mean of the PR segment just before the QRS onset (the isoelectric reference).
- T: the largest deviation from baseline from 80 ms after the QRS until the next beat's reach is
  the T peak; its end is where, after the steepest return towards baseline, both the slope and
  the distance to baseline have fallen below fractions of the T wave's.
- P: the largest deviation before the QRS (after the previous T), with onset and offset where the
  deviation has fallen to a fraction of the P amplitude.

Missing waves are -1 (no P in atrial fibrillation, a flat T), never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgcore.measurements.filters import lowpass
from ecgcore.measurements.median_beat import ms_to_samples
from ecgcore.measurements.params import MeasurementParams

NONE = -1


@dataclass(frozen=True)
class RowFiducials:
    """Per-row fiducial indices (-1 when absent) and the amplitudes that decided presence."""

    p_onset: np.ndarray
    p_peak: np.ndarray
    p_offset: np.ndarray
    qrs_onset: np.ndarray
    qrs_offset: np.ndarray
    t_peak: np.ndarray
    t_offset: np.ndarray
    baseline_mv: np.ndarray
    qrs_amplitude_mv: np.ndarray
    p_amplitude_mv: np.ndarray
    t_amplitude_mv: np.ndarray


def _in_range(n: int, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    index = np.arange(n)[None, :]
    return (index >= start[:, None]) & (index < stop[:, None])


def first_true(mask: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Per row, the first index in [start, stop) where mask holds, else -1."""
    m = mask & _in_range(mask.shape[1], start, stop)
    return np.where(m.any(axis=1), m.argmax(axis=1), NONE)


def last_true(mask: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Per row, the last index in [start, stop) where mask holds, else -1."""
    m = (mask & _in_range(mask.shape[1], start, stop))[:, ::-1]
    return np.where(m.any(axis=1), mask.shape[1] - 1 - m.argmax(axis=1), NONE)


def arg_extreme(values: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Per row, the index of the largest |value| in [start, stop) (-1 for an empty range)."""
    inside = _in_range(values.shape[1], start, stop)
    masked = np.where(inside, np.abs(values), -np.inf)
    return np.where(inside.any(axis=1), masked.argmax(axis=1), NONE)


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    safe = np.clip(index, 0, values.shape[1] - 1)
    return np.where(index >= 0, values[np.arange(len(values)), safe], np.nan)


def _window_mean(values: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    inside = _in_range(values.shape[1], start, stop)
    count = inside.sum(axis=1)
    return np.where(count > 0, (values * inside).sum(axis=1) / np.maximum(count, 1), values[:, 0])


def _qrs_edges(slope: np.ndarray, r: int, fs: float, params: MeasurementParams
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    m, n = slope.shape
    search = ms_to_samples(params.qrs_search_ms, fs)
    core = ms_to_samples(60.0, fs)
    lo, hi = np.full(m, max(0, r - search)), np.full(m, min(n, r + search + 1))
    steepest = np.abs(slope[:, max(0, r - core): r + core + 1]).max(axis=1)
    steep = np.abs(slope) >= params.qrs_steep_fraction * steepest[:, None]
    first_steep = first_true(steep, lo, np.full(m, r + 1))
    last_steep = last_true(steep, np.full(m, r), hi)
    first_steep = np.where(first_steep < 0, r, first_steep)
    last_steep = np.where(last_steep < 0, r, last_steep)
    calm_on = np.abs(slope) < params.qrs_onset_slope_fraction * steepest[:, None]
    calm_off = np.abs(slope) < params.qrs_offset_slope_fraction * steepest[:, None]
    onset = last_true(calm_on, lo, first_steep)
    offset = first_true(calm_off, last_steep, hi)
    return np.where(onset < 0, lo, onset), np.where(offset < 0, hi - 1, offset), first_steep, last_steep


def _wave_peak(deviation: np.ndarray, start: np.ndarray, stop: np.ndarray, min_mv: float) -> tuple[np.ndarray, np.ndarray]:
    """The largest deviation in [start, stop) if it is an inner extremum at least ``min_mv`` tall."""
    peak = arg_extreme(deviation, start, stop)
    amplitude = _take(deviation, peak)
    inner = (peak > start + 1) & (peak < stop - 2)
    present = (peak >= 0) & inner & (np.abs(np.nan_to_num(amplitude)) >= min_mv)
    return np.where(present, peak, NONE), np.where(present, amplitude, np.nan)


def _edge(deviation: np.ndarray, slope: np.ndarray, peak: np.ndarray, limit: np.ndarray, amplitude: np.ndarray,
          amp_fraction: float, slope_fraction: float, forward: bool) -> np.ndarray:
    """Where a wave has returned to baseline, going from its peak towards ``limit``.

    The return counts once the deviation is within ``amp_fraction`` of the amplitude and, past the
    steepest point of the limb, the slope has flattened to ``slope_fraction`` of that steepest slope.
    """
    sign = np.sign(np.nan_to_num(amplitude))[:, None]
    towards = -sign * slope if forward else sign * slope  # positive while heading back to baseline
    start, stop = (peak, limit) if forward else (limit, peak + 1)
    inside = _in_range(slope.shape[1], start, stop)
    steepest_at = np.where(inside, towards, -np.inf).argmax(axis=1)
    steepest = _take(towards, steepest_at)
    near = sign * deviation <= amp_fraction * np.abs(np.nan_to_num(amplitude))[:, None]
    flat = towards <= slope_fraction * np.nan_to_num(steepest)[:, None]
    done = near | flat
    if forward:
        edge = first_true(done, steepest_at, stop)
        edge = np.where(edge < 0, stop - 1, edge)
    else:
        edge = last_true(done, start, steepest_at + 1)
        edge = np.where(edge < 0, start, edge)
    return np.where(peak >= 0, edge, NONE)


def delineate_rows(rows: np.ndarray, r: int, fs: float, rr_samples: np.ndarray,
                   params: MeasurementParams) -> RowFiducials:
    """Fiducials of every row (one lead of one beat, QRS peak at index ``r``).

    ``rr_samples`` per row bounds the T search (the next beat) and the P search (the previous T).
    """
    rows = np.asarray(rows, dtype=np.float64)
    m, n = rows.shape
    detail = lowpass(rows, params.detail_lowpass_hz, fs)
    slope = np.gradient(detail, axis=1) * (fs / 1000.0)  # mV per ms
    qrs_on, qrs_off, first_steep, _ = _qrs_edges(slope, r, fs, params)
    baseline = _window_mean(detail, qrs_on - ms_to_samples(20.0, fs), qrs_on - ms_to_samples(4.0, fs))
    inside_qrs = _in_range(n, qrs_on, qrs_off + 1)
    qrs_amp = np.where(inside_qrs, detail, -np.inf).max(axis=1) - np.where(inside_qrs, detail, np.inf).min(axis=1)
    if params.qrs_onset_amplitude_fraction > 0:
        # The slope rule stops where the QRS is already under way; the onset is where the signal
        # leaves the PR-segment level, i.e. the last sample back from the steep part still within
        # a small band around that level (measured 30-50 ms before the steep part).
        level = _window_mean(detail, first_steep - ms_to_samples(50.0, fs), first_steep - ms_to_samples(30.0, fs))
        band = np.maximum(params.qrs_onset_band_mv, params.qrs_onset_amplitude_fraction * qrs_amp)
        near = np.abs(detail - level[:, None]) <= band[:, None]
        earlier = last_true(near, first_steep - ms_to_samples(50.0, fs), first_steep)
        qrs_on = np.where((earlier >= 0) & (earlier < qrs_on), earlier, qrs_on)

    smooth = lowpass(rows, 15.0, fs)
    smooth_slope = np.gradient(smooth, axis=1) * (fs / 1000.0)
    deviation = smooth - baseline[:, None]

    rr = np.asarray(rr_samples, dtype=np.int64)
    t_start = qrs_off + ms_to_samples(params.t_search_start_ms, fs)
    t_stop = np.minimum(qrs_on + ms_to_samples(params.t_search_max_ms, fs), r + (params.t_search_max_rr_fraction * rr).astype(np.int64))
    t_stop = np.clip(t_stop, 0, n)
    t_peak, t_amp = _wave_peak(deviation, t_start, t_stop, params.t_min_amplitude_mv)
    t_off = _edge(deviation, smooth_slope, t_peak, t_stop, t_amp, params.t_offset_amplitude_fraction,
                  params.t_offset_slope_fraction, forward=True)

    p_lo_ms, p_hi_ms = params.p_search_ms
    previous_t_end = r - rr + (np.where(t_off >= 0, t_off, r + (0.6 * rr).astype(np.int64)) - r)
    p_start = np.maximum(np.maximum(qrs_on - ms_to_samples(p_hi_ms, fs), previous_t_end), 0)
    p_stop = qrs_on - ms_to_samples(p_lo_ms, fs)
    p_peak, p_amp = _wave_peak(deviation, p_start, np.maximum(p_stop, p_start), params.p_min_amplitude_mv)
    # A P wave's limb is at most ``p_half_width_ms`` long: beyond it lies the QRS's own upstroke
    # or the previous T, whose slopes must not be taken for the P's.
    half = ms_to_samples(params.p_half_width_ms, fs)
    p_on = _edge(deviation, smooth_slope, p_peak, np.maximum(p_start, p_peak - half), p_amp,
                 params.p_edge_amplitude_fraction, params.p_edge_slope_fraction, forward=False)
    p_off = _edge(deviation, smooth_slope, p_peak, np.minimum(qrs_on, p_peak + half), p_amp,
                  params.p_edge_amplitude_fraction, params.p_edge_slope_fraction, forward=True)
    return RowFiducials(p_on, p_peak, p_off, qrs_on, qrs_off, t_peak, t_off, baseline, qrs_amp, p_amp, t_amp)


@dataclass(frozen=True)
class GlobalFiducials:
    """Global fiducials over leads (indices into the median beat; -1 when absent) and the voters."""

    p_onset: int
    p_peak: int
    p_offset: int
    qrs_onset: int
    qrs_offset: int
    t_peak: int
    t_offset: int
    p_leads: np.ndarray  # which leads show the P wave the global P is made of
    qrs_leads: np.ndarray
    t_leads: np.ndarray


def _consistent(peaks: np.ndarray, present: np.ndarray, tolerance: int) -> np.ndarray:
    """Leads whose wave peaks near the leads' median peak: the same wave, not a neighbour's."""
    if not present.any():
        return present
    centre = np.median(peaks[present])
    return present & (np.abs(peaks - centre) <= tolerance)


def global_fiducials(f: RowFiducials, fs: float, params: MeasurementParams) -> GlobalFiducials:
    """Earliest onsets and latest offsets over the leads that show each wave clearly.

    Leads with a QRS under ``qrs_min_amplitude_mv`` do not vote on the QRS (their edges are lost in
    noise); P and T come from leads whose peak lies with the others' (a lone lead's "P" 100 ms
    away is another wave). Every wave needs at least one voter, P at least ``p_min_leads``.
    """
    qrs_leads = f.qrs_amplitude_mv >= params.qrs_min_amplitude_mv
    if not qrs_leads.any():
        qrs_leads = f.qrs_amplitude_mv >= np.max(f.qrs_amplitude_mv) * 0.5
    # A lead whose edge lies far from the other leads' (its search ran into the P wave or the ST
    # segment) is an outlier of the delineation, not the heart's earliest activation: it does not vote.
    spread = ms_to_samples(params.qrs_lead_outlier_ms, fs)
    ons, offs = f.qrs_onset[qrs_leads], f.qrs_offset[qrs_leads]
    ons = ons[np.abs(ons - np.median(ons)) <= spread] if spread > 0 else ons
    offs = offs[np.abs(offs - np.median(offs)) <= spread] if spread > 0 else offs
    qrs_on, qrs_off = int(ons.min()), int(offs.max())
    t_leads = _consistent(f.t_peak, f.t_peak >= 0, ms_to_samples(80.0, fs))
    p_leads = _consistent(f.p_peak, f.p_peak >= 0, ms_to_samples(40.0, fs))
    if p_leads.sum() < params.p_min_leads:
        p_on = p_peak = p_off = NONE
        p_leads = np.zeros_like(p_leads)
    else:
        p_on, p_off = int(f.p_onset[p_leads].min()), int(f.p_offset[p_leads].max())
        p_peak = int(np.median(f.p_peak[p_leads]))
    if t_leads.any():
        t_off, t_peak = int(f.t_offset[t_leads].max()), int(np.median(f.t_peak[t_leads]))
    else:
        t_off = t_peak = NONE
    return GlobalFiducials(p_on, p_peak, p_off, qrs_on, qrs_off, t_peak, t_off, p_leads, qrs_leads, t_leads)
