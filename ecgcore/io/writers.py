"""Write a Record to CSV, NumPy .npz, EDF and HL7 aECG: exports and demo files.

Each writer produces exactly the layout its reader documents, so ``read(write_x(record))``
gives the same ECG back within the format's quantisation (EDF: 16-bit over the signal's
range; aECG: 1 uV steps; CSV: the printed decimals).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pyedflib

from ecgcore.errors import ECGFormatError
from ecgcore.record import Record


def write_csv(record: Record, path: str | Path, *, decimals: int = 4, time_column: bool = True) -> Path:
    """CSV with a ``time_s`` column (unless disabled) and one mV column per lead."""
    path = Path(path)
    n = record.n_samples
    header = (["time_s"] if time_column else []) + list(record.leads)
    time_s = np.arange(n) / record.fs
    time_decimals = max(6, int(np.ceil(np.log10(record.fs))) + 3)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(header) + "\n")
        for i in range(n):
            values = [f"{v:.{decimals}f}" if np.isfinite(v) else "" for v in record.signal[:, i]]
            if time_column:
                values.insert(0, f"{time_s[i]:.{time_decimals}f}")
            handle.write(",".join(values) + "\n")
    return path


def write_npz(record: Record, path: str | Path) -> Path:
    """``signal`` (leads, samples) float32 mV, ``fs`` and ``leads``: the layout read_numpy documents."""
    path = Path(path)
    np.savez_compressed(path, signal=record.signal.astype(np.float32), fs=np.float64(record.fs),
                        leads=np.array(record.leads, dtype="U8"))
    return path


def write_edf(record: Record, path: str | Path, *, dimension: str = "uV") -> Path:
    """EDF+ file, one signal per lead labelled ``ECG <lead>``, physical dimension uV (or mV).

    EDF stores 16-bit integers between each signal's physical min and max, so the signal's own
    range is used (padded a little) to keep the quantisation step small (~0.1 uV for a 10 mV range).
    """
    path = Path(path)
    fs = float(record.fs)
    if abs(fs - round(fs)) > 1e-9:
        raise ECGFormatError(f"EDF export needs an integer sampling rate; the record is at {fs:g} Hz.")
    factor = {"uV": 1000.0, "mV": 1.0}.get(dimension)
    if factor is None:
        raise ECGFormatError(f"dimension must be 'uV' or 'mV', not {dimension!r}.")
    signals = [np.nan_to_num(record.signal[i].astype(np.float64) * factor) for i in range(record.n_leads)]
    headers = []
    for lead, sig in zip(record.leads, signals):
        low, high = float(sig.min()), float(sig.max())
        pad = max((high - low) * 0.01, 1e-3 * factor)
        headers.append({
            "label": f"ECG {lead}",
            "dimension": dimension,
            "sample_frequency": round(fs),
            "physical_min": _edf_number(low - pad, floor=True),
            "physical_max": _edf_number(high + pad, floor=False),
            "digital_min": -32768,
            "digital_max": 32767,
            "transducer": "",
            "prefilter": "",
        })
    writer = pyedflib.EdfWriter(str(path), record.n_leads, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders(headers)
        if record.sex in ("M", "F"):
            writer.setSex(1 if record.sex == "M" else 0)
        writer.writeSamples(signals)
    finally:
        writer.close()
    return path


def _edf_number(value: float, *, floor: bool) -> float:
    """Round outward to a value that fits EDF's 8-character physical min/max fields."""
    for decimals in range(4, -1, -1):
        scaled = np.floor(value * 10**decimals) if floor else np.ceil(value * 10**decimals)
        rounded = float(scaled / 10**decimals)
        if len(f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")) <= 8:
            return rounded
    raise ECGFormatError(f"Signal range {value:g} is too large for EDF.")


# GLOBAL_MEASURES name -> (MDC code, unit) written for an interpretation's measurements; the aECG
# reader maps the same codes back (ecgcore.io.aecg_reader._MEASURE_BY_CODE).
AECG_MEASURE_CODES: dict[str, tuple[str, str]] = {
    "heart_rate_bpm": ("MDC_ECG_HEART_RATE", "/min"),
    "rr_ms": ("MDC_ECG_TIME_PD_RR", "ms"),
    "p_duration_ms": ("MDC_ECG_TIME_PD_P", "ms"),
    "pr_ms": ("MDC_ECG_TIME_PD_PR", "ms"),
    "qrs_ms": ("MDC_ECG_TIME_PD_QRS", "ms"),
    "qt_ms": ("MDC_ECG_TIME_PD_QT", "ms"),
    "qtc_bazett_ms": ("MDC_ECG_TIME_PD_QTcB", "ms"),
    "qtc_fridericia_ms": ("MDC_ECG_TIME_PD_QTcF", "ms"),
    "p_axis_deg": ("MDC_ECG_ANGLE_P_FRONT", "deg"),
    "qrs_axis_deg": ("MDC_ECG_ANGLE_QRS_FRONT", "deg"),
    "t_axis_deg": ("MDC_ECG_ANGLE_T_FRONT", "deg"),
}
_MDC = 'codeSystem="2.16.840.1.113883.6.24" codeSystemName="MDC"'


def _hl7_ts(when: datetime) -> str:
    """An HL7 TS: local wall-clock digits, with the UTC offset when ``when`` has a zone."""
    stamp = when.strftime("%Y%m%d%H%M%S")
    if when.tzinfo is not None and when.utcoffset() is not None:
        stamp += when.strftime("%z")
    return stamp


def _annotation(code: str, value: str, indent: str) -> str:
    return (f"{indent}<component><annotation><code code=\"{code}\" {_MDC}/>{value}</annotation></component>")


def _interpretation(statements: Sequence[str], measurements: Mapping[str, float], author: str | None,
                    time: datetime | None, comment: str | None) -> list[str]:
    """The series' subjectOf/annotationSet holding an interpretation: measurements as global MDC
    annotations, statements as MDC_ECG_INTERPRETATION_STATEMENT (free text), the comment as
    MDC_ECG_INTERPRETATION_COMMENT, authored by a person when ``author`` is given."""
    indent = "        "
    parts = ["      <subjectOf>", "      <annotationSet>"]
    if time is not None:
        parts.append(f'{indent}<activityTime value="{_hl7_ts(time)}"/>')
    if author:
        parts.append(f"{indent}<author><assignedEntity><assignedAuthorType><assignedPerson><name>{escape(author)}"
                     "</name></assignedPerson></assignedAuthorType></assignedEntity></author>")
    for name, value in measurements.items():
        if name not in AECG_MEASURE_CODES:
            raise ECGFormatError(f"Unknown measurement {name!r} for an aECG interpretation; accepted: "
                                 f"{', '.join(AECG_MEASURE_CODES)}.")
        number = float(value)
        if not np.isfinite(number):
            continue
        code, unit = AECG_MEASURE_CODES[name]
        parts.append(_annotation(code, f'<value xsi:type="PQ" value="{number:g}" unit="{unit}"/>', indent))
    inner = [_annotation("MDC_ECG_INTERPRETATION_STATEMENT", f'<value xsi:type="ST">{escape(text)}</value>',
                         indent + "  ") for text in (" ".join(str(s).split()) for s in statements) if text]
    if comment and comment.strip():
        inner.append(_annotation("MDC_ECG_INTERPRETATION_COMMENT",
                                 f'<value xsi:type="ST">{escape(comment.strip())}</value>', indent + "  "))
    if inner:
        parts += [f'{indent}<component><annotation><code code="MDC_ECG_INTERPRETATION" {_MDC}/>', *inner,
                  f"{indent}</annotation></component>"]
    parts += ["      </annotationSet>", "      </subjectOf>"]
    return parts


def write_aecg(record: Record, path: str | Path, *, scale_uv: float = 1.0, statements: Sequence[str] = (),
               measurements: Mapping[str, float] | None = None, acquired_at: datetime | None = None,
               interpretation_author: str | None = None, interpretation_time: datetime | None = None,
               interpretation_comment: str | None = None) -> Path:
    """Minimal but schema-shaped HL7 aECG: one RHYTHM series, one sequenceSet, uV digits.

    Optionally an interpretation (a confirmed report, for other systems): ``statements`` (one
    ``MDC_ECG_INTERPRETATION_STATEMENT`` each, white space collapsed) and ``measurements``
    (``GLOBAL_MEASURES`` name -> value, as the MDC codes of :data:`AECG_MEASURE_CODES`), in an
    annotation set of the rhythm series authored by ``interpretation_author`` (a person's name) at
    ``interpretation_time``, with ``interpretation_comment`` (e.g. the conclusion) as
    ``MDC_ECG_INTERPRETATION_COMMENT``. ``ecgcore.read`` gives the statements and measurements back
    as ``record.device_reading`` (the comment and the author's name it does not read).
    ``acquired_at`` is written as the series' effective time (``record.acquisition``). Nothing that
    identifies the patient is written, whatever the record holds.
    """
    path = Path(path)
    increment_s = 1.0 / record.fs
    # Deterministic ids (from the signal's hash) so re-exporting the same ECG gives the same file.
    doc_id = uuid.uuid5(uuid.NAMESPACE_OID, record.content_hash())
    series_id = uuid.uuid5(doc_id, "rhythm")
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'classCode="OBS" moodCode="EVN">',
        f'  <id root="{doc_id}"/>',
        '  <code code="93000" codeSystem="2.16.840.1.113883.6.12" codeSystemName="CPT-4"/>',
    ]
    if record.sex in ("M", "F"):
        parts += [
            "  <componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>",
            f'    <subjectDemographicPerson><administrativeGenderCode code="{record.sex}" '
            'codeSystem="2.16.840.1.113883.5.1"/></subjectDemographicPerson>',
            "  </trialSubject></subject></subjectAssignment></componentOf></timepointEvent></componentOf>",
        ]
    parts += [
        "  <component>",
        "    <series>",
        f'      <id root="{series_id}"/>',
        '      <code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>',
        *([f'      <effectiveTime><low value="{_hl7_ts(acquired_at)}"/></effectiveTime>'] if acquired_at else []),
        "      <component>",
        "        <sequenceSet>",
        "          <component><sequence>",
        '            <code code="TIME_RELATIVE" codeSystem="2.16.840.1.113883.5.4"/>',
        '            <value xsi:type="GLIST_PQ"><head value="0" unit="s"/>'
        f'<increment value={quoteattr(repr(increment_s))} unit="s"/></value>',
        "          </sequence></component>",
    ]
    for lead, row in zip(record.leads, record.signal):
        digits = np.round(np.nan_to_num(row.astype(np.float64)) * 1000.0 / scale_uv).astype(np.int64)
        parts += [
            "          <component><sequence>",
            f'            <code code="MDC_ECG_LEAD_{lead.upper()}" codeSystem="2.16.840.1.113883.6.24" '
            'codeSystemName="MDC"/>',
            '            <value xsi:type="SLIST_PQ">',
            '              <origin value="0" unit="uV"/>',
            f'              <scale value="{scale_uv:g}" unit="uV"/>',
            "              <digits>" + " ".join(map(str, digits.tolist())) + "</digits>",
            "            </value>",
            "          </sequence></component>",
        ]
    parts += ["        </sequenceSet>", "      </component>"]
    if statements or measurements or interpretation_comment:
        parts += _interpretation(list(statements), dict(measurements or {}), interpretation_author,
                                 interpretation_time, interpretation_comment)
    parts += ["    </series>", "  </component>", "</AnnotatedECG>", ""]
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


__all__ = ["AECG_MEASURE_CODES", "write_aecg", "write_csv", "write_edf", "write_npz"]
