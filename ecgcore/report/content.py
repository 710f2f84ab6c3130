"""What a report prints besides the traces, as text: ``ReportContent`` and the lines it becomes.

``report_content(record, ...)`` gathers it from a record, its measurements and statements, the
model's prediction, the device's reading and (when a physician confirmed the ECG) a
``Confirmation``; ``ReportContent.lines()`` words it, block by block. The PDF only places these
lines, so what a report says can be tested without reading a PDF, and the review store can fill
a ``Confirmation`` from its own tables.

Privacy: a report never prints the record's name (it can be a file name, which can hold an
identifier) nor ``Acquisition.patient_id``. The patient is shown as the pseudonym the caller
gives (the store's keyed-hash prefix), else ``—``. Should the raw identifier turn up inside any
printed text (a device statement, a site name), it is replaced by ``[identifier removed]``.
Every report prints the model's name and version (or says that no model was run) and the
research-software disclaimer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ecgcore.acquisition import DeviceReading
from ecgcore.measure_display import (
    acquisition_line,
    device_reading_title,
    flags,
    reasons_by_text,
    values_line,
)
from ecgcore.measurements import ALGORITHM_VERSION, Measurements, Statement, measure
from ecgcore.measurements import statements as measurement_statements
from ecgcore.record import Record
from ecgcore.report.layout import SHEET_COLUMNS, report_window

DISCLAIMER = ("Research software, not a medical device. The measurements, statements and model findings on this page "
              "are computer-generated and are not a diagnosis; they must be confirmed by a qualified physician.")
UNCONFIRMED = "UNCONFIRMED"
NO_PSEUDONYM = "—"
REMOVED = "[identifier removed]"
MAX_FINDINGS = 8  # positive findings printed; the rest are counted
TOP_WHEN_NONE_POSITIVE = 3  # highest findings printed when none reaches its threshold
MIN_SCRUBBED_ID_LENGTH = 4  # shorter identifiers would match ordinary numbers on the page

Style = str  # "title", "strong", "alert", "normal", "small"


@dataclass(frozen=True)
class Confirmation:
    """A physician's confirmation of the ECG: the statements as confirmed, who, when, which version."""

    statements: tuple[str, ...]
    confirmed_by: str  # the confirming user as the store names them (never the patient)
    role: str | None = None  # "cardiologist"
    confirmed_at: datetime | None = None
    version: int | None = None  # the report's version: 2 after one amendment
    conclusion: str | None = None  # the physician's free-text conclusion, if any

    def __post_init__(self) -> None:
        object.__setattr__(self, "statements", tuple(self.statements))

    def line(self) -> str:
        """``"Confirmed by dr.ada (cardiologist), 2026-07-01 14:03 UTC, report version 2"``."""
        who = self.confirmed_by.strip() + (f" ({self.role.strip()})" if self.role and self.role.strip() else "")
        parts = [f"Confirmed by {who}"]
        if self.confirmed_at is not None:
            parts.append(format_time(self.confirmed_at))
        if self.version is not None:
            parts.append(f"report version {self.version}")
        return ", ".join(parts)


@dataclass(frozen=True)
class FindingLine:
    """One model finding as printed."""

    label: str
    probability: float
    threshold: float
    positive: bool

    def text(self) -> str:
        return f"{self.label}  {self.probability:.2f} (threshold {self.threshold:.2f})"


@dataclass(frozen=True)
class Line:
    """One printed line (before wrapping) and how it looks."""

    text: str
    style: Style = "normal"
    bullet: bool = False


@dataclass(frozen=True)
class ReportContent:
    """Everything a report prints besides the traces; no identifier, no record name."""

    pseudonym: str = NO_PSEUDONYM
    age: float | None = None
    sex: str | None = None
    acquired_at: datetime | None = None
    device: str | None = None
    site: str | None = None
    measurement_line: str = ""  # the cart line; "" when nothing was measured
    measurement_remarks: tuple[str, ...] = ()  # flags, why values are missing, notes
    measurement_version: str | None = ALGORITHM_VERSION
    statements: tuple[str, ...] = ()  # measurement-based, with their criteria
    confirmation: Confirmation | None = None
    model: str | None = None  # "name vX.Y.Z"; None: no model was run
    findings: tuple[FindingLine, ...] = ()
    findings_note: str = ""
    device_title: str | None = None  # set when the file had a device reading
    device_line: str = ""
    device_statements: tuple[str, ...] = ()
    window_note: str = ""  # "10.0 s from 0.0 s of a 10.0-s record, 500 Hz"
    leads_note: str = ""  # which leads are printed when not the 12
    signal_note: str = "signal as recorded"  # or the display filter applied
    software: str = ""
    disclaimer: str = DISCLAIMER

    # -- the lines, block by block -------------------------------------------------------------
    def patient_line(self) -> str:
        parts = [f"Patient {self.pseudonym or NO_PSEUDONYM}",
                 f"age {self.age:g}" if self.age is not None else "age —",
                 f"sex {self.sex}" if self.sex else "sex —"]
        return " · ".join(parts)

    def top_lines(self) -> list[Line]:
        """Under the title: acquisition, then the measurement line with its remarks."""
        acquisition = acquisition_line(self.acquired_at, self.device, self.site) or "Acquisition time and device unknown"
        lines = [Line(acquisition)]
        measured = self.measurement_line or "not measured"
        version = f" (algorithm {self.measurement_version})" if self.measurement_version else ""
        lines.append(Line(f"Measurements{version}: {measured}", "strong"))
        if self.measurement_remarks:
            lines.append(Line("; ".join(self.measurement_remarks), "small"))
        return lines

    def interpretation_lines(self) -> list[Line]:
        """The left column: the confirmation (or UNCONFIRMED) and the statements."""
        lines: list[Line] = []
        if self.confirmation is None:
            lines.append(Line(f"{UNCONFIRMED}: not reviewed by a physician", "alert"))
        else:
            lines.append(Line(self.confirmation.line(), "strong"))
            lines += [Line(s, bullet=True) for s in self.confirmation.statements] or [Line("no statement", "small")]
            if self.confirmation.conclusion and self.confirmation.conclusion.strip():
                lines.append(Line(f"Conclusion: {self.confirmation.conclusion.strip()}"))
        lines.append(Line("Measurement-based statements (computer):", "strong"))
        lines += [Line(s, bullet=True) for s in self.statements] or [Line("none", "small")]
        return lines

    def model_lines(self) -> list[Line]:
        """The right column's first block: the model's name and version, its findings."""
        if self.model is None:
            return [Line("Model: not run for this report", "strong")]
        lines = [Line(f"Model {self.model}: findings", "strong")]
        lines += [Line(f.text(), bullet=True) for f in self.findings]
        if self.findings_note:
            lines.append(Line(self.findings_note, "small"))
        return lines

    def device_lines(self) -> list[Line]:
        """The right column's second block: the device's own reading, when the file had one."""
        if self.device_title is None:
            return []
        lines = [Line(self.device_title, "strong")]
        if self.device_line:
            lines.append(Line(self.device_line))
        lines += [Line(s, bullet=True) for s in self.device_statements]
        return lines

    def footer_lines(self) -> list[Line]:
        notes = " · ".join(n for n in ("25 mm/s · 10 mm/mV", self.window_note, self.signal_note, self.leads_note) if n)
        return [Line(notes + (f"  —  {self.software}" if self.software else ""), "small"),
                Line(self.disclaimer, "strong")]

    def text(self) -> str:
        """Every printed string, one per line (what the PDF's text layer holds, before wrapping)."""
        blocks = [[Line(self.patient_line())], self.top_lines(), self.interpretation_lines(), self.model_lines(),
                  self.device_lines(), self.footer_lines()]
        return "\n".join(line.text for block in blocks for line in block)


# -- building it ---------------------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """``2026-07-01 14:03`` plus ``UTC`` or the offset when the time carries a zone."""
    text = f"{value:%Y-%m-%d %H:%M}"
    offset = value.utcoffset()
    if offset is None:
        return text
    return text + (" UTC" if not offset else f" {value:%z}")


def findings_lines(prediction, max_findings: int = MAX_FINDINGS) -> tuple[tuple[FindingLine, ...], str]:
    """The findings to print (positives first, trained labels only) and a note on what was left out."""
    findings = [f for f in prediction.findings if getattr(f, "trained", True)]
    positives = [f for f in findings if f.positive]
    if positives:
        shown = positives[:max_findings]
        more = len(positives) - len(shown)
        note = f"{more} more finding(s) at or above threshold not printed" if more else ""
    else:
        shown = findings[:TOP_WHEN_NONE_POSITIVE]
        note = "No finding at or above its threshold; the highest are shown." if findings else "No findings."
    return tuple(FindingLine(f.label, f.probability, f.threshold, f.positive) for f in shown), note


def filter_note(config=None) -> str:
    """``"filtered as the model sees it (0.67-40 Hz, 50 Hz notch, baseline removed)"``."""
    from ecgcore.preprocessing import DEFAULT_PREPROCESS

    c = config or DEFAULT_PREPROCESS
    low, high = c.bandpass_hz
    notch = f", {c.notch_hz:g} Hz notch" if c.notch_hz else ""
    return f"filtered as the model sees it ({low:g}-{high:g} Hz{notch}, baseline removed)"


def _leads_note(leads: Sequence[str]) -> str:
    if len(leads) == 1:
        return f"single-lead record ({leads[0]}): rhythm strip only"
    standard = [lead for column in SHEET_COLUMNS for lead in column]
    missing = [lead for lead in sorted(standard, key=standard.index) if lead not in leads]
    return f"{len(leads)} leads; not in the file: {', '.join(missing)}" if missing else ""


def _measurement_parts(measurements: Measurements | Mapping[str, float | None] | None) -> tuple[str, tuple[str, ...], str | None]:
    if measurements is None:
        return "", (), None
    if isinstance(measurements, Measurements):
        remarks = (*flags(measurements), *reasons_by_text(measurements), *(n.rstrip(".") for n in measurements.notes))
        return values_line(measurements.global_values()), tuple(remarks), measurements.algorithm_version
    return values_line(measurements), (), None


def _scrubber(patient_id: str | None):
    """A function that replaces the raw identifier wherever it stands as a token (case-insensitive)."""
    key = (patient_id or "").strip()
    if len(key) < MIN_SCRUBBED_ID_LENGTH:
        return lambda text: text
    pattern = re.compile(r"(?<![0-9A-Za-z])" + re.escape(key) + r"(?![0-9A-Za-z])", re.IGNORECASE)
    return lambda text: pattern.sub(REMOVED, text) if isinstance(text, str) else text


def scrubbed(content: ReportContent, patient_id: str | None) -> ReportContent:
    """``content`` with ``patient_id`` replaced in every printed string."""
    scrub = _scrubber(patient_id)
    changes = {}
    for name in ("pseudonym", "device", "site", "measurement_line", "model", "findings_note", "device_title",
                 "device_line", "window_note", "leads_note", "signal_note", "software", "disclaimer"):
        changes[name] = scrub(getattr(content, name))
    for name in ("measurement_remarks", "statements", "device_statements"):
        changes[name] = tuple(scrub(s) for s in getattr(content, name))
    changes["findings"] = tuple(replace(f, label=scrub(f.label)) for f in content.findings)
    if content.confirmation is not None:
        c = content.confirmation
        changes["confirmation"] = replace(c, statements=tuple(scrub(s) for s in c.statements),
                                          confirmed_by=scrub(c.confirmed_by), role=scrub(c.role),
                                          conclusion=scrub(c.conclusion))
    return replace(content, **changes)


def report_content(
    record: Record,
    *,
    measurements: Measurements | Mapping[str, float | None] | None = None,
    statements: Sequence[Statement | str] | None = None,
    prediction=None,
    model: str | None = None,
    confirmation: Confirmation | None = None,
    device_reading: DeviceReading | None = None,
    pseudonym: str | None = None,
    start_s: float | None = None,
    filtered: bool = False,
) -> ReportContent:
    """What the report of ``record`` prints.

    ``measurements``: a :class:`Measurements`, or values by ``GLOBAL_MEASURES`` name (e.g. the
    store's corrected ones); None measures the record on the printed window. ``statements``: the
    measurement-based statements (``Statement`` or text); None derives them from ``measurements``
    when that is a ``Measurements``. ``model`` names the model ("name vX") when ``prediction`` does
    not say it as wanted. ``device_reading`` defaults to the record's own. ``filtered``: whether
    the traces are drawn through the model's filters (the footer says which).
    """
    from ecgcore import __version__

    i0, i1 = report_window(record.n_samples, record.fs, start_s)
    if measurements is None:
        measurements = measure(record, start_s=i0 / record.fs)  # the printed window (a short record: all of it)
    if statements is None:
        statements = (measurement_statements(measurements, sex=record.sex, age=record.age)
                      if isinstance(measurements, Measurements) else ())
    statement_texts = tuple(s if isinstance(s, str) else f"{s.text} ({s.criterion_text})" for s in statements)
    line, remarks, version = _measurement_parts(measurements)

    findings: tuple[FindingLine, ...] = ()
    findings_note = ""
    model_name = model
    if prediction is not None:
        findings, findings_note = findings_lines(prediction)
        model_name = model or prediction.model

    reading = device_reading if device_reading is not None else record.device_reading
    acquisition = record.acquisition
    pseudonym = (pseudonym or "").strip() or NO_PSEUDONYM
    if acquisition is not None and acquisition.patient_id and pseudonym.upper() == acquisition.patient_id.strip().upper():
        raise ValueError("the pseudonym is the file's patient identifier; pass the store's keyed hash, or nothing")

    content = ReportContent(
        pseudonym=pseudonym,
        age=record.age,
        sex=record.sex,
        acquired_at=acquisition.acquired_at if acquisition else None,
        device=acquisition.device if acquisition else None,
        site=acquisition.site if acquisition else None,
        measurement_line=line,
        measurement_remarks=remarks,
        measurement_version=version,
        statements=statement_texts,
        confirmation=confirmation,
        model=model_name,
        findings=findings,
        findings_note=findings_note,
        device_title=device_reading_title(reading.source) if reading is not None else None,
        device_line=values_line(reading.measurements) if reading is not None and reading.measurements else "",
        device_statements=tuple(reading.statements) if reading is not None else (),
        window_note=(f"{(i1 - i0) / record.fs:.1f} s from {i0 / record.fs:.1f} s of a {record.duration_s:.1f}-s record, "
                     f"{record.fs:g} Hz"),
        leads_note=_leads_note(record.leads),
        signal_note=filter_note() if filtered else "signal as recorded",
        software=f"ecgcore {__version__}",
    )
    return scrubbed(content, acquisition.patient_id if acquisition else None)


__all__ = [
    "DISCLAIMER",
    "NO_PSEUDONYM",
    "UNCONFIRMED",
    "Confirmation",
    "FindingLine",
    "Line",
    "ReportContent",
    "findings_lines",
    "format_time",
    "report_content",
    "scrubbed",
]
