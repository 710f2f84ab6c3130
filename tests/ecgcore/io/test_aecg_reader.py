"""HL7 aECG XML: the two staged sample files (signal, the device's reading, acquisition, median beats,
privacy), hand-written documents, writer round trip, and unsafe/foreign XML.

``hl7aecg-Example2.xml`` (Apache-2.0) is read from the shipped copy and from ../shared; the HL7 ballot
example ``Example aECG.xml`` (no stated licence for the file) only from ../shared. Expected values come
from SOURCE.md and from the XML itself with the stdlib parser, independently of the reader.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from ecgcore.errors import ECGFormatError
from ecgcore.io import detect_format, read
from ecgcore.io.writers import write_aecg
from ecgcore.leads import LEADS_12
from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES
from tests.conftest import SAMPLES_DIR
from train.paths import SHARED_DATA_DIR

SHIPPED = SAMPLES_DIR / "hospital" / "hl7_aecg" / "hl7aecg-Example2.xml"
SHARED = SHARED_DATA_DIR / "hospital_formats" / "hl7_aecg"
HL7 = "{urn:hl7-org:v3}"

# Shaped like the HL7 aECG implementation guide example: absolute time list, uV scale with a
# non-zero origin, an MDC lead outside the 12 (V4R), and a derived median-beat series to ignore.
HAND_WRITTEN = """<?xml version="1.0" encoding="UTF-8"?>
<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id root="61d1a24f-b47e-41aa-ae95-f8ac302f4eeb"/>
  <code code="93000" codeSystem="2.16.840.1.113883.6.12"/>
  <componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>
    <subjectDemographicPerson><administrativeGenderCode code="M" codeSystem="2.16.840.1.113883.5.1"/>
    </subjectDemographicPerson></trialSubject></subject></subjectAssignment></componentOf></timepointEvent>
  </componentOf>
  <component>
    <series>
      <code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>
      <component>
        <sequenceSet>
          <component><sequence>
            <code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>
            <value xsi:type="GLIST_TS"><head value="20021122091000.000"/><increment value="4" unit="ms"/></value>
          </sequence></component>
          <component><sequence>
            <code code="MDC_ECG_LEAD_I" codeSystem="2.16.840.1.113883.6.24"/>
            <value xsi:type="SLIST_PQ"><origin value="100" unit="uV"/><scale value="5" unit="uV"/>
              <digits>{lead_i}</digits></value>
          </sequence></component>
          <component><sequence>
            <code code="MDC_ECG_LEAD_II" codeSystem="2.16.840.1.113883.6.24"/>
            <value xsi:type="SLIST_PQ"><origin value="0" unit="mV"/><scale value="0.005" unit="mV"/>
              <digits>{lead_ii}</digits></value>
          </sequence></component>
          <component><sequence>
            <code code="MDC_ECG_LEAD_V4R" codeSystem="2.16.840.1.113883.6.24"/>
            <value xsi:type="SLIST_PQ"><origin value="0" unit="uV"/><scale value="5" unit="uV"/>
              <digits>{lead_i}</digits></value>
          </sequence></component>
        </sequenceSet>
      </component>
      <derivation><derivedSeries><component><sequenceSet><component><sequence>
        <code code="MDC_ECG_LEAD_V1" codeSystem="2.16.840.1.113883.6.24"/>
        <value xsi:type="SLIST_PQ"><origin value="0" unit="uV"/><scale value="5" unit="uV"/>
          <digits>1 2 3</digits></value>
      </sequence></component></sequenceSet></component></derivedSeries></derivation>
    </series>
  </component>
</AnnotatedECG>
"""


def test_hand_written_document(tmp_path):
    rng = np.random.default_rng(0)
    digits_i = rng.integers(-200, 200, 1000)
    digits_ii = rng.integers(-300, 300, 1000)
    path = tmp_path / "ecg.xml"
    path.write_text(HAND_WRITTEN.format(lead_i=" ".join(map(str, digits_i)), lead_ii="\n".join(map(str, digits_ii))))
    record = read(path)
    assert record.source == "HL7 aECG" and record.fs == 250.0 and record.sex == "M"
    assert record.leads == ("I", "II", "III", "aVR", "aVL", "aVF")
    np.testing.assert_allclose(record.lead("I"), (100 + 5 * digits_i) / 1000, atol=1e-6)
    np.testing.assert_allclose(record.lead("II"), 0.005 * digits_ii, atol=1e-6)
    assert record.metadata["dropped_channels"] == ["MDC_ECG_LEAD_V4R"]
    assert record.metadata["aecg_id"] == "61d1a24f-b47e-41aa-ae95-f8ac302f4eeb"


def test_writer_round_trip(tmp_path, ptbxl_record):
    record = read(write_aecg(ptbxl_record, tmp_path / "rt.xml"))
    assert record.fs == 500 and record.leads == LEADS_12
    np.testing.assert_allclose(record.signal, ptbxl_record.signal, atol=0.5e-3 + 1e-6)
    assert record.device_reading is None and record.acquisition is None


def test_writer_round_trip_with_an_interpretation(tmp_path, ptbxl_record):
    """A confirmed report written into the file comes back as the device reading: statements (white
    space collapsed, XML characters escaped) and measurements; the comment and the author's name are
    not read, the acquisition time is."""
    measurements = {"heart_rate_bpm": 88.0, "rr_ms": 682.0, "p_duration_ms": 104.0, "pr_ms": 168.0, "qrs_ms": 134.0,
                    "qt_ms": 380.0, "qtc_bazett_ms": 460.0, "qtc_fridericia_ms": 432.0, "p_axis_deg": 60.0,
                    "qrs_axis_deg": -45.0, "t_axis_deg": 120.0}
    path = write_aecg(ptbxl_record, tmp_path / "report.xml",
                      statements=["ATRIAL FIBRILLATION", "LEFT BUNDLE  BRANCH\nBLOCK", "ST < 1 mm & T > 5 mm"],
                      measurements=measurements, acquired_at=datetime(2025, 3, 1, 9, 30),
                      interpretation_author="Dr. Who <cardiology>",
                      interpretation_time=datetime(2025, 3, 2, 8, 0, tzinfo=UTC),
                      interpretation_comment="Compared with 2024: new AF.")
    record = read(path)
    assert record.device_reading.statements == ("ATRIAL FIBRILLATION", "LEFT BUNDLE BRANCH BLOCK",
                                                "ST < 1 mm & T > 5 mm")
    assert record.device_reading.measurements == measurements
    assert record.acquisition.acquired_at == datetime(2025, 3, 1, 9, 30) and record.acquisition.patient_id is None
    assert any("authored by a person" in note for note in record.metadata["aecg_notes"])
    np.testing.assert_allclose(record.signal, ptbxl_record.signal, atol=0.5e-3 + 1e-6)
    text = path.read_text()
    assert "20250302080000+0000" in text and "Compared with 2024" in text
    assert "Compared with 2024" not in " ".join(record.device_reading.statements)
    with pytest.raises(ECGFormatError, match="Unknown measurement 'qtc_ms'"):
        write_aecg(ptbxl_record, tmp_path / "bad.xml", measurements={"qtc_ms": 400.0})


def test_entity_declarations_are_refused(tmp_path):
    path = tmp_path / "bomb.xml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><AnnotatedECG>&lol;</AnnotatedECG>')
    with pytest.raises(ECGFormatError, match="entity declarations or an internal DTD subset is refused"):
        read(path)


def test_other_xml_is_not_aecg(tmp_path):
    # <restingecgdata> is Philips SierraECG XML: its reader says what is missing, not the aECG reader.
    path = tmp_path / "other.xml"
    path.write_text('<?xml version="1.0"?><restingecgdata><waveform/></restingecgdata>')
    with pytest.raises(ECGFormatError, match="no waveform data in the Philips document"):
        read(path)
    # An XML root no format reads still goes to the aECG reader, which names the root it found.
    path.write_text('<?xml version="1.0"?><SomeOtherECG><waveform/></SomeOtherECG>')
    with pytest.raises(ECGFormatError, match="not an HL7 aECG document"):
        read(path)


def test_malformed_xml(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text('<AnnotatedECG xmlns="urn:hl7-org:v3"><component>')
    with pytest.raises(ECGFormatError, match="not well-formed XML"):
        read(path)


# -- the staged samples -----------------------------------------------------------------------------------
def _sample(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is not available (../shared/data is not beside the repo)")
    return path


def _example2_paths() -> list:
    return [pytest.param(SHIPPED, id="shipped-Example2"), pytest.param("hl7aecg-Example2.xml", id="shared-Example2")]


def _path(sample: Path | str) -> Path:
    return sample if isinstance(sample, Path) else _sample(sample)


def _digits(path: Path, lead: str) -> np.ndarray:
    """The rhythm series' digits of one lead, read with the stdlib parser."""
    root = ET.parse(path).getroot()
    series = root.find(f"{HL7}component/{HL7}series")
    for sequence in series.iter(f"{HL7}sequence"):
        if sequence.find(f"{HL7}code").get("code") == f"MDC_ECG_LEAD_{lead}":
            return np.array(sequence.find(f"{HL7}value/{HL7}digits").text.split(), dtype=float)
    raise AssertionError(lead)


def test_example_aecg_signal() -> None:
    path = _sample("Example aECG.xml")
    record = read(path)
    assert detect_format(path) == "aecg" and record.source == "HL7 aECG"
    assert record.fs == 500.0 and record.signal.shape == (12, 5000) and record.leads == LEADS_12
    for lead in ("I", "V2", "AVR"):  # origin 0 uV, scale 2.5 uV
        np.testing.assert_allclose(record.lead(lead.replace("AVR", "aVR")), _digits(path, lead) * 2.5e-3, atol=1e-9)
    assert 0.3 < np.ptp(record.lead("II")) < 5.0  # mV, not uV


@pytest.mark.parametrize("sample", _example2_paths())
def test_example2_signal(sample) -> None:
    path = _path(sample)
    record = read(path)
    assert record.fs == 1000.0 and record.signal.shape == (12, 10000) and record.leads == LEADS_12
    np.testing.assert_allclose(record.lead("V1"), _digits(path, "V1") * 2.5e-3, atol=1e-9)


def test_example_aecg_device_reading() -> None:
    path = _sample("Example aECG.xml")
    assert sum(1 for _ in ET.parse(path).getroot().iter(f"{HL7}annotation")) == 167  # as SOURCE.md counts them
    record = read(path)
    reading = record.device_reading
    assert set(reading.measurements) <= set(GLOBAL_MEASURE_NAMES)
    assert reading.measurements == {"p_duration_ms": 102.0, "pr_ms": 148.0, "qrs_ms": 120.0, "qt_ms": 420.0,
                                    "p_axis_deg": 44.0, "qrs_axis_deg": -61.0, "t_axis_deg": 86.0}
    # MDC_ECG_TIME_PD_QTc names no formula and the file has no RR to tell: not called Bazett.
    assert record.metadata["device_measurements_unmapped"] == {"QTc, formula not stated (ms)": 443.0}
    assert reading.statements == ("Sinus rhythm",) and reading.original_statements == ()
    assert reading.source == "Mortara Instrument, Inc. ELI250 (software 5.3) via HL7 aECG"
    assert record.metadata["device_filters"] == {"lowpass_hz": 150.0, "mains_filter_hz": 60.0}


def test_example_aecg_acquisition_age_and_sex() -> None:
    record = read(_sample("Example aECG.xml"))
    acquisition = record.acquisition
    assert acquisition.patient_id == "SBJ-123"
    assert acquisition.acquired_at == datetime(2002, 11, 22, 9, 10, 0)
    assert acquisition.device == "Mortara Instrument, Inc. ELI250 (software 5.3)"
    assert acquisition.site == "River City Clinic for the Cardiac Challenged, River City ECG Collection Service"
    # Born 1953-05-08, acquired 2002-11-22: 49. The file's "Reported Age" (46) disagrees and is noted.
    assert record.age == 49 and record.sex == "M"
    assert any("reported age (46 years) differs" in note for note in record.metadata["aecg_notes"])


@pytest.mark.parametrize("sample", _example2_paths())
def test_example2_reading_acquisition_and_age(sample) -> None:
    record = read(_path(sample))
    assert record.device_reading.measurements == {"heart_rate_bpm": 52.0}  # unit "bmp": a typo for bpm
    assert record.device_reading.statements == ()
    assert record.metadata["aecg_notes"] == ["MDC_ECG_HEART_RATE is stated in 'bmp', read as bpm (a producer's typo)."]
    assert "device_measurements_unmapped" not in record.metadata
    acquisition = record.acquisition
    assert acquisition.patient_id == "106_ABC"
    assert acquisition.acquired_at == datetime(2004, 1, 15, 11, 20, 4)
    assert acquisition.device == "Manufacturer ABC 12345" and acquisition.site == "PPD"
    assert record.age == 32  # born 1971-06-16, acquired 2004-01-15
    assert record.sex is None  # <administrativeGenderCode /> is empty


def test_example_aecg_median_beats() -> None:
    median = read(_sample("Example aECG.xml")).metadata["device_median_beats"]
    assert median["fs"] == 500.0 and set(median["leads"]) == set(LEADS_12)
    assert all(beat.shape == (599,) and beat.dtype == np.float32 for beat in median["leads"].values())
    # The representative beat's wave boundaries (ms from its start): P 286-388, QRS 434-554, T end 854.
    assert median["fiducials"] == {"p_onset": 143, "p_offset": 194, "qrs_onset": 217, "qrs_offset": 277,
                                   "t_offset": 427}
    lead_ii = median["leads"]["II"]
    assert median["fiducials"]["qrs_onset"] <= int(np.argmax(lead_ii)) < median["fiducials"]["qrs_offset"]


@pytest.mark.parametrize("sample", _example2_paths())
def test_example2_median_beats(sample) -> None:
    median = read(_path(sample)).metadata["device_median_beats"]
    assert median["fs"] == 1000.0 and set(median["leads"]) == set(LEADS_12)
    assert all(beat.shape == (1200,) and beat.dtype == np.float32 for beat in median["leads"].values())
    assert "fiducials" not in median  # the file gives no wave boundaries
    np.testing.assert_allclose(median["leads"]["III"], median["leads"]["II"] - median["leads"]["I"], atol=0.01)


def _person_names(root: ET.Element) -> list[str]:
    """Texts of every <name> of a person: the subject, investigator, performers, annotation authors."""
    people = ("subjectDemographicPerson", "investigatorPerson", "assignedPerson")
    return [" ".join(name.text.split()) for person in people for element in root.iter(f"{HL7}{person}")
            for name in element.findall(f"{HL7}name") if name.text and name.text.strip()]


@pytest.mark.parametrize("sample, secrets", [
    pytest.param("Example aECG.xml", ["19530508", "1953-05-08", "SBJ-123", "Clark", "John Smith", "John Brown",
                                      "dizzy"], id="Example"),
    pytest.param("hl7aecg-Example2.xml", ["19710616", "1971-06-16", "106_ABC", "Investigator, Thomas"],
                 id="Example2"),
])
def test_samples_never_show_names_birth_date_or_identifier(sample: str, secrets: list[str]) -> None:
    path = SHIPPED if sample == SHIPPED.name else _sample(sample)
    record = read(path)
    root = ET.parse(path).getroot()
    shown = " ".join([repr(record), repr(record.metadata), repr(record.acquisition), repr(record.device_reading),
                      str(record.acquisition.to_dict())])
    for secret in secrets:
        assert secret not in shown, secret
    manufacturers = " ".join(e.text or "" for e in root.findall(f".//{HL7}manufacturerOrganization/{HL7}name"))
    names = _person_names(root)
    assert "Clark" in names or "ABC" in names  # the subject's name field is there to be left out
    for name in names:
        # Example2's subject name "ABC" is also in its fictitious manufacturer "Manufacturer ABC", which is the
        # device: for such a name only the record, its metadata and the statements are checked.
        where = repr(record) + repr(record.metadata) + repr(record.device_reading.statements) \
            if name in manufacturers else shown
        assert name not in where, name
    # The identifier is on the acquisition only, for the store to hash.
    assert record.acquisition.patient_id in secrets
    assert "patient_id" not in record.acquisition.to_dict()


# -- hand-written annotations -----------------------------------------------------------------------------
ANNOTATED = """<?xml version="1.0" encoding="UTF-8"?>
<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id root="5b7a3c2e-0000-4000-8000-000000000001"/>
  <effectiveTime><low value="20210304101500.250+0100"/></effectiveTime>
  <component><series>
    <code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>
    <component><sequenceSet>
      <component><sequence><code code="TIME_RELATIVE"/>
        <value xsi:type="GLIST_PQ"><head value="0" unit="s"/><increment value="0.002" unit="s"/></value>
      </sequence></component>
      <component><sequence><code code="MDC_ECG_LEAD_I"/>
        <value xsi:type="SLIST_PQ"><origin value="0" unit="uV"/><scale value="5" unit="uV"/><digits>@LEAD1@</digits></value>
      </sequence></component>
      <component><sequence><code code="MDC_ECG_LEAD_II"/>
        <value xsi:type="SLIST_PQ"><origin value="0" unit="uV"/><scale value="5" unit="uV"/><digits>@LEAD2@</digits></value>
      </sequence></component>
    </sequenceSet></component>
    <subjectOf><annotationSet>
      ANNOTATIONS
    </annotationSet></subjectOf>
  </series></component>
</AnnotatedECG>
"""


def _annotation(code: str, value: str) -> str:
    return f'<component><annotation><code code="{code}"/>{value}</annotation></component>'


def _pq(code: str, number: str, unit: str) -> str:
    return _annotation(code, f'<value xsi:type="PQ" value="{number}" unit="{unit}"/>')


def _write_annotated(tmp_path: Path, *annotations: str) -> Path:
    t = np.arange(2500) / 20.0
    lead_i, lead_ii = (" ".join(map(str, (wave(t) * 200).astype(int))) for wave in (np.sin, np.cos))
    text = ANNOTATED.replace("@LEAD1@", lead_i).replace("@LEAD2@", lead_ii)
    path = tmp_path / "annotated.xml"
    path.write_text(text.replace("ANNOTATIONS", "\n".join(annotations)))
    return path


@pytest.mark.parametrize("bad", ["fifty-two", "NaN", "", "1e999"])
def test_non_numeric_annotation_value_is_ignored_with_a_note(tmp_path: Path, bad: str) -> None:
    record = read(_write_annotated(tmp_path, _pq("MDC_ECG_HEART_RATE", bad, "bpm"),
                                   _pq("MDC_ECG_TIME_PD_PR", "160", "ms")))
    assert record.device_reading.measurements == {"pr_ms": 160.0}
    assert record.metadata["aecg_notes"] == [
        f"rhythm: annotation MDC_ECG_HEART_RATE has the value {bad!r}, not a number; ignored."]


def test_only_non_numeric_values_give_no_device_reading(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace('value="52" unit="bmp"', 'value="5 2" unit="bmp"')
    path = tmp_path / "example2.xml"
    path.write_text(text, encoding="utf-8")
    record = read(path)
    assert record.device_reading is None and record.signal.shape == (12, 10000)
    assert len(record.metadata["aecg_notes"]) == 2  # one per series


def test_qtc_named_by_formula_when_the_file_gives_qt_and_rr(tmp_path: Path) -> None:
    # QT 400 ms at RR 810 ms: Bazett 444.4, Fridericia 429.0.
    record = read(_write_annotated(tmp_path, _pq("MDC_ECG_TIME_PD_QT", "400", "ms"),
                                   _pq("MDC_ECG_TIME_PD_RR", "0.81", "s"), _pq("MDC_ECG_TIME_PD_QTc", "444", "ms")))
    assert record.device_reading.measurements == {"qt_ms": 400.0, "rr_ms": 810.0, "qtc_bazett_ms": 444.0}
    assert "device_measurements_unmapped" not in record.metadata
    assert any("stored as qtc_bazett_ms" in note for note in record.metadata["aecg_notes"])
    record = read(_write_annotated(tmp_path, _pq("MDC_ECG_TIME_PD_QTcF", "429", "ms"),
                                   _pq("MDC_ECG_TIME_PD_QTcB", "444", "ms")))
    assert record.device_reading.measurements == {"qtc_fridericia_ms": 429.0, "qtc_bazett_ms": 444.0}


def test_interpretation_beats_leads_units_and_sentinels(tmp_path: Path) -> None:
    interpretation = _annotation("MDC_ECG_INTERPRETATION", "".join([
        _annotation("MDC_ECG_INTERPRETATION_STATEMENT", '<value xsi:type="ST">Left axis deviation</value>'),
        _annotation("MDC_ECG_INTERPRETATION_STATEMENT", '<value xsi:type="ST">Incomplete  right bundle branch block\n Nonspecific T wave abnormality </value>'),
        _annotation("MDC_ECG_INTERPRETATION_SUMMARY", '<value xsi:type="ST">Abnormal ECG</value>'),
        _annotation("MDC_ECG_INTERPRETATION_COMMENT", '<value xsi:type="ST">Confirmed by Dr Who</value>'),
    ]))
    beat = _annotation("MDC_ECG_BEAT", '<value xsi:type="CE" code="MDC_ECG_BEAT_NORMAL"/>'
                       + _pq("MDC_ECG_TIME_PD_PR", "999", "ms"))  # one beat's PR, not the global one
    per_lead = ('<component><annotation><code code="MDC_ECG_TIME_PD_QRS"/><value xsi:type="PQ" value="90" unit="ms"/>'
                '<support><supportingROI><component><boundary><code code="MDC_ECG_LEAD_V1"/></boundary></component>'
                '</supportingROI></support></annotation></component>')
    record = read(_write_annotated(
        tmp_path,
        _annotation("MDC_ECG_RHY", '<value xsi:type="CE" code="MDC_ECG_RHY_ATR_FIB" displayName="Atrial Fibrillation"/>'),
        _annotation("MDC_ECG_RHY", '<value xsi:type="CE" code="MDC_ECG_RHY_VENDOR_X"/>'),
        interpretation, beat, per_lead,
        _pq("MDC_ECG_TIME_PD_QRS", "-32768", "ms"),  # a "missing" sentinel
        _pq("MDC_ECG_ANGLE_QRS_FRONT", "1.2", "rad"),  # not degrees: left out
        _pq("MDC_ECG_HEART_RATE", "72", "/min"),
        _pq("VENDOR_ECG_RV5", "1.85", "mV"),
    ))
    reading = record.device_reading
    assert reading.statements == ("Atrial Fibrillation", "MDC_ECG_RHY_VENDOR_X", "Left axis deviation",
                                  "Incomplete right bundle branch block", "Nonspecific T wave abnormality", "Abnormal ECG")
    assert reading.measurements == {"heart_rate_bpm": 72.0}
    assert record.metadata["device_measurements_unmapped"] == {"VENDOR_ECG_RV5 (mV)": 1.85}
    assert "Dr Who" not in repr(record.metadata) + repr(reading)
    assert any("'rad', not degrees" in note for note in record.metadata["aecg_notes"])
    assert reading.source == "unknown device via HL7 aECG"
    # Time zone offsets of HL7 timestamps are kept; no subject, device or site: no acquisition fields.
    assert record.acquisition.acquired_at == datetime(2021, 3, 4, 10, 15, 0, 250000,
                                                      tzinfo=timezone(timedelta(hours=1)))
    assert record.acquisition.patient_id is None and record.age is None


def test_deeply_nested_annotations_do_not_exhaust_the_stack(tmp_path: Path) -> None:
    depth = 3000
    nested = "".join('<component><annotation><code code="MDC_ECG_INTERPRETATION"/>' for _ in range(depth))
    nested += _annotation("MDC_ECG_INTERPRETATION_STATEMENT", '<value xsi:type="ST">Deep</value>')
    nested += "</annotation></component>" * depth
    record = read(_write_annotated(tmp_path, nested))
    assert record.device_reading.statements == ("Deep",)


def test_a_broken_representative_beat_leaves_the_rhythm_readable(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    start = text.index("REPRESENTATIVE_BEAT")
    digits = re.compile(r"<digits>[^<]*</digits>")
    match = digits.search(text, start)
    text = text[:match.start()] + "<digits>1 2 x</digits>" + text[match.end():]
    path = tmp_path / "example2.xml"
    path.write_text(text, encoding="utf-8")
    record = read(path)
    assert record.signal.shape == (12, 10000) and "device_median_beats" not in record.metadata
    assert "representative beat MDC_ECG_LEAD_I has non-numeric digits" in record.metadata["device_median_beats_note"]
