"""SCP-ECG (EN 1064 / ISO 11073-91064), versions 1.x and 2.x: the binary format many carts export.

What is read (see docs/formats/scp_ecg.md for the whole story):

- file CRC and length, Section 0's pointers, every section's header (id, length, CRC);
- Section 1 tags: patient identifier -> ``Acquisition.patient_id``, age or date of birth (-> age at
  acquisition), sex, acquisition date and time, device (tag 14), site (institution, department,
  room) and the cart's filters. The patient's name is never read;
- Section 2 Huffman tables (19999: the default table; 0: no Huffman coding; absent: 16-bit samples
  where the stream is long enough for them, else the default table);
- Section 3 lead definitions (SCP lead codes -> lead names, start and end sample numbers);
- Section 4 QRS locations: reference-beat subtraction zones and bimodal protected zones;
- Section 5 reference beats -> ``metadata["device_median_beats"]``, and added back into the rhythm
  where Section 3 says they were subtracted;
- Section 6 rhythm data: amplitude value multiplier (nV), sample interval (us), first/second
  differences, bimodal compression;
- Sections 7, 8 and 11 -> ``Record.device_reading`` (global measurements under the
  ``GLOBAL_MEASURE_NAMES`` keys; interpretive statements).

Integrity: a file CRC or section CRC that does not match, a section pointed outside the file, a
length field that disagrees with the section header or overruns the file, a declared sample count
the data cannot hold, a bit stream that runs out or holds more than its declared samples: each is an
:class:`ECGFormatError` saying which, never a partly decoded signal. The one known non-compliant
producer (Healforce handhelds, ``scp_healforce``) is read with its quirks listed in
``metadata["scp_warnings"]``, its CRCs checked the way it computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any

import numpy as np

from ecgcore.acquisition import Acquisition, DeviceReading, age_at
from ecgcore.errors import ECGFormatError
from ecgcore.io._common import check_file_size, parse_age, resolve_fs
from ecgcore.io._finalize import finalize
from ecgcore.io.scp_huffman import (
    DEFAULT_CODING,
    NO_HUFFMAN,
    Coding,
    bimodal_stored_count,
    decode_stream,
    expand_bimodal,
    parse_section2,
)
from ecgcore.io.scp_sections import (
    LeadDefinition,
    PatientTags,
    QrsLocations,
    SampleBlock,
    Section,
    crc_ccitt,
    locate_sections,
    parse_sample_block,
    parse_section1,
    parse_section3,
    parse_section4,
    parse_section7,
    parse_statements,
    read_pointers,
    self_pointer_index,
    u16,
    u32,
)
from ecgcore.leads import canonical_lead_name, derive_limb_leads
from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES
from ecgcore.record import Record

SOURCE = "SCP-ECG"
_CHECKED_SECTIONS = frozenset(range(12))  # the standard's sections: their CRCs are checked


@dataclass
class ScpEcg:
    """Everything decoded from one SCP-ECG file, before it becomes a :class:`Record`."""

    signal_mv: np.ndarray                      # (leads, samples); NaN where a lead was not recorded
    fs: float
    lead_names: list[str]                      # as SCP names them (I, II, V1 ... III, aVR ...)
    dropped: list[str]
    version: str
    sections: tuple[int, ...]
    tags: PatientTags
    coding: dict[str, Any] = field(default_factory=dict)
    reference_beats: dict[str, Any] | None = None
    measurements: dict[str, float] = field(default_factory=dict)
    measurements_extra: dict[str, Any] = field(default_factory=dict)
    statements: tuple[str, ...] = ()
    statements_status: str | None = None
    producer: str | None = None
    first_sample: int = 1                      # Section 3's first sample number (1 unless a segment)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_scp(
    path: Path,
    *,
    fs: float | None = None,
    record_name: str | None = None,
    allow_flat_leads: bool = False,
) -> Record:
    """Read an SCP-ECG file into a validated Record (rhythm data; reference beats in metadata)."""
    path = Path(path)
    check_file_size(path)
    try:
        ecg = decode_scp(path.read_bytes())
    except ECGFormatError as error:
        raise ECGFormatError(f"{path.name}: {error}") from None
    return to_record(ecg, path, fs=fs, record_name=record_name, allow_flat_leads=allow_flat_leads)


def to_record(ecg: ScpEcg, path: Path, *, fs: float | None, record_name: str | None,
              allow_flat_leads: bool) -> Record:
    tags = ecg.tags
    acquired_at = tags.acquired_at
    age = None
    if tags.birth_date is not None and acquired_at is not None:
        age = parse_age(age_at(datetime.combine(tags.birth_date, time()), acquired_at))
    elif tags.age_years is not None:
        age = parse_age(tags.age_years)
    metadata: dict[str, Any] = {
        "scp_version": ecg.version,
        "scp_sections": list(ecg.sections),
        "scp_coding": ecg.coding,
    }
    if ecg.producer:
        metadata["scp_producer"] = ecg.producer
    if ecg.first_sample not in (0, 1):
        metadata["scp_first_sample"] = ecg.first_sample
    if ecg.warnings:
        metadata["scp_warnings"] = list(ecg.warnings)
    notes = ecg.notes + tags.notes
    if notes:
        metadata["scp_notes"] = notes
    if tags.device_details:
        metadata["scp_device"] = dict(tags.device_details)
    if tags.filters:
        metadata["device_filters"] = dict(tags.filters)
    if ecg.reference_beats:
        metadata["device_median_beats"] = ecg.reference_beats
    if ecg.measurements_extra:
        metadata["device_measurements_extra"] = ecg.measurements_extra
    if ecg.statements_status:
        metadata["device_statement_status"] = ecg.statements_status
    record = finalize(
        ecg.signal_mv,
        resolve_fs(ecg.fs, fs, path),
        ecg.lead_names,
        source=SOURCE,
        path=path,
        record_name=record_name,
        allow_flat_leads=allow_flat_leads,
        age=age,
        sex=tags.sex,
        metadata=metadata,
        dropped_channels=ecg.dropped,
    )
    acquisition = Acquisition(patient_id=tags.patient_id, acquired_at=acquired_at, device=tags.device,
                              site=tags.site)
    has_acquisition = any(v is not None for v in vars(acquisition).values())
    return record.replace(acquisition=acquisition if has_acquisition else None,
                          device_reading=_device_reading(ecg))


def _device_reading(ecg: ScpEcg) -> DeviceReading | None:
    measurements = {k: v for k, v in ecg.measurements.items() if k in GLOBAL_MEASURE_NAMES}
    if not measurements and not ecg.statements:
        return None
    source = ecg.tags.device
    implementation = ecg.tags.device_details.get("scp_implementation_software")
    if source and implementation and implementation != source:
        source = f"{source} via {implementation}"
    return DeviceReading(measurements=measurements, statements=ecg.statements, source=source or ecg.producer)


# -- decoding -----------------------------------------------------------------------------------------
def decode_scp(buf: bytes) -> ScpEcg:
    """Decode an SCP-ECG file's bytes (raises ECGFormatError, messages without the file name)."""
    if len(buf) < 22:
        raise ECGFormatError(f"The file is {len(buf)} bytes long; an SCP-ECG file starts with at least 22 bytes "
                             "(CRC, length and Section 0's header).")
    if u16(buf, 8) != 0:
        raise ECGFormatError(f"Not an SCP-ECG file: there is no Section 0 at byte 7 (found section id {u16(buf, 8)}).")
    if self_pointer_index(buf) == 6:
        return _from_healforce(buf)
    declared = u32(buf, 2)
    if declared > len(buf):
        raise ECGFormatError(
            f"The file is truncated: its header declares {declared} bytes but the file has {len(buf)}."
        )
    if declared < 22:
        raise ECGFormatError(f"The file's length field says {declared} bytes, too short for an SCP-ECG file.")
    notes: list[str] = []
    if declared < len(buf):
        notes.append(f"{len(buf) - declared} bytes after the declared end of the record were ignored.")
    buf = buf[:declared]
    stored = u16(buf, 0)
    computed = crc_ccitt(buf[2:])
    if computed != stored:
        raise ECGFormatError(
            f"CRC mismatch: the file's CRC is 0x{stored:04X} but its content gives 0x{computed:04X}; "
            "the file is corrupt or was altered after it was written."
        )
    sections = locate_sections(buf, declared, read_pointers(buf))
    for section in sections.values():
        _check_section_crc(buf, section)
    if 0 not in sections:
        raise ECGFormatError("Section 0 does not list itself; the pointer table is corrupt.")
    protocol = sections[0].protocol_version
    version = f"{protocol // 10}.{protocol % 10}"
    if protocol >= 30:
        notes.append(f"SCP-ECG version {version} is read as version 2.x; its additions are not read.")
    tags = parse_section1(sections[1].body) if 1 in sections else PatientTags()
    if 3 not in sections:
        raise ECGFormatError("There is no Section 3 (lead definitions): the file describes no waveform.")
    if 6 not in sections:
        only = " It holds only reference beats (Section 5)." if 5 in sections else ""
        raise ECGFormatError(f"There is no rhythm data (Section 6).{only}")
    lead_table = parse_section3(sections[3].body)
    leads = list(lead_table.leads)
    coding = parse_section2(sections[2].body) if 2 in sections else None
    qrs = parse_section4(sections[4].body) if 4 in sections else None
    rhythm = parse_sample_block(sections[6].body, len(leads), 6)
    if rhythm.avm_nv == 0 or rhythm.interval_us == 0:
        raise ECGFormatError(f"Section 6 gives an amplitude multiplier of {rhythm.avm_nv} nV and a sample interval "
                             f"of {rhythm.interval_us} us; both must be positive.")
    fs = 1e6 / rhythm.interval_us

    reference, reference_fs, reference_avm = None, None, None
    reference_error = None
    if 5 in sections and qrs is not None:
        try:
            reference, reference_fs, reference_avm = _reference_beats(sections[5], leads, coding, qrs, notes)
        except ECGFormatError as error:
            reference_error = error
    elif 5 in sections:
        notes.append("Section 5 (reference beats) was not read: without Section 4 its length is unknown.")

    keep = [i for i, lead in enumerate(leads) if canonical_lead_name(lead.name) is not None]
    dropped = [leads[i].name for i in range(len(leads)) if i not in keep]
    rows_units: dict[int, np.ndarray] = {}
    out_fs = fs
    if rhythm.bimodal:
        out_fs = _bimodal_fs(fs, reference_fs, qrs)
    for i in keep:
        rows_units[i] = _rhythm_lead(rhythm, i, leads[i], coding, qrs, fs, out_fs, notes)

    signal_nv = {i: rows_units[i] * float(rhythm.avm_nv) for i in keep}
    if lead_table.reference_beat_subtracted:
        if reference_error is not None:
            raise ECGFormatError(f"Section 3 says reference beats were subtracted, but they cannot be read: "
                                 f"{reference_error}")
        if reference is None or qrs is None:
            raise ECGFormatError("Section 3 says reference beats were subtracted from the rhythm, but Section 4 or "
                                 "Section 5 is missing, so the rhythm cannot be restored.")
        if abs(reference_fs - out_fs) > 1e-6 * out_fs:
            raise ECGFormatError(f"Reference beats ({reference_fs:g} Hz) and rhythm ({out_fs:g} Hz) have different "
                                 "sampling rates without bimodal compression; the rhythm cannot be restored.")
        for i in keep:
            _add_reference_beat(signal_nv[i], reference[i] * float(reference_avm), leads[i], qrs, notes)
    elif reference_error is not None:
        notes.append(f"Reference beats (Section 5) not read: {reference_error}")

    signal_mv, ranges_note = _timeline([leads[i] for i in keep], [signal_nv[i] * 1e-6 for i in keep])
    if ranges_note:
        notes.append(ranges_note)
    ecg = ScpEcg(
        signal_mv=signal_mv,
        fs=out_fs,
        lead_names=[leads[i].name for i in keep],
        dropped=dropped,
        version=version,
        sections=tuple(sorted(sections)),
        tags=tags,
        first_sample=min((leads[i].start for i in keep), default=1),
        coding={
            "huffman": _coding_label(coding, rhythm, leads),
            "difference": rhythm.difference,
            "bimodal": rhythm.bimodal,
            "reference_beat_subtraction": lead_table.reference_beat_subtracted,
            "amplitude_nv_per_unit": rhythm.avm_nv,
            "all_leads_simultaneous": lead_table.all_simultaneous,
        },
        notes=notes,
    )
    if reference is not None:
        ecg.reference_beats = _median_beats(reference, reference_avm, reference_fs, leads, keep, qrs)
    if 7 in sections:
        measured = parse_section7(sections[7].body)
        ecg.measurements = measured.values
        ecg.measurements_extra = measured.extra
    for section_id in (8, 11):
        if section_id in sections:
            statements = parse_statements(sections[section_id].body, section_id, sections[section_id].protocol_version)
            if statements.texts:
                ecg.statements = statements.texts
                ecg.statements_status = statements.status
                break
    return ecg


def _check_section_crc(buf: bytes, section: Section) -> None:
    if section.section_id not in _CHECKED_SECTIONS:
        return  # manufacturer sections: covered by the file CRC, not read
    computed = crc_ccitt(buf[section.start + 2:section.start + section.length])
    if computed != section.crc:
        raise ECGFormatError(
            f"CRC mismatch in Section {section.section_id}: its header says 0x{section.crc:04X} but its content "
            f"gives 0x{computed:04X}."
        )


def _coding_for(stream: bytes, n_samples: int, coding: Coding | None, notes: list[str]) -> Coding:
    """Section 2 absent: 16-bit samples (what the standard implies) when the stream holds them, else the
    default Huffman table (some writers leave Section 2 out although they use it)."""
    if coding is not None:
        return coding
    if len(stream) >= 2 * n_samples:
        return NO_HUFFMAN
    note = "Section 2 is absent but the streams are too short for 16-bit samples: read with the default table."
    if note not in notes:
        notes.append(note)
    return DEFAULT_CODING


def _coding_label(coding: Coding | None, rhythm: SampleBlock, leads: list[LeadDefinition]) -> str:
    if coding is not None:
        return coding.description
    if all(len(s) >= 2 * lead.n_samples for s, lead in zip(rhythm.streams, leads)):
        return NO_HUFFMAN.description + " (no Section 2)"
    return DEFAULT_CODING.description + " (no Section 2)"


def _rhythm_lead(rhythm: SampleBlock, index: int, lead: LeadDefinition, coding: Coding | None,
                 qrs: QrsLocations | None, fs: float, out_fs: float, notes: list[str]) -> np.ndarray:
    what = f"Section 6, lead {lead.name}"
    stream = rhythm.streams[index]
    if not rhythm.bimodal:
        return decode_stream(stream, lead.n_samples, _coding_for(stream, lead.n_samples, coding, notes),
                             rhythm.difference, what=what).astype(np.float64)
    rate = round(out_fs / fs)
    zones = list(qrs.protected_zones) if qrs else []
    n_stored = bimodal_stored_count(lead.start, lead.end, zones, rate)
    stored = decode_stream(stream, n_stored, _coding_for(stream, n_stored, coding, notes), rhythm.difference,
                           what=what)
    return expand_bimodal(stored, lead.start, lead.end, zones, rate)


def _bimodal_fs(fs: float, reference_fs: float | None, qrs: QrsLocations | None) -> float:
    if reference_fs is None or qrs is None or not qrs.protected_zones:
        raise ECGFormatError("Section 6 says bimodal compression was used, but Section 4's protected zones or "
                             "Section 5's sampling rate are missing, so the rhythm cannot be restored.")
    rate = reference_fs / fs
    if abs(rate - round(rate)) > 1e-6 or not 2 <= round(rate) <= 4:
        raise ECGFormatError(f"Bimodal compression from {reference_fs:g} Hz to {fs:g} Hz is not a factor of 2, 3 or 4.")
    return float(reference_fs)


def _reference_beats(section: Section, leads: list[LeadDefinition], coding: Coding | None, qrs: QrsLocations,
                     notes: list[str]) -> tuple[dict[int, np.ndarray], float, int]:
    block = parse_sample_block(section.body, len(leads), 5)
    if block.avm_nv == 0 or block.interval_us == 0:
        raise ECGFormatError("Section 5 gives a zero amplitude multiplier or sample interval.")
    fs = 1e6 / block.interval_us
    n = round(qrs.reference_beat_ms * fs / 1000.0)
    if n <= 0:
        raise ECGFormatError(f"Section 4 gives the reference beat a length of {qrs.reference_beat_ms} ms.")
    beats = {}
    for i, lead in enumerate(leads):
        if canonical_lead_name(lead.name) is None:
            continue
        stream = block.streams[i]
        beats[i] = decode_stream(stream, n, _coding_for(stream, n, coding, notes), block.difference,
                                 what=f"Section 5, lead {lead.name}").astype(np.float64)
    return beats, fs, block.avm_nv


def _add_reference_beat(signal_nv: np.ndarray, beat_nv: np.ndarray, lead: LeadDefinition, qrs: QrsLocations,
                        notes: list[str]) -> None:
    """Restore the rhythm: within each subtraction zone (beat type 0) add the reference beat back,
    aligned on the fiducial: sample t gets the reference beat's sample ``t - fiducial + reference fiducial``."""
    if qrs.fiducial == 0:
        raise ECGFormatError("Section 4 gives no fiducial point in the reference beat (0); the subtracted "
                             "reference beats cannot be added back.")
    clipped = 0
    for beat_type, start, fiducial, end in qrs.subtraction_zones:
        if beat_type != 0:
            continue
        first, last = max(start, lead.start), min(end, lead.end)
        if last < first:
            continue
        t = np.arange(first, last + 1)
        beat_index = t - fiducial + qrs.fiducial - 1
        ok = (beat_index >= 0) & (beat_index < beat_nv.size)
        clipped += int((~ok).sum())
        signal_nv[t[ok] - lead.start] += beat_nv[beat_index[ok]]
    if clipped:
        note = "Some subtraction zones reach beyond the reference beat; those samples were left as stored."
        if note not in notes:
            notes.append(note)


def _timeline(leads: list[LeadDefinition], rows: list[np.ndarray]) -> tuple[np.ndarray, str | None]:
    """One (leads, samples) array: leads recorded over different sample ranges sit at their own
    positions, NaN elsewhere."""
    if not rows:
        return np.zeros((0, 0)), None
    first = min(lead.start for lead in leads)
    last = max(lead.end for lead in leads)
    if all(lead.start == first and lead.end == last for lead in leads):
        return np.vstack(rows), None
    signal = np.full((len(rows), last - first + 1), np.nan)
    for k, (lead, row) in enumerate(zip(leads, rows)):
        signal[k, lead.start - first:lead.end - first + 1] = row
    ranges = ", ".join(f"{lead.name} {lead.start}-{lead.end}" for lead in leads)
    return signal, f"Leads were recorded over different sample ranges ({ranges}); NaN outside each lead's range."


def _median_beats(reference: dict[int, np.ndarray], avm_nv: int, fs: float, leads: list[LeadDefinition],
                  keep: list[int], qrs: QrsLocations | None) -> dict[str, Any]:
    """The reference beats in the shape other readers use: fs, float32 mV per lead, fiducials."""
    beats = {}
    for i in keep:
        name = canonical_lead_name(leads[i].name)
        if name is not None and i in reference:
            beats[name] = (reference[i] * avm_nv * 1e-6).astype(np.float32)
    if {"I", "II"} <= set(beats):
        for name, row in derive_limb_leads(beats["I"], beats["II"]).items():
            beats.setdefault(name, row.astype(np.float32))
    out: dict[str, Any] = {"fs": fs, "leads": beats}
    if qrs is not None and qrs.fiducial:
        out["fiducials"] = {"qrs_fiducial": qrs.fiducial - 1}
    return out


def _from_healforce(buf: bytes) -> ScpEcg:
    from ecgcore.io.scp_healforce import LEADS, PRODUCER, decode_healforce

    data = decode_healforce(buf)
    return ScpEcg(
        signal_mv=data.values * (data.avm_nv * 1e-6),
        fs=data.fs,
        lead_names=list(LEADS),
        dropped=[],
        version=data.version,
        sections=data.sections,
        tags=data.tags,
        coding={"huffman": "none (Healforce 12-bit packed, leads interleaved)", "difference": 0, "bimodal": False,
                "reference_beat_subtraction": False, "amplitude_nv_per_unit": data.avm_nv},
        producer=PRODUCER,
        first_sample=data.first_sample,
        warnings=data.warnings,
    )


__all__ = ["SOURCE", "ScpEcg", "decode_scp", "read_scp"]
