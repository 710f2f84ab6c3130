"""SCP-ECG file layout and section bodies (EN 1064 / ISO 11073-91064, versions 1.x and 2.x).

A file is ``CRC (uint16) | length (uint32) | Section 0 | sections...``, all little-endian. Each
section starts with a 16-byte header ``CRC (uint16) | id (uint16) | length (uint32, header
included) | section version | protocol version | 6 reserved bytes``; its CRC (CRC-CCITT, initial
value 0xFFFF) covers the section from its id on, the file CRC everything from byte 3 on. Section 0
lists ``id (uint16) | length (uint32) | index (uint32)`` for every section, the index being the
**1-based** byte position of the section's header; a length of 0 means the section is absent.

This module turns bytes into plain values and refuses what does not add up (pointers outside the
file, lengths that disagree, counts that overrun their section). It never decodes samples: that is
``scp_huffman``'s job, and putting it all together ``scp_reader``'s.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from datetime import date, datetime, time

from ecgcore.errors import ECGFormatError

HEADER_BYTES = 16
FILE_PREAMBLE = 6  # file CRC + file length
NOT_COMPUTED = 29999  # Section 7's "value not computed"; 29998 "rejected", 19999 "not given" in some writers
_NO_VALUES = {0xFFFF, 29999, 29998, 29997, 19999}

# SCP-ECG lead identification codes (EN 1064 Table: "lead identification"), the ones we name.
LEAD_CODES: dict[int, str] = {
    1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 9: "V7", 10: "V2R", 11: "V3R",
    12: "V4R", 13: "V5R", 14: "V6R", 15: "V7R", 16: "X", 17: "Y", 18: "Z", 19: "CC5", 20: "CM5", 21: "LA",
    22: "RA", 23: "LL", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF", 65: "-aVR", 66: "V8", 67: "V9",
    68: "V8R", 69: "V9R", 70: "D (Nehb)", 71: "A (Nehb)", 72: "J (Nehb)",
}


def crc_ccitt(data: bytes, initial: int = 0xFFFF) -> int:
    """CRC-CCITT (polynomial 0x1021, MSB first) as SCP-ECG defines it (initial value 0xFFFF)."""
    return binascii.crc_hqx(data, initial)


def u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset:offset + 2], "little")


def i16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset:offset + 2], "little", signed=True)


def u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset:offset + 4], "little")


@dataclass(frozen=True)
class Pointer:
    """One Section 0 entry: where a section is (``start`` is a 0-based byte offset)."""

    section_id: int
    length: int
    start: int


@dataclass(frozen=True)
class Section:
    """A section found in the file: its header fields and its body (the bytes after the header)."""

    section_id: int
    start: int
    length: int
    crc: int
    section_version: int
    protocol_version: int
    body: bytes


def read_pointers(buf: bytes, *, zero_based: bool = False) -> list[Pointer]:
    """Section 0's pointer table. ``zero_based`` reads indices as 0-based offsets (a known
    non-compliant producer); the standard's are 1-based."""
    header_start = FILE_PREAMBLE
    if len(buf) < header_start + HEADER_BYTES:
        raise ECGFormatError(f"The file is {len(buf)} bytes long; an SCP-ECG file starts with at least 22 bytes.")
    if u16(buf, header_start + 2) != 0:
        raise ECGFormatError(
            "Not an SCP-ECG file: there is no Section 0 at byte 7 (found section id "
            f"{u16(buf, header_start + 2)})."
        )
    length = u32(buf, header_start + 4)
    if length < HEADER_BYTES or header_start + length > len(buf):
        raise ECGFormatError(
            f"Section 0 declares {length} bytes, which does not fit in the {len(buf)}-byte file "
            "(truncated or not SCP-ECG)."
        )
    body = buf[header_start + HEADER_BYTES:header_start + length]
    pointers = []
    for offset in range(0, len(body) - 9, 10):
        section_id, sec_length, index = u16(body, offset), u32(body, offset + 2), u32(body, offset + 6)
        start = index if zero_based else index - 1
        pointers.append(Pointer(section_id, sec_length if index else 0, start))
    return pointers


def self_pointer_index(buf: bytes) -> int | None:
    """The index Section 0 gives for itself (7 in a compliant file, 6 where a writer counts from 0)."""
    try:
        pointers = read_pointers(buf, zero_based=True)
    except ECGFormatError:
        return None
    return next((p.start for p in pointers if p.section_id == 0 and p.length), None)


def locate_sections(buf: bytes, file_length: int, pointers: list[Pointer], *,
                    trust_header_length: bool = False) -> dict[int, Section]:
    """Every present section, checked: inside the file, header id and length as the pointer says.

    ``trust_header_length`` takes the section header's length where it disagrees with the pointer
    (a known non-compliant producer); otherwise disagreement is an error.
    """
    sections: dict[int, Section] = {}
    for p in pointers:
        if p.length == 0:
            continue
        if p.length < HEADER_BYTES:
            raise ECGFormatError(f"Section 0 gives Section {p.section_id} a length of {p.length} bytes; "
                                 f"a section has at least its {HEADER_BYTES}-byte header.")
        if p.start < FILE_PREAMBLE or p.start + HEADER_BYTES > file_length:
            raise ECGFormatError(
                f"Section 0 points Section {p.section_id} at byte {p.start + 1}, outside the "
                f"{file_length}-byte file (corrupt or truncated)."
            )
        header_id = u16(buf, p.start + 2)
        header_length = u32(buf, p.start + 4)
        if header_id != p.section_id:
            raise ECGFormatError(
                f"Section 0 says Section {p.section_id} starts at byte {p.start + 1}, but the section there "
                f"calls itself Section {header_id} (corrupt pointer table)."
            )
        length = p.length
        if header_length != p.length:
            if not trust_header_length:
                raise ECGFormatError(
                    f"Section {p.section_id}'s length is {p.length} bytes in Section 0 but {header_length} in its "
                    "own header; the lengths must agree."
                )
            length = header_length
        if p.start + length > file_length:
            raise ECGFormatError(
                f"Section {p.section_id} (bytes {p.start + 1}-{p.start + length}) runs past the end of the "
                f"{file_length}-byte file (truncated?)."
            )
        if p.section_id in sections:
            raise ECGFormatError(f"Section 0 lists Section {p.section_id} twice.")
        sections[p.section_id] = Section(
            section_id=p.section_id,
            start=p.start,
            length=length,
            crc=u16(buf, p.start),
            section_version=buf[p.start + 8],
            protocol_version=buf[p.start + 9],
            body=bytes(buf[p.start + HEADER_BYTES:p.start + length]),
        )
    return sections


# -- Section 1: header tags -------------------------------------------------------------------------
@dataclass
class PatientTags:
    """What Section 1 holds that we use. The patient's name (tags 0, 1, 3) is never read."""

    patient_id: str | None = None
    age_years: float | None = None
    birth_date: date | None = None
    sex: str | None = None
    acquired_date: date | None = None
    acquired_time: time | None = None
    device: str | None = None
    device_details: dict[str, object] = field(default_factory=dict)
    site: str | None = None
    filters: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def acquired_at(self) -> datetime | None:
        if self.acquired_date is None:
            return None
        return datetime.combine(self.acquired_date, self.acquired_time or time())


_AGE_UNIT_YEARS = {1: 1.0, 2: 1 / 12, 3: 7 / 365.25, 4: 1 / 365.25, 5: 1 / (365.25 * 24)}


def parse_section1(body: bytes) -> PatientTags:
    """Section 1's tagged fields: ``tag (1 byte) | length (uint16) | value``, ending at tag 255."""
    out = PatientTags()
    site_parts: dict[int, str] = {}
    offset = 0
    while offset + 3 <= len(body):
        tag, length = body[offset], u16(body, offset + 1)
        if tag == 255:
            break
        value = body[offset + 3:offset + 3 + length]
        if len(value) < length:
            raise ECGFormatError(f"Section 1: tag {tag} declares {length} bytes but the section ends first.")
        offset += 3 + length
        if tag == 2:
            out.patient_id = _text(value) or None
        elif tag == 4 and length >= 3:
            amount, unit = u16(value, 0), value[2]
            if amount and unit in _AGE_UNIT_YEARS:
                out.age_years = amount * _AGE_UNIT_YEARS[unit]
        elif tag == 5 and length >= 4:
            out.birth_date = _date(value, out.notes, "date of birth")
        elif tag == 8 and length >= 1:
            out.sex = {1: "M", 2: "F"}.get(value[0])
        elif tag == 14:
            out.device, out.device_details = _device(value)
        elif tag in (16, 18, 23):  # acquiring institution, department, room
            text = _text(value)
            if text:
                site_parts[tag] = text
        elif tag == 25 and length >= 4:
            out.acquired_date = _date(value, out.notes, "acquisition date")
        elif tag == 26 and length >= 3:
            hour, minute, second = value[0], value[1], value[2]
            if hour < 24 and minute < 60 and second < 60:
                out.acquired_time = time(hour, minute, second)
            else:
                out.notes.append(f"Acquisition time {hour}:{minute}:{second} is not a time of day; ignored.")
        elif tag == 27 and length >= 2 and u16(value, 0):
            out.filters["highpass_hz"] = u16(value, 0) / 100.0
        elif tag == 28 and length >= 2 and u16(value, 0):
            out.filters["lowpass_hz"] = float(u16(value, 0))
        elif tag == 29 and length >= 1:
            bits = value[0]
            if bits & 0b01:
                out.filters["mains_filter_hz"] = 60.0
            elif bits & 0b10:
                out.filters["mains_filter_hz"] = 50.0
    if site_parts:
        out.site = ", ".join(site_parts[t] for t in sorted(site_parts))
    return out


def _text(value: bytes) -> str:
    """A Section 1 string: NUL-terminated, in the file's character set (read as Latin-1)."""
    return value.split(b"\x00", 1)[0].decode("latin-1").strip()


def _date(value: bytes, notes: list[str], what: str) -> date | None:
    """``year (uint16) | month | day``. Some writers store the year big-endian (0x07E3 for 2019)."""
    year, month, day = u16(value, 0), value[2], value[3]
    if year == 0 and month == 0 and day == 0:
        return None
    if not 1800 <= year <= 2200:
        swapped = int.from_bytes(value[0:2], "big")
        if 1800 <= swapped <= 2200:
            notes.append(f"The {what}'s year is stored big-endian ({swapped}); the standard says little-endian.")
            year = swapped
    try:
        return date(year, month, day)
    except ValueError:
        notes.append(f"The {what} {year}-{month}-{day} is not a date; ignored.")
        return None


def _device(value: bytes) -> tuple[str | None, dict[str, object]]:
    """Tag 14 (acquiring device): fixed fields, then the analysing program's revision and four strings."""
    details: dict[str, object] = {}
    if len(value) < 14:
        return None, details
    details["institution_number"] = u16(value, 0)
    details["department_number"] = u16(value, 2)
    details["device_id"] = u16(value, 4)
    details["device_type"] = {0: "cart", 1: "system (host)"}.get(value[6], value[6])
    details["manufacturer_code"] = value[7]
    model = _text(value[8:14])
    if len(value) > 35:
        details["scp_protocol_revision"] = value[14] / 10.0
        details["mains_frequency_hz"] = {1: 50, 2: 60}.get(value[18])
        revision_length = value[35]
        strings_start = 36 + revision_length
        revision = _text(value[36:strings_start])
        if revision and revision.lower() != "unknown":
            details["analysing_program_revision"] = revision
        names = ("serial_number", "device_software", "scp_implementation_software", "manufacturer")
        for name, raw in zip(names, value[strings_start:].split(b"\x00")):
            text = raw.decode("latin-1").strip()
            if text and text.lower() != "unknown":
                details[name] = text
    details = {k: v for k, v in details.items() if v not in (None, "")}
    return model or None, details


# -- Section 3: lead definitions ------------------------------------------------------------------
@dataclass(frozen=True)
class LeadDefinition:
    code: int
    start: int  # first sample number (1-based in the standard)
    end: int    # last sample number, inclusive

    @property
    def name(self) -> str:
        return LEAD_CODES.get(self.code, f"SCP lead code {self.code}")

    @property
    def n_samples(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class LeadTable:
    leads: tuple[LeadDefinition, ...]
    reference_beat_subtracted: bool
    all_simultaneous: bool
    n_declared: int


def parse_section3(body: bytes, *, allow_short: bool = False) -> LeadTable:
    """``number of leads | flags | (start uint32, end uint32, lead code byte) per lead``.

    Flags: bit 0 reference-beat subtraction used, bit 2 all leads recorded simultaneously.
    ``allow_short`` accepts a table with fewer entries than declared (a known non-compliant producer).
    """
    if len(body) < 2:
        raise ECGFormatError("Section 3 (lead definitions) is too short.")
    n_leads, flags = body[0], body[1]
    if n_leads == 0:
        raise ECGFormatError("Section 3 declares 0 leads.")
    available = (len(body) - 2) // 9
    if available < n_leads and not allow_short:
        raise ECGFormatError(
            f"Section 3 declares {n_leads} leads but has room for only {available} lead definitions "
            f"({len(body)} bytes)."
        )
    leads = []
    for i in range(min(n_leads, available)):
        offset = 2 + 9 * i
        lead = LeadDefinition(code=body[offset + 8], start=u32(body, offset), end=u32(body, offset + 4))
        if lead.end < lead.start:
            raise ECGFormatError(f"Section 3: lead {lead.name} ends (sample {lead.end}) before it starts "
                                 f"(sample {lead.start}).")
        leads.append(lead)
    return LeadTable(tuple(leads), bool(flags & 0b001), bool(flags & 0b100), n_leads)


# -- Section 4: QRS locations -----------------------------------------------------------------------
@dataclass(frozen=True)
class QrsLocations:
    reference_beat_ms: int
    fiducial: int  # sample number (1-based) of the QRS fiducial within the reference beat
    subtraction_zones: tuple[tuple[int, int, int, int], ...]  # (beat type, start, fiducial, end) sample numbers
    protected_zones: tuple[tuple[int, int], ...]              # (start, end) sample numbers


def parse_section4(body: bytes) -> QrsLocations:
    if len(body) < 6:
        raise ECGFormatError("Section 4 (QRS locations) is too short.")
    length_ms, fiducial, n_qrs = u16(body, 0), u16(body, 2), u16(body, 4)
    if 6 + 14 * n_qrs > len(body):
        raise ECGFormatError(f"Section 4 declares {n_qrs} QRS complexes ({14 * n_qrs} bytes of subtraction zones) "
                             f"but holds only {len(body) - 6} bytes.")
    zones = tuple((u16(body, 6 + 14 * i), u32(body, 8 + 14 * i), u32(body, 12 + 14 * i), u32(body, 16 + 14 * i))
                  for i in range(n_qrs))
    protected: tuple[tuple[int, int], ...] = ()
    after = 6 + 14 * n_qrs
    if after + 8 * n_qrs <= len(body) and n_qrs:
        protected = tuple((u32(body, after + 8 * i), u32(body, after + 8 * i + 4)) for i in range(n_qrs))
    return QrsLocations(length_ms, fiducial, zones, protected)


# -- Sections 5 and 6: coded samples -------------------------------------------------------------------
@dataclass(frozen=True)
class SampleBlock:
    """Section 5 (reference beats) or 6 (rhythm): scale, rate, coding flags and one stream per lead."""

    avm_nv: int           # amplitude value multiplier: nanovolts per unit
    interval_us: int      # sample time interval in microseconds
    difference: int       # 0 none, 1 first, 2 second differences
    bimodal: bool         # Section 6 only
    streams: tuple[bytes, ...]


def parse_sample_block(body: bytes, n_leads: int, section_id: int) -> SampleBlock:
    head = 6 + 2 * n_leads
    if len(body) < head:
        raise ECGFormatError(f"Section {section_id} is too short for its header and {n_leads} stream lengths.")
    lengths = [u16(body, 6 + 2 * i) for i in range(n_leads)]
    if head + sum(lengths) > len(body):
        raise ECGFormatError(
            f"Section {section_id} declares {sum(lengths)} bytes of sample data for {n_leads} leads but holds "
            f"only {len(body) - head}."
        )
    streams = []
    offset = head
    for length in lengths:
        streams.append(body[offset:offset + length])
        offset += length
    return SampleBlock(u16(body, 0), u16(body, 2), body[4], section_id == 6 and body[5] == 1, tuple(streams))


# -- Section 7: global measurements ---------------------------------------------------------------------
@dataclass(frozen=True)
class GlobalMeasurements:
    values: dict[str, float]
    extra: dict[str, object]


def parse_section7(body: bytes) -> GlobalMeasurements:
    """``beat types + 1 | spikes | mean RR | mean PP`` then 16 bytes per beat type (P on/off, QRS on/off,
    T off in ms from the reference beat's start; P, QRS, T axes in degrees), spikes, QRS types, and
    ventricular rate, atrial rate, QTc and its formula. 29999 (and 0 for rates) means "not computed".
    The first measurement block is the dominant (type 0) beat's."""
    if len(body) < 6:
        raise ECGFormatError("Section 7 (global measurements) is too short.")
    n_blocks, n_spikes = body[0], body[1]
    rr, pp = u16(body, 2), u16(body, 4)
    values: dict[str, float] = {}
    extra: dict[str, object] = {}
    if _given(rr):
        values["rr_ms"] = float(rr)
    if _given(pp):
        extra["pp_ms"] = pp
    offset = 6
    if n_blocks and offset + 16 <= len(body):
        p_on, p_off, qrs_on, qrs_off, t_off = (u16(body, offset + 2 * k) for k in range(5))
        p_axis, qrs_axis, t_axis = (i16(body, offset + 10 + 2 * k) for k in range(3))
        if _given(p_on) and _given(p_off) and p_off >= p_on:
            values["p_duration_ms"] = float(p_off - p_on)
        if _given(p_on) and _given(qrs_on) and qrs_on >= p_on:
            values["pr_ms"] = float(qrs_on - p_on)
        if _given(qrs_on) and _given(qrs_off) and qrs_off >= qrs_on:
            values["qrs_ms"] = float(qrs_off - qrs_on)
        if _given(qrs_on) and _given(t_off) and t_off >= qrs_on:
            values["qt_ms"] = float(t_off - qrs_on)
        for name, axis in (("p_axis_deg", p_axis), ("qrs_axis_deg", qrs_axis), ("t_axis_deg", t_axis)):
            if -360 <= axis <= 360:
                values[name] = float(axis)
        extra["fiducials_ms"] = {k: v for k, v in (("p_onset", p_on), ("p_offset", p_off), ("qrs_onset", qrs_on),
                                                   ("qrs_offset", qrs_off), ("t_offset", t_off)) if _given(v)}
    offset += 16 * n_blocks + 10 * n_spikes  # spikes (4 bytes) and their info (6 bytes)
    if offset + 2 <= len(body):
        n_qrs = u16(body, offset)
        offset += 2 + n_qrs
        if offset + 9 <= len(body):
            vent_rate, atrial_rate, qtc, formula = u16(body, offset), u16(body, offset + 2), u16(body, offset + 4), \
                body[offset + 6]
            if _given(vent_rate) and vent_rate:
                values["heart_rate_bpm"] = float(vent_rate)
            if _given(atrial_rate) and atrial_rate:
                extra["atrial_rate_bpm"] = atrial_rate
            if _given(qtc) and qtc:
                if formula == 1:
                    values["qtc_bazett_ms"] = float(qtc)
                else:
                    extra["qtc_ms"] = qtc
                    extra["qtc_formula"] = {0: "unspecified", 2: "Hodges"}.get(formula, f"code {formula}")
    return GlobalMeasurements(values, extra)


def _given(value: int) -> bool:
    return value not in _NO_VALUES


# -- Sections 8 and 11: interpretive statements -------------------------------------------------------
@dataclass(frozen=True)
class Statements:
    status: str                 # original (machine), confirmed, overread (not confirmed)
    when: datetime | None
    texts: tuple[str, ...]


_STATUS = {0: "original", 1: "confirmed", 2: "overread"}


def parse_statements(body: bytes, section_id: int, protocol_version: int) -> Statements:
    """``status | year (uint16) | month | day | hour | minute | second | count`` then per statement
    ``sequence number | length (uint16) | text``. Section 11 (version 2.x) puts a type byte before the text
    and may hold several NUL-separated codes in one statement."""
    if len(body) < 9:
        raise ECGFormatError(f"Section {section_id} (statements) is too short.")
    status = _STATUS.get(body[0], f"code {body[0]}")
    when = None
    try:
        when = datetime(u16(body, 1), body[3], body[4], body[5], body[6], body[7])
    except ValueError:
        pass
    count = body[8]
    texts: list[str] = []
    offset = 9
    for _ in range(count):
        if offset + 3 > len(body):
            raise ECGFormatError(f"Section {section_id} declares {count} statements but ends after {len(texts)}.")
        length = u16(body, offset + 1)
        value = body[offset + 3:offset + 3 + length]
        if len(value) < length:
            raise ECGFormatError(f"Section {section_id}: statement {len(texts) + 1} runs past the section's end.")
        offset += 3 + length
        if section_id == 11 and protocol_version >= 20 and value:
            value = value[1:]  # statement type: 1 coded, 2 full text, 3 logic
        parts = [p.decode("latin-1").strip() for p in value.split(b"\x00")]
        text = "; ".join(p for p in parts if p)
        if text:
            texts.append(text)
    return Statements(status, when, tuple(texts))


__all__ = [
    "LEAD_CODES",
    "GlobalMeasurements",
    "LeadDefinition",
    "LeadTable",
    "PatientTags",
    "Pointer",
    "QrsLocations",
    "SampleBlock",
    "Section",
    "Statements",
    "crc_ccitt",
    "locate_sections",
    "parse_sample_block",
    "parse_section1",
    "parse_section3",
    "parse_section4",
    "parse_section7",
    "parse_statements",
    "read_pointers",
    "self_pointer_index",
]
