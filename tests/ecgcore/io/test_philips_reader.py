"""Philips SierraECG / PhilipsECG XML: the XLI codec, every staged sample, the device's reading, privacy
and hostile files.

The four MIT files (sierra-ecg-tools) and the leads-off edge case are read from ../shared; one of them is
also shipped in data/samples/hospital/philips. Expected values come from the XML itself, read here with
the stdlib parser independently of the reader, and from the device's own measurements. The XLI decoder
was checked bit for bit against the PyPI package sierraecg 0.4.0 on all 16 channels of the five files
(a one-off check in a throwaway environment; the package is not a dependency).
"""

from __future__ import annotations

import base64
import re
import struct
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import find_peaks

from ecgcore.errors import ECGFormatError, ECGValidationError, LeadError
from ecgcore.io import detect_format, read
from ecgcore.io.philips_reader import read_philips, reconstruct_limb_leads, strip_calibration_tail
from ecgcore.io.xli import XLIError, decode_deltas, decode_xli, lzw_codes, lzw_decode, unpack_deltas
from ecgcore.io.xml_safe import decode_xml_text, parse_xml_safely
from ecgcore.leads import LEADS_12
from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES
from tests.conftest import SAMPLES_DIR
from train.paths import SHARED_DATA_DIR

NS = "{http://www3.medical.philips.com}"
SHARED = SHARED_DATA_DIR / "hospital_formats" / "philips_xml"
SHIPPED = SAMPLES_DIR / "hospital" / "philips" / "2020-5-18_15-48-11.xml"
LEADS_OFF = "_edge_cases/sample.xml"
RESOLUTION_MV = 0.005  # 5 uV per count in every sample file

# Per file: samples kept (the strip before the calibration tail), schema, and the acquisition, written out
# here from SOURCE.md and the XML.
FILES = {
    "129DYPRG.XML": {
        "samples": 5264, "schema": "SierraECG 1.03", "device": "Philips HeartstartMRx",
        "acquired": datetime(2011, 12, 1, 7, 27, 34),
        "patient_id": "1112010721168bdc", "age": 50.0, "sex": "M", "site": "GE EMS", "status": "Not yet determined",
        "first_statement": "Sinus bradycardia (rate< 50)", "severity": "ABNORMAL ECG"},
    "3191723_ZZDEMOPTONLY_1-04_orig.xml": {
        "samples": 5300, "schema": "PhilipsECG 1.04", "device": "Philips PageWriter Touch 860315:A.01.01.01",
        "acquired": datetime(2010, 1, 19, 15, 19, 22), "patient_id": "9999", "age": 60.0, "sex": "M",
        "site": "Y, Z, Heart Station #1", "status": "Await confirm",
        "first_statement": "SINUS RHYTHM (normal P axis, V-rate 60-99)", "severity": "ABNORMAL ECG"},
    "ad4d3d80-d165_1-04_orig.xml": {
        "samples": 5300, "schema": "PhilipsECG 1.04", "device": "Philips PageWriter Touch M5000:C.01.02.00",
        "acquired": datetime(2008, 12, 23, 19, 44, 46), "patient_id": "9999", "age": 32.0, "sex": "F", "site": "z",
        "status": "Confirmed", "first_statement": "SINUS BRADYCARDIA (V-rate<60)", "severity": "OTHERWISE NORMAL ECG"},
    "2020-5-18_15-48-11.xml": {
        "samples": 5300, "schema": "PhilipsECG 1.04.01", "device": "Philips PageWriter TC 860315:A.07.04.03",
        "acquired": datetime(2020, 5, 18, 15, 48, 11), "patient_id": None, "age": 69.0, "sex": None, "site": "PLACE",
        "status": "New", "first_statement": "Sinus rhythm (normal P axis, V-rate 50-99)",
        "severity": "OTHERWISE NORMAL ECG"},
}
# The XML's own measurement names for the GLOBAL_MEASURES (1.04 globalmeasurements, 1.03 interpretationmeasurements).
XML_MEASURES = {"heartrate": "heart_rate_bpm", "rrint": "rr_ms", "print": "pr_ms", "meanprint": "pr_ms",
                "qrsdur": "qrs_ms", "meanqrsdur": "qrs_ms", "qtint": "qt_ms", "meanqtint": "qt_ms",
                "qtcb": "qtc_bazett_ms", "qtcf": "qtc_fridericia_ms", "pfrontaxis": "p_axis_deg",
                "qrsfrontaxis": "qrs_axis_deg", "tfrontaxis": "t_axis_deg"}


def _sample(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is not available (../shared/data is not beside the repo)")
    return path


def _root(path: Path) -> ET.Element:
    return parse_xml_safely(path.read_bytes(), path)


def _all_samples() -> list:
    return [pytest.param(SHIPPED, "2020-5-18_15-48-11.xml", id="shipped-2020")] + [
        pytest.param(None, name, id=name) for name in FILES
    ]


def _counts(record) -> np.ndarray:
    return np.round(record.signal.astype(np.float64) / RESOLUTION_MV).astype(np.int64)


# -- a test-only XLI encoder (the decoder's inverse), checked against hand-packed bits below ----------------
def _pack_codes(codes: list[int]) -> bytes:
    bits = "".join(format(code, "010b") for code in codes)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


def _lzw_encode(data: bytes) -> list[int]:
    table = {bytes((i,)): i for i in range(256)}
    codes: list[int] = []
    current = b""
    for byte in data:
        candidate = current + bytes((byte,))
        if candidate in table:
            current = candidate
            continue
        codes.append(table[current])
        if len(table) <= 1022:
            table[candidate] = len(table)
        current = bytes((byte,))
    if current:
        codes.append(table[current])
    return [*codes, 1023]


def _xli_chunk(samples: np.ndarray) -> bytes:
    """One XLI chunk holding ``samples`` (int counts, at least 3)."""
    x = np.asarray(samples, dtype=np.int64)
    n = x.size
    second = 2 * x[1:-1] - x[:-2] - x[2:]  # e[i] for i = 2 .. n-1
    deltas = np.zeros(n, dtype=np.int64)
    deltas[0], deltas[1] = x[0], x[1]
    deltas[2 : n - 1] = second[1:] + 64  # d[i-1] = e[i] + 64 for i >= 3; d[n-1] is never used
    words = deltas.astype(np.int16).view(np.uint16)
    raw = bytes((words >> 8).astype(np.uint8)) + bytes((words & 0xFF).astype(np.uint8))
    payload = _pack_codes(_lzw_encode(raw))
    return struct.pack("<ihh", len(payload), 1, int(second[0])) + payload


def _xli(channels) -> bytes:
    return b"".join(_xli_chunk(channel) for channel in channels)


def _stored_channels(path: Path) -> tuple[np.ndarray, ET.Element]:
    """The 16 channels exactly as stored (limb leads still residuals), decoded with the codec alone."""
    root = _root(path)
    waveforms = root.find(f"{NS}waveforms/{NS}parsedwaveforms")
    data = base64.b64decode("".join(waveforms.text.split()))
    return np.vstack(decode_xli(data, 16, 5500)), root


def _document(tmp_path: Path, *, base: str = "129DYPRG.XML", name: str = "doc.xml", payload: str | None = None,
              attributes: dict[str, str] | None = None, text_edit=None) -> Path:
    """A copy of a sample (as UTF-8 text) with the waveform data and parsedwaveforms attributes replaced."""
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", decode_xml_text(_sample(base).read_bytes()), count=1)
    match = re.search(r"(<parsedwaveforms\b)([^>]*)>([^<]*)(</parsedwaveforms>)", text)
    head, attrs, body, tail = match.groups()
    for key, value in (attributes or {}).items():
        attrs, count = re.subn(rf'\b{key}="[^"]*"', f'{key}="{value}"', attrs)
        if not count:
            attrs += f' {key}="{value}"'
    content = payload if payload is not None else body
    text = text[: match.start()] + f"{head}{attrs}>{content}{tail}" + text[match.end():]
    if text_edit is not None:
        text = text_edit(text)
    path = tmp_path / name
    path.write_text('<?xml version="1.0" encoding="utf-8"?>' + text, encoding="utf-8")
    return path


# -- the XLI codec on tiny hand-made streams ----------------------------------------------------------------
def test_codes_are_read_most_significant_bit_first() -> None:
    # 65, 66, 256, 1023 as 10-bit words: 0001000001 0001000010 0100000000 1111111111, packed by hand.
    data = bytes([0x10, 0x44, 0x24, 0x03, 0xFF])
    assert lzw_codes(data).tolist() == [65, 66, 256, 1023]
    assert _pack_codes([65, 66, 256, 1023]) == data
    assert lzw_codes(data + b"\x00").tolist() == [65, 66, 256, 1023]  # 8 trailing bits make no code


def test_lzw_decodes_dictionary_entries_and_the_kwkwk_case() -> None:
    assert lzw_decode(bytes([0x10, 0x44, 0x24, 0x03, 0xFF]), max_bytes=100) == b"ABAB"  # 256 = "AB"
    assert lzw_decode(_pack_codes([65, 256, 1023]), max_bytes=100) == b"AAA"  # 256 is the entry being made
    assert lzw_decode(_pack_codes([65, 66, 1023, 67]), max_bytes=100) == b"AB"  # 1023 ends the chunk
    assert lzw_decode(_pack_codes([65, 66]), max_bytes=100) == b"AB"  # a chunk may end without 1023


def test_lzw_refuses_codes_outside_the_dictionary() -> None:
    with pytest.raises(XLIError, match="LZW code 300 .* outside the dictionary"):
        lzw_decode(_pack_codes([65, 300, 1023]), max_bytes=100)
    with pytest.raises(XLIError, match="LZW code 256 .* outside the dictionary"):
        lzw_decode(_pack_codes([256, 1023]), max_bytes=100)  # no previous string to extend


def test_lzw_output_is_bounded_by_what_the_caller_expects() -> None:
    # Each code repeats the previous string plus one byte: 700 codes (875 bytes) would expand to ~245 kB.
    bomb = _pack_codes([0, *range(256, 956), 1023])
    assert len(bomb) < 900
    assert len(lzw_decode(bomb, max_bytes=300_000)) == 1 + sum(range(2, 702))
    with pytest.raises(XLIError, match="expands beyond the 1000 bytes expected"):
        lzw_decode(bomb, max_bytes=1000)


def test_unpack_takes_high_bytes_from_the_first_half() -> None:
    assert unpack_deltas(bytes([0x01, 0xFF, 0x02, 0xFE])).tolist() == [0x0102, -2]
    with pytest.raises(XLIError, match="not a whole number of 16-bit values"):
        unpack_deltas(b"\x00\x01\x02")


def test_delta_decoding_by_hand_and_against_the_described_loop() -> None:
    # x0 = 10, x1 = 12, x2 = 2*12 - 10 - 3 = 11, x3 = 2*11 - 12 - (65-64) = 9, x4 = 2*9 - 11 - (64-64) = 7
    assert decode_deltas(np.array([10, 12, 65, 64, 99]), start=3).tolist() == [10, 12, 11, 9, 7]
    rng = np.random.default_rng(0)
    deltas = rng.integers(-300, 300, 500)
    expected = deltas.copy()
    x, y, last = int(deltas[0]), int(deltas[1]), -7
    for i in range(2, deltas.size):  # the loop as the public description gives it
        z = 2 * y - x - last
        last = int(deltas[i]) - 64
        expected[i] = z
        x, y = y, z
    np.testing.assert_array_equal(decode_deltas(deltas, start=-7), expected)


def test_decode_xli_on_a_hand_made_chunk() -> None:
    # Two samples 5 and 7: bytes 00 00 (high) 05 07 (low) -> codes 0, 0, 5, 7, 1023; start is unused.
    payload = _pack_codes([0, 0, 5, 7, 1023])
    chunk = struct.pack("<ihh", len(payload), 1, 0) + payload
    assert [c.tolist() for c in decode_xli(chunk, 1, 2)] == [[5, 7]]


def test_xli_round_trip_and_extra_channels_are_not_decoded() -> None:
    rng = np.random.default_rng(1)
    channels = [np.cumsum(rng.integers(-20, 21, 800)) for _ in range(3)]
    data = _xli(channels)
    decoded = decode_xli(data, 2, 800)  # the third chunk is ignored, as carts write 16 for 12 leads
    assert len(decoded) == 2
    for original, back in zip(channels, decoded):
        np.testing.assert_array_equal(back, original)


@pytest.mark.parametrize(
    ("mutate", "channels", "samples", "message"),
    [
        (lambda d: d[:5], 1, 800, r"chunk header of channel 1 of 1 is cut off \(5 of 8 bytes\)"),
        (lambda d: d[:-10], 1, 800, r"declares \d+ bytes but only \d+ remain"),
        (lambda d: struct.pack("<i", -4) + d[4:], 1, 800, "declares a size of -4 bytes"),
        (lambda d: d, 2, 800, "holds 1 channel\\(s\\) but 2 are declared"),
        (lambda d: d, 1, 8000, "decodes to 800 samples but 8000 are declared"),
        (lambda d: d, 1, 80, "expands beyond the 160 bytes expected"),
    ],
    ids=["header-cut", "chunk-cut", "negative-size", "too-few-chunks", "declared-beyond-data", "too-much-data"],
)
def test_xli_framing_errors(mutate, channels: int, samples: int, message: str) -> None:
    data = _xli([np.cumsum(np.random.default_rng(2).integers(-20, 21, 800))])
    with pytest.raises(XLIError, match=message):
        decode_xli(mutate(data), channels, samples)


def test_the_stored_limb_channels_are_residuals(tmp_path: Path) -> None:
    stored, _ = _stored_channels(_sample("2020-5-18_15-48-11.xml"))
    # Before the calibration tail, III/aVR/aVL/aVF hold a count or two, I and II the ECG.
    assert np.abs(stored[2:6, :5300]).max() <= 2
    assert np.abs(stored[:2, :5300]).max() > 100


# -- every sample file -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("shipped", "name"), _all_samples())
def test_sample_signal_fs_and_leads(shipped: Path | None, name: str) -> None:
    path = shipped or _sample(name)
    expected = FILES[name]
    record = read(path)
    assert detect_format(path) == "philips" and record.source == "Philips SierraECG XML"
    assert record.fs == 500.0 and record.leads == LEADS_12
    assert record.signal.shape == (12, expected["samples"])
    assert record.metadata["philips_schema"] == expected["schema"]
    assert record.metadata["limb_leads_rebuilt"] == ["III", "aVR", "aVL", "aVF"]
    assert "derived_leads" not in record.metadata  # all twelve are the cart's, none derived by us
    assert 0.3 < np.ptp(record.lead("II")) < 20.0  # mV, not uV or raw counts


@pytest.mark.parametrize(("shipped", "name"), _all_samples())
def test_calibration_pulse_is_cut_and_measures_1_mv(shipped: Path | None, name: str) -> None:
    record = read(shipped or _sample(name))
    pulse = record.metadata["calibration_pulse"]
    # 200 counts x 5 uV: the stored 1 mV pulse confirms the amplitude scale of the whole strip.
    assert pulse["pulse_mv"] == pytest.approx(1.0)
    assert (pulse["pulse_start"], pulse["pulse_samples"]) == (5350, 100)
    assert pulse["signal_samples"] == record.n_samples == FILES[name]["samples"]
    assert pulse["samples_cut"] == 5500 - record.n_samples
    # What is left ends in ECG, not in a stretch where every lead holds the same value.
    assert not np.all(record.signal[:, -1] == record.signal[0, -1])
    assert record.duration_s == pytest.approx(FILES[name]["samples"] / 500.0)


@pytest.mark.parametrize(("shipped", "name"), _all_samples())
def test_rebuilt_limb_leads_satisfy_einthoven_and_goldberger(shipped: Path | None, name: str) -> None:
    counts = _counts(read(shipped or _sample(name)))
    lead_i, lead_ii, lead_iii, avr, avl, avf = counts[:6]
    # Within the rounding of the stored residuals (2 counts = 10 uV), not exactly.
    assert np.abs(lead_iii - (lead_ii - lead_i)).max() <= 2
    assert np.abs(avr + (lead_i + lead_ii) / 2).max() <= 2.5
    assert np.abs(avl - (lead_i - lead_ii / 2)).max() <= 2.5
    assert np.abs(avf - (lead_ii - lead_i / 2)).max() <= 2.5
    assert np.abs(avr + avl + avf).max() <= 4


@pytest.mark.parametrize("name", list(FILES))
def test_amplitudes_match_the_device_qrs_peak_to_peak(name: str) -> None:
    """Our QRS peak-to-peak on the median of the beats against the cart's own per-lead qrsppk (uV)."""
    path = _sample(name)
    record = read(path)
    device = {m.get("leadname"): float(m.findtext(f"{NS}qrsppk")) / 1000.0
              for m in _root(path).iter(f"{NS}leadmeasurement")}
    x = record.signal.astype(np.float64)
    energy = np.abs(np.diff(x, axis=1)).sum(axis=0)
    rate = record.device_reading.measurements["heart_rate_bpm"]
    peaks, _ = find_peaks(energy, distance=int(0.6 * 60.0 / rate * record.fs), height=0.4 * energy.max())
    window = int(0.1 * record.fs)
    peaks = [p for p in peaks if window < p < x.shape[1] - window]
    assert len(peaks) >= 5
    median = np.median(np.stack([x[:, p - window : p + window] for p in peaks]), axis=0)
    for row, lead in enumerate(record.leads):
        if name == "129DYPRG.XML" and lead == "aVF":
            # The HeartStart's own aVF QRS has no R wave (ramp 0, qrsppk 536 uV) although its II and III
            # have R waves of 351 and 291 uV; its aVF ST and T match (II + III) / 2. Its aVF qrsppk is the outlier.
            continue
        assert np.ptp(median[row]) == pytest.approx(device[lead], rel=0.1), lead


# -- the device's reading, acquisition and privacy ----------------------------------------------------------
@pytest.mark.parametrize("name", list(FILES))
def test_device_measurements_are_the_files(name: str) -> None:
    path = _sample(name)
    reading = read(path).device_reading
    assert set(reading.measurements) <= set(GLOBAL_MEASURE_NAMES)
    root = _root(path)
    interpretation = root.find(f"{NS}interpretations/{NS}interpretation")
    section = interpretation.find(f"{NS}globalmeasurements")
    if section is None:
        section = interpretation.find(f"{NS}interpretationmeasurements")
    expected = {XML_MEASURES[c.tag[len(NS):]]: float(c.text) for c in section
                if c.tag[len(NS):] in XML_MEASURES and (c.text or "").strip()}
    for measure, value in expected.items():
        assert reading.measurements[measure] == value, measure
    assert {"heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qrs_axis_deg"} <= set(reading.measurements)


def test_1_03_qtc_is_placed_by_its_formula() -> None:
    measures = read(_sample("129DYPRG.XML")).device_reading.measurements
    # meanqtc 393 = QT 476 / sqrt(60 / 41 s): Bazett, which the 1.03 file does not name.
    assert measures["qtc_bazett_ms"] == 393.0 and "qtc_fridericia_ms" not in measures
    assert measures["qt_ms"] / np.sqrt(60.0 / measures["heart_rate_bpm"]) == pytest.approx(393.0, abs=1)


def test_a_p_duration_longer_than_pr_is_not_taken() -> None:
    # The 2008 PageWriter writes pdur 508 ms with PR 144 ms; the 2020 cart's pdur 104 = PR 164 - PR segment 60.
    record = read(_sample("ad4d3d80-d165_1-04_orig.xml"))
    assert "p_duration_ms" not in record.device_reading.measurements
    assert "P duration 508 ms not taken" in record.metadata["device_measurement_notes"][0]
    assert read(SHIPPED).device_reading.measurements["p_duration_ms"] == 104.0


@pytest.mark.parametrize("name", list(FILES))
def test_statements_and_acquisition(name: str) -> None:
    expected = FILES[name]
    record = read(_sample(name))
    reading = record.device_reading
    assert reading.statements[0] == expected["first_statement"]
    assert reading.statements[-1] == expected["severity"]
    assert reading.source.startswith(expected["device"])
    acquisition = record.acquisition
    assert acquisition.patient_id == expected["patient_id"]
    assert acquisition.acquired_at == expected["acquired"]
    assert acquisition.device == expected["device"]
    assert acquisition.site == expected["site"]
    assert (record.age, record.sex) == (expected["age"], expected["sex"])
    assert record.metadata["device_statement_status"] == expected["status"]
    assert record.metadata["device_filters"] == {"highpass_hz": 0.05, "lowpass_hz": 150.0}


def test_edited_statements_keep_the_machines_own() -> None:
    # Confirmed by a cardiologist: the baseline-wander statement deleted, "no previous tracing" added.
    reading = read(_sample("ad4d3d80-d165_1-04_orig.xml")).device_reading
    assert reading.statements == ("SINUS BRADYCARDIA (V-rate<60)", "NO PREVIOUS TRACING AVAILABLE FOR COMPARISON",
                                  "OTHERWISE NORMAL ECG")
    assert reading.original_statements == ("SINUS BRADYCARDIA (V-rate<60)", "BASELINE WANDER IN LEAD(S) V3")
    # Unedited files: the machine's statements are the printed ones (modifiers such as PROBABLE applied).
    assert read(_sample("3191723_ZZDEMOPTONLY_1-04_orig.xml")).device_reading.original_statements == ()


def test_device_median_beats() -> None:
    record = read(_sample("3191723_ZZDEMOPTONLY_1-04_orig.xml"))
    beats = record.metadata["device_median_beats"]
    assert beats["fs"] == 500.0 and set(beats["leads"]) == set(LEADS_12)
    assert all(b.shape == (600,) for b in beats["leads"].values())  # the 32767 padding is cut
    # Lead II's R peak on the cart's median beat (2.5 uV per count) is the cart's measured R amplitude.
    assert beats["leads"]["II"].max() == pytest.approx(1.533, abs=0.005)
    assert beats["fiducials"]["qrs_onset"] == 256  # qonset 512 ms at 500 Hz
    shipped = read(SHIPPED).metadata["device_median_beats"]
    assert shipped["fs"] == 1000.0 and shipped["leads"]["I"].shape == (1200,)


def test_patient_and_clinician_names_never_reach_the_record(tmp_path: Path) -> None:
    for name, secrets in (("3191723_ZZDEMOPTONLY_1-04_orig.xml", ["ZZDEMOPTONLY", "ADULT"]),
                          ("ad4d3d80-d165_1-04_orig.xml", ["Masoudi", "Frederick"])):
        copy = tmp_path / "ecg.xml"  # the sample's file name holds the demo patient's name; the document is tested
        copy.write_bytes(_sample(name).read_bytes())
        assert any(secret.encode("utf-16-le") in copy.read_bytes() for secret in secrets)
        record = read(copy)
        reading = record.device_reading
        shown = " ".join([repr(record), repr(record.metadata), repr(record.acquisition),
                          repr(record.acquisition.to_dict(include_patient_id=True)), repr(reading.to_dict())])
        for secret in secrets:
            assert secret not in shown, secret
        assert "9999" not in repr(record.acquisition) and "<hidden>" in repr(record.acquisition)


# -- encodings ----------------------------------------------------------------------------------------------
def test_utf16_with_a_byte_order_mark() -> None:
    assert SHIPPED.read_bytes()[:2] == b"\xff\xfe"
    assert read(SHIPPED).content_hash() == read(_sample("2020-5-18_15-48-11.xml")).content_hash()


def test_declared_encodings_that_lie(tmp_path: Path) -> None:
    original = _sample("129DYPRG.XML")
    reference = read(original)
    utf8_says_utf16 = tmp_path / "utf8_says_utf16.xml"
    utf8_says_utf16.write_bytes(re.sub(rb'encoding="[^"]*"', b'encoding="UTF-16"', original.read_bytes(), count=1))
    utf16_says_utf8 = tmp_path / "utf16_says_utf8.xml"
    text = decode_xml_text(original.read_bytes())
    utf16_says_utf8.write_bytes(re.sub(r'encoding="[^"]*"', 'encoding="UTF-8"', text, count=1).encode("utf-16"))
    for path in (utf8_says_utf16, utf16_says_utf8):
        assert read(path).content_hash() == reference.content_hash()


# -- leads off and flat leads -------------------------------------------------------------------------------
def test_leads_off_file_is_refused_with_a_clear_error() -> None:
    path = _sample(LEADS_OFF)  # its declaration says UTF-16, its bytes are UTF-8
    for allow in (False, True):
        with pytest.raises(ECGValidationError, match="every lead is flat .*calibration pulse.*electrodes were off"):
            read(path, allow_flat_leads=allow)


def test_a_flat_lead_is_an_error_unless_allowed(tmp_path: Path) -> None:
    stored, _ = _stored_channels(_sample("129DYPRG.XML"))
    stored[8, :5300] = 0  # V3 off: only its calibration pulse remains
    path = _document(tmp_path, payload=base64.b64encode(_xli(stored)).decode())
    with pytest.raises(ECGValidationError, match=r"Lead\(s\) V3 are flat"):
        read(path)
    record = read(path, allow_flat_leads=True)
    assert record.signal.shape == (12, 5264) and np.ptp(record.lead("V3")) == 0
    np.testing.assert_array_equal(record.lead("V2"), read(_sample("129DYPRG.XML")).lead("V2"))


# -- uncompressed data --------------------------------------------------------------------------------------
@pytest.mark.parametrize("limbs", ["residual", "full"])
@pytest.mark.parametrize("encoding", ["Base64", "Plain"])
def test_uncompressed_waveforms(tmp_path: Path, encoding: str, limbs: str) -> None:
    reference = read(_sample("129DYPRG.XML"))
    stored, _ = _stored_channels(_sample("129DYPRG.XML"))
    if limbs == "full":
        stored[:12], _ = reconstruct_limb_leads(stored[:12], list(LEADS_12))
    if encoding == "Base64":
        payload = base64.b64encode(stored.astype("<i2").tobytes()).decode()
    else:
        payload = "\n".join(" ".join(map(str, row)) for row in stored)
    path = _document(tmp_path, payload=payload,
                     attributes={"compressflag": "False", "dataencoding": encoding})
    record = read(path)
    assert record.content_hash() == reference.content_hash()


# -- hostile and inconsistent files -------------------------------------------------------------------------
def _data_of(name: str = "129DYPRG.XML") -> bytes:
    root = _root(_sample(name))
    return base64.b64decode("".join(root.find(f"{NS}waveforms/{NS}parsedwaveforms").text.split()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"payload": base64.b64encode(b"\x00" * 30).decode()[:-3]}, "not valid Base64"),
        ({"payload": ""}, "<parsedwaveforms> is empty"),
        ({"payload_of": lambda d: d[:9000]},
         r"XLI waveform data: the chunk of channel \d+ of 12 declares \d+ bytes but only \d+ remain"),
        ({"payload_of": lambda d: d[:1518 + 8 + 5]}, "chunk header of channel 2 of 12 is cut off"),
        ({"payload_of": lambda d: struct.pack("<ihh", 10**6, 1, 0) + d[8:]}, "declares 1000000 bytes but only"),
        ({"payload_of": lambda d: d[:8] + _pack_codes([65, 900, 1023]) + d[8 + 4:]},
         r"LZW code 900 \(code 2 of the chunk\) points outside the dictionary"),
        ({"attributes": {"durationperchannel": "1100000"}}, "decodes to 5500 samples but 550000 are declared"),
        ({"attributes": {"durationperchannel": "1000"}}, "expands beyond the 1000 bytes expected"),
        ({"attributes": {"durationperchannel": str(10**12)}}, "beyond the limit"),
        ({"attributes": {"durationperchannel": "10.3"}}, "not a whole number of samples"),
        ({"text_edit": lambda t: t.replace("<numberchannelsallocated>12<", "<numberchannelsallocated>17<")},
         "lead count 17 is not between 1 and 16"),
        ({"attributes": {"compressmethod": "HUFF"}}, "compression 'HUFF' is not supported"),
        ({"text_edit": lambda t: t.replace("<samplingrate>500<", "<samplingrate>-5<")}, "not a positive number"),
        ({"text_edit": lambda t: t.replace("<documentversion>1.03<", "<documentversion>2.0<")},
         "schema version 2.0 is not supported"),
    ],
    ids=["base64-truncated", "no-data", "chunk-beyond-data", "chunk-header-cut", "huge-chunk-size",
         "invalid-lzw-code", "declared-far-beyond-data", "declared-too-short", "absurd-duration",
         "fractional-samples", "lead-count", "unknown-compression", "negative-rate", "unknown-version"],
)
def test_hostile_files(tmp_path: Path, change: dict, message: str) -> None:
    change = dict(change)
    payload_of = change.pop("payload_of", None)
    if payload_of is not None:
        change["payload"] = base64.b64encode(payload_of(_data_of())).decode()
    path = _document(tmp_path, **change)
    with pytest.raises(ECGFormatError, match=message):
        read(path)


def test_lead_labels_that_do_not_match_the_lead_count(tmp_path: Path) -> None:
    base = "2020-5-18_15-48-11.xml"
    path = _document(tmp_path, base=base, attributes={"leadlabels": "I II V1 V2 V3 V4 V5 V6"})
    with pytest.raises(ECGFormatError, match=r"12 leads are declared \(numberofleads\) but leadlabels names 8"):
        read(path)
    path = _document(tmp_path, base=base, attributes={"numberofleads": "16", "leadlabels": " ".join(["I"] * 16)})
    with pytest.raises(LeadError, match=r"lead I appears twice"):
        read(path)
    stored, _ = _stored_channels(_sample(base))
    path = _document(tmp_path, base=base, payload=base64.b64encode(_xli(stored[:9])).decode())
    with pytest.raises(ECGFormatError, match=r"holds 9 channel\(s\) but 12 are declared"):
        read(path)


def test_entity_expansion_is_refused_through_read(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE restingecgdata [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        '<restingecgdata xmlns="http://www3.medical.philips.com"><waveforms><parsedwaveforms>&b;'
        "</parsedwaveforms></waveforms></restingecgdata>"
    )
    # Whichever XML reader the sniffer picks (an internal subset hides the root from it), the one safe parser refuses.
    with pytest.raises(ECGFormatError, match="entity declarations or an internal DTD subset is refused"):
        read(path)
    with pytest.raises(ECGFormatError, match="entity declarations or an internal DTD subset is refused"):
        read_philips(path)


def test_truncated_document_and_missing_parts(tmp_path: Path) -> None:
    whole = _sample("129DYPRG.XML").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ECGFormatError, match="not well-formed XML"):
        read(cut)
    bare = tmp_path / "bare.xml"
    bare.write_text('<restingecgdata xmlns="http://www3.medical.philips.com"><waveforms/></restingecgdata>')
    with pytest.raises(ECGFormatError, match="no waveform data in the Philips document"):
        read(bare)
    other = tmp_path / "other.xml"
    other.write_text("<RestingECGData/>")
    with pytest.raises(ECGFormatError, match="not a Philips SierraECG document"):
        read_philips(other)


def test_fs_argument_and_format_names(tmp_path: Path) -> None:
    with pytest.raises(ECGFormatError, match="states a sampling rate of 500 Hz but fs=250"):
        read(SHIPPED, fs=250)
    assert read(SHIPPED, fs=500).fs == 500.0
    for fmt in ("philips", "sierra", "xml"):  # "xml" names every XML format: the root element picks Philips
        assert read(SHIPPED, fmt=fmt).source == "Philips SierraECG XML"
    assert read(SHIPPED, record_name="ecg-1").record_name == "ecg-1"


def test_calibration_tail_rule_on_a_synthetic_strip() -> None:
    ecg = np.vstack([np.arange(1, 21), -np.arange(1, 21)])
    tail = np.array([[0, 0, 200, 200, 200, 0]] * 2)
    kept, cut = strip_calibration_tail(np.hstack([ecg, tail]), 200)
    np.testing.assert_array_equal(kept, ecg)
    assert cut == {"start": 20, "pulse_start": 22, "pulse_samples": 3, "pulse_counts": 200,
                   "signal_samples": 20, "samples_cut": 6}
    unchanged, none = strip_calibration_tail(ecg, 200)  # no tail: nothing is cut
    assert none is None and unchanged is ecg
    single = np.hstack([ecg, tail])[:1]  # one channel: nothing to compare it with, nothing is cut
    assert strip_calibration_tail(single, 200) == (single, None)


def test_a_pulse_that_is_not_1_mv_flags_the_resolution(tmp_path: Path) -> None:
    path = _document(tmp_path, text_edit=lambda t: t.replace("<signalresolution>5<", "<signalresolution>2.5<"))
    record = read(path)
    assert record.metadata["calibration_pulse"]["pulse_mv"] == 0.5
    assert "measures 0.5 mV, not 1 mV" in record.metadata["calibration_note"]
