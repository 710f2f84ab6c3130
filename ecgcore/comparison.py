"""Comparison of an ECG with the same patient's prior ECG: what changed, in a table and in words.

    cmp = compare(current, prior)          # two ECGSide: measurements and statements with their sources
    for row in cmp.measurements:           # the table: every compared measure, with the difference
        print(row.label, row.prior, row.current, row.difference, row.changed)
    cmp.changes()                          # ["QRS widened by 34 ms since 2025-03-01",
                                           #  "atrial fibrillation: new", ...]

Pure logic: the store (``db.overread.compare_with_prior``) gathers both sides; nothing here reads a
database or a file.

**Measurements.** Each compared measure is "changed" when the difference between the two ECGs, on
the values as printed (whole bpm, ms and degrees), reaches its threshold in
:data:`CHANGE_THRESHOLDS`, the one table of them:

==================  ==========  ===================================================================
measure             changed at  why
==================  ==========  ===================================================================
heart rate          ±10 bpm     a conventional limit; rate changes with posture and time of day,
                                so smaller differences between two resting ECGs say nothing
PR                  ±20 ms      about twice the repeatability of automated PR between two ECGs of
                                the same person (~10 ms)
QRS                 ±20 ms      about twice the repeatability of automated QRS (~10 ms); a new
                                conduction delay widens QRS by more
QT                  ±30 ms      QT varies with rate; see QTc
QTc (both)          ±30 ms      ICH E14: a QTc increase above 30 ms is of potential concern
P, QRS, T axis      ±30°        one sector of the hexaxial reference system; axes are compared
                                modulo 360 (a change from +170° to -170° is 20°)
==================  ==========  ===================================================================

RR (the inverse of the rate) and P duration are not compared. A measure missing on either side is
shown with no difference and never "changed".

**Statements.** Each side's statements carry their source: ``"confirmed by dr.lee 2025-03-01"``
(a cardiologist's confirmed report), ``"model"`` (the model's positive findings) or
``"measurement"`` (the measurement-based statements of ``ecgcore.measurements.statements``).
Statements are matched on their text, upper-cased with white space collapsed and a leading
"WITH " (the ECGFounder vocabulary's modifier prefix) dropped, so a confirmed "ATRIAL FIBRILLATION"
matches the model's "ATRIAL FIBRILLATION"; measurement statements are matched through their
ECGFounder label where they have one (the store passes that label as their text). A statement of
the current ECG that the prior lacks is "new"; one of the prior ECG that the current lacks is "no
longer present". Each change names the source of the statement and what it was compared with
(:attr:`StatementChange.source`, :attr:`StatementChange.compared_with`), since "new" against a
prior that only the model read means less than against a confirmed report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from ecgcore.measurements.types import GLOBAL_MEASURE_BY_NAME


@dataclass(frozen=True)
class ChangeThreshold:
    """When one measure counts as changed, and how a change reads."""

    name: str  # GLOBAL_MEASURES name
    label: str  # as the change statement names it: "QRS", "QTc (Bazett)"
    threshold: float  # changed when |difference| >= threshold (units of the measure)
    increase: str  # verb for a larger value: "widened"; axes: "shifted"
    decrease: str  # verb for a smaller value: "narrowed"


CHANGE_THRESHOLDS: tuple[ChangeThreshold, ...] = (
    ChangeThreshold("heart_rate_bpm", "Heart rate", 10.0, "increased", "decreased"),
    ChangeThreshold("pr_ms", "PR", 20.0, "prolonged", "shortened"),
    ChangeThreshold("qrs_ms", "QRS", 20.0, "widened", "narrowed"),
    ChangeThreshold("qt_ms", "QT", 30.0, "prolonged", "shortened"),
    ChangeThreshold("qtc_bazett_ms", "QTc (Bazett)", 30.0, "prolonged", "shortened"),
    ChangeThreshold("qtc_fridericia_ms", "QTc (Fridericia)", 30.0, "prolonged", "shortened"),
    ChangeThreshold("p_axis_deg", "P axis", 30.0, "shifted", "shifted"),
    ChangeThreshold("qrs_axis_deg", "QRS axis", 30.0, "shifted", "shifted"),
    ChangeThreshold("t_axis_deg", "T axis", 30.0, "shifted", "shifted"),
)
CHANGE_THRESHOLD_BY_NAME: dict[str, ChangeThreshold] = {t.name: t for t in CHANGE_THRESHOLDS}
COMPARED_MEASURES: tuple[str, ...] = tuple(t.name for t in CHANGE_THRESHOLDS)

SOURCE_MODEL = "model"
SOURCE_MEASUREMENT = "measurement"
NEW = "new"
NO_LONGER_PRESENT = "no longer present"
_UNITS = {"bpm": " bpm", "ms": " ms", "deg": "°"}
# Abbreviations kept upper-case when an upper-case label is shown in words.
_ABBREVIATIONS = frozenset({"P", "Q", "R", "S", "T", "U", "AV", "SA", "QRS", "QT", "QTC", "PR", "ST", "LVH",
                            "RVH", "ECG", "RBBB", "LBBB", "WPW", "PVC", "PVCS", "PAC", "PACS", "AICD", "I", "II",
                            "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"})


def statement_key(text: str) -> str:
    """What statements are matched on: upper-case, white space collapsed, a leading "WITH " dropped."""
    return " ".join(str(text).upper().split()).removeprefix("WITH ")


def statement_words(text: str) -> str:
    """A statement as it reads in a change statement: "ATRIAL FIBRILLATION" -> "atrial fibrillation",
    "WITH 1ST DEGREE AV BLOCK" -> "1st degree AV block", "Wide QRS" -> "wide QRS"."""
    text = " ".join(str(text).split())
    letters = [ch for ch in text if ch.isalpha()]
    if letters and all(ch.isupper() for ch in letters):  # a vocabulary label
        if text.upper().startswith("WITH "):
            text = text[5:]
        words = [w if re.sub(r"[^A-Z0-9]", "", w) in _ABBREVIATIONS else w.lower() for w in text.split(" ")]
        words = [w.replace("AVR", "aVR").replace("AVL", "aVL").replace("AVF", "aVF").replace("QTC", "QTc")
                 for w in words]
        return " ".join(words)
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


@dataclass(frozen=True)
class SourcedStatement:
    """One statement of one ECG and where it comes from ("confirmed by ...", "model", "measurement")."""

    text: str
    source: str

    @property
    def key(self) -> str:
        return statement_key(self.text)


@dataclass(frozen=True)
class ECGSide:
    """What is known of one ECG for the comparison.

    ``measurements``: GLOBAL_MEASURES name -> value (None or absent: not known);
    ``measurement_sources``: name -> where that value comes from; ``statements`` with their
    sources; ``basis``: where the statements come from, in words (shown beside the comparison);
    ``acquired_at``: when it was recorded (the "since" date of the changes).
    """

    acquired_at: datetime | date | None = None
    measurements: Mapping[str, float | None] = field(default_factory=dict)
    measurement_sources: Mapping[str, str] = field(default_factory=dict)
    statements: tuple[SourcedStatement, ...] = ()
    basis: str = ""


@dataclass(frozen=True)
class MeasurementChange:
    """One row of the measurement table: both values, the difference and whether it counts as changed."""

    name: str
    label: str
    unit: str
    prior: float | None
    current: float | None
    difference: float | None  # current - prior as printed; axes: the signed angle in (-180, 180]
    threshold: float
    changed: bool
    text: str | None  # the change statement when changed: "QRS widened by 34 ms since 2025-03-01"
    prior_source: str | None = None
    current_source: str | None = None


@dataclass(frozen=True)
class StatementChange:
    """A statement that is new, or no longer present, with its source and what it was compared with."""

    statement: str  # as the side that has it states it
    change: str  # NEW or NO_LONGER_PRESENT
    source: str  # the source of the statement: "model", "measurement", "confirmed by dr.lee 2025-03-01"
    compared_with: str  # the other side's basis

    @property
    def text(self) -> str:
        """"atrial fibrillation: new"."""
        return f"{statement_words(self.statement)}: {self.change}"

    @property
    def text_with_source(self) -> str:
        """"atrial fibrillation: new (model; prior ECG: confirmed by dr.lee 2025-03-01)"."""
        if self.change == NEW:
            return f"{self.text} ({self.source}; prior ECG: {self.compared_with})"
        return f"{self.text} (prior ECG: {self.source}; now: {self.compared_with})"


@dataclass(frozen=True)
class Comparison:
    """An ECG against the prior one: the measurement table, statement changes, and each side's basis."""

    measurements: tuple[MeasurementChange, ...]
    statements: tuple[StatementChange, ...]
    unchanged_statements: tuple[str, ...]
    current_basis: str
    prior_basis: str
    prior_date: date | None

    @property
    def changed_measurements(self) -> tuple[MeasurementChange, ...]:
        return tuple(row for row in self.measurements if row.changed)

    def changes(self, *, with_sources: bool = False) -> list[str]:
        """The change statements in words: measurements (table order), then new statements, then the
        ones no longer present. ``with_sources``: each statement change says its source."""
        lines = [row.text for row in self.changed_measurements if row.text]
        for kind in (NEW, NO_LONGER_PRESENT):
            lines += [c.text_with_source if with_sources else c.text for c in self.statements if c.change == kind]
        return lines


def _as_date(when: datetime | date | None) -> date | None:
    if when is None:
        return None
    return when.date() if isinstance(when, datetime) else when


def _printed(value: float | None) -> float | None:
    """A value as printed (whole units), None for missing or not finite."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return float(round(number))


def axis_difference(current: float, prior: float) -> float:
    """The signed angle from ``prior`` to ``current`` in (-180, 180] degrees."""
    diff = -((-(float(current) - float(prior)) + 180.0) % 360.0 - 180.0)
    return 180.0 if diff == -180.0 else diff


def _signed(value: float) -> str:
    return f"+{value:g}" if value > 0 else f"{value:g}"


def _since(prior_date: date | None) -> str:
    return f"since {prior_date.isoformat()}" if prior_date is not None else "since the prior ECG"


def compare_measurement(name: str, current: float | None, prior: float | None, *,
                        prior_date: date | None = None, current_source: str | None = None,
                        prior_source: str | None = None) -> MeasurementChange:
    """One measure of two ECGs: the difference (as printed) and whether it reaches its threshold."""
    rule = CHANGE_THRESHOLD_BY_NAME[name]
    unit = GLOBAL_MEASURE_BY_NAME[name].unit
    now, before = _printed(current), _printed(prior)
    difference = changed = text = None
    if now is not None and before is not None:
        difference = axis_difference(now, before) if unit == "deg" else now - before
        changed = abs(difference) >= rule.threshold
        if changed:
            suffix = _UNITS[unit]
            if unit == "deg":
                text = (f"{rule.label} {rule.increase} by {_signed(difference)}{suffix} "
                        f"(from {_signed(before)}{suffix} to {_signed(now)}{suffix}) {_since(prior_date)}")
            else:
                verb = rule.increase if difference > 0 else rule.decrease
                text = f"{rule.label} {verb} by {abs(difference):g}{suffix} {_since(prior_date)}"
    return MeasurementChange(name=name, label=rule.label, unit=unit, prior=before, current=now, difference=difference,
                             threshold=rule.threshold, changed=bool(changed), text=text, prior_source=prior_source,
                             current_source=current_source)


def merge_statements(statements: Iterable[SourcedStatement]) -> tuple[SourcedStatement, ...]:
    """One statement per key, in first-seen order; a statement from several sources names them all
    ("model and measurement")."""
    merged: dict[str, SourcedStatement] = {}
    for statement in statements:
        if not statement.key:
            continue
        seen = merged.get(statement.key)
        if seen is None:
            merged[statement.key] = statement
        elif statement.source not in seen.source.split(" and "):
            merged[statement.key] = SourcedStatement(seen.text, f"{seen.source} and {statement.source}")
    return tuple(merged.values())


def compare(current: ECGSide, prior: ECGSide) -> Comparison:
    """Compare an ECG with the prior one (see the module docstring for the rules)."""
    prior_date = _as_date(prior.acquired_at)
    rows = tuple(compare_measurement(name, current.measurements.get(name), prior.measurements.get(name),
                                     prior_date=prior_date, current_source=current.measurement_sources.get(name),
                                     prior_source=prior.measurement_sources.get(name))
                 for name in COMPARED_MEASURES)
    now = {s.key: s for s in merge_statements(current.statements)}
    before = {s.key: s for s in merge_statements(prior.statements)}
    changes = [StatementChange(s.text, NEW, s.source, prior.basis) for key, s in now.items() if key not in before]
    changes += [StatementChange(s.text, NO_LONGER_PRESENT, s.source, current.basis)
                for key, s in before.items() if key not in now]
    unchanged = tuple(s.text for key, s in now.items() if key in before)
    return Comparison(measurements=rows, statements=tuple(changes), unchanged_statements=unchanged,
                      current_basis=current.basis, prior_basis=prior.basis, prior_date=prior_date)


__all__ = [
    "CHANGE_THRESHOLDS",
    "CHANGE_THRESHOLD_BY_NAME",
    "COMPARED_MEASURES",
    "NEW",
    "NO_LONGER_PRESENT",
    "SOURCE_MEASUREMENT",
    "SOURCE_MODEL",
    "ChangeThreshold",
    "Comparison",
    "ECGSide",
    "MeasurementChange",
    "SourcedStatement",
    "StatementChange",
    "axis_difference",
    "compare",
    "compare_measurement",
    "merge_statements",
    "statement_key",
    "statement_words",
]
