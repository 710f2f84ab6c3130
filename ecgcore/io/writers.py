"""Write a Record to CSV, NumPy .npz, EDF and HL7 aECG: exports and demo files.

Each writer produces exactly the layout its reader documents, so ``read(write_x(record))``
gives the same ECG back within the format's quantisation (EDF: 16-bit over the signal's
range; aECG: 1 uV steps; CSV: the printed decimals).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from xml.sax.saxutils import quoteattr

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


def write_aecg(record: Record, path: str | Path, *, scale_uv: float = 1.0) -> Path:
    """Minimal but schema-shaped HL7 aECG: one RHYTHM series, one sequenceSet, uV digits."""
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
    parts += ["        </sequenceSet>", "      </component>", "    </series>", "  </component>", "</AnnotatedECG>", ""]
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


__all__ = ["write_csv", "write_npz", "write_edf", "write_aecg"]
