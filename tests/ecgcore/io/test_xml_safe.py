"""The one XML parser of the XML ECG formats: what it refuses, what producer quirks it tolerates."""

from pathlib import Path

import pytest

from ecgcore.errors import ECGFormatError
from ecgcore.io.xml_safe import parse_xml_safely, root_element

PATH = Path("x.xml")


@pytest.mark.parametrize("document", [
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbb">]><a>&b;</a>',
    b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "x.dtd" [<!ATTLIST a x CDATA "1">]><a/>',
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY ext SYSTEM "file:///etc/passwd">]><a>&ext;</a>',
])
def test_entities_and_internal_subsets_are_refused(document: bytes) -> None:
    with pytest.raises(ECGFormatError, match="refused for safety"):
        parse_xml_safely(document, PATH)


def test_an_external_doctype_as_ge_muse_writes_it_is_read_without_fetching() -> None:
    root = parse_xml_safely(b'<?xml version="1.0" encoding="ISO-8859-1"?>\n'
                            b'<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n<RestingECG><A>\xe9</A></RestingECG>', PATH)
    assert root.tag == "RestingECG" and root.find("A").text == "\u00e9"


def test_utf16_with_a_bom_and_a_lying_declaration_are_read() -> None:
    utf16 = '\ufeff<?xml version="1.0" encoding="UTF-16"?><restingecgdata v="1"/>'.encode("utf-16-le")
    assert parse_xml_safely(utf16, PATH).get("v") == "1"
    lying = b'<?xml version="1.0" encoding="UTF-16"?><restingecgdata v="2"/>'  # says UTF-16, is UTF-8
    assert parse_xml_safely(lying, PATH).get("v") == "2"


def test_broken_xml_gets_a_clear_error() -> None:
    with pytest.raises(ECGFormatError, match="x.xml is not well-formed XML"):
        parse_xml_safely(b"<a><b></a>", PATH)


@pytest.mark.parametrize("head, root", [
    (b'<?xml version="1.0"?>\n<!-- c --><!DOCTYPE RestingECG SYSTEM "r.dtd"><RestingECG>', "RestingECG"),
    ('\ufeff<?xml version="1.0" encoding="utf-16"?><restingecgdata>'.encode("utf-16-le"), "restingecgdata"),
    (b'<hl7:AnnotatedECG xmlns:hl7="urn:hl7-org:v3">', "AnnotatedECG"),
    (b"I,II,III\n1,2,3\n", None),
])
def test_root_element_names_the_document(head: bytes, root: str | None) -> None:
    assert root_element(head) == root
