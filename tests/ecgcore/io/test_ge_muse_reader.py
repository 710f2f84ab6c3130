"""GE MUSE RestingECG XML: every staged sample file, the device's reading, privacy, and hostile files.

The three MIT files (musePHI) are read from the shipped copy and from ../shared; the four GPL-3 files
(BRAVEHEART, real de-identified ECGs) only from ../shared, never copied into the repository. Expected
values are taken from the XML itself with the stdlib parser, independently of the reader.
"""

from __future__ import annotations

import base64
import re
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from ecgcore import config
from ecgcore.errors import ECGFileTooLargeError, ECGFormatError
from ecgcore.io import detect_format, read
from ecgcore.io.ge_muse_reader import read_muse
from ecgcore.leads import LEADS_12
from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES
from tests.conftest import SAMPLES_DIR
from train.paths import SHARED_DATA_DIR

SHIPPED = SAMPLES_DIR / "hospital" / "ge_muse" / "muse_ecg1.xml"
SHARED = SHARED_DATA_DIR / "hospital_formats" / "ge_muse_xml"
SHARED_FILES = ["muse_ecg1.xml", "muse_ecg2.xml", "muse_ecg3.xml",
                "_gpl3/example1.xml", "_gpl3/example2.xml", "_gpl3/example3.xml", "_gpl3/example4.xml"]
# The XML's own names for the GLOBAL_MEASURES, written out here independently of the reader.
XML_MEASURES = {"VentricularRate": "heart_rate_bpm", "PRInterval": "pr_ms", "QRSDuration": "qrs_ms",
                "QTInterval": "qt_ms", "QTCorrected": "qtc_bazett_ms", "QTcFrederica": "qtc_fridericia_ms",
                "PAxis": "p_axis_deg", "RAxis": "qrs_axis_deg", "TAxis": "t_axis_deg"}


def _sample(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is not available (../shared/data is not beside the repo)")
    return path


def _all_samples() -> list:
    return [pytest.param(SHIPPED, id="shipped-muse_ecg1")] + [
        pytest.param(name, id=name.replace("_gpl3/", "gpl3-")) for name in SHARED_FILES
    ]


def _path(sample: Path | str) -> Path:
    return sample if isinstance(sample, Path) else _sample(sample)


def _rhythm_int16(root: ET.Element, lead: str) -> np.ndarray:
    rhythm = next(w for w in root.findall("Waveform") if w.findtext("WaveformType") == "Rhythm")
    data = next(d for d in rhythm.findall("LeadData") if d.findtext("LeadID") == lead)
    return np.frombuffer(base64.b64decode("".join(data.findtext("WaveFormData").split())), dtype="<i2")


# -- every sample file -----------------------------------------------------------------------------------
@pytest.mark.parametrize("sample", _all_samples())
def test_sample_signal_leads_and_amplitude(sample) -> None:
    path = _path(sample)
    record = read(path)
    assert detect_format(path) == "muse" and record.source == "GE MUSE"
    assert record.fs == 500.0 and record.signal.shape == (12, 5000) and record.leads == LEADS_12
    assert record.metadata["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    # Einthoven: the derived limb leads are exact functions of the stored I and II.
    lead_i, lead_ii = record.lead("I"), record.lead("II")
    np.testing.assert_array_equal(record.lead("III"), lead_ii - lead_i)
    np.testing.assert_array_equal(record.lead("aVR"), -(lead_i + lead_ii) / 2)
    # Amplitude: the stored int16 x 4.88 uV per bit, decoded here without the reader.
    root = ET.parse(path).getroot()
    for lead in ("I", "V1", "V6"):
        np.testing.assert_allclose(record.lead(lead), _rhythm_int16(root, lead) * 4.88e-3, rtol=1e-6, atol=1e-7)
    assert 0.3 < np.ptp(lead_ii) < 5.0  # a resting ECG in mV, not in uV or raw counts


@pytest.mark.parametrize("sample", _all_samples())
def test_sample_device_reading_equals_the_xml(sample) -> None:
    path = _path(sample)
    record = read(path)
    root = ET.parse(path).getroot()
    section = root.find("RestingECGMeasurements")
    expected = {name: float(section.findtext(tag)) for tag, name in XML_MEASURES.items()
                if section.findtext(tag) is not None}
    expected["rr_ms"] = float(root.findtext("QRSTimesTypes/GlobalRR"))
    if section.findtext("POnset") is not None:
        expected["p_duration_ms"] = (int(section.findtext("POffset")) - int(section.findtext("POnset"))) * 2.0
    reading = record.device_reading
    assert reading is not None and set(reading.measurements) <= set(GLOBAL_MEASURE_NAMES)
    assert reading.measurements == expected
    median = record.metadata["device_median_beats"]
    assert median["fs"] == 500.0 and set(median["leads"]) == set(LEADS_12)
    assert all(beat.shape == (600,) and beat.dtype == np.float32 for beat in median["leads"].values())
    assert median["fiducials"]["qrs_onset"] == int(section.findtext("QOnset"))
    np.testing.assert_allclose(median["leads"]["III"], median["leads"]["II"] - median["leads"]["I"], atol=1e-6)


@pytest.mark.parametrize("sample", _all_samples())
def test_sample_never_shows_the_patient_name_or_identifier(sample) -> None:
    path = _path(sample)
    record = read(path)
    root = ET.parse(path).getroot()
    secrets = [root.findtext(f"PatientDemographics/{tag}") for tag in
               ("PatientLastName", "PatientFirstName", "PatientID", "DateofBirth")]
    shown = " ".join([repr(record), repr(record.metadata), repr(record.acquisition), repr(record.device_reading),
                      str(record.acquisition.to_dict() if record.acquisition else {})])
    for secret in filter(None, secrets):
        assert secret not in shown, secret
    assert "Doe, John" not in shown  # the over-reader's sign-off line is not kept
    pharma_id = root.findtext("PharmaData/PharmaUniqueECGID")  # embeds the cart and the acquisition time
    assert pharma_id is None or pharma_id not in shown


@pytest.mark.parametrize("name", ["muse_ecg1.xml", "muse_ecg2.xml", "muse_ecg3.xml"])
def test_mit_samples_acquisition_demographics_and_statements(name: str) -> None:
    path = _sample(name)
    record = read(path)
    root = ET.parse(path).getroot()
    assert record.age == 60 and record.sex == "M"
    acquisition = record.acquisition
    assert acquisition.patient_id == root.findtext("PatientDemographics/PatientID")
    assert acquisition.acquired_at == datetime.strptime(
        root.findtext("TestDemographics/AcquisitionDate") + " " + root.findtext("TestDemographics/AcquisitionTime"),
        "%m-%d-%Y %H:%M:%S")
    assert acquisition.device == "MAC55" and acquisition.site == "Research, FL Research Location"
    assert record.device_reading.source == "GE MAC55 (12SL 241) via MUSE 9.0.9.18167"
    assert record.metadata["device_statement_status"] == "CONFIRMED"
    assert record.metadata["device_filters"] == {"highpass_hz": 0.16, "lowpass_hz": 150.0, "mains_filter_hz": 60.0}
    if name != "muse_ecg1.xml":  # placeholders, identical in Diagnosis and OriginalDiagnosis
        assert record.device_reading.statements == ("Statement Text(22)", "Statement Text(1684)", "Statement Text(1300)")
        assert record.device_reading.original_statements == ()


def test_edited_and_original_statements_of_muse_ecg1() -> None:
    reading = read(SHIPPED).device_reading
    assert reading.statements == (
        "Ventricular-paced rhythm",
        "When compared with ECG of 10-MAY-2021 14:14,",
        "No significant change.",
    )
    assert reading.original_statements == (
        "Wide QRS rhythm",
        "Left axis deviation",
        "Non-specific intra-ventricular conduction block",
        "Lateral infarct, age undetermined",
        "Abnormal ECG",
        "When compared with ECG of 10-MAY-2021 18:34,",
        "Previous ECG has undetermined rhythm, needs review",
    )


def test_median_beat_of_the_simulator_has_its_1_mv_r_wave() -> None:
    """The musePHI files come from an ECG simulator, whose lead II R wave is 1 mV (SOURCE.md)."""
    median = read(SHIPPED).metadata["device_median_beats"]
    qrs = slice(median["fiducials"]["qrs_onset"], median["fiducials"]["qrs_offset"])
    assert median["leads"]["II"][qrs].max() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("name", ["_gpl3/example1.xml", "_gpl3/example2.xml", "_gpl3/example3.xml",
                                  "_gpl3/example4.xml"])
def test_sections_removed_by_deidentification_are_absent_not_errors(name: str) -> None:
    record = read(_sample(name))
    assert record.acquisition is None and record.age is None and record.sex is None
    assert record.device_reading.statements == () and record.device_reading.original_statements == ()
    assert record.device_reading.source == "GE cart via MUSE 9.0.7.17363"
    assert {"PatientDemographics", "TestDemographics", "Diagnosis"} <= set(record.metadata["muse_missing_sections"])


def test_example4_original_measurements_keep_what_the_machine_said() -> None:
    record = read(_sample("_gpl3/example4.xml"))
    assert record.device_reading.measurements["qrs_axis_deg"] == -66.0
    assert "p_duration_ms" not in record.device_reading.measurements  # no POnset/POffset in the file
    assert record.metadata["device_filters"] == {"highpass_hz": 0.05, "lowpass_hz": 150.0}  # AC NONE
    original = record.metadata["device_original_measurements"]
    assert "qtc_fridericia_ms" not in original  # the machine wrote 0: not measured
    assert record.device_reading.measurements["qtc_fridericia_ms"] == 461.0


# -- dispatch ---------------------------------------------------------------------------------------------
def test_fmt_names_and_xml_dispatch(samples_dir: Path) -> None:
    assert read(SHIPPED, fmt="ge").source == "GE MUSE" and read(SHIPPED, fmt="muse").source == "GE MUSE"
    assert read(SHIPPED, fmt="xml").source == "GE MUSE"  # the root element picks among the XML formats
    aecg = samples_dir / "demo" / "ptbxl_00001_hr.xml"
    assert detect_format(aecg) == "aecg" and read(aecg, fmt="xml").source == "HL7 aECG"
    with pytest.raises(ECGFormatError, match=r"not a GE MUSE document \(root element <AnnotatedECG>"):
        read(aecg, fmt="muse")


def test_fs_from_the_file_wins(tmp_path: Path) -> None:
    assert read(SHIPPED, fs=500).fs == 500
    with pytest.raises(ECGFormatError, match="states a sampling rate of 500 Hz but fs=250"):
        read(SHIPPED, fs=250)


# -- text, demographics -----------------------------------------------------------------------------------
def _text() -> str:
    return SHIPPED.read_bytes().decode("latin-1")


def _write(tmp_path: Path, text: str, name: str = "muse.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    return path


def test_iso_8859_1_text(tmp_path: Path) -> None:
    text = _text().replace("<SiteName>Research</SiteName>", "<SiteName>Hôpital Saint-Éloi</SiteName>")
    text = text.replace("<StmtText>No significant change.</StmtText>", "<StmtText>Pas de changement notable (µV).</StmtText>")
    record = read(_write(tmp_path, text))
    assert record.acquisition.site == "Hôpital Saint-Éloi, FL Research Location"
    assert "Pas de changement notable (µV)." in record.device_reading.statements


def test_date_of_birth_becomes_age_and_is_not_kept(tmp_path: Path) -> None:
    text = _text().replace("<PatientAge>60</PatientAge>", "<DateofBirth>06-11-1980</DateofBirth>")
    text = text.replace("<PatientLastName>TEST 05</PatientLastName>",
                        "<PatientLastName>Müller</PatientLastName><PatientFirstName>Zoë</PatientFirstName>")
    record = read(_write(tmp_path, text))
    assert record.age == 40  # acquired 05-10-2021, before the 41st birthday
    shown = repr(record) + repr(record.metadata) + repr(record.acquisition) + repr(record.device_reading)
    for secret in ("06-11-1980", "1980", "Müller", "Zoë", "JAX01234"):
        assert secret not in shown


def test_age_in_months(tmp_path: Path) -> None:
    text = _text().replace("<PatientAge>60</PatientAge>", "<PatientAge>6</PatientAge>")
    record = read(_write(tmp_path, text.replace("<AgeUnits>YEARS</AgeUnits>", "<AgeUnits>MONTHS</AgeUnits>")))
    assert record.age == 0.5


# -- hostile files ----------------------------------------------------------------------------------------
def _rhythm_lead(text: str, lead: str) -> tuple[int, int]:
    """Span of one lead's <LeadData> block in the rhythm waveform."""
    start = text.index("<WaveformType>Rhythm</WaveformType>")
    match = re.compile(rf"<LeadData>(?:(?!</LeadData>).)*?<LeadID>{lead}</LeadID>.*?</LeadData>", re.DOTALL).search(text, start)
    return match.span()


def _edit_lead(text: str, lead: str, edit) -> str:
    start, end = _rhythm_lead(text, lead)
    return text[:start] + edit(text[start:end]) + text[end:]


def _edit_data(block: str, edit) -> str:
    return re.sub(r"(<WaveFormData>)([^<]*)(</WaveFormData>)", lambda m: m.group(1) + edit(m.group(2)) + m.group(3),
                  block)


def test_invalid_base64(tmp_path: Path) -> None:
    text = _edit_lead(_text(), "V2", lambda b: _edit_data(b, lambda d: d[:100] + "!*?" + d[103:]))
    with pytest.raises(ECGFormatError, match="rhythm lead V2 has invalid or truncated base64"):
        read(_write(tmp_path, text))


def test_truncated_base64(tmp_path: Path) -> None:
    text = _edit_lead(_text(), "V3", lambda b: _edit_data(b, lambda d: d.rstrip()[:-3]))
    with pytest.raises(ECGFormatError, match="rhythm lead V3 has invalid or truncated base64"):
        read(_write(tmp_path, text))


def test_base64_cut_on_a_block_boundary_fails_the_declared_count(tmp_path: Path) -> None:
    def cut(data: str) -> str:
        clean = "".join(data.split())
        return clean[:4000]  # 3000 bytes = 1500 samples, valid base64

    text = _edit_lead(_text(), "V4", lambda b: _edit_data(b, cut))
    with pytest.raises(ECGFormatError, match=r"rhythm lead V4 declares 5000 samples \(LeadSampleCountTotal\) but "
                                             r"its data holds 1500; the file is truncated or altered"):
        read(_write(tmp_path, text))


def test_leads_with_different_sample_counts(tmp_path: Path) -> None:
    def shorten(block: str) -> str:
        block = _edit_data(block, lambda d: "".join(d.split())[:6664])  # 4998 bytes = 2499 samples
        block = block.replace("<LeadSampleCountTotal>5000<", "<LeadSampleCountTotal>2499<")
        block = block.replace("<LeadByteCountTotal>10000<", "<LeadByteCountTotal>4998<")
        return re.sub(r"<LeadDataCRC32>\d+</LeadDataCRC32>", "", block)

    text = _edit_lead(_text(), "V5", shorten)
    with pytest.raises(ECGFormatError, match=r"rhythm leads hold different sample counts \(I 5000, .*V5 2499"):
        read(_write(tmp_path, text))


def test_declared_sample_count_far_beyond_the_data(tmp_path: Path) -> None:
    text = _edit_lead(_text(), "I", lambda b: b.replace("<LeadSampleCountTotal>5000<",
                                                          "<LeadSampleCountTotal>900000000000000<"))
    started = time.perf_counter()
    with pytest.raises(ECGFormatError, match="rhythm lead I declares 900000000000000 samples"):
        read(_write(tmp_path, text))
    assert time.perf_counter() - started < 2.0  # nothing was allocated for the declared count


def test_declared_lead_count_must_match(tmp_path: Path) -> None:
    text = _edit_lead(_text(), "V6", lambda block: "")
    with pytest.raises(ECGFormatError, match=r"rhythm waveform declares 8 leads \(NumberofLeads\) but holds 7"):
        read(_write(tmp_path, text))


def test_checksum_mismatch(tmp_path: Path) -> None:
    def flip(data: str) -> str:
        clean = "".join(data.split())
        return clean[:200] + ("A" if clean[200] != "A" else "B") + clean[201:]

    text = _edit_lead(_text(), "II", lambda b: _edit_data(b, flip))
    with pytest.raises(ECGFormatError, match="rhythm lead II fails its checksum"):
        read(_write(tmp_path, text))


def test_unknown_amplitude_units(tmp_path: Path) -> None:
    text = _edit_lead(_text(), "I", lambda b: b.replace("MICROVOLTS", "FURLONGS"))
    with pytest.raises(ECGFormatError, match="amplitude units 'FURLONGS'; MICROVOLTS, MILLIVOLTS or VOLTS"):
        read(_write(tmp_path, text))


@pytest.mark.parametrize("document", [
    ('<?xml version="1.0"?>\n<!DOCTYPE RestingECG [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>\n'
     "<RestingECG><MuseInfo><MuseVersion>&b;</MuseVersion></MuseInfo></RestingECG>"),
    ('<?xml version="1.0"?>\n<!DOCTYPE RestingECG [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
     "<RestingECG><MuseInfo><MuseVersion>&xxe;</MuseVersion></MuseInfo></RestingECG>"),
])
def test_entity_expansion_and_external_entities_are_refused(tmp_path: Path, document: str) -> None:
    path = _write(tmp_path, document)
    for fmt in (None, "muse"):
        with pytest.raises(ECGFormatError, match="entity declarations or an internal DTD subset is refused"):
            read(path, fmt=fmt)


def test_entity_reference_to_the_external_dtd_is_not_resolved(tmp_path: Path) -> None:
    text = _text().replace("<MuseVersion>9.0.9.18167</MuseVersion>", "<MuseVersion>&secret;</MuseVersion>")
    with pytest.raises(ECGFormatError, match="not well-formed XML"):
        read(_write(tmp_path, text))


def test_missing_rhythm_waveform(tmp_path: Path) -> None:
    text = _text()
    rhythm = text.index("<WaveformType>Rhythm</WaveformType>")
    start, end = text.rindex("<Waveform>", 0, rhythm), text.index("</Waveform>", rhythm) + len("</Waveform>")
    with pytest.raises(ECGFormatError, match=r"no rhythm waveform .* \(waveforms found: median\)"):
        read(_write(tmp_path, text[:start] + text[end:]))
    no_waveforms = re.sub(r"<Waveform>.*</Waveform>", "", text, flags=re.DOTALL)
    with pytest.raises(ECGFormatError, match=r"no rhythm waveform .* \(waveforms found: none\)"):
        read(_write(tmp_path, no_waveforms))


def test_a_broken_median_beat_leaves_the_rhythm_readable(tmp_path: Path) -> None:
    text = _text()
    median_v1 = re.compile(r"(<WaveformType>Median</WaveformType>.*?<LeadID>V1</LeadID>.*?<WaveFormData>)([^<]*)", re.DOTALL)
    text = median_v1.sub(lambda m: m.group(1) + m.group(2).strip()[:-5], text, count=1)
    record = read(_write(tmp_path, text))
    assert record.signal.shape == (12, 5000) and "device_median_beats" not in record.metadata
    assert "median lead V1 has invalid or truncated base64" in record.metadata["device_median_beats_note"]


def test_file_above_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "MAX_FILE_BYTES", 100_000)
    for reader in (read, read_muse):
        with pytest.raises(ECGFileTooLargeError, match=r"muse_ecg1.xml is .* the limit is .*ECG_MAX_FILE_MB"):
            reader(SHIPPED)


def test_not_xml_at_all(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_bytes(_text()[:5000].encode("latin-1"))
    with pytest.raises(ECGFormatError, match="not well-formed XML"):
        read(path)
