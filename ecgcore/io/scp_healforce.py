"""The one non-compliant SCP-ECG layout we know and read: Healforce handheld recorders (Prince 180D).

These devices write ``.SCP`` files that follow the standard's outline (Section 0 pointers, Sections
1, 2, 3, 6, a manufacturer Section 9) but not its rules. Checked on two exports of a Prince 180D:

- Section 0 indices are 0-based byte offsets (the standard's are 1-based): Section 0 points at byte 6.
- The record length's two 16-bit halves are swapped (``00 00 F0 72`` for 29 424 bytes); the file is
  then zero-padded to 32 KiB.
- CRCs are CRC-16 with initial value 0 (XMODEM), not 0xFFFF; the file CRC is stored big-endian.
- Section 0 gives Section 6 a longer length than the section's own header (the header is right).
- Section 3 declares 3 leads but holds one lead definition (sample range; its lead code is wrong).
- Section 6 holds one stream for all leads, not Huffman coded: leads interleaved sample by sample,
  4 samples packed in 3 little-endian 16-bit words (bits 0-9 of each word are a sample in offset
  binary, bits 10-13 of the three words together the fourth sample, bits 14-15 beat markers).
- Section 6's "sample time interval" holds the sampling rate in Hz (150), not microseconds.
- The acquisition date's year is big-endian and Section 1 has no end tag.

The three channels are leads I, II and III: on both samples III equals II - I to within about
0.02 mV on average. Amplitudes use the file's own multiplier (9524 nV per unit, i.e. 105 units per
mV; the open-source decoder this layout was learnt from assumes 10 uV). Section 2 (a table that does
not describe the data) and Section 9 (a heart-rate trend) are not read.

A file that looks like this layout (0-based offsets) but does not match it in every other check
is refused with a message that lists what is non-compliant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecgcore.errors import ECGFormatError
from ecgcore.io.scp_sections import (
    PatientTags,
    crc_ccitt,
    locate_sections,
    parse_sample_block,
    parse_section1,
    parse_section3,
    read_pointers,
    u16,
    u32,
)

PRODUCER = "Healforce handheld ECG (non-compliant SCP-ECG)"
LEADS = ("I", "II", "III")


@dataclass
class HealforceData:
    values: np.ndarray           # (3, n) integer units
    fs: float
    avm_nv: int
    tags: PatientTags
    version: str
    sections: tuple[int, ...]
    first_sample: int
    warnings: list[str] = field(default_factory=list)


def decode_healforce(buf: bytes) -> HealforceData:
    """Read a Healforce export, checking every quirk listed in the module docstring."""
    warnings = ["Section 0 indices are 0-based byte offsets (the standard counts from 1)."]
    length = u32(buf, 2)
    if length > len(buf) or length < 22:
        swapped = ((length & 0xFFFF) << 16) | (length >> 16)
        if not 22 <= swapped <= len(buf):
            raise _not_healforce(f"its record length ({length} bytes) does not fit the {len(buf)}-byte file, "
                                 "even with its 16-bit halves swapped")
        warnings.append(f"The record length's 16-bit halves are swapped (reads {length}, means {swapped} bytes).")
        length = swapped
    stored = u16(buf, 0)
    computed = crc_ccitt(buf[2:length], 0x0000)
    if computed not in (stored, ((stored & 0xFF) << 8) | (stored >> 8)):
        raise ECGFormatError(
            f"CRC mismatch: the file's CRC is 0x{stored:04X} but its content gives 0x{computed:04X} "
            "(checked as Healforce computes it: CRC-16, initial value 0); the file is corrupt or was altered."
        )
    warnings.append("CRCs use initial value 0 (XMODEM) and the file CRC is stored big-endian "
                    "(the standard: initial value 0xFFFF, little-endian).")
    pointers = read_pointers(buf, zero_based=True)
    sections = locate_sections(buf, length, pointers, trust_header_length=True)
    for p in pointers:
        if p.length and p.section_id in sections and sections[p.section_id].length != p.length:
            warnings.append(f"Section 0 gives Section {p.section_id} {p.length} bytes; its header says "
                            f"{sections[p.section_id].length} (used).")
    for needed in (3, 6):
        if needed not in sections:
            raise _not_healforce(f"it has no Section {needed}")
    lead_table = parse_section3(sections[3].body, allow_short=True)
    if lead_table.n_declared != len(LEADS) or not lead_table.leads:
        raise _not_healforce(f"Section 3 declares {lead_table.n_declared} leads (the known layout has 3)")
    if len(lead_table.leads) < lead_table.n_declared:
        warnings.append(f"Section 3 declares {lead_table.n_declared} leads but holds "
                        f"{len(lead_table.leads)} lead definition(s); lead codes are not used.")
    n_samples = lead_table.leads[0].n_samples
    block = parse_sample_block(sections[6].body, 1, 6)
    stream = block.streams[0]
    if block.difference or block.bimodal:
        raise _not_healforce("Section 6 says its data are difference coded or bimodally compressed")
    if len(stream) % 6 or len(stream) // 6 * 4 != len(LEADS) * n_samples:
        raise _not_healforce(
            f"Section 6 holds {len(stream)} bytes, which is not {len(LEADS)} leads x {n_samples} samples "
            "of 12-bit packed data"
        )
    if not 50 <= block.interval_us <= 1000:
        raise _not_healforce(f"Section 6's rate field ({block.interval_us}) is not a sampling rate in Hz")
    warnings.append(f"Section 6's sample interval field holds the sampling rate ({block.interval_us} Hz), "
                    "not microseconds.")
    warnings.append("Section 6 holds one stream with the leads interleaved, 12-bit packed, not Huffman coded.")
    if block.avm_nv == 0:
        raise _not_healforce("Section 6's amplitude multiplier is 0")
    tags = parse_section1(sections[1].body) if 1 in sections else PatientTags()
    warnings.extend(tags.notes)
    tags.notes = []
    protocol = sections[0].protocol_version if 0 in sections else buf[15]
    return HealforceData(
        values=_unpack(stream, n_samples),
        fs=float(block.interval_us),
        avm_nv=block.avm_nv,
        tags=tags,
        version=f"{protocol // 10}.{protocol % 10}",
        sections=tuple(sorted(sections)),
        first_sample=lead_table.leads[0].start,
        warnings=warnings,
    )


def _unpack(stream: bytes, n_samples: int) -> np.ndarray:
    """12-bit packed, interleaved samples -> (3, n) integers (offset binary, 512 = 0)."""
    words = np.frombuffer(stream, dtype="<u2").reshape(-1, 3).astype(np.int64)
    fourth = ((words[:, 0] & 0x3C00) >> 2) | ((words[:, 1] & 0x3C00) >> 6) | ((words[:, 2] & 0x3C00) >> 10)
    packed = np.concatenate([words, fourth[:, None]], axis=1).reshape(-1)
    values = (packed & 0x3FF) - 512
    return values.reshape(n_samples, len(LEADS)).T.copy()


def _not_healforce(reason: str) -> ECGFormatError:
    return ECGFormatError(
        "Non-compliant SCP-ECG: Section 0 uses 0-based byte offsets (the standard counts from 1). The one such "
        f"layout known (Healforce handheld recorders) does not fit: {reason}. The file cannot be read."
    )


__all__ = ["LEADS", "PRODUCER", "HealforceData", "decode_healforce"]
