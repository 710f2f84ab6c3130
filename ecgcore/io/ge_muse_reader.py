"""GE MUSE "RestingECG" XML, as the MUSE ECG management system exports resting 12-lead ECGs.

Layout we read (MUSE 9; ``<!DOCTYPE RestingECG SYSTEM "restecg.dtd">``, ISO-8859-1)::

    RestingECG
      MuseInfo/MuseVersion
      PatientDemographics        PatientID, PatientAge + AgeUnits, DateofBirth, Gender
                                 (the name fields are never read)
      TestDemographics           AcquisitionDate (MM-DD-YYYY), AcquisitionTime, AcquisitionDevice,
                                 SiteName, LocationName, Status, software versions
      RestingECGMeasurements     the (possibly over-read) measurements; Original... the machine's
      Diagnosis                  DiagnosisStatement (StmtFlag*, StmtText): the edited/confirmed read
      OriginalDiagnosis          the machine's own statements
      QRSTimesTypes/GlobalRR     the device's RR in ms
      Waveform  WaveformType=Median   one averaged beat per lead (600 samples = 1.2 s at 500 Hz)
      Waveform  WaveformType=Rhythm   the 10 s recording: SampleBase * 10^SampleExponent Hz,
                LeadData: LeadID, LeadSampleCountTotal, LeadAmplitudeUnitsPerBit, LeadAmplitudeUnits,
                          LeadDataCRC32, WaveFormData (base64 of little-endian int16)

Usually 8 leads are stored (I, II, V1-V6); III, aVR, aVL, aVF are derived (``finalize``). Each sample
is ``value * LeadAmplitudeUnitsPerBit`` in ``LeadAmplitudeUnits`` (MICROVOLTS, 4.88 per bit).

What the Record gets beyond the signal:

- ``device_reading``: the measurements under the ``GLOBAL_MEASURE_NAMES`` keys (see ``_MEASURES``),
  the statements (``Diagnosis``) and the machine's original ones (``OriginalDiagnosis``) when they
  differ; statement fragments are joined into lines as MUSE prints them (``ENDSLINE`` ends a line).
  The over-reader's sign-off line ("Confirmed by <name> ...") is not kept: it is not an
  interpretation and it names a person.
- ``acquisition``: patient identifier, acquisition date and time, device, site.
- ``age``/``sex``: a date of birth becomes the age at acquisition and is not kept; the patient's
  name is never read.
- ``metadata["device_median_beats"]``: ``{"fs", "leads": {lead: float32 mV array}, "fiducials"}``
  (the 12 leads, with the 4 limb leads derived as for the rhythm; fiducials are sample indices
  into the median beat).

De-identified exports miss whole sections (demographics, diagnosis); those are simply absent
(``metadata["muse_missing_sections"]``). Ignored: ``MeasurementMatrix``, ``IntervalMeasurements``,
``PharmaData`` (its ECG ID embeds the cart and the acquisition time), ``ExtraQuestions`` (free text).

Integrity: every lead must decode to its declared sample count, all leads to the same count, and
to the ``LeadDataCRC32`` when the file gives one; otherwise the file is refused, never half read.
Security: parsed by ``ecgcore.io.xml_safe`` (entity declarations and internal DTD subsets refused;
the external ``restecg.dtd`` is never fetched).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import xml.etree.ElementTree as ET
import zlib
from datetime import date, datetime, time
from pathlib import Path

import numpy as np

from ecgcore.acquisition import Acquisition, DeviceReading, age_at
from ecgcore.errors import ECGFormatError
from ecgcore.io._common import (
    check_file_size,
    parse_age,
    parse_date,
    parse_date_time,
    parse_sex,
    resolve_fs,
    unit_scale_to_mv,
)
from ecgcore.io._finalize import finalize
from ecgcore.io.xml_safe import parse_xml_safely
from ecgcore.leads import canonical_lead_name, derive_limb_leads
from ecgcore.record import Record

SOURCE = "GE MUSE"
ROOT = "RestingECG"

# RestingECGMeasurements element -> GLOBAL_MEASURES name. QTCorrected is Bazett in GE 12SL (checked on
# the samples: QT 452 ms at 48 bpm -> 403 ms); "QTcFrederica" is GE's spelling.
_MEASURES: dict[str, str] = {
    "VentricularRate": "heart_rate_bpm",
    "PRInterval": "pr_ms",
    "QRSDuration": "qrs_ms",
    "QTInterval": "qt_ms",
    "QTCorrected": "qtc_bazett_ms",
    "QTcFrederica": "qtc_fridericia_ms",
    "PAxis": "p_axis_deg",
    "RAxis": "qrs_axis_deg",
    "TAxis": "t_axis_deg",
}
_FIDUCIALS = {"POnset": "p_onset", "POffset": "p_offset", "QOnset": "qrs_onset", "QOffset": "qrs_offset",
              "TOffset": "t_offset"}
_AGE_UNIT_YEARS = {"YEARS": 1.0, "MONTHS": 1 / 12, "WEEKS": 7 / 365.25, "DAYS": 1 / 365.25, "HOURS": 1 / 8766}
_OPTIONAL_SECTIONS = ("PatientDemographics", "TestDemographics", "RestingECGMeasurements", "Diagnosis",
                      "OriginalDiagnosis")
_SIGN_OFF = re.compile(r"^\s*(confirmed|overread|reviewed|edited)\s+by\b", re.IGNORECASE)
_WHITESPACE = b" \t\r\n\x0b\x0c"  # the line breaks inside WaveFormData's base64


def read_muse(
    path: Path,
    *,
    fs: float | None = None,
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read the rhythm waveform, the device's reading and the acquisition of a GE MUSE XML file."""
    path = Path(path)
    check_file_size(path)
    root = parse_xml_safely(path.read_bytes(), path)
    if root.tag != ROOT:
        raise ECGFormatError(
            f"{path.name} is XML but not a GE MUSE document (root element <{root.tag.rsplit('}', 1)[-1]}>; "
            f"GE MUSE XML has <{ROOT}>)."
        )
    waveforms = {(_text(w, "WaveformType") or "").lower(): w for w in root.findall("Waveform")}
    rhythm = waveforms.get("rhythm")
    if rhythm is None:
        found = ", ".join(sorted(t or "(untyped)" for t in waveforms)) or "none"
        raise ECGFormatError(
            f"{path.name}: no rhythm waveform (<Waveform> with <WaveformType>Rhythm</WaveformType>) in the "
            f"GE MUSE file (waveforms found: {found}); the rhythm waveform is the ECG signal that is read."
        )
    file_fs, names, rows, dropped = _decode_waveform(rhythm, "rhythm", path)

    acquisition = _acquisition(root)
    demographics = root.find("PatientDemographics")
    metadata: dict[str, object] = {"muse_version": _text(root, "MuseInfo/MuseVersion")}
    metadata.update(_filters(rhythm))
    missing = [s for s in _OPTIONAL_SECTIONS if root.find(s) is None]
    if missing:
        metadata["muse_missing_sections"] = missing
    status = _text(root, "TestDemographics/Status")
    if status:
        metadata["device_statement_status"] = status
    median = waveforms.get("median")
    if median is not None:
        try:
            metadata["device_median_beats"] = _median_beats(median, root, path)
        except ECGFormatError as error:
            metadata["device_median_beats_note"] = f"Median beats not read: {error}"
    original = _measurements(root.find("OriginalRestingECGMeasurements"), root, file_fs)
    reading = _device_reading(root, file_fs)
    if reading is not None and original and original != reading.measurements:
        metadata["device_original_measurements"] = original

    record = finalize(
        np.vstack(rows),
        resolve_fs(file_fs, fs, path),
        names,
        source=SOURCE,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        age=_age(demographics, acquisition.acquired_at),
        sex=parse_sex(_text(demographics, "Gender")) if demographics is not None else None,
        metadata={k: v for k, v in metadata.items() if v is not None},
        dropped_channels=dropped,
    )
    has_acquisition = any(v is not None for v in vars(acquisition).values())
    return record.replace(acquisition=acquisition if has_acquisition else None, device_reading=reading)


# -- waveforms ----------------------------------------------------------------------------------------
def _decode_waveform(
    waveform: ET.Element, kind: str, path: Path
) -> tuple[float, list[str], list[np.ndarray], list[str]]:
    """(fs, lead names, one mV row per lead, non-standard leads dropped) of one <Waveform>."""
    fs = _sampling_rate(waveform, kind, path)
    leads = waveform.findall("LeadData")
    if not leads:
        raise ECGFormatError(f"{path.name}: the {kind} waveform has no <LeadData> (no leads stored).")
    declared_leads = _int(waveform, "NumberofLeads", f"{kind} NumberofLeads", path)
    if declared_leads is not None and declared_leads != len(leads):
        raise ECGFormatError(
            f"{path.name}: the {kind} waveform declares {declared_leads} leads (NumberofLeads) but holds "
            f"{len(leads)} <LeadData>; the file is truncated or inconsistent."
        )
    names: list[str] = []
    rows: list[np.ndarray] = []
    dropped: list[str] = []
    for lead in leads:
        lead_id = (_text(lead, "LeadID") or "").strip()
        if canonical_lead_name(lead_id) is None:
            dropped.append(lead_id or "(unnamed lead)")
            continue
        names.append(lead_id)
        rows.append(_decode_lead(lead, lead_id, kind, path))
    if not rows:
        raise ECGFormatError(
            f"{path.name}: the {kind} waveform has no standard ECG lead (LeadID I, II, V1 ... V6); "
            f"found {', '.join(dropped)}."
        )
    lengths = {name: len(row) for name, row in zip(names, rows)}
    if len(set(lengths.values())) != 1:
        shown = ", ".join(f"{n} {c}" for n, c in lengths.items())
        raise ECGFormatError(
            f"{path.name}: the {kind} leads hold different sample counts ({shown}); every lead of a "
            "GE MUSE waveform has the same count."
        )
    return fs, names, rows, dropped


def _sampling_rate(waveform: ET.Element, kind: str, path: Path) -> float:
    base = _number(waveform, "SampleBase", f"{kind} SampleBase", path)
    exponent = _int(waveform, "SampleExponent", f"{kind} SampleExponent", path) or 0
    if base is None or base <= 0 or not -3 <= exponent <= 6:
        raise ECGFormatError(
            f"{path.name}: the {kind} waveform has no usable sampling rate (SampleBase "
            f"{_text(waveform, 'SampleBase')!r}, SampleExponent {exponent}); a positive SampleBase is expected."
        )
    return float(base * 10.0**exponent)


def _decode_lead(lead: ET.Element, lead_id: str, kind: str, path: Path) -> np.ndarray:
    """One lead in mV: base64 -> little-endian int16 -> x units per bit, checked against the declared
    byte and sample counts and the CRC-32."""
    what = f"{kind} lead {lead_id}"
    sample_size = _int(lead, "LeadSampleSize", f"{what} LeadSampleSize", path)
    if sample_size not in (None, 2):
        raise ECGFormatError(f"{path.name}: {what} has {sample_size}-byte samples; GE MUSE stores 2-byte (int16) samples.")
    text = (lead.findtext("WaveFormData") or "").encode("ascii", errors="replace")
    encoded = text.translate(None, _WHITESPACE)
    if not encoded:
        raise ECGFormatError(f"{path.name}: {what} has no waveform data (<WaveFormData> is empty or missing).")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ECGFormatError(
            f"{path.name}: {what} has invalid or truncated base64 in <WaveFormData>; GE MUSE stores each lead "
            "as base64 of little-endian 16-bit samples."
        ) from None
    if len(raw) % 2:
        raise ECGFormatError(f"{path.name}: {what} decodes to {len(raw)} bytes, not a whole number of 16-bit samples.")
    samples = np.frombuffer(raw, dtype="<i2")
    declared = _int(lead, "LeadSampleCountTotal", f"{what} LeadSampleCountTotal", path)
    if declared is not None and declared != samples.size:
        raise ECGFormatError(
            f"{path.name}: {what} declares {declared} samples (LeadSampleCountTotal) but its data holds "
            f"{samples.size}; the file is truncated or altered."
        )
    declared_bytes = _int(lead, "LeadByteCountTotal", f"{what} LeadByteCountTotal", path)
    if declared_bytes is not None and declared_bytes != len(raw):
        raise ECGFormatError(
            f"{path.name}: {what} declares {declared_bytes} bytes (LeadByteCountTotal) but its data holds "
            f"{len(raw)}; the file is truncated or altered."
        )
    crc = _int(lead, "LeadDataCRC32", f"{what} LeadDataCRC32", path)
    if crc is not None and crc != zlib.crc32(raw):
        raise ECGFormatError(
            f"{path.name}: {what} fails its checksum (LeadDataCRC32 {crc}, data {zlib.crc32(raw)}); "
            "the waveform was altered after export."
        )
    per_bit = _number(lead, "LeadAmplitudeUnitsPerBit", f"{what} LeadAmplitudeUnitsPerBit", path)
    if per_bit is None or per_bit <= 0:
        raise ECGFormatError(
            f"{path.name}: {what} has no usable LeadAmplitudeUnitsPerBit "
            f"({_text(lead, 'LeadAmplitudeUnitsPerBit')!r}); a positive number (e.g. 4.88) is expected."
        )
    units = (_text(lead, "LeadAmplitudeUnits") or "MICROVOLTS").strip()
    to_mv = unit_scale_to_mv(units)
    if to_mv is None:
        raise ECGFormatError(
            f"{path.name}: {what} has amplitude units {units!r}; MICROVOLTS, MILLIVOLTS or VOLTS are accepted."
        )
    return samples.astype(np.float64) * (per_bit * to_mv)


def _median_beats(median: ET.Element, root: ET.Element, path: Path) -> dict[str, object]:
    """The device's median beats as a small dict: fs, one float32 mV array per lead, fiducials."""
    fs, names, rows, _ = _decode_waveform(median, "median", path)
    leads = {canonical_lead_name(n): row.astype(np.float32) for n, row in zip(names, rows)}
    if {"I", "II"} <= set(leads):
        for name, row in derive_limb_leads(leads["I"], leads["II"]).items():
            leads.setdefault(name, row.astype(np.float32))
    out: dict[str, object] = {"fs": fs, "leads": leads}
    fiducials = {}
    section = root.find("RestingECGMeasurements")
    for tag, name in _FIDUCIALS.items():
        value = _float_or_none(_text(section, tag)) if section is not None else None
        if value is not None and 0 <= value < len(rows[0]):
            fiducials[name] = int(value)
    if fiducials:
        out["fiducials"] = fiducials
    return out


def _filters(rhythm: ET.Element) -> dict[str, object]:
    """The cart's filters: HighPassFilter is in 0.01 Hz, LowPassFilter in Hz, ACFilter in Hz or NONE."""
    high = _float_or_none(_text(rhythm, "HighPassFilter"))
    low = _float_or_none(_text(rhythm, "LowPassFilter"))
    ac = _text(rhythm, "ACFilter")
    filters = {
        "highpass_hz": high / 100.0 if high is not None else None,
        "lowpass_hz": low,
        "mains_filter_hz": _float_or_none(ac) if ac and ac.strip().upper() != "NONE" else None,
    }
    if all(v is None for v in filters.values()):
        return {}
    return {"device_filters": {k: v for k, v in filters.items() if v is not None}}


# -- the device's reading ------------------------------------------------------------------------------
def _device_reading(root: ET.Element, fs: float) -> DeviceReading | None:
    measurements = _measurements(root.find("RestingECGMeasurements"), root, fs)
    statements = _statements(root.find("Diagnosis"))
    original = _statements(root.find("OriginalDiagnosis"))
    if root.find("Diagnosis") is None:  # only the machine's read survives
        statements, original = original, ()
    if original == statements:
        original = ()
    if not (measurements or statements or original):
        return None
    device = _text(root, "TestDemographics/AcquisitionDevice")
    analysis = _text(root, "TestDemographics/AnalysisSoftwareVersion")
    version = _text(root, "MuseInfo/MuseVersion")
    source = " ".join(
        part for part in (
            f"GE {device}" if device else "GE cart",
            f"(12SL {analysis})" if analysis else None,
            f"via MUSE {version}" if version else "via MUSE",
        ) if part
    )
    return DeviceReading(measurements=measurements, statements=statements, original_statements=original, source=source)


def _measurements(section: ET.Element | None, root: ET.Element, fs: float) -> dict[str, float]:
    """One measurement section under GLOBAL_MEASURES names; values the device left out (empty, or an
    interval/rate of 0 or less, as GE writes for "not measured") are absent."""
    if section is None:
        return {}
    out: dict[str, float] = {}
    for tag, name in _MEASURES.items():
        value = _float_or_none(_text(section, tag))
        if value is None:
            continue
        if name.endswith("_deg"):
            if abs(value) <= 360:
                out[name] = value
        elif value > 0:
            out[name] = value
    global_rr = _float_or_none(_text(root, "QRSTimesTypes/GlobalRR"))
    if global_rr is not None and global_rr > 0:
        out["rr_ms"] = global_rr
    # P duration from the device's own P fiducials, in samples of the median beat at ECGSampleBase.
    onset, offset = _float_or_none(_text(section, "POnset")), _float_or_none(_text(section, "POffset"))
    base = _float_or_none(_text(section, "ECGSampleBase")) or fs
    exponent = _float_or_none(_text(section, "ECGSampleExponent")) or 0.0
    if onset is not None and offset is not None and offset > onset >= 0 and base > 0 and abs(exponent) <= 6:
        out["p_duration_ms"] = (offset - onset) * 1000.0 / (base * 10.0**exponent)
    return out


def _statements(section: ET.Element | None) -> tuple[str, ...]:
    """Statement lines as MUSE prints them: fragments joined until one flagged ENDSLINE; sign-offs dropped."""
    if section is None:
        return ()
    lines: list[str] = []
    current = ""
    for statement in section.findall("DiagnosisStatement"):
        text = " ".join((statement.findtext("StmtText") or "").split())
        if text:
            current = f"{current}{text}" if not current or text[0] in ",.;:" else f"{current} {text}"
        flags = {(flag.text or "").strip().upper() for flag in statement.findall("StmtFlag")}
        if "ENDSLINE" in flags and current:
            lines.append(current)
            current = ""
    if current:
        lines.append(current)
    return tuple(line for line in lines if not _SIGN_OFF.match(line))


# -- acquisition and demographics ---------------------------------------------------------------------
def _acquisition(root: ET.Element) -> Acquisition:
    test = root.find("TestDemographics")
    patient_id = _text(root, "PatientDemographics/PatientID")
    site = None
    acquired_at = device = None
    if test is not None:
        acquired_at = _datetime(_text(test, "AcquisitionDate"), _text(test, "AcquisitionTime"))
        device = _text(test, "AcquisitionDevice")
        names = [n for n in (_text(test, "SiteName"), _text(test, "LocationName")) if n]
        site = ", ".join(dict.fromkeys(names)) or None
    return Acquisition(patient_id=patient_id, acquired_at=acquired_at, device=device, site=site)


def _age(demographics: ET.Element | None, acquired_at: datetime | None) -> float | None:
    """Age at acquisition from the date of birth (never kept), else PatientAge in its AgeUnits."""
    if demographics is None:
        return None
    birth = _date(_text(demographics, "DateofBirth"))
    if birth is not None and acquired_at is not None and birth <= acquired_at.date():
        return age_at(datetime.combine(birth, time()), acquired_at)
    value = _float_or_none(_text(demographics, "PatientAge"))
    factor = _AGE_UNIT_YEARS.get((_text(demographics, "AgeUnits") or "YEARS").strip().upper())
    if value is None or factor is None:
        return None
    return parse_age(round(value * factor, 2) if factor != 1.0 else value)


_DATE_FORMATS = ("%m-%d-%Y", "%m/%d/%Y", "%Y-%m-%d")  # MUSE dates are MM-DD-YYYY


def _date(text: str | None) -> date | None:
    return parse_date(text, _DATE_FORMATS)


def _datetime(day: str | None, clock: str | None) -> datetime | None:
    return parse_date_time(day, clock, _DATE_FORMATS)


# -- small helpers ------------------------------------------------------------------------------------
def _text(element: ET.Element | None, tag: str) -> str | None:
    if element is None:
        return None
    text = element.findtext(tag)
    return text.strip() or None if text is not None else None


def _float_or_none(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _number(element: ET.Element, tag: str, what: str, path: Path) -> float | None:
    text = _text(element, tag)
    if text is None:
        return None
    value = _float_or_none(text)
    if value is None:
        raise ECGFormatError(f"{path.name}: {what} {text[:40]!r} is not a number.")
    return value


def _int(element: ET.Element, tag: str, what: str, path: Path) -> int | None:
    text = _text(element, tag)
    if text is None:
        return None
    if not re.fullmatch(r"[+-]?\d{1,20}", text):
        raise ECGFormatError(f"{path.name}: {what} {text[:40]!r} is not a whole number.")
    return int(text)


__all__ = ["read_muse"]
