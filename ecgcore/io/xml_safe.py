"""Safe XML for every XML ECG format (HL7 aECG, GE MUSE, Philips SierraECG): one parser, one sniffer.

Hospital exports are XML from systems we do not control, so parsing refuses what enables attacks
and tolerates what real producers get wrong:

- refused: entity declarations (``<!ENTITY``: "billion laughs" expansion, external entities) and
  DOCTYPEs with an internal subset (``[...]``); a bare ``<!DOCTYPE RestingECG SYSTEM "restecg.dtd">``
  as GE MUSE writes it is allowed, because the stdlib parser never fetches an external DTD;
- tolerated: UTF-16 with a byte-order mark, and a declared encoding that lies (Philips files that
  say UTF-16 and are UTF-8, or the reverse), by decoding from the bytes and dropping the declaration.

``root_element`` names a document's root element from its first bytes, which is how the format
table tells the XML formats apart (they share the ``.xml`` suffix).
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ecgcore.errors import ECGFormatError

_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_DOCTYPE_SUBSET = re.compile(rb"<!\s*DOCTYPE[^>\[]*\[", re.IGNORECASE)
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(r"<([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
_SKIPPED = re.compile(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", re.DOTALL | re.IGNORECASE)


def decode_xml_text(data: bytes) -> str:
    """The document as text, from its bytes: a BOM decides, else UTF-8, else Latin-1 (never fails)."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    if len(data) >= 2 and data[1:2] == b"\x00" and data[:1] == b"<":
        return data.decode("utf-16-le", errors="replace")  # UTF-16 without a BOM
    if len(data) >= 2 and data[:1] == b"\x00" and data[1:2] == b"<":
        return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # GE MUSE writes ISO-8859-1


def root_element(head: bytes) -> str | None:
    """The local name of the first element in the first bytes of a document, or None if not XML."""
    text = _SKIPPED.sub("", decode_xml_text(head)).lstrip("\ufeff \t\r\n")
    if not text.startswith("<"):
        return None
    match = _FIRST_ELEMENT.match(text)
    return match.group(2) if match else None


def _refuse_unsafe(data: bytes, path: Path) -> None:
    probe = data if not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else decode_xml_text(data).encode()
    if _ENTITY.search(probe) or _DOCTYPE_SUBSET.search(probe[:65536]):
        raise ECGFormatError(
            f"{path.name}: XML with entity declarations or an internal DTD subset is refused for safety "
            "(entity expansion and external entities); no ECG export needs them."
        )


def parse_xml_safely(data: bytes, path: Path) -> ET.Element:
    """Parse an XML ECG document with the stdlib parser after the safety checks above."""
    _refuse_unsafe(data, path)
    try:
        return ET.fromstring(data)
    except ET.ParseError as first:
        # A declared encoding that does not match the bytes (or UTF-16 the parser was not told of):
        # decode from the bytes and parse the text without its declaration.
        text = _DECLARATION.sub("", decode_xml_text(data), count=1)
        try:
            return ET.fromstring(text)
        except ET.ParseError as exc:
            raise ECGFormatError(f"{path.name} is not well-formed XML: {exc} (first attempt: {first})") from exc


__all__ = ["decode_xml_text", "parse_xml_safely", "root_element"]
