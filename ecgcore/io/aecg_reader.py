"""HL7 v3 annotated ECG (aECG) XML, the FDA's submission format (namespace ``urn:hl7-org:v3``).

Layout we read (HL7 aECG implementation guide, 2005)::

    AnnotatedECG
      effectiveTime low | center                 (the document's time; fallback for the series')
      componentOf/timepointEvent/componentOf/subjectAssignment
        subject/trialSubject  id extension|root  (the subject identifier)
          subjectDemographicPerson               administrativeGenderCode, birthTime (name: never read)
        componentOf/clinicalTrial/location/trialSite/location/name
      location/testingSite/location/name
      controlVariable/relatedObservation         code 21612-7 "Reported Age", value PQ (unit a, mo ...)
      component/series                           (code RHYTHM)
        effectiveTime low                        (when the ECG was acquired)
        author/seriesAuthor                      manufacturedSeriesDevice: manufacturerModelName,
                                                 softwareName; manufacturerOrganization/name
        controlVariable                          filter settings (low pass, high pass, notch)
        component/sequenceSet                    (the first one is read)
          component/sequence  code=TIME_ABSOLUTE | TIME_RELATIVE
             value xsi:type=GLIST_TS | GLIST_PQ : head, increment value="0.002" unit="s"
          component/sequence  code=MDC_ECG_LEAD_I, MDC_ECG_LEAD_AVR, MDC_ECG_LEAD_V1 ...
             value xsi:type=SLIST_PQ : origin value/unit, scale value/unit, digits "12 15 -3 ..."
        subjectOf/annotationSet/component/annotation ...   (the rhythm's annotations)
        derivation/derivedSeries                 (code REPRESENTATIVE_BEAT: one averaged beat per lead,
                                                 its own sequenceSet and annotationSet)

Each sample is ``origin + scale * digit`` in the units of origin and scale (usually uV).
The sampling rate is ``1 / increment``. Leads outside the standard twelve (V3R, V7, Frank X/Y/Z
...) are dropped and listed in ``metadata['dropped_channels']``.

What the Record gets beyond the signal:

- ``device_reading``: the global annotations (not inside an ``MDC_ECG_BEAT`` annotation, no lead in
  their region of interest) of the representative beat's and the rhythm's annotation sets. MDC
  interval, rate and axis codes map to the ``GLOBAL_MEASURE_NAMES`` keys (``_MEASURE_BY_CODE``); the
  representative beat's value wins where both series state one. ``MDC_ECG_TIME_PD_QTc`` does not
  name its correction: it is stored as Bazett or Fridericia only when it equals that formula of the
  file's own QT and RR, otherwise in ``metadata['device_measurements_unmapped']`` with the other
  numeric annotations no table names. Statements come from rhythm codes (``MDC_ECG_RHY``, a readable
  text from ``_STATEMENT_TEXT``, else the code's displayName, else the raw code) and from the
  ``MDC_ECG_INTERPRETATION`` statements and summary (free text or coded); the interpretation
  *comment* is not kept (it can name the over-reader).
- ``acquisition``: the subject identifier, the series' (else the document's) effective time, the
  device, the trial and testing site names.
- ``age``/``sex``: a birth time becomes the age at acquisition and is not kept; else the reported
  age. ``name`` elements (subject, investigator, technician, annotation authors) are never read.
- ``metadata["device_median_beats"]``: ``{"fs", "leads": {lead: float32 mV array}, "fiducials"}`` from
  the representative beat series (fiducials: the P, QRS and T wave boundaries the file gives on the
  representative beat, as sample indices into it).
- ``metadata["device_filters"]`` (Hz) from the series' control variables; ``metadata["aecg_notes"]``
  lists what was read with a caveat or skipped (unit typos, non-numeric values).

Security: parsed by ``ecgcore.io.xml_safe`` (entity declarations and internal DTD subsets refused).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ecgcore.acquisition import Acquisition, DeviceReading, age_at
from ecgcore.errors import ECGFormatError
from ecgcore.io._common import (
    check_file_size,
    device_value_range,
    parse_sex,
    qtc_by_formula,
    resolve_fs,
    unit_scale_to_mv,
)
from ecgcore.io._finalize import finalize
from ecgcore.io.xml_safe import parse_xml_safely
from ecgcore.leads import canonical_lead_name, derive_limb_leads
from ecgcore.record import Record

SOURCE = "HL7 aECG"
NS = {"hl7": "urn:hl7-org:v3"}
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_LEAD_PREFIX = "MDC_ECG_LEAD_"
_TIME_S = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6}
_MEDIAN_SERIES_CODES = {"REPRESENTATIVE_BEAT", "MEDIAN_BEAT", "MEDIAN"}

# Global numeric annotations -> GLOBAL_MEASURES names (codes compared upper-case: files write
# MDC_ECG_TIME_PD_QTc). "qtc" is a QTc whose correction formula the code does not name.
_QTC_UNSPECIFIED = "qtc"
_MEASURE_BY_CODE = {
    "MDC_ECG_HEART_RATE": "heart_rate_bpm",
    "MDC_ECG_TIME_PD_RR": "rr_ms", "MDC_ECG_TIME_PD_RR_GL": "rr_ms",
    "MDC_ECG_TIME_PD_P": "p_duration_ms", "MDC_ECG_TIME_PD_P_GL": "p_duration_ms",
    "MDC_ECG_TIME_PD_PR": "pr_ms", "MDC_ECG_TIME_PD_PR_GL": "pr_ms",
    "MDC_ECG_TIME_PD_QRS": "qrs_ms", "MDC_ECG_TIME_PD_QRS_GL": "qrs_ms",
    "MDC_ECG_TIME_PD_QT": "qt_ms", "MDC_ECG_TIME_PD_QT_GL": "qt_ms",
    "MDC_ECG_TIME_PD_QTC": _QTC_UNSPECIFIED,
    "MDC_ECG_TIME_PD_QTCB": "qtc_bazett_ms", "MDC_ECG_TIME_PD_QTCF": "qtc_fridericia_ms",
    "MDC_ECG_ANGLE_P_FRONT": "p_axis_deg", "MDC_ECG_ANGLE_QRS_FRONT": "qrs_axis_deg",
    "MDC_ECG_ANGLE_T_FRONT": "t_axis_deg",
}
# Coded statements seen in the samples, as a cart prints them; other codes show their displayName,
# else the raw code.
_STATEMENT_TEXT = {
    "MDC_ECG_RHY_SINUS_RHY": "Sinus rhythm",
}
_RHYTHM_CODE = "MDC_ECG_RHY"
_INTERPRETATION_CODES = {"MDC_ECG_INTERPRETATION", "MDC_ECG_INTERPRETATION_STATEMENT",
                         "MDC_ECG_INTERPRETATION_SUMMARY"}
_BEAT_CODE = "MDC_ECG_BEAT"  # a container of one beat's waves and numerics: not global values
_WAVE_FIDUCIALS = {"MDC_ECG_WAVC_PWAVE": ("p_onset", "p_offset"), "MDC_ECG_WAVC_QRSWAVE": ("qrs_onset", "qrs_offset"),
                   "MDC_ECG_WAVC_TWAVE": ("t_onset", "t_offset")}
_BPM_UNITS = {"bpm", "/min", "1/min", "{beats}/min", "{beat}/min", "beats/min"}
_BPM_TYPOS = {"bmp"}  # AMPS CalECG2 writes unit="bmp" for the heart rate (hl7aecg-Example2.xml)
_DEG_UNITS = {"deg", "degree", "degrees", "°"}
_MS_PER_UNIT = {"ms": 1.0, "s": 1000.0}
_REPORTED_AGE_CODE = "21612-7"  # LOINC "Age - Reported"
_AGE_UNIT_YEARS = {"a": 1.0, "yr": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25, "h": 1 / 8766}
_FILTERS = {"MDC_ECG_CTL_VBL_ATTR_FILTER_LOW_PASS": ("lowpass_hz", "MDC_ECG_CTL_VBL_ATTR_FILTER_CUTOFF_FREQ"),
            "MDC_ECG_CTL_VBL_ATTR_FILTER_HIGH_PASS": ("highpass_hz", "MDC_ECG_CTL_VBL_ATTR_FILTER_CUTOFF_FREQ"),
            "MDC_ECG_CTL_VBL_ATTR_FILTER_NOTCH": ("mains_filter_hz", "MDC_ECG_CTL_VBL_ATTR_FILTER_NOTCH_FREQ")}
# HL7 TS: YYYYMMDD[HH[MM[SS[.fraction]]]][+-ZZzz]
_TS = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d+))?)?)?)?([+-]\d{4})?$")


def read_aecg(
    path: Path,
    *,
    fs: float | None = None,
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read the rhythm waveforms, the device's reading and the acquisition of an HL7 aECG XML file."""
    path = Path(path)
    check_file_size(path)
    root = parse_xml_safely(path.read_bytes(), path)
    if _local(root.tag) != "AnnotatedECG" or not root.tag.startswith("{urn:hl7-org:v3}"):
        raise ECGFormatError(f"{path.name} is XML but not an HL7 aECG document (root element {_local(root.tag)}).")

    series_list = root.findall("hl7:component/hl7:series", NS)
    if not series_list:
        raise ECGFormatError(f"{path.name}: no waveform series (component/series) in the aECG document.")
    series = next((s for s in series_list if _code(s) == "RHYTHM"), series_list[0])
    sequence_sets = series.findall("hl7:component/hl7:sequenceSet", NS)
    if not sequence_sets:
        raise ECGFormatError(f"{path.name}: the rhythm series has no sequenceSet.")
    file_fs, _, names, rows, dropped = _decode_sequence_set(sequence_sets[0], "", path)

    notes: list[str] = []
    metadata: dict[str, object] = {}
    if len(sequence_sets) > 1:
        notes.append(f"Read the first of {len(sequence_sets)} sequenceSets of the rhythm series.")
    doc_id = root.find("hl7:id", NS)
    if doc_id is not None and doc_id.get("root"):
        metadata["aecg_id"] = doc_id.get("root")
    filters = _filters(series)
    if filters:
        metadata["device_filters"] = filters
    median_series = next((d for d in series.findall("hl7:derivation/hl7:derivedSeries", NS)
                          if _code(d).upper() in _MEDIAN_SERIES_CODES), None)
    if median_series is not None:
        try:
            metadata["device_median_beats"] = _median_beats(median_series, path)
        except ECGFormatError as error:
            metadata["device_median_beats_note"] = f"Median beats not read: {error}"

    acquisition = _acquisition(root, series, notes)
    age = _age(root, acquisition.acquired_at, notes)
    reading = _device_reading(series, median_series, acquisition.device, metadata, notes)
    if notes:
        metadata["aecg_notes"] = notes
    gender = root.find(".//hl7:subjectDemographicPerson/hl7:administrativeGenderCode", NS)
    record = finalize(
        np.vstack(rows),
        resolve_fs(file_fs, fs, path),
        names,
        source=SOURCE,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        age=age,
        sex=parse_sex(gender.get("code")) if gender is not None else None,
        metadata=metadata,
        dropped_channels=dropped,
    )
    has_acquisition = any(v is not None for v in vars(acquisition).values())
    return record.replace(acquisition=acquisition if has_acquisition else None, device_reading=reading)


# -- waveforms ----------------------------------------------------------------------------------------
def _decode_sequence_set(
    sequence_set: ET.Element, kind: str, path: Path
) -> tuple[float | None, float, list[str], list[np.ndarray], list[str]]:
    """(fs, head in s of a relative time axis, lead names, one mV row per lead, sequences dropped)."""
    where = f"{kind} " if kind else ""
    increment_s: float | None = None
    head_s = 0.0
    names: list[str] = []
    rows: list[np.ndarray] = []
    dropped: list[str] = []
    for sequence in sequence_set.findall("hl7:component/hl7:sequence", NS):
        code = _code(sequence)
        value = sequence.find("hl7:value", NS)
        if value is None:
            continue
        if code.startswith("TIME_"):
            increment_s = _increment_s(value, path)
            head_s = _relative_head_s(value)
        elif code.startswith(_LEAD_PREFIX):
            lead = code[len(_LEAD_PREFIX):]
            if canonical_lead_name(lead) is None:
                dropped.append(code)
                continue
            names.append(lead)
            rows.append(_slist_pq_mv(value, f"{where}{code}", path))
        else:
            dropped.append(code or "(uncoded sequence)")
    if not rows:
        raise ECGFormatError(f"{path.name}: no standard ECG lead sequences (MDC_ECG_LEAD_I ... V6) found"
                             f"{' in the ' + kind + ' series' if kind else ''}.")
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        raise ECGFormatError(f"{path.name}: the {where}lead sequences have different lengths {sorted(lengths)}.")
    file_fs = 1.0 / increment_s if increment_s else None
    if file_fs is not None and abs(file_fs - round(file_fs)) < 1e-6 * file_fs:
        file_fs = float(round(file_fs))
    return file_fs, head_s, names, rows, dropped


def _median_beats(derived: ET.Element, path: Path) -> dict[str, Any]:
    """The representative beat as the other readers give it: fs, float32 mV per lead, fiducials."""
    sequence_set = derived.find("hl7:component/hl7:sequenceSet", NS)
    if sequence_set is None:
        raise ECGFormatError(f"{path.name}: the representative beat series has no sequenceSet.")
    fs, head_s, names, rows, _ = _decode_sequence_set(sequence_set, "representative beat", path)
    if fs is None:
        raise ECGFormatError(f"{path.name}: the representative beat series has no time sequence (no sampling rate).")
    leads: dict[str, np.ndarray] = {}
    for name, row in zip(names, rows):
        leads.setdefault(canonical_lead_name(name) or name, row.astype(np.float32))
    if {"I", "II"} <= set(leads):
        for name, row in derive_limb_leads(leads["I"], leads["II"]).items():
            leads.setdefault(name, row.astype(np.float32))
    out: dict[str, Any] = {"fs": fs, "leads": leads}
    fiducials = _fiducials(derived, fs, head_s, len(rows[0]))
    if fiducials:
        out["fiducials"] = fiducials
    return out


def _fiducials(derived: ET.Element, fs: float, head_s: float, n_samples: int) -> dict[str, int]:
    """P, QRS and T wave boundaries of the representative beat (global MDC_ECG_WAVC annotations with a
    relative-time region of interest), as sample indices into it."""
    out: dict[str, int] = {}
    for annotation in (a for aset in _annotation_sets(derived) for a in _global_annotations(aset)):
        if _code(annotation).upper() != "MDC_ECG_WAVC":
            continue
        value = annotation.find("hl7:value", NS)
        names = _WAVE_FIDUCIALS.get(((value.get("code") if value is not None else None) or "").upper())
        boundary = _time_boundary(annotation)
        if names is None or boundary is None:
            continue
        for name, edge in zip(names, ("low", "high")):
            seconds = _pq_seconds(boundary.find(f"hl7:{edge}", NS))
            if seconds is None or name in out:
                continue
            index = round((seconds - head_s) * fs)
            if 0 <= index < n_samples:
                out[name] = index
    return out


def _time_boundary(annotation: ET.Element) -> ET.Element | None:
    """The IVL_PQ value of a TIME_RELATIVE boundary of the annotation's region of interest."""
    for boundary in annotation.findall("hl7:support/hl7:supportingROI/hl7:component/hl7:boundary", NS):
        if _code(boundary) == "TIME_RELATIVE":
            return boundary.find("hl7:value", NS)
    return None


def _pq_seconds(element: ET.Element | None) -> float | None:
    if element is None:
        return None
    number = _finite(element.get("value"))
    factor = _TIME_S.get((element.get("unit") or "s").strip().lower())
    return number * factor if number is not None and factor is not None else None


def _filters(series: ET.Element) -> dict[str, float]:
    """Filter cut-offs in Hz from the series' control variables (MDC filter codes)."""
    out: dict[str, float] = {}
    for variable in series.findall("hl7:controlVariable/hl7:controlVariable", NS):
        known = _FILTERS.get(_code(variable).upper())
        if known is None:
            continue
        key, frequency_code = known
        for part in variable.findall("hl7:component/hl7:controlVariable", NS):
            value = part.find("hl7:value", NS)
            if _code(part).upper() != frequency_code or value is None:
                continue
            number = _finite(value.get("value"))
            if number is not None and number > 0 and (value.get("unit") or "Hz").strip().lower() == "hz":
                out[key] = number
    return out


# -- the device's reading ------------------------------------------------------------------------------
def _annotation_sets(series: ET.Element) -> list[ET.Element]:
    return series.findall("hl7:subjectOf/hl7:annotationSet", NS)


def _global_annotations(annotation_set: ET.Element) -> Iterator[ET.Element]:
    """Annotations of an annotation set that are about the whole ECG: not inside a beat (MDC_ECG_BEAT)
    and not tied to a lead by their region of interest. Nested annotations (an interpretation's
    statements) are walked without recursion, however deep the file nests them."""
    stack = [annotation_set]
    while stack:
        parent = stack.pop()
        children = parent.findall("hl7:component/hl7:annotation", NS)
        for annotation in reversed(children):  # popped in document order
            if _code(annotation).upper() == _BEAT_CODE or _has_lead(annotation):
                continue
            stack.append(annotation)
        if parent is not annotation_set:
            yield parent


def _has_lead(annotation: ET.Element) -> bool:
    return any(_code(boundary).startswith(_LEAD_PREFIX)
               for boundary in annotation.findall("hl7:support/hl7:supportingROI/hl7:component/hl7:boundary", NS))


def _authored_by_a_person(annotation_set: ET.Element) -> bool:
    """Whether the annotation set was authored by a person (an over-read), not a device. Only the
    element's presence is looked at: the person's name is never read."""
    path = "hl7:author/hl7:assignedEntity/hl7:assignedAuthorType/hl7:assignedPerson"
    return annotation_set.find(path, NS) is not None


class _Collected:
    """What the global annotations of one series say."""

    def __init__(self) -> None:
        self.measured: dict[str, tuple[float, str]] = {}  # name -> (value, code it came from)
        self.qtc: tuple[float, str] | None = None
        self.unmapped: dict[str, float] = {}
        self.statements: list[str] = []


def _collect(series: ET.Element, what: str, notes: list[str]) -> _Collected:
    found = _Collected()
    for annotation_set in _annotation_sets(series):
        before = (len(found.measured), found.qtc, len(found.unmapped), len(found.statements))
        _collect_set(annotation_set, found, what, notes)
        if _authored_by_a_person(annotation_set) and before != (
                len(found.measured), found.qtc, len(found.unmapped), len(found.statements)):
            notes.append(f"{what}: an annotation set authored by a person (an over-read), not the device, is "
                         "part of device_reading.")
    return found


def _collect_set(annotation_set: ET.Element, found: _Collected, what: str, notes: list[str]) -> None:
    for annotation in _global_annotations(annotation_set):
        code = _code(annotation).upper()
        value = annotation.find("hl7:value", NS)
        if value is None:
            continue
        if code == _RHYTHM_CODE or code in _INTERPRETATION_CODES:
            text = _statement(value)
            if text:
                found.statements.extend(line for line in text.splitlines() if line.strip())
            continue
        kind = value.get(_XSI_TYPE, "")
        if (kind and not kind.endswith("PQ")) or value.get("value") is None:
            continue  # coded or text annotations other than statements (beat and wave types ...)
        raw, unit = value.get("value", ""), (value.get("unit") or "").strip()
        number = _finite(raw)
        if number is None:
            notes.append(f"{what}: annotation {_code(annotation)} has the value {raw[:40]!r}, not a number; ignored.")
            continue
        name = _MEASURE_BY_CODE.get(code)
        if name is None:
            if number != 0 and code:
                found.unmapped.setdefault(f"{_code(annotation)} ({unit})" if unit else _code(annotation), number)
            continue
        if name == _QTC_UNSPECIFIED:
            if unit.lower() in ("", "ms") and 1 <= number <= 2000:
                found.qtc = found.qtc or (number, _code(annotation))
            continue
        converted = _in_units(name, number, unit, _code(annotation), notes)
        if converted is not None and name not in found.measured:
            found.measured[name] = (converted, _code(annotation))


def _statement(value: ET.Element) -> str | None:
    """The text of a rhythm or interpretation annotation's value: free text (ST), or a code (CE)
    shown as _STATEMENT_TEXT has it, else its displayName, else the code itself."""
    code = (value.get("code") or "").strip()
    display = " ".join((value.get("displayName") or "").split())
    if code:
        return _STATEMENT_TEXT.get(code.upper()) or display or code
    text = "\n".join(" ".join(line.split()) for line in "".join(value.itertext()).splitlines())
    return text.strip() or display or None


def _in_units(name: str, number: float, unit: str, label: str, notes: list[str]) -> float | None:
    """The value in the unit GLOBAL_MEASURES uses (bpm, ms, deg), or None when it cannot be."""
    lowered = unit.lower()
    if name.endswith("_axis_deg"):
        if lowered and lowered not in _DEG_UNITS:
            notes.append(f"{label} is stated in {unit!r}, not degrees; left out.")
            return None
    elif name == "heart_rate_bpm":
        if lowered in _BPM_TYPOS:
            notes.append(f"{label} is stated in {unit!r}, read as bpm (a producer's typo).")
        elif lowered and lowered not in _BPM_UNITS:
            notes.append(f"{label} is stated in {unit!r}, not per minute; left out.")
            return None
    else:
        factor = _MS_PER_UNIT.get(lowered or "ms")
        if factor is None:
            notes.append(f"{label} is stated in {unit!r}, not a time; left out.")
            return None
        number *= factor
    low, high = device_value_range(name)
    if not low <= number <= high:
        return None  # sentinels (-32768, 29999), 0 = not measured, nonsense
    return number


def _device_reading(series: ET.Element, median_series: ET.Element | None, device: str | None,
                    metadata: dict[str, object], notes: list[str]) -> DeviceReading | None:
    """Measurements from the representative beat's global annotations, then the rhythm's for what those
    lack; statements from both (rhythm first), each once."""
    sources = [(median_series, "representative beat")] if median_series is not None else []
    sources.append((series, "rhythm"))
    measured: dict[str, float] = {}
    unmapped: dict[str, float] = {}
    statements: list[str] = []
    qtc: float | None = None
    for element, what in sources:
        found = _collect(element, what, notes)
        for name, (value, code) in found.measured.items():
            if name not in measured:
                measured[name] = value
            elif measured[name] != value:
                notes.append(f"{code} is {measured[name]:g} in the representative beat's annotations and {value:g} "
                             f"in the {what}'s; the representative beat's is kept.")
        for key, value in found.unmapped.items():
            unmapped.setdefault(key, value)
        if qtc is None and found.qtc is not None:
            qtc = found.qtc[0]
        # the rhythm's statements (the rhythm code) read first, the representative beat's after them
        statements = found.statements + statements if what == "rhythm" else statements + found.statements
    if qtc is not None:
        by_formula = qtc_by_formula(qtc, measured, notes)
        for name, value in by_formula.items():
            measured.setdefault(name, value)
        if not by_formula:
            unmapped["QTc, formula not stated (ms)"] = qtc
    if unmapped:
        metadata["device_measurements_unmapped"] = unmapped
    statements = list(dict.fromkeys(statements))
    notes[:] = list(dict.fromkeys(notes))  # the same unit typo in both series is one note
    if not measured and not statements:
        return None
    return DeviceReading(measurements=measured, statements=tuple(statements),
                         source=f"{device or 'unknown device'} via HL7 aECG")


# -- acquisition and demographics ---------------------------------------------------------------------
def _acquisition(root: ET.Element, series: ET.Element, notes: list[str]) -> Acquisition:
    return Acquisition(
        patient_id=_subject_id(root),
        acquired_at=_acquired_at(root, series, notes),
        device=_device(series),
        site=_site(root),
    )


def _subject_id(root: ET.Element) -> str | None:
    """The trial subject's identifier: the id's extension, or its root when it has no extension."""
    for identifier in root.findall(".//hl7:trialSubject/hl7:id", NS):
        value = _clean(identifier.get("extension")) or _clean(identifier.get("root"))
        if value:
            return value
    return None


def _acquired_at(root: ET.Element, series: ET.Element, notes: list[str]) -> datetime | None:
    """The series' effective time (low, else center), else the document's, else the absolute time axis' head."""
    candidates = [series.find(f"hl7:effectiveTime/hl7:{edge}", NS) for edge in ("low", "center")]
    candidates += [root.find(f"hl7:effectiveTime/hl7:{edge}", NS) for edge in ("low", "center")]
    candidates += [sequence.find("hl7:value/hl7:head", NS)
                   for sequence in series.findall("hl7:component/hl7:sequenceSet/hl7:component/hl7:sequence", NS)
                   if _code(sequence) == "TIME_ABSOLUTE"]
    for element in candidates:
        text = _clean(element.get("value")) if element is not None else None
        if not text:
            continue
        stamp = _timestamp(text)
        if stamp is not None:
            return stamp
        notes.append(f"Unreadable effective time {text[:40]!r}; ignored.")
    return None


def _timestamp(text: str) -> datetime | None:
    """An HL7 TS (YYYYMMDDHHMMSS.fff, optional +-ZZzz offset) as a datetime; None if it is not one."""
    match = _TS.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        tz = None
        if offset:
            minutes = int(offset[1:3]) * 60 + int(offset[3:5])
            tz = timezone((-1 if offset[0] == "-" else 1) * timedelta(minutes=minutes))
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        int((fraction or "0")[:6].ljust(6, "0")), tzinfo=tz)
    except ValueError:
        return None


def _device(series: ET.Element) -> str | None:
    """"<manufacturer> <model> (software <version>)" from the series author."""
    author = series.find("hl7:author/hl7:seriesAuthor", NS)
    if author is None:
        return None
    manufacturer = _clean(author.findtext("hl7:manufacturerOrganization/hl7:name", namespaces=NS))
    model = _clean(author.findtext("hl7:manufacturedSeriesDevice/hl7:manufacturerModelName", namespaces=NS))
    software = _clean(author.findtext("hl7:manufacturedSeriesDevice/hl7:softwareName", namespaces=NS))
    device = " ".join(part for part in (manufacturer, model) if part)
    if software:
        device = f"{device} (software {software})" if device else f"software {software}"
    return device or None


def _site(root: ET.Element) -> str | None:
    """The trial site's name and, when different, the testing site's ("trial site, testing site")."""
    trial = root.find(".//hl7:clinicalTrial/hl7:location/hl7:trialSite", NS)
    testing = root.find("hl7:location/hl7:testingSite", NS)
    names = [_clean(site.findtext("hl7:location/hl7:name", namespaces=NS)) for site in (trial, testing)
             if site is not None]
    names = [n for n in names if n]
    if not names and trial is not None:
        identifier = trial.find("hl7:id", NS)
        extension = _clean(identifier.get("extension")) if identifier is not None else None
        return f"trial site {extension}" if extension else None
    return ", ".join(dict.fromkeys(names)) or None


def _age(root: ET.Element, acquired: datetime | None, notes: list[str]) -> float | None:
    """Age in whole years at acquisition from the birth time (never kept), else the reported age."""
    reported = _reported_age(root)
    birth_element = root.find(".//hl7:subjectDemographicPerson/hl7:birthTime", NS)
    birth_text = _clean(birth_element.get("value")) if birth_element is not None else None
    if birth_text and acquired is not None:
        birth = _timestamp(birth_text)
        if birth is None:
            notes.append("The subject's birth time is not a full date; age taken from the reported age if stated.")
        else:
            years = age_at(birth.replace(tzinfo=None), acquired.replace(tzinfo=None))
            if not 0 <= years <= 130:
                notes.append("The subject's birth time gives an implausible age at acquisition; age left out.")
                return None
            if reported is not None and abs(reported - years) >= 1:
                notes.append(f"The reported age ({reported:g} years) differs from the age at acquisition from the "
                             f"birth time ({years:g}); the latter is used.")
            return years
    return reported


def _reported_age(root: ET.Element) -> float | None:
    for observation in root.findall("hl7:controlVariable/hl7:relatedObservation", NS):
        value = observation.find("hl7:value", NS)
        if _code(observation) != _REPORTED_AGE_CODE or value is None:
            continue
        number = _finite(value.get("value"))
        factor = _AGE_UNIT_YEARS.get((value.get("unit") or "a").strip().lower())
        if number is not None and factor is not None and 0 <= number * factor <= 130:
            years = number * factor
            return float(years) if factor == 1.0 else round(years, 2)
    return None


# -- small helpers ------------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _code(element: ET.Element) -> str:
    code = element.find("hl7:code", NS)
    return (code.get("code") or "").strip() if code is not None else ""


def _clean(text: str | None) -> str | None:
    """Whitespace collapsed (producers wrap values over lines); None when nothing is left."""
    return " ".join(text.split()) or None if text is not None else None


def _finite(text: str | None) -> float | None:
    try:
        number = float(text) if text is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _float_attr(element: ET.Element | None, what: str, path: Path) -> tuple[float, str]:
    if element is None or element.get("value") is None:
        raise ECGFormatError(f"{path.name}: missing {what} value in the aECG waveform.")
    try:
        return float(element.get("value", "")), (element.get("unit") or "").strip()
    except ValueError:
        raise ECGFormatError(f"{path.name}: {what} value {element.get('value')!r} is not a number.") from None


def _increment_s(value: ET.Element, path: Path) -> float:
    """Sample spacing in seconds from a GLIST_TS/GLIST_PQ time sequence."""
    kind = value.get(_XSI_TYPE, "")
    if kind and not kind.endswith(("GLIST_TS", "GLIST_PQ")):
        raise ECGFormatError(f"{path.name}: time sequence of type {kind} is not supported (GLIST_TS/GLIST_PQ).")
    increment, unit = _float_attr(value.find("hl7:increment", NS), "time increment", path)
    factor = _TIME_S.get(unit.lower() or "s")
    if factor is None or increment <= 0:
        raise ECGFormatError(f"{path.name}: time increment {increment:g} {unit} is not usable.")
    return increment * factor


def _relative_head_s(value: ET.Element) -> float:
    """The head of a relative (GLIST_PQ) time axis in seconds; 0 for an absolute one."""
    if value.get(_XSI_TYPE, "").endswith("GLIST_TS"):
        return 0.0
    return _pq_seconds(value.find("hl7:head", NS)) or 0.0


def _slist_pq_mv(value: ET.Element, code: str, path: Path) -> np.ndarray:
    """One lead in mV from an SLIST_PQ value (origin + scale * digits)."""
    kind = value.get(_XSI_TYPE, "")
    if kind and not kind.endswith("SLIST_PQ"):
        raise ECGFormatError(f"{path.name}: lead {code} has value type {kind}; SLIST_PQ is expected.")
    origin, origin_unit = _float_attr(value.find("hl7:origin", NS), f"{code} origin", path)
    scale, scale_unit = _float_attr(value.find("hl7:scale", NS), f"{code} scale", path)
    origin_mv = unit_scale_to_mv(origin_unit or "uV")
    scale_mv = unit_scale_to_mv(scale_unit or "uV")
    if origin_mv is None or scale_mv is None:
        raise ECGFormatError(f"{path.name}: lead {code} has non-voltage units {origin_unit!r}/{scale_unit!r}.")
    digits_el = value.find("hl7:digits", NS)
    text = (digits_el.text or "") if digits_el is not None else ""
    try:
        digits = np.array(re.split(r"\s+", text.strip()), dtype=np.float64) if text.strip() else np.array([])
    except ValueError:
        raise ECGFormatError(f"{path.name}: lead {code} has non-numeric digits.") from None
    if digits.size == 0:
        raise ECGFormatError(f"{path.name}: lead {code} has no samples.")
    return origin * origin_mv + scale * scale_mv * digits


__all__ = ["read_aecg"]
