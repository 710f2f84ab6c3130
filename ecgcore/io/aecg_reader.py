"""HL7 v3 annotated ECG (aECG) XML, the FDA's submission format (namespace ``urn:hl7-org:v3``).

Layout we read (HL7 aECG implementation guide, 2005)::

    AnnotatedECG
      component/series                  (code RHYTHM; derived median beats live under
                                         series/derivation/derivedSeries and are ignored)
        component/sequenceSet           (the first one is read)
          component/sequence  code=TIME_ABSOLUTE | TIME_RELATIVE
             value xsi:type=GLIST_TS | GLIST_PQ : head, increment value="0.002" unit="s"
          component/sequence  code=MDC_ECG_LEAD_I, MDC_ECG_LEAD_AVR, MDC_ECG_LEAD_V1 ...
             value xsi:type=SLIST_PQ : origin value/unit, scale value/unit, digits "12 15 -3 ..."

Each sample is ``origin + scale * digit`` in the units of origin and scale (usually uV).
The sampling rate is ``1 / increment``. Leads outside the standard twelve (V3R, V7, Frank X/Y/Z
...) are dropped and listed in ``metadata['dropped_channels']``. Subject sex comes from
``administrativeGenderCode``.

Security: parsed by ``ecgcore.io.xml_safe`` (entity declarations and internal DTD subsets refused).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ecgcore.errors import ECGFormatError
from ecgcore.io._common import check_file_size, parse_sex, resolve_fs, unit_scale_to_mv
from ecgcore.io._finalize import finalize
from ecgcore.io.xml_safe import parse_xml_safely
from ecgcore.leads import canonical_lead_name
from ecgcore.record import Record

SOURCE = "HL7 aECG"
NS = {"hl7": "urn:hl7-org:v3"}
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_LEAD_PREFIX = "MDC_ECG_LEAD_"
_TIME_S = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6}


def read_aecg(
    path: Path,
    *,
    fs: float | None = None,
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read the rhythm waveforms of an HL7 aECG XML file."""
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

    increment_s: float | None = None
    names: list[str] = []
    rows: list[np.ndarray] = []
    dropped: list[str] = []
    for sequence in sequence_sets[0].findall("hl7:component/hl7:sequence", NS):
        code = _code(sequence)
        value = sequence.find("hl7:value", NS)
        if value is None:
            continue
        if code.startswith("TIME_"):
            increment_s = _increment_s(value, path)
        elif code.startswith(_LEAD_PREFIX):
            lead = code[len(_LEAD_PREFIX):]
            if canonical_lead_name(lead) is None:
                dropped.append(code)
                continue
            names.append(lead)
            rows.append(_slist_pq_mv(value, code, path))
        else:
            dropped.append(code or "(uncoded sequence)")
    if not rows:
        raise ECGFormatError(f"{path.name}: no standard ECG lead sequences (MDC_ECG_LEAD_I ... V6) found.")
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        raise ECGFormatError(f"{path.name}: the lead sequences have different lengths {sorted(lengths)}.")
    file_fs = 1.0 / increment_s if increment_s else None
    if file_fs is not None and abs(file_fs - round(file_fs)) < 1e-6 * file_fs:
        file_fs = float(round(file_fs))

    metadata: dict[str, object] = {}
    if len(sequence_sets) > 1:
        metadata["aecg_note"] = f"Read the first of {len(sequence_sets)} sequenceSets of the rhythm series."
    gender = root.find(".//hl7:subjectDemographicPerson/hl7:administrativeGenderCode", NS)
    doc_id = root.find("hl7:id", NS)
    if doc_id is not None and doc_id.get("root"):
        metadata["aecg_id"] = doc_id.get("root")
    return finalize(
        np.vstack(rows),
        resolve_fs(file_fs, fs, path),
        names,
        source=SOURCE,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        sex=parse_sex(gender.get("code")) if gender is not None else None,
        metadata=metadata,
        dropped_channels=dropped,
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _code(element: ET.Element) -> str:
    code = element.find("hl7:code", NS)
    return (code.get("code") or "").strip() if code is not None else ""


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
