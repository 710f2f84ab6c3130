"""Accuracy of ECG delineation and interval measurements against LUDB, NeuroKit2 as the baseline.

    python -m bench.measurement_accuracy [--data DIR] [--json OUT] [--delineators ours,neurokit2]
                                         [--records 5,10,...]

Reference (LUDB, ``--data`` defaults to ``../shared/data/ludb_dev``): every lead's WFDB annotation
file is parsed into waves (``(`` onset, ``p``/``N``/``t`` peak, ``)`` offset; a paced QRS may lack
its onset) and the waves into beats on that lead (a P belongs to the QRS after it, a T to the QRS
before it). Beats are matched across leads by their QRS (QRS peaks less than 100 ms apart are one
beat); per beat the global P/QRS/T onset is the earliest over the leads and the offset the latest,
and a record's P duration, PR, QRS and QT are the medians over its beats. The reference heart rate
is 60 / median RR of the annotated beats.

Each delineator is scored the same way:

* QRS detection: sensitivity and PPV against the annotated beats, tolerance 75 ms (the usual
  150 ms window), counting only detections within the annotated span (first to last annotated
  QRS +- 75 ms), because LUDB leaves the first and last beats of a record unannotated.
* per lead and beat: error (delineator - annotation, ms) of P onset/offset, QRS onset/offset,
  T peak/offset on the delineator's beat matched to the annotated one on the same lead (QRS within
  75 ms); ``missed`` counts annotated points without a counterpart, ``extra`` points the
  delineator gave where the annotation has none (e.g. a P wave in atrial fibrillation).
* global P duration, PR, QRS, QT: delineator - reference over records where both exist (SD with
  ddof=1), and how often the delineator gave none where the reference has a value.
* heart rate: error in bpm and the share of records (with a reference rate) within 2 bpm; a
  missing rate counts as outside.
* QRS axis category: normal (-30..+90 deg), left (-90..<-30), right (>+90..180); an axis in
  (-180, -90) is "extreme" (north-west), which LUDB never uses, so it always counts as a
  disagreement. LUDB's "Electric axis of the heart" texts map as: normal, horizontal, vertical ->
  normal; left axis deviation -> left; right axis deviation -> right. In ludb_dev they occur as
  normal 19, left axis deviation 9, horizontal 4, vertical 4, right axis deviation 1, and 3 records
  (the paced ones) have none and are left out. NeuroKit2 has no axis: it is reported as "not
  provided" (computing one for it here would score this harness, not NeuroKit2).
* the IEC 60601-2-25 targets for global intervals (|mean| <= 10/10/6/12 ms and SD <= 15/10/10/30
  ms for P, PR, QRS, QT), QRS Se and PPV >= 99.5 % and HR within 2 bpm on >= 98 % of records.

Delineators: ``ours`` is ``ecgcore.measurements`` (``measure`` for the global values, rate, axis
and detected beats; ``delineate_beats`` for per-lead fiducials); it is skipped with a message when
it cannot be imported. ``neurokit2`` runs, per lead, ``nk.ecg_clean``, ``nk.ecg_peaks`` and
``nk.ecg_delineate(method="dwt")``; a lead it fails on is counted and left out; its global values
come from its per-lead waves exactly as the reference's do, its QRS detections and heart rate from
lead II. The table is printed and the full result (summary, per-record values, timing) is written
to ``bench/results/measurement_accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import wfdb

from ecgcore.config import REPO_ROOT
from ecgcore.leads import canonical_lead_name
from ecgcore.record import Record
from train.paths import SHARED_DATA_DIR

DEFAULT_DATA = SHARED_DATA_DIR / "ludb_dev"
RESULTS = REPO_ROOT / "bench" / "results" / "measurement_accuracy.json"
DEFAULT_DELINEATORS = ("ours", "neurokit2")

MATCH_TOLERANCE_MS = 75.0  # half of the usual 150 ms beat-matching window
# Largest gap between sorted QRS positions of one beat over the leads (LUDB: <= 60 ms; beats >= 340 ms apart).
GROUP_GAP_MS = 100.0
HR_TOLERANCE_BPM = 2.0

LUDB_LEADS: tuple[str, ...] = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
PEAK_SYMBOLS: dict[str, str] = {"p": "p", "N": "qrs", "t": "t"}
GLOBAL_NAMES: tuple[str, ...] = ("p_duration_ms", "pr_ms", "qrs_ms", "qt_ms")
GLOBAL_LABELS: dict[str, str] = {"p_duration_ms": "P duration", "pr_ms": "PR", "qrs_ms": "QRS", "qt_ms": "QT"}
WAVE_POINTS: tuple[tuple[str, str], ...] = (
    ("p", "onset"), ("p", "offset"), ("qrs", "onset"), ("qrs", "offset"), ("t", "peak"), ("t", "offset"),
)
LUDB_AXIS_PREFIX = "electric axis of the heart:"
LUDB_AXIS_CATEGORIES: dict[str, str] = {
    "normal": "normal",
    "horizontal": "normal",
    "vertical": "normal",
    "left axis deviation": "left",
    "right axis deviation": "right",
}
AXIS_CATEGORIES: tuple[str, ...] = ("normal", "left", "right", "extreme")


# -- fiducials ------------------------------------------------------------------------------------
# Wave and Beat mirror ecgcore.measurements.types.Wave/BeatFiducials on purpose: that package is being
# written, and the harness must keep working (for NeuroKit2 and the reference) while it cannot be
# imported. The "ours" adapter converts its objects by attribute (see as_beat).


@dataclass(frozen=True)
class Wave:
    """Onset, peak and offset of one wave as sample indices (None where not marked or found)."""

    onset: int | None
    peak: int | None
    offset: int | None

    def point(self, name: str) -> int | None:
        return getattr(self, name)


@dataclass(frozen=True)
class Beat:
    """The P, QRS and T waves of one beat on one lead."""

    qrs: Wave
    p: Wave | None = None
    t: Wave | None = None

    @property
    def position(self) -> int | None:
        """Where the beat is for matching: the QRS peak, else the middle of its onset and offset."""
        q = self.qrs
        if q.peak is not None:
            return q.peak
        known = [s for s in (q.onset, q.offset) if s is not None]
        return round(sum(known) / len(known)) if known else None

    def point(self, wave: str, name: str) -> int | None:
        w = getattr(self, wave)
        return None if w is None else w.point(name)


def _index(value: Any) -> int | None:
    """A sample index from a delineator's output (NaN, None and negative values mean "not found")."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return round(number)


def make_wave(onset: Any, peak: Any, offset: Any) -> Wave | None:
    """A Wave from raw values, or None when none of its three points was found."""
    wave = Wave(_index(onset), _index(peak), _index(offset))
    return None if wave.onset is None and wave.peak is None and wave.offset is None else wave


def as_beat(fiducials: Any) -> Beat | None:
    """Any object with ``p``/``qrs``/``t`` waves of ``onset``/``peak``/``offset`` (BeatFiducials) as a Beat."""

    def wave(obj: Any) -> Wave | None:
        return None if obj is None else make_wave(obj.onset, obj.peak, obj.offset)

    qrs = wave(fiducials.qrs)
    return None if qrs is None else Beat(qrs=qrs, p=wave(fiducials.p), t=wave(fiducials.t))


# -- the LUDB reference ---------------------------------------------------------------------------


def parse_lead_waves(samples: Sequence[int], symbols: Sequence[str]) -> list[tuple[str, Wave]]:
    """(kind, Wave) for every annotated wave of one lead, kind in "p", "qrs", "t".

    A wave is ``(`` peak ``)``; a missing bracket leaves that point None (LUDB marks paced QRS
    complexes without an onset), so waves are never dropped or glued to a neighbour's brackets.
    """
    waves: list[tuple[str, Wave]] = []
    onset: int | None = None
    open_wave: tuple[str, int | None, int] | None = None
    for sample, symbol in zip(samples, symbols):
        if symbol == "(":
            if open_wave:
                waves.append((open_wave[0], Wave(open_wave[1], open_wave[2], None)))
                open_wave = None
            onset = int(sample)
        elif symbol in PEAK_SYMBOLS:
            if open_wave:
                waves.append((open_wave[0], Wave(open_wave[1], open_wave[2], None)))
            open_wave, onset = (PEAK_SYMBOLS[symbol], onset, int(sample)), None
        elif symbol == ")":
            if open_wave:
                waves.append((open_wave[0], Wave(open_wave[1], open_wave[2], int(sample))))
            open_wave, onset = None, None
    if open_wave:
        waves.append((open_wave[0], Wave(open_wave[1], open_wave[2], None)))
    return waves


def assign_beats(waves: Sequence[tuple[str, Wave]]) -> list[Beat]:
    """One Beat per annotated QRS: the last P between the previous QRS and it, the first T after it.

    The last P (not the first) because with a blocked P wave the conducted one is next to the QRS.
    P and T waves with no annotated QRS on their side (edges of the record) are dropped.
    """
    qrs = sorted((w for kind, w in waves if kind == "qrs"), key=lambda w: w.peak)
    ps = sorted((w for kind, w in waves if kind == "p"), key=lambda w: w.peak)
    ts = sorted((w for kind, w in waves if kind == "t"), key=lambda w: w.peak)
    beats = []
    for i, q in enumerate(qrs):
        before = qrs[i - 1].peak if i else -math.inf
        after = qrs[i + 1].peak if i + 1 < len(qrs) else math.inf
        p = [w for w in ps if before < w.peak < q.peak]
        t = [w for w in ts if q.peak < w.peak < after]
        beats.append(Beat(qrs=q, p=p[-1] if p else None, t=t[0] if t else None))
    return beats


def read_lead_beats(record_path: Path) -> dict[str, list[Beat]]:
    """Canonical lead name -> annotated beats on that lead, from ``<n>.<lead>`` annotation files."""
    out = {}
    for lead in LUDB_LEADS:
        ann = wfdb.rdann(str(record_path), lead)
        out[canonical_lead_name(lead)] = assign_beats(parse_lead_waves(ann.sample, ann.symbol))
    return out


def group_beats(lead_beats: dict[str, list[Beat]], fs: float, gap_ms: float = GROUP_GAP_MS) -> list[dict[str, Beat]]:
    """The same beat on all leads: QRS positions closer than ``gap_ms`` to the previous one form a group.

    A lead with two beats in one group (a double detection) keeps the one nearest the group's median.
    """
    items = sorted((b.position, lead, b) for lead, beats in lead_beats.items() for b in beats if b.position is not None)
    gap = gap_ms * fs / 1000.0
    clusters: list[list[tuple[int, str, Beat]]] = []
    for item in items:
        if clusters and item[0] - clusters[-1][-1][0] <= gap:
            clusters[-1].append(item)
        else:
            clusters.append([item])
    groups = []
    for cluster in clusters:
        centre = statistics.median(pos for pos, _, _ in cluster)
        group: dict[str, Beat] = {}
        for pos, lead, beat in sorted(cluster, key=lambda it: abs(it[0] - centre)):
            group.setdefault(lead, beat)
        groups.append(group)
    return groups


def group_position(group: dict[str, Beat]) -> int:
    """A beat's position over leads: the median of its leads' QRS positions."""
    return round(statistics.median(b.position for b in group.values()))


def _extreme(group: dict[str, Beat], wave: str, point: str, pick: Callable[[Iterable[int]], int]) -> int | None:
    values = [v for b in group.values() if (v := b.point(wave, point)) is not None]
    return pick(values) if values else None


def beat_intervals(group: dict[str, Beat]) -> dict[str, int | None]:
    """P duration, PR, QRS and QT of one beat in samples: earliest onset / latest offset over leads."""
    p_on, p_off = _extreme(group, "p", "onset", min), _extreme(group, "p", "offset", max)
    q_on, q_off = _extreme(group, "qrs", "onset", min), _extreme(group, "qrs", "offset", max)
    t_off = _extreme(group, "t", "offset", max)

    def span(start: int | None, end: int | None) -> int | None:
        return end - start if start is not None and end is not None and end > start else None

    return {"p_duration_ms": span(p_on, p_off), "pr_ms": span(p_on, q_on), "qrs_ms": span(q_on, q_off),
            "qt_ms": span(q_on, t_off)}


def global_intervals_ms(groups: Sequence[dict[str, Beat]], fs: float) -> dict[str, float | None]:
    """Each global interval as the median over the beats that have it, in ms (None if no beat has it)."""
    per_beat = [beat_intervals(g) for g in groups]
    out: dict[str, float | None] = {}
    for name in GLOBAL_NAMES:
        values = [b[name] for b in per_beat if b[name] is not None]
        out[name] = float(statistics.median(values)) * 1000.0 / fs if values else None
    return out


def heart_rate_bpm(beat_samples: Sequence[int], fs: float) -> float | None:
    """60 / median RR of consecutive beats: the median ignores one missed or extra beat."""
    samples = np.sort(np.asarray(beat_samples, dtype=float))
    if samples.size < 2:
        return None
    return 60.0 * fs / float(np.median(np.diff(samples)))


def ludb_axis_category(text: Any) -> str | None:
    """LUDB's "Electric axis of the heart: ..." text as normal/left/right (None if absent or unknown)."""
    if not isinstance(text, str) or not text.strip():
        return None
    key = text.strip().lower()
    key = key[len(LUDB_AXIS_PREFIX):].strip() if key.startswith(LUDB_AXIS_PREFIX) else key
    return LUDB_AXIS_CATEGORIES.get(key)


def axis_category(degrees: float | None) -> str | None:
    """normal [-30, 90], left [-90, -30), right (90, 180], extreme (-180, -90): the usual frontal sectors."""
    if degrees is None or not math.isfinite(degrees):
        return None
    a = (float(degrees) + 180.0) % 360.0 - 180.0  # into [-180, 180)
    if -30.0 <= a <= 90.0:
        return "normal"
    if -90.0 <= a < -30.0:
        return "left"
    return "right" if a > 90.0 or a == -180.0 else "extreme"


@dataclass
class RecordReference:
    """Everything the harness compares against for one LUDB record."""

    record_id: str
    fs: float
    lead_beats: dict[str, list[Beat]]
    beat_samples: list[int]  # one position per annotated beat (grouped over leads)
    globals_ms: dict[str, float | None]
    heart_rate_bpm: float | None
    axis_text: str | None
    axis_category: str | None
    rhythm: str
    paced: bool


def read_ludb_table(data_dir: Path) -> dict[str, dict[str, Any]]:
    """``ludb.csv`` rows by record id (as the file names spell it)."""
    table = pd.read_csv(data_dir / "ludb.csv")
    return {str(row["ID"]): row.to_dict() for _, row in table.iterrows()}


def record_ids(data_dir: Path) -> list[str]:
    """Record ids in ``RECORDS`` order (lines like ``data/5``)."""
    lines = (data_dir / "RECORDS").read_text().split()
    return [Path(line).name for line in lines if line.strip()]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def load_reference(data_dir: Path, record_id: str, row: dict[str, Any], fs: float) -> RecordReference:
    """The per-lead beats and global values of one record from its annotations and its ludb.csv row."""
    lead_beats = read_lead_beats(data_dir / "data" / record_id)
    groups = group_beats(lead_beats, fs)
    samples = [group_position(g) for g in groups]
    axis_text = _text(row.get("Electric axis of the heart"))
    return RecordReference(
        record_id=record_id,
        fs=fs,
        lead_beats=lead_beats,
        beat_samples=samples,
        globals_ms=global_intervals_ms(groups, fs),
        heart_rate_bpm=heart_rate_bpm(samples, fs),
        axis_text=axis_text,
        axis_category=ludb_axis_category(axis_text),
        rhythm=(_text(row.get("Rhythms")) or "").replace("\n", "; "),
        paced=_text(row.get("Cardiac pacing")) is not None,
    )


# -- delineators ----------------------------------------------------------------------------------


@dataclass
class DelineatorOutput:
    """What one delineator says about one record, in the harness's terms."""

    lead_beats: dict[str, list[Beat]] = field(default_factory=dict)
    qrs_samples: list[int] = field(default_factory=list)  # detected beats scored for Se/PPV
    globals_ms: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(GLOBAL_NAMES))
    heart_rate_bpm: float | None = None
    qrs_axis_deg: float | None = None
    lead_failures: dict[str, str] = field(default_factory=dict)  # lead -> what failed
    error: str | None = None  # the whole record failed


@dataclass(frozen=True)
class Delineator:
    """A named delineator: one Record in, its DelineatorOutput out; ``provides_axis`` False = "not provided"."""

    name: str
    run: Callable[[Record], DelineatorOutput]
    provides_axis: bool


def _float_or_none(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def load_ours() -> Delineator:
    """ecgcore.measurements: ``measure`` for the globals/rate/axis/beats, ``delineate_beats`` per lead."""
    from ecgcore.measurements import delineate_beats, measure

    def run(record: Record) -> DelineatorOutput:
        m = measure(record)
        per_lead = delineate_beats(record)
        lead_beats = {lead: [b for f in beats if (b := as_beat(f)) is not None] for lead, beats in per_lead.items()}
        return DelineatorOutput(
            lead_beats=lead_beats,
            qrs_samples=[int(s) for s in m.beat_samples],
            globals_ms={name: _float_or_none(getattr(m, name)) for name in GLOBAL_NAMES},
            heart_rate_bpm=_float_or_none(m.heart_rate_bpm),
            qrs_axis_deg=_float_or_none(m.qrs_axis_deg),
        )

    return Delineator("ours", run, provides_axis=True)


def _at(values: Any, i: int) -> Any:
    return values[i] if values is not None and i < len(values) else None


def neurokit2_lead_beats(nk: Any, signal: np.ndarray, fs: float) -> tuple[list[Beat], str | None]:
    """NeuroKit2's beats on one lead, and what failed (None if nothing did).

    If ``ecg_delineate`` fails after ``ecg_peaks`` worked, the R peaks are kept as QRS positions
    without onset/offset, so the failure costs the waves but not the beats.
    """
    rate = round(fs)
    try:
        cleaned = nk.ecg_clean(signal, sampling_rate=rate)
        _, info = nk.ecg_peaks(cleaned, sampling_rate=rate)
        rpeaks = np.asarray(info["ECG_R_Peaks"], dtype=int)
    except Exception as exc:  # noqa: BLE001 - any NeuroKit2 failure is a counted lead failure
        return [], f"ecg_peaks: {type(exc).__name__}: {exc}"
    if rpeaks.size == 0:
        return [], "ecg_peaks: no R peaks"
    try:
        _, waves = nk.ecg_delineate(cleaned, rpeaks, sampling_rate=rate, method="dwt")
    except Exception as exc:  # noqa: BLE001
        return [Beat(qrs=Wave(None, int(r), None)) for r in rpeaks], f"ecg_delineate: {type(exc).__name__}: {exc}"
    return [neurokit2_beat(waves, i, int(r)) for i, r in enumerate(rpeaks)], None


def neurokit2_beat(waves: dict[str, Any], i: int, rpeak: int) -> Beat:
    """Beat ``i`` of ``ecg_delineate``'s output (one list entry per R peak, NaN where not found)."""

    def wave(prefix: str, peak: Any) -> Wave | None:
        return make_wave(_at(waves.get(f"ECG_{prefix}_Onsets"), i), peak, _at(waves.get(f"ECG_{prefix}_Offsets"), i))

    qrs = wave("R", rpeak)
    assert qrs is not None  # it has its peak
    return Beat(qrs=qrs, p=wave("P", _at(waves.get("ECG_P_Peaks"), i)), t=wave("T", _at(waves.get("ECG_T_Peaks"), i)))


def load_neurokit2() -> Delineator:
    """NeuroKit2 DWT delineation per lead; globals from its waves as for the reference; rate from lead II."""
    import neurokit2 as nk

    def run(record: Record) -> DelineatorOutput:
        out = DelineatorOutput()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for lead, signal in zip(record.leads, record.signal):
                beats, failure = neurokit2_lead_beats(nk, np.asarray(signal, dtype=float), record.fs)
                out.lead_beats[lead] = beats
                if failure:
                    out.lead_failures[lead] = failure
        lead_ii = [b.position for b in out.lead_beats.get("II", []) if b.position is not None]
        out.qrs_samples = lead_ii
        out.heart_rate_bpm = heart_rate_bpm(lead_ii, record.fs)
        out.globals_ms = global_intervals_ms(group_beats(out.lead_beats, record.fs), record.fs)
        return out

    return Delineator("neurokit2", run, provides_axis=False)


DELINEATOR_LOADERS: dict[str, Callable[[], Delineator]] = {"ours": load_ours, "neurokit2": load_neurokit2}


def load_delineators(names: Sequence[str]) -> tuple[list[Delineator], dict[str, str]]:
    """The delineators that import, and name -> why for those skipped (so NeuroKit2 runs alone today)."""
    loaded, skipped = [], {}
    for name in names:
        if name not in DELINEATOR_LOADERS:
            raise SystemExit(f"Unknown delineator {name!r}; known: {', '.join(DELINEATOR_LOADERS)}.")
        try:
            loaded.append(DELINEATOR_LOADERS[name]())
        except Exception as exc:  # noqa: BLE001 - a half-written package may raise anything on import
            skipped[name] = f"{type(exc).__name__}: {exc}"
    return loaded, skipped


# -- metrics --------------------------------------------------------------------------------------


def match_events(reference: Sequence[int], detected: Sequence[int], tolerance: float) -> list[tuple[int, int]]:
    """One-to-one (reference index, detected index) pairs within ``tolerance`` samples, closest pairs first."""
    pairs = sorted(
        (abs(d - r), i, j) for i, r in enumerate(reference) for j, d in enumerate(detected) if abs(d - r) <= tolerance
    )
    used_ref, used_det, matches = set(), set(), []
    for _, i, j in pairs:
        if i not in used_ref and j not in used_det:
            used_ref.add(i)
            used_det.add(j)
            matches.append((i, j))
    return sorted(matches)


def detection_counts(reference: Sequence[int], detected: Sequence[int], tolerance: float) -> tuple[int, int, int]:
    """(TP, FN, FP) of QRS detections; detections outside the annotated span +- tolerance are ignored."""
    if not reference:
        return 0, 0, 0
    lo, hi = min(reference) - tolerance, max(reference) + tolerance
    inside = [d for d in detected if lo <= d <= hi]
    tp = len(match_events(reference, inside, tolerance))
    return tp, len(reference) - tp, len(inside) - tp


def se_ppv(tp: int, fn: int, fp: int) -> tuple[float | None, float | None]:
    """Sensitivity and positive predictive value in %, None when undefined."""
    se = 100.0 * tp / (tp + fn) if tp + fn else None
    ppv = 100.0 * tp / (tp + fp) if tp + fp else None
    return se, ppv


def mean_sd(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean and sample SD (ddof=1, as agreement studies report it) and n; None where undefined."""
    n = len(values)
    mean = float(np.mean(values)) if n else None
    sd = float(np.std(values, ddof=1)) if n > 1 else None
    return {"mean": mean, "sd": sd, "n": n}


@dataclass
class PointTally:
    """Errors (ms) of one fiducial point over many lead-beats, and the annotated points not found."""

    errors_ms: list[float] = field(default_factory=list)
    missed: int = 0
    extra: int = 0

    def merge(self, other: PointTally) -> None:
        self.errors_ms.extend(other.errors_ms)
        self.missed += other.missed
        self.extra += other.extra

    def summary(self) -> dict[str, Any]:
        return {**mean_sd(self.errors_ms), "missed": self.missed, "extra": self.extra,
                "annotated": len(self.errors_ms) + self.missed}


def point_key(wave: str, point: str) -> str:
    return f"{wave}_{point}"


def lead_point_errors(reference: Sequence[Beat], detected: Sequence[Beat], fs: float,
                      tolerance_ms: float = MATCH_TOLERANCE_MS) -> dict[str, PointTally]:
    """Per fiducial point: errors on beats matched by QRS on one lead; unmatched annotated beats are missed."""
    ref_pos = [b.position for b in reference]
    det = [b for b in detected if b.position is not None]
    pairs = dict(match_events(ref_pos, [b.position for b in det], tolerance_ms * fs / 1000.0))
    tallies = {point_key(w, p): PointTally() for w, p in WAVE_POINTS}
    for i, ref_beat in enumerate(reference):
        det_beat = det[pairs[i]] if i in pairs else None
        for w, p in WAVE_POINTS:
            tally, truth = tallies[point_key(w, p)], ref_beat.point(w, p)
            found = det_beat.point(w, p) if det_beat else None
            if truth is not None and found is not None:
                tally.errors_ms.append((found - truth) * 1000.0 / fs)
            elif truth is not None:
                tally.missed += 1
            elif found is not None:
                tally.extra += 1
    return tallies


def record_point_errors(reference: RecordReference, output: DelineatorOutput) -> dict[str, PointTally]:
    """lead_point_errors summed over the 12 leads of one record (a lead the delineator lacks is all missed)."""
    total = {point_key(w, p): PointTally() for w, p in WAVE_POINTS}
    for lead, ref_beats in reference.lead_beats.items():
        for key, tally in lead_point_errors(ref_beats, output.lead_beats.get(lead, []), reference.fs).items():
            total[key].merge(tally)
    return total


def global_differences(pairs: Sequence[tuple[float | None, float | None]]) -> dict[str, Any]:
    """(reference, delineator) values of one global measure over records -> mean/SD of differences.

    ``none`` counts records with a reference value but no delineator value; ``extra`` the reverse.
    """
    diffs = [d - r for r, d in pairs if r is not None and d is not None]
    return {**mean_sd(diffs),
            "none": sum(1 for r, d in pairs if r is not None and d is None),
            "extra": sum(1 for r, d in pairs if r is None and d is not None),
            "reference_n": sum(1 for r, _ in pairs if r is not None)}


def heart_rate_summary(pairs: Sequence[tuple[float | None, float | None]],
                       tolerance_bpm: float = HR_TOLERANCE_BPM) -> dict[str, Any]:
    """Rate error (bpm) and the share of records with a reference rate whose rate is within tolerance."""
    summary = global_differences(pairs)
    within = sum(1 for r, d in pairs if r is not None and d is not None and abs(d - r) <= tolerance_bpm)
    n_ref = summary["reference_n"]
    return {**summary, "within": within, "within_pct": 100.0 * within / n_ref if n_ref else None}


def axis_summary(pairs: Sequence[tuple[str | None, str | None]], provided: bool) -> dict[str, Any]:
    """(LUDB category, delineator category) over records -> accuracy and confusion (rows: LUDB)."""
    if not provided:
        return {"provided": False}
    labelled = [(r, d) for r, d in pairs if r is not None]
    scored = [(r, d) for r, d in labelled if d is not None]
    confusion = {r: {d: 0 for d in AXIS_CATEGORIES} for r in ("normal", "left", "right")}
    for r, d in scored:
        confusion[r][d] += 1
    correct = sum(1 for r, d in scored if r == d)
    return {"provided": True, "n": len(scored), "correct": correct, "none": len(labelled) - len(scored),
            "accuracy_pct": 100.0 * correct / len(scored) if scored else None, "confusion": confusion}


# -- the IEC 60601-2-25 targets -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One acceptance target: a value read from a delineator's summary and its limit."""

    label: str
    value: Callable[[dict[str, Any]], float | None]
    limit: float
    at_least: bool  # True: value >= limit passes; False: value <= limit passes
    unit: str

    def check(self, summary: dict[str, Any]) -> dict[str, Any]:
        value = self.value(summary)
        passed = None if value is None else (value >= self.limit if self.at_least else value <= self.limit)
        return {"target": self.label, "value": value, "limit": self.limit, "unit": self.unit,
                "comparison": ">=" if self.at_least else "<=", "passed": passed}


def _abs_mean(name: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda s: None if s["globals"][name]["mean"] is None else abs(s["globals"][name]["mean"])


def _sd(name: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda s: s["globals"][name]["sd"]


IEC_LIMITS_MS: dict[str, tuple[float, float]] = {  # |mean difference|, SD of differences
    "p_duration_ms": (10.0, 15.0), "pr_ms": (10.0, 10.0), "qrs_ms": (6.0, 10.0), "qt_ms": (12.0, 30.0),
}
IEC_TARGETS: tuple[Target, ...] = (
    *(t for name, (m, sd) in IEC_LIMITS_MS.items() for t in (
        Target(f"{GLOBAL_LABELS[name]} |mean diff|", _abs_mean(name), m, False, "ms"),
        Target(f"{GLOBAL_LABELS[name]} SD of diff", _sd(name), sd, False, "ms"))),
    Target("QRS sensitivity", lambda s: s["qrs_detection"]["se_pct"], 99.5, True, "%"),
    Target("QRS PPV", lambda s: s["qrs_detection"]["ppv_pct"], 99.5, True, "%"),
    Target(f"HR within {HR_TOLERANCE_BPM:g} bpm", lambda s: s["heart_rate"]["within_pct"], 98.0, True, "% of records"),
)


def check_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [t.check(summary) for t in IEC_TARGETS]


# -- running and summarising ----------------------------------------------------------------------


def run_delineator(delineator: Delineator,
                   records: dict[str, Record]) -> tuple[dict[str, DelineatorOutput], list[float]]:
    """Outputs by record id and seconds per record; a record the delineator raises on becomes an empty output."""
    outputs, seconds = {}, []
    for record_id, record in records.items():
        start = time.perf_counter()
        try:
            outputs[record_id] = delineator.run(record)
        except Exception as exc:  # noqa: BLE001 - one bad record must not hide the other 39
            outputs[record_id] = DelineatorOutput(error=f"{type(exc).__name__}: {exc}")
        seconds.append(time.perf_counter() - start)
    return outputs, seconds


def summarise(delineator: Delineator, references: dict[str, RecordReference],
              outputs: dict[str, DelineatorOutput]) -> dict[str, Any]:
    """All metrics of one delineator over the records."""
    tp = fn = fp = 0
    points = {point_key(w, p): PointTally() for w, p in WAVE_POINTS}
    for record_id, ref in references.items():
        out = outputs[record_id]
        counts = detection_counts(ref.beat_samples, out.qrs_samples, MATCH_TOLERANCE_MS * ref.fs / 1000.0)
        tp, fn, fp = tp + counts[0], fn + counts[1], fp + counts[2]
        for key, tally in record_point_errors(ref, out).items():
            points[key].merge(tally)
    se, ppv = se_ppv(tp, fn, fp)
    pairs = [(references[r], outputs[r]) for r in references]
    summary = {
        "qrs_detection": {"tp": tp, "fn": fn, "fp": fp, "se_pct": se, "ppv_pct": ppv},
        "wave_points_ms": {key: tally.summary() for key, tally in points.items()},
        "globals": {name: global_differences([(r.globals_ms[name], o.globals_ms.get(name)) for r, o in pairs])
                    for name in GLOBAL_NAMES},
        "heart_rate": heart_rate_summary([(r.heart_rate_bpm, o.heart_rate_bpm) for r, o in pairs]),
        "axis": axis_summary([(r.axis_category, axis_category(o.qrs_axis_deg)) for r, o in pairs],
                             delineator.provides_axis),
        "lead_failures": sum(len(o.lead_failures) for o in outputs.values()),
        "record_failures": sum(1 for o in outputs.values() if o.error),
    }
    summary["targets"] = check_targets(summary)
    return summary


def reference_summary(references: dict[str, RecordReference]) -> dict[str, Any]:
    """What the reference holds: records, beats, annotated points, records with each global value."""
    points = Counter()
    for ref in references.values():
        for beats in ref.lead_beats.values():
            for beat in beats:
                for w, p in WAVE_POINTS:
                    points[point_key(w, p)] += beat.point(w, p) is not None
    return {
        "records": len(references),
        "annotated_beats": sum(len(r.beat_samples) for r in references.values()),
        "annotated_lead_beats": sum(len(b) for r in references.values() for b in r.lead_beats.values()),
        "annotated_points": dict(points),
        "records_with_value": {n: sum(r.globals_ms[n] is not None for r in references.values()) for n in GLOBAL_NAMES},
        "axis_labels": dict(Counter(r.axis_text or "(none)" for r in references.values())),
        "axis_mapping": dict(LUDB_AXIS_CATEGORIES),
        "paced_records": [r.record_id for r in references.values() if r.paced],
    }


def per_record(references: dict[str, RecordReference], outputs: dict[str, dict[str, DelineatorOutput]],
               seconds: dict[str, list[float]]) -> dict[str, Any]:
    """Per record: the reference's and every delineator's values, detection counts and failures (for debugging)."""
    rows = {}
    for k, (record_id, ref) in enumerate(references.items()):
        row = {"rhythm": ref.rhythm, "paced": ref.paced, "axis_text": ref.axis_text,
               "reference": {**_rounded(ref.globals_ms), "heart_rate_bpm": _round(ref.heart_rate_bpm),
                             "beats": len(ref.beat_samples), "axis_category": ref.axis_category}}
        for name, outs in outputs.items():
            out = outs[record_id]
            tp, fn, fp = detection_counts(ref.beat_samples, out.qrs_samples, MATCH_TOLERANCE_MS * ref.fs / 1000.0)
            row[name] = {**_rounded(out.globals_ms), "heart_rate_bpm": _round(out.heart_rate_bpm),
                         "qrs_axis_deg": _round(out.qrs_axis_deg), "tp": tp, "fn": fn, "fp": fp,
                         "lead_failures": out.lead_failures, "error": out.error,
                         "seconds": _round(seconds[name][k], 3)}
        rows[record_id] = row
    return rows


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _rounded(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: _round(v) for k, v in values.items()}


# -- the printed table ----------------------------------------------------------------------------


def _fmt_mean_sd(s: dict[str, Any], digits: int = 1) -> str:
    if not s["n"]:
        return "-"
    sd = "-" if s["sd"] is None else f"{s['sd']:.{digits}f}"
    return f"{s['mean']:+.{digits}f} ± {sd}"


def _fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def report_rows(summaries: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(row label, one cell per delineator) for the printed table; section rows have no cells."""
    names = list(summaries)
    rows: list[tuple[str, list[str]]] = [("QRS detection (75 ms)", [])]
    for label, key in (("sensitivity", "se_pct"), ("PPV", "ppv_pct")):
        rows.append((label, [_fmt_pct(summaries[n]["qrs_detection"][key]) for n in names]))
    rows.append(("TP / FN / FP", ["{tp} / {fn} / {fp}".format(**summaries[n]["qrs_detection"]) for n in names]))
    rows.append(("Per-lead errors, ms: mean ± SD (n, missed)", []))
    for w, p in WAVE_POINTS:
        key = point_key(w, p)
        cells = [f"{_fmt_mean_sd(summaries[n]['wave_points_ms'][key])} ({summaries[n]['wave_points_ms'][key]['n']}, "
                 f"{summaries[n]['wave_points_ms'][key]['missed']})" for n in names]
        rows.append((f"{w.upper() if w != 'qrs' else 'QRS'} {p}", cells))
    rows.append(("Global, ms: mean ± SD of diff (n, none)", []))
    for name in GLOBAL_NAMES:
        cells = [f"{_fmt_mean_sd(summaries[n]['globals'][name])} ({summaries[n]['globals'][name]['n']}, "
                 f"{summaries[n]['globals'][name]['none']})" for n in names]
        rows.append((GLOBAL_LABELS[name], cells))
    rows.append(("Heart rate", []))
    rows.append(("error, bpm (n, none)", [f"{_fmt_mean_sd(summaries[n]['heart_rate'], 2)} "
                                          f"({summaries[n]['heart_rate']['n']}, {summaries[n]['heart_rate']['none']})"
                                          for n in names]))
    rows.append((f"within {HR_TOLERANCE_BPM:g} bpm", [
        f"{summaries[n]['heart_rate']['within']}/{summaries[n]['heart_rate']['reference_n']} "
        f"({_fmt_pct(summaries[n]['heart_rate']['within_pct'])})" for n in names]))
    rows.append(("QRS axis category vs LUDB", []))
    rows.append(("accuracy (correct/n)", [_fmt_axis(summaries[n]["axis"]) for n in names]))
    rows.append(("Failures", []))
    rows.append(("leads / records", [f"{summaries[n]['lead_failures']} / {summaries[n]['record_failures']}"
                                     for n in names]))
    return rows


def _fmt_axis(axis: dict[str, Any]) -> str:
    if not axis["provided"]:
        return "not provided"
    return f"{_fmt_pct(axis['accuracy_pct'])} ({axis['correct']}/{axis['n']})"


def target_rows(summaries: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """The IEC 60601-2-25 table: per target, each delineator's value and PASS/FAIL."""
    rows = []
    for i, target in enumerate(IEC_TARGETS):
        cells = []
        for summary in summaries.values():
            result = summary["targets"][i]
            value = "-" if result["value"] is None else f"{result['value']:.2f}"
            verdict = {True: "PASS", False: "FAIL", None: "n/a"}[result["passed"]]
            cells.append(f"{value:>7} {verdict}")
        rows.append((f"{target.label} {'>=' if target.at_least else '<='} {target.limit:g} {target.unit}", cells))
    return rows


def format_table(title: str, names: Sequence[str], rows: Sequence[tuple[str, list[str]]]) -> str:
    """Rows with one column per delineator; a row without cells is a section heading."""
    label_w = max(len(r[0]) for r in rows) + 2
    col_w = max([len(n) for n in names] + [len(c) for _, cells in rows for c in cells]) + 2
    lines = [title, f"{'':<{label_w}}" + "".join(f"{n:>{col_w}}" for n in names)]
    for label, cells in rows:
        lines.append(label if not cells else f"  {label:<{label_w - 2}}" + "".join(f"{c:>{col_w}}" for c in cells))
    return "\n".join(lines)


def format_axis_confusion(name: str, axis: dict[str, Any]) -> str:
    if not axis["provided"]:
        return f"{name}: QRS axis not provided"
    title = f"{name}: QRS axis category, rows LUDB, columns measured"
    header = f"  {'':<8}" + "".join(f"{c:>9}" for c in AXIS_CATEGORIES)
    body = [f"  {r:<8}" + "".join(f"{axis['confusion'][r][c]:>9}" for c in AXIS_CATEGORIES) for r in axis["confusion"]]
    return "\n".join([title, header, *body])


# -- main -----------------------------------------------------------------------------------------


def load_records(data_dir: Path, ids: Sequence[str]) -> dict[str, Record]:
    """The signals, read as the project reads any ECG (ecgcore.read: mV, canonical leads)."""
    from ecgcore.io import read

    return {record_id: read(data_dir / "data" / f"{record_id}.hea") for record_id in ids}


def load_references(data_dir: Path, records: dict[str, Record]) -> dict[str, RecordReference]:
    table = read_ludb_table(data_dir)
    return {rid: load_reference(data_dir, rid, table.get(rid, {}), rec.fs) for rid, rec in records.items()}


def environment() -> dict[str, Any]:
    versions = {}
    for package in ("neurokit2", "PyWavelets", "numpy", "scipy", "wfdb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0], **versions}


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="the ludb_dev folder (RECORDS, ludb.csv, data/)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the full result")
    parser.add_argument("--delineators", default=",".join(DEFAULT_DELINEATORS),
                        help=f"comma-separated, from: {', '.join(DELINEATOR_LOADERS)}")
    parser.add_argument("--records", default=None, help="comma-separated record ids (default: all in RECORDS)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if not (args.data / "RECORDS").is_file():
        raise SystemExit(f"No LUDB folder at {args.data} (expected RECORDS, ludb.csv and data/).")
    delineators, skipped = load_delineators([n.strip() for n in args.delineators.split(",") if n.strip()])
    ids = args.records.split(",") if args.records else record_ids(args.data)
    records = load_records(args.data, ids)
    references = load_references(args.data, records)
    outputs, seconds, summaries = {}, {}, {}
    for delineator in delineators:
        outputs[delineator.name], seconds[delineator.name] = run_delineator(delineator, records)
        summaries[delineator.name] = summarise(delineator, references, outputs[delineator.name])
        summaries[delineator.name]["timing"] = {"total_s": sum(seconds[delineator.name]),
                                                "median_s_per_record": statistics.median(seconds[delineator.name])}
    result = {
        "config": {"data": str(args.data), "records": ids, "match_tolerance_ms": MATCH_TOLERANCE_MS,
                   "group_gap_ms": GROUP_GAP_MS, "hr_tolerance_bpm": HR_TOLERANCE_BPM,
                   "delineators": [d.name for d in delineators], "skipped": skipped},
        "environment": environment(),
        "reference": reference_summary(references),
        "delineators": summaries,
        "per_record": per_record(references, outputs, seconds),
    }
    print_report(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_json_safe(result), indent=1) + "\n")
    print(f"\nWrote {args.json}")
    return result


def print_report(result: dict[str, Any]) -> None:
    ref, summaries = result["reference"], result["delineators"]
    print(f"LUDB reference: {ref['records']} records, {ref['annotated_beats']} annotated beats "
          f"({ref['annotated_lead_beats']} lead-beats); records with a value: "
          + ", ".join(f"{GLOBAL_LABELS[n]} {c}" for n, c in ref["records_with_value"].items()))
    for name, why in result["config"]["skipped"].items():
        print(f"Skipped {name}: it cannot be imported ({why}).")
    if not summaries:
        return
    names = list(summaries)
    print()
    print(format_table("Accuracy against LUDB", names, report_rows(summaries)))
    print()
    print(format_table("IEC 60601-2-25 targets", names, target_rows(summaries)))
    print()
    for name in names:
        print(format_axis_confusion(name, summaries[name]["axis"]))
    print()
    for name in names:
        timing = summaries[name]["timing"]
        print(f"{name}: {timing['total_s']:.1f} s for {ref['records']} records "
              f"(median {1000 * timing['median_s_per_record']:.0f} ms per record)")


if __name__ == "__main__":
    main()
