"""``assess(record)``: whether a record can be interpreted at all, and if not, why.

    a = ecgcore.assess(record)     # -> Assessment
    a.interpretable, a.reasons     # False, ["lead V2 flat: peak to peak 0.00 mV < 0.02 mV", ...]
    a.per_lead["II"]               # {"ptp_mv": ..., "noise_ratio": ..., "problems": [...]}
    a.reversal, a.paced            # "LA/RA" | None, bool
    a.to_dict()                    # JSON-ready

The measured values come from the same code ``ecgcore.measure`` uses (``measurements.quality``
``lead_quality``, ``filters.mains_ratios``, ``qrs_detection.detect_qrs``, ``pacing_spikes``), so
"left out of the measurements" and "not interpretable" are the same numbers against the limits
of one table, ``QUALITY_LIMITS``. Electrode reversals come from ``ecgcore.reversal``.
A record is not interpretable when: too few beats, any lead flat or saturated, more than
``max_noisy_leads`` leads with muscle noise, mains or baseline wander above their limits, or an
electrode reversal from a detector meeting the operating point rule (>= 99% specificity on clean
dev records: LA/RA, RA/LL, RA/RL, LA/RL). LA/LL and precordial swaps are ``possible_reversals`` with
a ``warnings`` line each and leave ``interpretable`` alone. Pacing does not make a record uninterpretable; it is reported (``paced``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecgcore.errors import ECGValidationError
from ecgcore.measurements.filters import lowpass, mains_amplitude_mv, mains_ratios, measurement_signal
from ecgcore.measurements.params import DEFAULT_PARAMS, MeasurementParams
from ecgcore.measurements.pipeline import measure, measured_window
from ecgcore.measurements.quality import FLAT_PTP_MV, clipped, lead_quality, paced_beats, pacing_spikes
from ecgcore.measurements.types import Measurements
from ecgcore.record import Record
from ecgcore.reversal import DEFAULT_REVERSAL_PARAMS, ReversalParams, detect_reversal

# 1.1: LA/RA, LA/LL and RA/LL from one multinomial limb-lead model (ecgcore.reversal.LIMB_MODEL).
# Stored assessments are per version (db.assessments): a new version adds rows beside the old ones.
ASSESSMENT_VERSION = "1.1"


@dataclass(frozen=True)
class QualityLimit:
    name: str
    unit: str
    limit: float
    why: str


def _limits(params: MeasurementParams) -> dict[str, QualityLimit]:
    return {q.name: q for q in (
        QualityLimit("flat", "peak to peak, mV", FLAT_PTP_MV,
                     "below it the lead carries no signal (electrode off, cable disconnected, zero-filled)"),
        QualityLimit("saturated", "runs at the lead's extreme value, 3 or more of at least half this, ms", params.saturation_run_ms,
                     "an amplifier at its limit repeats its top value (or several beats' R waves are cut)"),
        QualityLimit("muscle_noise", "4 x SD of the 40-100 Hz residual / 0.5-99.5 percentile spread",
                     params.noise_max_fraction, "above it the noise is a third of the QRS: the lead is mostly noise"),
        QualityLimit("mains", "amplitude of the 50/60 Hz component / 0.5-99.5 percentile spread", 0.25,
                     "a notch removes a small mains hum; a hum a quarter of the QRS leaves ringing and hides P waves"),
        QualityLimit("baseline_wander", "peak to peak of the < 0.5 Hz component / QRS spread", 1.5,
                     "above it the baseline moves more than 1.5 QRS heights in the record: ST and amplitudes are off"),
        QualityLimit("saturated_single_run", "one run at the lead's extreme (the first and last 0.25 s left out), ms",
                     100.0, "PTB-XL carts leave flat 50-60 ms stretches and a flat last 100 ms on clean leads; one "
                     "run counts as saturation from this length, shorter runs only when 3 or more repeat"),
        QualityLimit("noisy_leads", "leads with muscle noise, mains or wander over their limit", 2,
                     "one or two noisy leads are read around; more hide the diagnosis"),
        QualityLimit("beats", "QRS complexes detected", params.min_beats,
                     "fewer beats leave no median beat, rate or rhythm"),
        QualityLimit("dominant_beats", "beats sharing the dominant QRS shape", params.min_beats,
                     "fewer means noise or too many ectopic beats to form a median beat"),
    )}


QUALITY_LIMITS: dict[str, QualityLimit] = _limits(DEFAULT_PARAMS)

# Operating point rule: a detector may make a record "not interpretable" only when it keeps >= 99%
# specificity on the clean dev records (PTB-XL subset records 1-200); a detector that cannot is reported
# as a warning (``possible_reversals`` / ``warnings``) and leaves ``interpretable`` alone.
OPERATING_POINT_RULE = ("hard call (not interpretable) only for detectors with >= 99% specificity on clean dev "
                        "records (PTB-XL subset 1-200); the others are warnings")


def _saturated(x: np.ndarray, fs: float, single_ms: float, repeat_ms: float) -> bool:
    """Stuck at the top or bottom value for one run of ``single_ms``, or 3+ runs of ``repeat_ms``,
    with the first and last 0.25 s left out (carts pad the record's ends with a flat stretch)."""
    edge = int(round(0.25 * fs))
    x = x[edge: x.size - edge] if x.size > 4 * edge else x
    if x.size == 0:
        return False
    single, repeat = max(2, int(round(single_ms * fs / 1000))), max(2, int(round(repeat_ms * fs / 1000)))
    return clipped(x, single, repeat)


@dataclass(frozen=True)
class Assessment:
    """Whether a record is interpretable, why not, and the per-lead values behind the answer."""

    interpretable: bool
    reasons: list[str]
    per_lead: dict[str, dict[str, Any]]
    reversal: str | None
    paced: bool
    beats: int = 0
    dominant_beats: int = 0
    mains_hz: list[float] = field(default_factory=list)
    reversal_criteria: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    possible_reversals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    version: str = ASSESSMENT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "interpretable": bool(self.interpretable),
            "reasons": list(self.reasons),
            "reversal": self.reversal,
            "reversal_criteria": dict(self.reversal_criteria),
            "paced": bool(self.paced),
            "beats": int(self.beats),
            "dominant_beats": int(self.dominant_beats),
            "mains_hz": [float(f) for f in self.mains_hz],
            "per_lead": {lead: {k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v)
                                for k, v in values.items()} for lead, values in self.per_lead.items()},
            "notes": list(self.notes),
            "possible_reversals": list(self.possible_reversals),
            "warnings": list(self.warnings),
            "operating_point_rule": OPERATING_POINT_RULE,
            "limits": {q.name: {"unit": q.unit, "limit": q.limit, "why": q.why} for q in QUALITY_LIMITS.values()},
        }


def _check_measurements(m: Measurements, record: Record, window_start_s: float) -> None:
    """Measurements handed to ``assess`` must be of this record's window, with their median beats."""
    problems = []
    if float(m.fs) != float(record.fs):
        problems.append(f"fs {m.fs:g} Hz, the record's is {record.fs:g} Hz")
    if tuple(m.leads) != tuple(record.leads):
        problems.append(f"leads {list(m.leads)}, the record's are {list(record.leads)}")
    if abs(float(m.window_start_s) - window_start_s) > 0.5 / record.fs:
        problems.append(f"window_start_s {m.window_start_s:g} s, the window assessed starts at {window_start_s:g} s")
    if m.median_beats is None and m.fiducials is not None:
        problems.append("no median beats (stored measurements keep none: pass the ones measure() returned)")
    if problems:
        raise ECGValidationError("The 'measurements' passed to assess must be measure(record, start_s) of the same "
                                 "record and window (or None to measure here); got " + "; ".join(problems) + ".")


def assess(record: Record, params: MeasurementParams = DEFAULT_PARAMS,
           reversal_params: ReversalParams = DEFAULT_REVERSAL_PARAMS, *, start_s: float | None = None,
           measurements: Measurements | None = None) -> Assessment:
    """Signal quality per lead and per record, electrode reversals and pacing of ``record``: of the
    stretch ``measure`` measures (all of a short record, ``params.max_window_s`` from ``start_s`` of a
    longer one).

    ``measurements``: ``measure(record, start_s=start_s, params=params)`` when the caller has it
    already (the review page does), so the record is not measured twice; the result is the same.
    """
    limits = _limits(params)
    fs = record.fs
    window = measured_window(record, start_s, params)
    if measurements is not None:
        _check_measurements(measurements, record, window.start_s)
    m = measurements if measurements is not None else measure(record, start_s=start_s, params=params)
    n = window.stop - window.start
    raw = np.nan_to_num(np.asarray(record.signal[:, window.start:window.stop], dtype=np.float64))
    filtered, _ = measurement_signal(raw, fs, params)
    quality = lead_quality(raw, filtered, record.leads, fs, params)
    centred = raw - np.median(raw, axis=1, keepdims=True)
    wander = lowpass(centred, 0.5, fs, order=2) if n > 3 * fs else np.zeros_like(centred)
    ratios = mains_ratios(centred, fs, params)  # before the notch: what the cart recorded
    mains_found = [f for f, r in ratios.items() if r > params.mains_notch_min_ratio]
    reasons: list[str] = []
    per_lead: dict[str, dict[str, Any]] = {}
    noisy: list[str] = []
    for i, lead in enumerate(record.leads):
        s = quality.signals[lead]
        clipped = _saturated(raw[i], fs, limits["saturated_single_run"].limit, limits["saturated"].limit)
        spread = float(np.percentile(filtered[i], 99.5) - np.percentile(filtered[i], 0.5))
        mains = max((float(mains_amplitude_mv(raw[i], f, fs)[0]) for f in mains_found), default=0.0)
        values: dict[str, Any] = {
            "ptp_mv": s.ptp_mv, "rail_run_ms": s.rail_run_ms, "noise_ratio": s.noise_ratio,
            "mains_ratio": mains / spread if spread > 0 else 0.0,
            "wander_ratio": float(np.ptp(wander[i])) / spread if spread > 0 else 0.0,
            "problems": [],
        }
        problems = values["problems"]
        if s.ptp_mv < limits["flat"].limit:
            problems.append(f"flat: peak to peak {s.ptp_mv:.3f} mV < {limits['flat'].limit:g} mV")
        elif clipped:
            problems.append(f"saturated: stuck at its extreme for {s.rail_run_ms:.0f} ms "
                            f"(limit {limits['saturated'].limit:g} ms, or repeatedly)")
        else:
            for key, name, label in (("noise_ratio", "muscle_noise", "muscle noise"),
                                     ("mains_ratio", "mains", "mains interference"),
                                     ("wander_ratio", "baseline_wander", "baseline wander")):
                if values[key] > limits[name].limit:
                    problems.append(f"{label}: {values[key]:.2f} > {limits[name].limit:g} ({limits[name].unit})")
            if problems:
                noisy.append(lead)
        per_lead[lead] = values
        if problems and (values["ptp_mv"] < limits["flat"].limit or clipped):
            reasons.append(f"lead {lead} {problems[0]}")
    if len(noisy) > limits["noisy_leads"].limit:
        reasons.append(f"{len(noisy)} leads noisy ({', '.join(noisy)}) > {limits['noisy_leads'].limit:g}: "
                       + "; ".join(f"{lead} {per_lead[lead]['problems'][0]}" for lead in noisy[:3]))
    beats = len(m.beat_samples)
    dominant = int(sum(m.dominant))
    if beats < limits["beats"].limit:
        reasons.append(f"{beats} beat(s) detected < {limits['beats'].limit:g}")
    elif dominant < limits["dominant_beats"].limit:
        reasons.append(f"{dominant} beat(s) share the dominant QRS shape < {limits['dominant_beats'].limit:g}")
    finding = detect_reversal(m, reversal_params)
    if finding.reversal:
        kind = "precordial lead swap" if finding.reversal.startswith("V") else "electrode reversal"
        reasons.append(f"{finding.reversal} {kind} suspected: {finding.criteria[finding.reversal]}")
    warnings = [f"possible {k} {'precordial lead swap' if k.startswith('V') else 'electrode reversal'} "
                f"(low-specificity criterion, not a reason): {text}" for k, text in finding.possible.items()]
    spikes = pacing_spikes(raw, fs, params)
    beat_idx = np.asarray(m.beat_samples, dtype=np.int64) - window.start  # beats of the record -> of the window
    beat_idx = beat_idx[(beat_idx >= 0) & (beat_idx < n)]
    paced = bool(m.paced) or (beat_idx.size > 0 and paced_beats(spikes, beat_idx, fs) >= max(2, beat_idx.size // 2))
    notes = list(m.notes)
    if paced:
        notes.append(f"Paced rhythm: pacing spikes before {paced_beats(spikes, beat_idx, fs)} of {beat_idx.size} beats.")
    return Assessment(
        interpretable=not reasons, reasons=reasons, per_lead=per_lead, reversal=finding.reversal, paced=paced,
        beats=beats, dominant_beats=dominant, mains_hz=mains_found, reversal_criteria=finding.criteria, notes=notes,
        possible_reversals=list(finding.possible), warnings=warnings,
    )


__all__ = ["ASSESSMENT_VERSION", "QUALITY_LIMITS", "Assessment", "OPERATING_POINT_RULE", "QualityLimit", "assess"]
