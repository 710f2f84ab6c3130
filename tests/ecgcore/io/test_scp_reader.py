"""SCP-ECG reader: the three shipped samples, hostile variants of Example.scp, the Huffman decoder on
hand-made streams, and small synthetic files for what the samples do not exercise (reference-beat
subtraction, bimodal compression, 16-bit samples, statements)."""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from ecgcore.errors import ECGFormatError
from ecgcore.io import detect_format, read
from ecgcore.io.scp_huffman import (
    DEFAULT_CODING,
    NO_HUFFMAN,
    bimodal_stored_count,
    decode_huffman,
    decode_stream,
    expand_bimodal,
    parse_section2,
    undifference,
)
from ecgcore.io.scp_sections import crc_ccitt
from ecgcore.leads import LEADS_12


@pytest.fixture(scope="module")
def scp_dir(samples_dir: Path) -> Path:
    return samples_dir / "hospital" / "scp_ecg"


@pytest.fixture(scope="module")
def example(scp_dir: Path):
    return read(scp_dir / "Example.scp")


# -- the samples ----------------------------------------------------------------------------------------
def test_example_signal_shape_rate_and_leads(example) -> None:
    assert example.signal.shape == (12, 5000)
    assert example.fs == 500.0 and example.duration_s == 10.0
    assert example.leads == LEADS_12
    assert example.source == "SCP-ECG"
    assert example.metadata["original_lead_names"] == ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6",
                                                       "III", "aVR", "aVL", "aVF"]
    assert "derived_leads" not in example.metadata  # all 12 are stored


def test_example_amplitudes_in_mv_obey_einthoven(example) -> None:
    """All twelve leads are stored, each decoded on its own: III = II - I and aVF = II - I/2 must hold
    to the file's resolution (2.5 uV per unit; the augmented leads were rounded to it)."""
    i, ii = example.lead("I"), example.lead("II")
    assert np.abs(example.lead("III") - (ii - i)).max() < 1e-5
    assert np.abs(example.lead("aVF") - (ii - i / 2)).max() <= 0.0025 / 2 + 1e-5
    assert np.abs(example.lead("aVR") + (i + ii) / 2).max() <= 0.0025 / 2 + 1e-5
    assert 0.5 < np.ptp(ii) < 2.0  # a 12-lead ECG in mV, not uV or raw units


def test_example_reference_beat_matches_the_rhythm(example) -> None:
    beats = example.metadata["device_median_beats"]
    assert beats["fs"] == 500.0 and set(beats["leads"]) == set(LEADS_12)
    ref = beats["leads"]["II"].astype(np.float64)
    assert ref.shape == (599,)  # Section 4: 1198 ms at 500 Hz
    rhythm = example.lead("II").astype(np.float64)
    n = ref.size
    corr, start = max((np.corrcoef(ref, rhythm[s:s + n])[0, 1], s) for s in range(0, rhythm.size - n, 2))
    assert corr > 0.95
    assert np.ptp(rhythm[start:start + n]) == pytest.approx(np.ptp(ref), rel=0.15)


def test_example_metadata_acquisition_and_device_reading(example) -> None:
    assert example.age == 49 and example.sex == "M"  # born 1953-05-08, recorded 2002-11-22
    acq = example.acquisition
    assert acq.patient_id == "SBJ-123"
    assert acq.acquired_at == datetime(2002, 11, 22, 9, 10, 0)
    assert acq.device == "ELI250"
    assert "SBJ-123" not in repr(acq) and "SBJ-123" not in repr(example)
    assert "Clark" not in repr(example.metadata) and "Clark" not in repr(example)  # the name is never read
    meta = example.metadata
    assert meta["scp_version"] == "2.0" and meta["scp_sections"] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert meta["scp_coding"]["huffman"] == "default Huffman table"
    assert meta["scp_coding"]["difference"] == 2 and meta["scp_coding"]["amplitude_nv_per_unit"] == 2500
    assert meta["scp_coding"]["bimodal"] is False and meta["scp_coding"]["reference_beat_subtraction"] is False
    reading = example.device_reading
    assert reading.measurements == {"p_duration_ms": 102.0, "pr_ms": 148.0, "qrs_ms": 120.0, "qt_ms": 420.0,
                                    "p_axis_deg": 44.0, "qrs_axis_deg": -61.0, "t_axis_deg": 86.0}
    assert reading.statements == () and reading.source == "ELI250 via ECGConversion"
    assert meta["device_measurements_extra"]["qtc_ms"] == 443  # formula not stated: not filed as Bazett
    assert "scp_warnings" not in meta and "scp_first_sample" not in meta


@pytest.mark.parametrize("name", ["62.SCP", "63.SCP"])
def test_healforce_handheld_is_read_with_its_quirks_listed(scp_dir: Path, name: str) -> None:
    record = read(scp_dir / name)
    assert detect_format(scp_dir / name) == "scp"
    assert record.fs == 150.0 and record.n_samples == 4500
    assert record.metadata["original_lead_names"] == ["I", "II", "III"]
    assert record.leads == ("I", "II", "III", "aVR", "aVL", "aVF")
    i, ii, iii = (record.lead(n).astype(np.float64) for n in ("I", "II", "III"))
    assert np.abs(iii - (ii - i)).mean() < 0.05  # the three channels are I, II, III
    assert np.corrcoef(iii, ii - i)[0, 1] > 0.95
    assert 0.5 < np.ptp(ii) < 3.0
    warnings = " ".join(record.metadata["scp_warnings"])
    for quirk in ("0-based", "halves are swapped", "initial value 0", "sampling rate (150 Hz)", "big-endian (2019)"):
        assert quirk in warnings
    assert record.metadata["scp_producer"].startswith("Healforce")
    assert record.acquisition.patient_id == "00000" and record.acquisition.acquired_at.date() == datetime(2019, 8, 8).date()
    assert record.device_reading is None
    assert record.metadata["scp_first_sample"] == {"62.SCP": 283501, "63.SCP": 288001}[name]


def test_healforce_segments_join_seamlessly(scp_dir: Path) -> None:
    """62 and 63 are consecutive 30 s segments: the junction is no bigger a step than any other."""
    first, second = read(scp_dir / "62.SCP"), read(scp_dir / "63.SCP")
    for lead in ("I", "II", "III"):
        joined = np.concatenate([first.lead(lead), second.lead(lead)])
        steps = np.abs(np.diff(joined))
        assert steps[4499] <= np.percentile(steps, 90) + 1e-6


# -- hostile variants of Example.scp -----------------------------------------------------------------------
def _pointer(buf: bytes, section_id: int) -> tuple[int, int, int]:
    """(offset of the pointer entry, section length, 0-based start) of a section in Section 0."""
    for entry in range(22, 6 + struct.unpack_from("<I", buf, 10)[0], 10):
        sid, length, index = struct.unpack_from("<HII", buf, entry)
        if sid == section_id:
            return entry, length, index - 1
    raise KeyError(section_id)


def _fix_crcs(buf: bytearray, *sections: int) -> bytes:
    """Recompute the CRCs of the given sections and of the file, as a consistent (if buggy) writer would."""
    for section_id in sections:
        _, length, start = _pointer(bytes(buf), section_id)
        struct.pack_into("<H", buf, start, crc_ccitt(bytes(buf[start + 2:start + length])))
    struct.pack_into("<H", buf, 0, crc_ccitt(bytes(buf[2:struct.unpack_from("<I", buf, 2)[0]])))
    return bytes(buf)


def _read_bytes(tmp_path: Path, data: bytes, name: str = "hostile.scp"):
    path = tmp_path / name
    path.write_bytes(data)
    return read(path)


@pytest.fixture(scope="module")
def example_bytes(scp_dir: Path) -> bytes:
    return (scp_dir / "Example.scp").read_bytes()


def _lead_end_offsets(buf: bytes) -> list[int]:
    _, _, start = _pointer(buf, 3)
    n_leads = buf[start + 16]
    return [start + 18 + 9 * k + 4 for k in range(n_leads)]


def test_section_pointing_outside_the_file(tmp_path: Path, example_bytes: bytes) -> None:
    buf = bytearray(example_bytes)
    entry, _, _ = _pointer(example_bytes, 6)
    struct.pack_into("<I", buf, entry + 6, len(buf) + 1000)
    with pytest.raises(ECGFormatError, match=r"hostile\.scp: .*Section 6 at byte \d+, outside the 34144-byte file"):
        _read_bytes(tmp_path, _fix_crcs(buf, 0))


def test_section_running_past_the_end(tmp_path: Path, example_bytes: bytes) -> None:
    buf = bytearray(example_bytes)
    entry, length, start = _pointer(example_bytes, 7)
    struct.pack_into("<I", buf, entry + 2, length + 400)
    struct.pack_into("<I", buf, start + 4, length + 400)
    with pytest.raises(ECGFormatError, match="Section 7 .* runs past the end"):
        _read_bytes(tmp_path, _fix_crcs(buf, 0))


def test_lengths_that_disagree(tmp_path: Path, example_bytes: bytes) -> None:
    buf = bytearray(example_bytes)
    _, length, start = _pointer(example_bytes, 5)
    struct.pack_into("<I", buf, start + 4, length - 10)  # the header lies about its length
    with pytest.raises(ECGFormatError, match="Section 5's length is 3342 bytes in Section 0 but 3332"):
        _read_bytes(tmp_path, _fix_crcs(buf))


def test_truncated_file(tmp_path: Path, example_bytes: bytes) -> None:
    with pytest.raises(ECGFormatError, match="truncated: its header declares 34144 bytes but the file has 20000"):
        _read_bytes(tmp_path, example_bytes[:20000])
    with pytest.raises(ECGFormatError, match="at least 22 bytes"):
        _read_bytes(tmp_path, example_bytes[:12])


def test_crc_mismatch(tmp_path: Path, example_bytes: bytes) -> None:
    buf = bytearray(example_bytes)
    _, _, start = _pointer(example_bytes, 6)
    buf[start + 500] ^= 0x10  # one flipped bit in the rhythm data
    with pytest.raises(ECGFormatError, match="CRC mismatch: the file's CRC is 0x066B but its content gives"):
        _read_bytes(tmp_path, bytes(buf))
    with pytest.raises(ECGFormatError, match="CRC mismatch in Section 6"):  # file CRC redone, section CRC not
        _read_bytes(tmp_path, _fix_crcs(buf))


def test_declared_sample_count_beyond_the_data(tmp_path: Path, example_bytes: bytes) -> None:
    for end, message in ((60000, r"60000 samples are declared but the stream has only \d+ bytes"),
                         (5400, r"the bit stream runs out (after|inside)")):
        buf = bytearray(example_bytes)
        for offset in _lead_end_offsets(example_bytes):
            struct.pack_into("<I", buf, offset, end)
        with pytest.raises(ECGFormatError, match=f"Section 6, lead I: {message}"):
            _read_bytes(tmp_path, _fix_crcs(buf, 3))


def test_stream_with_more_than_its_declared_samples(tmp_path: Path, example_bytes: bytes) -> None:
    buf = bytearray(example_bytes)
    for offset in _lead_end_offsets(example_bytes):
        struct.pack_into("<I", buf, offset, 4000)
    with pytest.raises(ECGFormatError, match="holds more data than its 4000 declared samples"):
        _read_bytes(tmp_path, _fix_crcs(buf, 3))


def test_bit_stream_that_runs_out(tmp_path: Path, example_bytes: bytes) -> None:
    buf = bytearray(example_bytes)
    _, _, start = _pointer(example_bytes, 6)
    struct.pack_into("<H", buf, start + 16 + 6, 2000)  # lead I's stream: 2000 of its 2510 bytes
    with pytest.raises(ECGFormatError, match=r"Section 6, lead I: the bit stream runs out after \d+ of 5000"):
        _read_bytes(tmp_path, _fix_crcs(buf, 6))


def test_stream_lengths_beyond_the_section(tmp_path: Path, example_bytes: bytes) -> None:
    buf = bytearray(example_bytes)
    _, _, start = _pointer(example_bytes, 6)
    struct.pack_into("<H", buf, start + 16 + 6, 60000)
    with pytest.raises(ECGFormatError, match="Section 6 declares \\d+ bytes of sample data for 12 leads"):
        _read_bytes(tmp_path, _fix_crcs(buf, 6))


def test_not_scp_and_non_compliant_layouts(tmp_path: Path, scp_dir: Path) -> None:
    with pytest.raises(ECGFormatError, match="Not an SCP-ECG file"):
        _read_bytes(tmp_path, b"MZ" + bytes(range(256)) * 4)
    healforce = bytearray((scp_dir / "62.SCP").read_bytes())
    healforce[300] ^= 0xFF  # zero padding after Section 3, covered by the CRC
    with pytest.raises(ECGFormatError, match="CRC mismatch.*as Healforce computes it"):
        _read_bytes(tmp_path, bytes(healforce))
    healforce = bytearray((scp_dir / "62.SCP").read_bytes())
    healforce[178 + 16] = 2  # Section 3: 2 leads; redo the (XMODEM, big-endian) file CRC
    struct.pack_into(">H", healforce, 0, crc_ccitt(bytes(healforce[2:29424]), 0))
    with pytest.raises(ECGFormatError, match="Non-compliant SCP-ECG: Section 0 uses 0-based .* declares 2 leads"):
        _read_bytes(tmp_path, bytes(healforce))


# -- the Huffman decoder -------------------------------------------------------------------------------------
def _bits_to_bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def _encode_default(values: list[int]) -> bytes:
    """The default table as EN 1064 defines it, written independently of the decoder."""
    out = []
    for v in values:
        if v == 0:
            out.append("0")
        elif abs(v) <= 8:
            out.append("1" * abs(v) + "0" + ("1" if v < 0 else "0"))
        elif -128 <= v <= 127:
            out.append("1" * 9 + "0" + format(v & 0xFF, "08b"))
        else:
            out.append("1" * 9 + "1" + format(v & 0xFFFF, "016b"))
    return _bits_to_bytes("".join(out))


def test_default_table_on_the_standards_worked_example() -> None:
    """EN 1064's example stream (second differences; the last byte is the one zero-padded bit it needs)."""
    stream = bytes([0xFF, 0x83, 0x7F, 0xE0, 0xE6, 0xF1, 0x53, 0x65, 0x59, 0xB6, 0x5B, 0x96, 0x4B, 0x96, 0x00])
    expected = [13, 14, 15, 14, 16, 18, 19, 20, 22, 22, 23, 23, 23, 22, 22, 20, 17, 15, 12, 8, 6, 3, 1, 0,
                -2, -2, -3, -3]
    assert decode_stream(stream, 28, DEFAULT_CODING, 2, what="example").tolist() == expected


def test_default_table_on_a_hand_made_stream() -> None:
    values = [0, 1, -1, 2, -2, 7, -7, 8, -8, 9, -9, 127, -128, 128, -129, 32767, -32768, 0, 0, 5]
    stream = _encode_default(values)
    assert decode_huffman(stream, len(values), DEFAULT_CODING.tables, what="t").tolist() == values
    assert _encode_default([3]) == bytes([0b11100000])  # 3 = "11100": three ones, a zero, sign 0
    padded = _encode_default([3, 3])  # 2 x 5 bits, then 6 zero bits of padding: six more zeros, then nothing
    assert decode_huffman(padded, 8, DEFAULT_CODING.tables, what="t").tolist() == [3, 3, 0, 0, 0, 0, 0, 0]
    with pytest.raises(ECGFormatError, match="runs out after 8 of 9"):
        decode_huffman(padded, 9, DEFAULT_CODING.tables, what="t")
    with pytest.raises(ECGFormatError, match="runs out inside sample 1 of 1"):
        decode_huffman(b"\xff", 1, DEFAULT_CODING.tables, what="t")
    with pytest.raises(ECGFormatError, match="more data than its 2 declared samples"):
        decode_huffman(_encode_default([1, 2, 3]), 2, DEFAULT_CODING.tables, what="t")


def _section2(tables: list[list[tuple[int, int, int, int, str]]]) -> bytes:
    """Section 2 body; each code is (prefix bits, total bits, mode, value, code as a bit string)."""
    out = struct.pack("<H", len(tables))
    for codes in tables:
        out += struct.pack("<H", len(codes))
        for prefix, total, mode, value, code in codes:
            stored = int(code[::-1], 2)  # the standard stores a code's bits reversed
            out += struct.pack("<BBBhI", prefix, total, mode, value, stored)
    return out


def test_custom_tables_with_extra_bits_and_a_table_switch() -> None:
    table_1 = [(1, 1, 1, 0, "0"), (2, 2, 1, 1, "10"), (3, 3, 1, -1, "110"), (3, 3, 0, 2, "111")]  # 111: to table 2
    table_2 = [(1, 5, 1, 0, "0"), (2, 2, 0, 1, "10")]  # "0" + 4 bits of value; "10": back to table 1
    coding = parse_section2(_section2([table_1, table_2]))
    stream = _bits_to_bytes("0" "10" "110" "111" "0" "0111" "0" "1001" "10" "10")
    assert decode_huffman(stream, 6, coding.tables, what="t").tolist() == [0, 1, -1, 7, -7, 1]
    incomplete = parse_section2(_section2([[(1, 1, 1, 0, "0"), (2, 2, 1, 1, "10")]]))
    with pytest.raises(ECGFormatError, match="match no code of Huffman table 1"):
        decode_huffman(_bits_to_bytes("0" "10" "11"), 3, incomplete.tables, what="t")
    with pytest.raises(ECGFormatError, match="not a prefix code"):
        parse_section2(_section2([[(1, 1, 1, 0, "0"), (2, 2, 1, 1, "01")]]))
    with pytest.raises(ECGFormatError, match="switches to table 3, which does not exist"):
        parse_section2(_section2([[(1, 1, 1, 0, "0"), (1, 1, 0, 3, "1")]]))
    assert parse_section2(b"\x1f\x4e") is DEFAULT_CODING and parse_section2(b"\x00\x00") is NO_HUFFMAN


def test_undifference_first_and_second_order() -> None:
    x = np.array([5, 7, 4, 4, 10, -3], dtype=np.int64)
    first = np.concatenate([[x[0]], np.diff(x)])
    second = np.concatenate([x[:2], x[2:] - 2 * x[1:-1] + x[:-2]])
    assert undifference(first, 1).tolist() == x.tolist()
    assert undifference(second, 2).tolist() == x.tolist()
    assert undifference(x, 0).tolist() == x.tolist()


def test_bimodal_expansion_is_exact_inside_protected_zones() -> None:
    full = 100 + 3 * np.arange(1, 41)  # samples 1..40, a straight line
    zones = [(13, 20)]
    rate = 4
    layout = [(1, 4), (5, 8), (9, 12)] + [(t, t) for t in range(13, 21)] + [(21, 24), (25, 28), (29, 32), (33, 36),
                                                                          (37, 40)]
    stored = np.array([full[a - 1:b].mean() for a, b in layout])
    assert bimodal_stored_count(1, 40, zones, rate) == len(layout) == 16
    restored = expand_bimodal(stored, 1, 40, zones, rate)
    assert np.allclose(restored[12:20], full[12:20])  # protected: as stored
    assert np.allclose(restored[2:-2], full[2:-2])  # a line survives block means + interpolation


# -- synthetic files: what the samples do not exercise -----------------------------------------------------
def _section(section_id: int, body: bytes) -> bytes:
    body += b"\x00" * (len(body) % 2)
    head = struct.pack("<HIBB6s", section_id, 16 + len(body), 20, 20, b"SCPECG")
    return struct.pack("<H", crc_ccitt(head + body)) + head + body


def _scp_file(bodies: dict[int, bytes]) -> bytes:
    ids = sorted(set(range(12)) | set(bodies))
    s0_length = 16 + 10 * len(ids)
    position = 6 + s0_length + 1  # 1-based index of the first section after Section 0
    pointers, blobs = b"", b""
    for section_id in ids:
        if section_id == 0:
            pointers += struct.pack("<HII", 0, s0_length, 7)
        elif section_id in bodies:
            blob = _section(section_id, bodies[section_id])
            pointers += struct.pack("<HII", section_id, len(blob), position)
            blobs += blob
            position += len(blob)
        else:
            pointers += struct.pack("<HII", section_id, 0, 0)
    rest = _section(0, pointers) + blobs
    length = 6 + len(rest)
    return struct.pack("<H", crc_ccitt(struct.pack("<I", length) + rest)) + struct.pack("<I", length) + rest


def _tags() -> bytes:
    def tag(number: int, value: bytes) -> bytes:
        return struct.pack("<BH", number, len(value)) + value

    return (tag(0, b"Secretname\x00") + tag(2, b"MRN-42\x00") + tag(5, struct.pack("<HBB", 1970, 6, 15))
            + tag(8, b"\x02") + tag(25, struct.pack("<HBB", 2020, 6, 14)) + tag(26, bytes([8, 30, 0]))
            + tag(16, b"General Hospital\x00") + tag(255, b""))


def _block(avm: int, interval: int, difference: int, flag: int, streams: list[bytes]) -> bytes:
    return (struct.pack("<HHBB", avm, interval, difference, flag) + struct.pack(f"<{len(streams)}H", *map(len, streams))
            + b"".join(streams))


def _second_differences(x: np.ndarray) -> list[int]:
    return [int(v) for v in np.concatenate([x[:2], x[2:] - 2 * x[1:-1] + x[:-2]])]


def _beat(n: int = 300, peak: int = 100) -> np.ndarray:
    t = np.arange(n)
    return np.round(400 * np.exp(-0.5 * ((t - peak) / 6.0) ** 2) - 60 * np.exp(-0.5 * ((t - 180) / 25.0) ** 2)).astype(np.int64)


def test_reference_beat_subtraction_is_undone(tmp_path: Path) -> None:
    """Rhythm stored as residuals after subtracting the reference beat around each QRS (Section 3 flag),
    default Huffman table, second differences: the reader adds the beat back, sample for sample."""
    n, fiducials = 2500, [300, 800, 1300, 1800, 2300]  # sample numbers (1-based) of each QRS
    beat = _beat()
    ref_fiducial = 101  # 1-based position of the QRS fiducial in the reference beat
    t = np.arange(1, n + 1)
    leads = {"I": np.round(30 * np.sin(t / 200)).astype(np.int64), "II": np.round(-20 * np.cos(t / 150)).astype(np.int64)}
    rhythm = {k: v.copy() for k, v in leads.items()}
    zones = []
    for fc in fiducials:
        start, end = fc - 40, fc + 60
        zones.append((0, start, fc, end))
        for name, row in rhythm.items():
            scale = 1 if name == "I" else 2
            row[start - 1:end] += scale * beat[start - fc + ref_fiducial - 1:end - fc + ref_fiducial]
    residual = leads  # the rhythm less the reference beats: what Section 6 stores
    s3 = bytes([2, 0b101]) + struct.pack("<IIB", 1, n, 1) + struct.pack("<IIB", 1, n, 2)
    s4 = struct.pack("<HHH", 600, ref_fiducial, len(zones)) + b"".join(struct.pack("<HIII", *z) for z in zones)
    s4 += b"".join(struct.pack("<II", z[1], z[3]) for z in zones)
    s5 = _block(5000, 2000, 2, 0, [_encode_default(_second_differences(beat)),
                                   _encode_default(_second_differences(2 * beat))])
    s6 = _block(5000, 2000, 2, 0, [_encode_default(_second_differences(residual[k])) for k in ("I", "II")])
    s8 = struct.pack("<BHBBBBBB", 0, 2020, 6, 14, 8, 31, 0, 2)
    s8 += struct.pack("<BH", 1, 14) + b"Sinus rhythm\x00\x00" + struct.pack("<BH", 2, 11) + b"Normal ECG\x00"
    record = _read_bytes(tmp_path, _scp_file({1: _tags(), 2: b"\x1f\x4e", 3: s3, 4: s4, 5: s5, 6: s6, 8: s8}))
    for name in ("I", "II"):
        assert np.allclose(record.lead(name), rhythm[name] * 0.005, atol=1e-6)  # 5 uV per unit
    assert record.metadata["scp_coding"]["reference_beat_subtraction"] is True
    assert np.allclose(record.metadata["device_median_beats"]["leads"]["I"], beat * 0.005, atol=1e-6)
    assert record.metadata["device_median_beats"]["fiducials"] == {"qrs_fiducial": 100}
    assert record.device_reading.statements == ("Sinus rhythm", "Normal ECG")
    assert record.metadata["device_statement_status"] == "original"
    assert record.acquisition.patient_id == "MRN-42" and record.acquisition.site == "General Hospital"
    assert record.age == 49 and record.sex == "F"  # born 1970-06-15, recorded 2020-06-14
    assert "Secretname" not in repr(record.metadata) + repr(record) + repr(record.acquisition)

    without_beats = {1: _tags(), 2: b"\x1f\x4e", 3: s3, 4: s4, 6: s6}
    with pytest.raises(ECGFormatError, match="reference beats were subtracted .* Section 4 or Section 5 is missing"):
        _read_bytes(tmp_path, _scp_file(without_beats))


def test_bimodal_compression_and_16_bit_samples(tmp_path: Path) -> None:
    """Rhythm at 250 Hz outside the protected zones, 500 Hz inside (Section 6 bimodal flag), no Huffman
    coding (Section 2 says 0 tables), no differences."""
    n = 2000
    t = np.arange(1, n + 1)
    full = np.round(50 * np.sin(t / 40.0)).astype(np.int64)
    protected = [(497, 560), (997, 1060), (1497, 1560)]
    stored, position = [], 1
    while position <= n:
        zone = next((z for z in protected if z[0] <= position <= z[1]), None)
        if zone:
            stored.append(int(full[position - 1]))
            position += 1
        else:
            stop = min(position + 1, n, *[z[0] - 1 for z in protected if z[0] > position])
            stored.append(round(float(full[position - 1:stop].mean())))
            position = stop + 1
    raw = struct.pack(f"<{len(stored)}h", *stored)
    s3 = bytes([1, 0b100]) + struct.pack("<IIB", 1, n, 2)
    s4 = struct.pack("<HHH", 600, 101, len(protected)) + b"".join(struct.pack("<HIII", 1, a, a + 30, b) for a, b in protected)
    s4 += b"".join(struct.pack("<II", a, b) for a, b in protected)
    s5 = _block(1000, 2000, 0, 0, [struct.pack("<300h", *([0] * 300))])
    s6 = _block(1000, 4000, 0, 1, [raw])
    record = _read_bytes(tmp_path, _scp_file({2: b"\x00\x00", 3: s3, 4: s4, 5: s5, 6: s6}), "bimodal.scp")
    assert record.fs == 500.0 and record.n_samples == n
    lead = record.lead("II") / 0.001  # 1 uV per unit
    for a, b in protected:
        assert np.allclose(lead[a - 1:b], full[a - 1:b], atol=1e-3)
    assert np.abs(lead - full).max() < 3  # block means, interpolated: within a few units of a smooth wave
    assert record.metadata["scp_coding"]["bimodal"] is True
    assert record.metadata["scp_coding"]["huffman"] == "none (16-bit samples)"
