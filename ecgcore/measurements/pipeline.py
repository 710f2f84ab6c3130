"""``measure(record)``: the global measurements a cart prints, each a number or a reason.

The steps (filters, QRS detection, dominant and median beats, delineation, global fiducials) are
described with their parameters in ``params.py``; this module puts them together, decides what
cannot be measured honestly, and turns fiducials into milliseconds, degrees and millivolts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ecgcore.leads import FRONTAL_ANGLE_DEG, frontal_vector
from ecgcore.measurements.delineation import (
    NONE,
    GlobalFiducials,
    RowFiducials,
    delineate_rows,
    global_fiducials,
)
from ecgcore.measurements.filters import measurement_signal
from ecgcore.measurements.median_beat import beat_windows, dominant_and_aligned, median_beats, ms_to_samples
from ecgcore.measurements.params import ALGORITHM_VERSION, DEFAULT_PARAMS, MeasurementParams
from ecgcore.measurements.qrs_detection import detect_qrs
from ecgcore.measurements.quality import lead_quality, paced_beats, pacing_spikes, rr_irregular
from ecgcore.measurements.types import (
    GLOBAL_MEASURE_NAMES,
    BeatFiducials,
    LeadAmplitudes,
    Measurements,
    Wave,
)
from ecgcore.record import Record

PACED_UNRELIABLE = ("p_duration_ms", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms", "qrs_axis_deg",
                    "t_axis_deg")


@dataclasses.dataclass(frozen=True)
class _Window:
    start: int
    stop: int
    start_s: float
    note: str | None


def measured_window(record: Record, start_s: float | None, params: MeasurementParams = DEFAULT_PARAMS) -> _Window:
    """The stretch to measure: all of a short record, ``max_window_s`` of a long one from ``start_s``
    (``assess`` judges the same stretch)."""
    n, fs = record.n_samples, record.fs
    if record.duration_s <= params.max_window_s + 1e-9:
        return _Window(0, n, 0.0, None)
    length = int(round(params.max_window_s * fs))
    start = int(round((start_s or 0.0) * fs))
    start = min(max(0, start), n - length)
    note = (f"Measured on {params.max_window_s:g} s from {start / fs:.1f} s of a {record.duration_s:.0f}-s record; "
            "move the window to measure another stretch.")
    return _Window(start, start + length, start / fs, note)


def _empty(record: Record, window: _Window, reason: str, notes: tuple[str, ...] = ()) -> Measurements:
    return Measurements(
        algorithm_version=ALGORITHM_VERSION, fs=record.fs, leads=record.leads, window_start_s=window.start_s,
        window_s=(window.stop - window.start) / record.fs, reasons={name: reason for name in GLOBAL_MEASURE_NAMES},
        notes=notes,
    )


def _ms(samples: float, fs: float) -> float:
    return float(samples) * 1000.0 / fs


def _wave(on: int, peak: int, off: int) -> Wave | None:
    if peak < 0 and on < 0:
        return None
    return Wave(int(on) if on >= 0 else None, int(peak) if peak >= 0 else None, int(off) if off >= 0 else None)


def _row_beat(f: RowFiducials | GlobalFiducials, i: int | None = None, shift: int = 0) -> BeatFiducials:
    """One row's (or the global) fiducials as a BeatFiducials, indices moved by ``shift``."""
    def get(name: str) -> int:
        value = int(getattr(f, name) if i is None else getattr(f, name)[i])
        return value + shift if value >= 0 else NONE

    qrs = Wave(get("qrs_onset"), None, get("qrs_offset"))
    p = _wave(get("p_onset"), get("p_peak"), get("p_offset"))
    t = _wave(NONE, get("t_peak"), get("t_offset"))
    return BeatFiducials(p=p, qrs=qrs, t=t)


def _net_area(beat: np.ndarray, baseline: float, start: int, stop: int) -> float:
    return float(np.sum(beat[start: stop + 1] - baseline))


def _axis(median: np.ndarray, leads: tuple[str, ...], baselines: dict[str, float], start: int, stop: int) -> float | None:
    """Frontal axis (degrees, -180..180) of the net areas between two fiducials, over the usable limb leads."""
    if start < 0 or stop <= start:
        return None
    areas = {lead: _net_area(median[leads.index(lead)], base, start, stop) for lead, base in baselines.items()}
    vector = frontal_vector(areas)
    if vector is None or abs(vector[0]) + abs(vector[1]) < 1e-9:
        return None
    return float(np.degrees(np.arctan2(vector[1], vector[0])))


def _amplitudes(beat: np.ndarray, baseline: float, f: RowFiducials, i: int, g: GlobalFiducials, fs: float,
                params: MeasurementParams) -> LeadAmplitudes:
    """P, Q, R, S, ST(J+60) and T of one lead's median beat against its PR-segment baseline."""
    x = beat - baseline
    on, off = g.qrs_onset, g.qrs_offset
    qrs = x[on: off + 1]
    r_at = int(np.argmax(qrs))
    r = max(float(qrs[r_at]), 0.0)
    q = min(float(qrs[: r_at + 1].min()), 0.0)
    s = min(float(qrs[r_at:].min()), 0.0)
    j60 = off + ms_to_samples(params.st_j_offset_ms, fs)
    st = float(x[j60]) if j60 < x.size else None
    p = float(x[g.p_peak]) if g.p_peak >= 0 else None
    t = float(x[f.t_peak[i]]) if f.t_peak[i] >= 0 else (float(x[g.t_peak]) if g.t_peak >= 0 else None)
    return LeadAmplitudes(p_mv=p, q_mv=q, r_mv=r, s_mv=s, st_j60_mv=st, t_mv=t)


def _p_waves_on_every_beat(x: np.ndarray, beats: np.ndarray, median: np.ndarray, r: int, g: GlobalFiducials,
                           params: MeasurementParams) -> bool | None:
    """Whether every beat has the median beat's P wave before its QRS (shape correlation)."""
    if g.p_onset < 0 or beats.size == 0:
        return False if beats.size else None
    template = median[g.p_leads][:, g.p_onset: g.p_offset + 1]
    windows = beat_windows(x[g.p_leads], beats, r - g.p_onset, g.p_offset + 1 - r)
    template = template - template.mean(axis=1, keepdims=True)
    flat_t = template.ravel()
    hits = 0
    for window in windows:
        if np.isnan(window).any():
            hits += 1  # a beat whose P lies before the record's start cannot be judged: do not count it against
            continue
        w = (window - window.mean(axis=1, keepdims=True)).ravel()
        denom = np.linalg.norm(w) * np.linalg.norm(flat_t)
        hits += bool(denom > 0 and float(w @ flat_t) / denom >= params.p_beat_min_correlation)
    return hits == len(beats)


def _reasons(g: GlobalFiducials, af: bool, paced: bool, has_frontal: bool, single: bool) -> dict[str, str]:
    reasons: dict[str, str] = {}
    if g.p_onset < 0:
        why = ("no P waves: atrial fibrillation or flutter suspected (irregular RR, no P wave before the QRS)" if af
               else "no P wave found before the QRS" + ("" if single else " on 3 or more leads"))
        reasons["p_duration_ms"] = reasons["pr_ms"] = reasons["p_axis_deg"] = why
    if g.t_offset < 0:
        why = "no T wave end found (flat or isoelectric T waves)"
        for name in ("qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms", "t_axis_deg"):
            reasons[name] = why
    if not has_frontal:
        why = "axes need two limb leads of different directions (e.g. I and II)"
        for name in ("p_axis_deg", "qrs_axis_deg", "t_axis_deg"):
            reasons.setdefault(name, why)
    if paced:
        reasons["unreliable"] = "paced rhythm: pacing spikes precede the beats; intervals include the paced complex"
    return reasons


def measure(record: Record, start_s: float | None = None, params: MeasurementParams = DEFAULT_PARAMS) -> Measurements:
    """The global measurements of ``record`` (12-lead or fewer leads), each a number or a reason.

    Long records are measured on a ``params.max_window_s`` window from ``start_s`` (default: the
    start). Never raises for a poor recording: a measurement that cannot be made is ``None`` and
    ``Measurements.reasons`` says why.
    """
    fs = record.fs
    window = measured_window(record, start_s, params)
    notes = (window.note,) if window.note else ()
    if (window.stop - window.start) / fs < params.min_duration_s:
        return _empty(record, window, f"the record is {record.duration_s:.1f} s long; at least "
                      f"{params.min_duration_s:g} s are needed to measure", notes)
    raw = np.asarray(record.signal[:, window.start: window.stop], dtype=np.float64)
    filtered, notched = measurement_signal(raw, fs, params)
    if notched:
        notes += (f"{' and '.join(f'{m:g}' for m in notched)} Hz mains interference removed by a notch filter.",)
    quality = lead_quality(raw, filtered, record.leads, fs, params)
    if quality.problems:
        left_out = "; ".join(f"{lead}: {why}" for lead, why in quality.problems.items())
        notes += (f"Left out {left_out}." + (" Measured on the other leads." if quality.usable.any() else ""),)
    if not quality.usable.any():
        return _empty(record, window, "no lead is usable (flat, saturated or too noisy)", notes)
    usable = filtered[quality.usable]
    beats = detect_qrs(usable, fs, params)
    if beats.size < params.min_beats:
        return _empty(record, window, f"{beats.size} beat(s) found; at least {params.min_beats} are needed", notes)
    rr_samples = float(np.median(np.diff(beats)))
    dominant, aligned, _ = dominant_and_aligned(usable, beats, fs, params)
    base = Measurements(
        algorithm_version=ALGORITHM_VERSION, fs=fs, leads=record.leads, window_start_s=window.start_s,
        window_s=(window.stop - window.start) / fs, heart_rate_bpm=60000.0 / _ms(rr_samples, fs),
        rr_ms=_ms(rr_samples, fs), beat_samples=tuple(int(b) + window.start for b in beats),
        dominant=tuple(bool(d) for d in dominant), rr_irregular=rr_irregular(beats, params),
    )
    if dominant.sum() < params.min_beats:
        why = (f"{int(dominant.sum())} beat(s) share the dominant QRS shape; at least {params.min_beats} are needed "
               "(too much noise or too many ectopic beats)")
        reasons = {name: why for name in GLOBAL_MEASURE_NAMES if name not in ("heart_rate_bpm", "rr_ms")}
        return dataclasses.replace(base, reasons=reasons, notes=notes)
    return _measure_median(record, base, filtered, quality.usable, beats, aligned[dominant], rr_samples, raw,
                           notes, params)


def _measure_median(record: Record, base: Measurements, filtered: np.ndarray, usable: np.ndarray, beats: np.ndarray,
                    centres: np.ndarray, rr_samples: float, raw: np.ndarray, notes: tuple[str, ...],
                    params: MeasurementParams) -> Measurements:
    fs, leads = record.fs, record.leads
    median, r = median_beats(filtered, centres, fs, params)
    used_leads = tuple(lead for lead, ok in zip(leads, usable) if ok)
    rows = delineate_rows(median[usable], r, fs, np.full(int(usable.sum()), rr_samples), params)
    lead_params = dataclasses.replace(params, p_min_leads=min(params.p_min_leads, len(used_leads)))
    g = global_fiducials(rows, fs, lead_params)
    baselines = {lead: float(b) for lead, b in zip(used_leads, rows.baseline_mv)}

    spikes = pacing_spikes(raw, fs, params)
    paced = paced_beats(spikes, beats, fs) >= max(2, beats.size // 2)
    irregular = bool(base.rr_irregular)
    af = irregular and g.p_onset < 0 and not paced
    rr_s = rr_samples / fs
    qt = _ms(g.t_offset - g.qrs_onset, fs) if g.t_offset >= 0 else None
    has_p = g.p_onset >= 0
    has_frontal = len({round(FRONTAL_ANGLE_DEG[n] % 180) for n in used_leads if n in FRONTAL_ANGLE_DEG}) >= 2
    reasons = _reasons(g, af, paced, has_frontal, len(used_leads) == 1)
    if paced:
        notes += (f"Pacing spikes found before {paced_beats(spikes, beats, fs)} of {beats.size} beats.",)
    return dataclasses.replace(
        base,
        p_duration_ms=_ms(g.p_offset - g.p_onset, fs) if has_p else None,
        pr_ms=_ms(g.qrs_onset - g.p_onset, fs) if has_p else None,
        qrs_ms=_ms(g.qrs_offset - g.qrs_onset, fs),
        qt_ms=qt,
        qtc_bazett_ms=qt / np.sqrt(rr_s) if qt is not None else None,
        qtc_fridericia_ms=qt / np.cbrt(rr_s) if qt is not None else None,
        p_axis_deg=_axis(median, leads, baselines, g.p_onset, g.p_offset) if has_p else None,
        qrs_axis_deg=_axis(median, leads, baselines, g.qrs_onset, g.qrs_offset),
        t_axis_deg=_axis(median, leads, baselines, g.qrs_offset, g.t_offset) if g.t_offset >= 0 else None,
        amplitudes={lead: _amplitudes(median[leads.index(lead)], baselines[lead], rows, i, g, fs, params)
                    for i, lead in enumerate(used_leads)},
        median_beats=median.astype(np.float32),
        median_r_index=int(r),
        fiducials=_row_beat(g),
        lead_fiducials={lead: _row_beat(rows, i) for i, lead in enumerate(used_leads)},
        measured_leads=used_leads,
        paced=bool(paced),
        atrial_fibrillation=bool(af),
        p_waves_precede_qrs=(_p_waves_on_every_beat(filtered[usable], beats, median[usable], r, g, params)
                             if has_p else False),
        reasons=reasons,
        unreliable=PACED_UNRELIABLE if paced else (),
        notes=notes,
    )


def delineate_beats(record: Record, start_s: float | None = None,
                    params: MeasurementParams = DEFAULT_PARAMS) -> dict[str, list[BeatFiducials]]:
    """Per-lead, per-beat P/QRS/T fiducials, as sample indices into the record.

    Every detected beat of every usable lead is delineated with the same rules as the median
    beats (one row per lead and beat); the view a reviewer checks beat by beat, and what the
    per-wave accuracy on LUDB is measured on.
    """
    fs = record.fs
    window = measured_window(record, start_s, params)
    raw = np.asarray(record.signal[:, window.start: window.stop], dtype=np.float64)
    filtered, _ = measurement_signal(raw, fs, params)
    quality = lead_quality(raw, filtered, record.leads, fs, params)
    if not quality.usable.any():
        return {}
    beats = detect_qrs(filtered[quality.usable], fs, params)
    if beats.size == 0:
        return {lead: [] for lead, ok in zip(record.leads, quality.usable) if ok}
    _, aligned, _ = dominant_and_aligned(filtered[quality.usable], beats, fs, params)
    pre, post = ms_to_samples(params.median_pre_ms, fs), ms_to_samples(params.median_post_ms, fs)
    windows = beat_windows(filtered[quality.usable], aligned, pre, post)
    n_beats, n_leads, width = windows.shape
    rr = np.diff(aligned, append=aligned[-1] + np.median(np.diff(aligned)) if aligned.size > 1 else pre + post)
    rows = delineate_rows(np.nan_to_num(windows.reshape(n_beats * n_leads, width)), pre, fs,
                          np.repeat(rr, n_leads), params)
    used = [lead for lead, ok in zip(record.leads, quality.usable) if ok]
    out: dict[str, list[BeatFiducials]] = {lead: [] for lead in used}
    for b in range(n_beats):
        shift = int(aligned[b]) - pre + window.start
        for li, lead in enumerate(used):
            out[lead].append(_row_beat(rows, b * n_leads + li, shift))
    return out
