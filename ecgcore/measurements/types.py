"""What a measurement run returns: fiducials, the global measurements, and why any is missing.

Every global measurement is ``None`` when it cannot be measured honestly, and ``reasons`` then
says why in words a reviewer can act on ("atrial fibrillation: no P waves", "3 beats needed, 2
found"). Positions are sample indices: into the record for beats, into the median beat for the
fiducials of the median beats. ``GLOBAL_MEASURES`` is the one table of the global values (their
attribute, label, unit and how a cart prints them); the store, the CLI and the workspace read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GlobalMeasure:
    """One global measurement as the rest of the project names and shows it."""

    name: str  # attribute of Measurements, also the store's and the CLI's column
    label: str  # short label for tables and the correction form
    unit: str  # "bpm", "ms" or "deg"
    description: str


GLOBAL_MEASURES: tuple[GlobalMeasure, ...] = (
    GlobalMeasure("heart_rate_bpm", "Vent. rate", "bpm", "ventricular rate from the median RR of all beats"),
    GlobalMeasure("rr_ms", "RR", "ms", "median RR interval of all beats"),
    GlobalMeasure("p_duration_ms", "P", "ms", "earliest P onset to latest P offset over leads"),
    GlobalMeasure("pr_ms", "PR", "ms", "earliest P onset to earliest QRS onset over leads"),
    GlobalMeasure("qrs_ms", "QRS", "ms", "earliest QRS onset to latest QRS offset over leads"),
    GlobalMeasure("qt_ms", "QT", "ms", "earliest QRS onset to latest T offset over leads"),
    GlobalMeasure("qtc_bazett_ms", "QTc Bazett", "ms", "QT / sqrt(RR in s)"),
    GlobalMeasure("qtc_fridericia_ms", "QTc Fridericia", "ms", "QT / cbrt(RR in s)"),
    GlobalMeasure("p_axis_deg", "P axis", "deg", "frontal axis of the P wave area (leads I and aVF)"),
    GlobalMeasure("qrs_axis_deg", "QRS axis", "deg", "frontal axis of the QRS area (leads I and aVF)"),
    GlobalMeasure("t_axis_deg", "T axis", "deg", "frontal axis of the T wave area (leads I and aVF)"),
)
GLOBAL_MEASURE_NAMES: tuple[str, ...] = tuple(m.name for m in GLOBAL_MEASURES)
GLOBAL_MEASURE_BY_NAME: dict[str, GlobalMeasure] = {m.name: m for m in GLOBAL_MEASURES}

# Per-lead amplitudes (mV) measured on each lead's median beat, relative to the PR-segment baseline.
AMPLITUDE_NAMES: tuple[str, ...] = ("p_mv", "q_mv", "r_mv", "s_mv", "st_j60_mv", "t_mv")


@dataclass(frozen=True)
class Wave:
    """Onset, peak and offset of one wave, as sample indices (``None`` where not found)."""

    onset: int | None
    peak: int | None
    offset: int | None

    def to_dict(self) -> dict[str, int | None]:
        return {"onset": self.onset, "peak": self.peak, "offset": self.offset}


@dataclass(frozen=True)
class BeatFiducials:
    """The P, QRS and T waves of one beat on one lead (or globally over leads)."""

    p: Wave | None
    qrs: Wave
    t: Wave | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "p": self.p.to_dict() if self.p else None,
            "qrs": self.qrs.to_dict(),
            "t": self.t.to_dict() if self.t else None,
        }


@dataclass(frozen=True)
class LeadAmplitudes:
    """Amplitudes (mV) on one lead's median beat: P, Q, R, S, ST at J+60 ms and T.

    Q and S are negative deflections (0 when absent), R and P/T are signed peak values.
    """

    p_mv: float | None
    q_mv: float | None
    r_mv: float | None
    s_mv: float | None
    st_j60_mv: float | None
    t_mv: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {name: _round(getattr(self, name), 3) for name in AMPLITUDE_NAMES}


@dataclass(frozen=True, eq=False)
class Measurements:
    """The global measurements of one ECG with everything they were derived from.

    ``beat_samples`` are the detected QRS positions in the record (all beats), ``dominant`` marks
    the beats whose QRS matches the dominant morphology (the ones the median beats are made of).
    ``median_beats`` has shape ``(n_leads, n)`` in mV with the QRS peak at ``median_r_index``;
    ``fiducials`` are the global fiducials on it, ``lead_fiducials`` the per-lead ones.
    ``window_start_s``/``window_s`` say which stretch of a long record was measured.
    """

    algorithm_version: str
    fs: float
    leads: tuple[str, ...]
    window_start_s: float
    window_s: float
    heart_rate_bpm: float | None = None
    rr_ms: float | None = None
    p_duration_ms: float | None = None
    pr_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_bazett_ms: float | None = None
    qtc_fridericia_ms: float | None = None
    p_axis_deg: float | None = None
    qrs_axis_deg: float | None = None
    t_axis_deg: float | None = None
    amplitudes: dict[str, LeadAmplitudes] = field(default_factory=dict)
    beat_samples: tuple[int, ...] = ()
    dominant: tuple[bool, ...] = ()
    median_beats: np.ndarray | None = None
    median_r_index: int | None = None
    fiducials: BeatFiducials | None = None
    lead_fiducials: dict[str, BeatFiducials] = field(default_factory=dict)
    measured_leads: tuple[str, ...] = ()
    paced: bool = False
    atrial_fibrillation: bool = False
    p_waves_precede_qrs: bool | None = None
    rr_irregular: bool | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    unreliable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def value(self, name: str) -> float | None:
        """One global measurement by its ``GLOBAL_MEASURES`` name."""
        if name not in GLOBAL_MEASURE_BY_NAME:
            raise KeyError(f"Unknown measurement {name!r}; known: {', '.join(GLOBAL_MEASURE_NAMES)}.")
        return getattr(self, name)

    def global_values(self) -> dict[str, float | None]:
        """The global measurements, rounded as a cart prints them (whole ms, bpm and degrees)."""
        return {name: _round(getattr(self, name), 0) for name in GLOBAL_MEASURE_NAMES}

    def why_missing(self, name: str) -> str | None:
        """Why a global measurement is ``None`` (or flagged unreliable), in words; None if it is fine."""
        if name in self.reasons:
            return self.reasons[name]
        if name in self.unreliable:
            return self.reasons.get("unreliable", "marked unreliable")
        return None

    def ms(self, samples: float) -> float:
        """Samples at this record's rate to milliseconds."""
        return float(samples) * 1000.0 / self.fs

    def to_dict(self, include_median_beats: bool = False) -> dict[str, Any]:
        """A JSON-ready view: the global values, flags, reasons, beats and fiducials."""
        out: dict[str, Any] = {
            "algorithm_version": self.algorithm_version,
            "fs": self.fs,
            "leads": list(self.leads),
            "window_start_s": self.window_start_s,
            "window_s": self.window_s,
            **self.global_values(),
            "paced": self.paced,
            "atrial_fibrillation": self.atrial_fibrillation,
            "p_waves_precede_qrs": self.p_waves_precede_qrs,
            "rr_irregular": self.rr_irregular,
            "reasons": dict(self.reasons),
            "unreliable": list(self.unreliable),
            "notes": list(self.notes),
            "measured_leads": list(self.measured_leads),
            "beat_samples": [int(s) for s in self.beat_samples],
            "dominant": [bool(d) for d in self.dominant],
            "median_r_index": self.median_r_index,
            "fiducials": self.fiducials.to_dict() if self.fiducials else None,
            "lead_fiducials": {lead: f.to_dict() for lead, f in self.lead_fiducials.items()},
            "amplitudes": {lead: a.to_dict() for lead, a in self.amplitudes.items()},
        }
        if include_median_beats and self.median_beats is not None:
            out["median_beats"] = np.round(self.median_beats, 4).tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurements:
        """A measurement back from :meth:`to_dict` (e.g. a stored ``MeasurementRun.payload``): the
        global values as printed, flags, reasons, beats, fiducials and amplitudes; median beats when
        the dict has them. Keys the dict lacks keep their defaults."""

        def wave(d: dict[str, Any] | None) -> Wave | None:
            return None if d is None else Wave(d.get("onset"), d.get("peak"), d.get("offset"))

        def fiducials(d: dict[str, Any] | None) -> BeatFiducials | None:
            if not d or d.get("qrs") is None:
                return None
            return BeatFiducials(p=wave(d.get("p")), qrs=wave(d["qrs"]), t=wave(d.get("t")))  # type: ignore[arg-type]

        median = data.get("median_beats")
        lead_fiducials = {lead: f for lead, f in ((k, fiducials(v)) for k, v in (data.get("lead_fiducials") or {}).items())
                          if f is not None}
        return cls(
            algorithm_version=str(data.get("algorithm_version", "")),
            fs=float(data.get("fs") or 0.0),
            leads=tuple(data.get("leads") or ()),
            window_start_s=float(data.get("window_start_s") or 0.0),
            window_s=float(data.get("window_s") or 0.0),
            **{name: (None if data.get(name) is None else float(data[name])) for name in GLOBAL_MEASURE_NAMES},
            amplitudes={lead: LeadAmplitudes(**{n: a.get(n) for n in AMPLITUDE_NAMES})
                        for lead, a in (data.get("amplitudes") or {}).items()},
            beat_samples=tuple(int(s) for s in data.get("beat_samples") or ()),
            dominant=tuple(bool(d) for d in data.get("dominant") or ()),
            median_beats=None if median is None else np.asarray(median, dtype=np.float32),
            median_r_index=data.get("median_r_index"),
            fiducials=fiducials(data.get("fiducials")),
            lead_fiducials=lead_fiducials,
            measured_leads=tuple(data.get("measured_leads") or ()),
            paced=bool(data.get("paced", False)),
            atrial_fibrillation=bool(data.get("atrial_fibrillation", False)),
            p_waves_precede_qrs=data.get("p_waves_precede_qrs"),
            rr_irregular=data.get("rr_irregular"),
            reasons=dict(data.get("reasons") or {}),
            unreliable=tuple(data.get("unreliable") or ()),
            notes=tuple(data.get("notes") or ()),
        )


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(round(float(value), digits)) if digits else float(round(float(value)))
