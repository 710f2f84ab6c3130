"""HL7 aECG XML: a hand-written document, writer round trip, and unsafe/foreign XML."""

from __future__ import annotations

import numpy as np
import pytest

from ecgcore.errors import ECGFormatError
from ecgcore.io import read
from ecgcore.io.writers import write_aecg
from ecgcore.leads import LEADS_12

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
