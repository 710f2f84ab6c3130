"""The one table of ECG file formats: ``read()``, the folder scan, uploads and the upload box come from it.

Each :class:`FileFormat` row says, for one format, everything the rest of the package needs to
know about it: its reader key and name, the suffixes that make a file a record of its own, the
companion files that travel with such a file (a WFDB header's ``.dat``), how a file with an
unknown suffix is recognised (leading bytes, or a test on its text), its reader, and the line the
upload box shows. Derived from :data:`FORMATS`, and nowhere else written down:

- :func:`format_for` -- the format ``read()`` uses for a path (suffix, else content; for the XML
  formats, which share ``.xml``, the document's root element: ``xml_root``);
- :func:`format_named` -- the ``fmt=`` argument of ``read()`` (key, suffix or alias);
- :data:`SUPPORTED_FORMATS` -- the accepted formats as error messages and the upload box list them;
- :func:`is_ecg_file` -- the folder-scan rule (``ecgcore.batch.discover_ecg_files``);
- :data:`STANDALONE_SUFFIXES` -- which member of an upload or zip is the ECG (``_staging.choose_primary``);
- :func:`upload_label`, :func:`upload_help` -- what the app's upload box says.

To add a format, add a row (and a reader module); the two-way test in
``tests/ecgcore/io/test_formats.py`` then asks for an example file of each new suffix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from ecgcore.io.xml_safe import root_element

if TYPE_CHECKING:
    from ecgcore.record import Record

# reader(path, units, options) -> Record; options are read()'s fs, record_name and allow_flat_leads.
Reader = Callable[[Path, str, dict], "Record"]

SNIFF_BYTES = 4096  # how much of a file with an unknown suffix is looked at

# Files that travel with ECG records but are not one (licences, PhysioNet index files, macOS junk):
# never a record in a folder scan, never "the ECG" of an upload or zip.
IGNORED_NAME = re.compile(
    r"^(readme|license|licence|copying|notice|records|manifest|annotators|sha256sums|md5sums|\.ds_store|thumbs\.db)(\..*)?$"
    r"|licen[cs]e|_(mit|apache|bsd|gpl|cc0|cc-by)[\w.\-]*\.txt$"  # licence texts named after their project
    r"|^\._|\.(md|pdf|json|html?|sha256|hea-|atr|qrs|ann|png|jpe?g)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FileFormat:
    """One row of the format table (see the module docstring for what is derived from it)."""

    key: str                            # reader key: detect_format() returns it, fmt= accepts it
    name: str                           # in messages: "Could not read x.edf as EDF/BDF: ..."
    suffixes: tuple[str, ...]           # a file with one of these is a record of its own
    reader: Reader
    upload_help: str                    # the upload box's (and error messages') line; names every suffix
    companions: tuple[str, ...] = ()    # files of a record whose entry file (same stem, a suffix above) sits beside them
    aliases: tuple[str, ...] = ()       # further fmt= names, besides the key and the suffixes
    magic: tuple[bytes, ...] = ()       # leading bytes that identify the format
    magic_offset: int = 0               # where the magic starts (DICOM: "DICM" after a 128-byte preamble)
    sniff: Callable[[str], bool] | None = None  # a test on the (stripped) text of a file with no magic
    sniff_binary: Callable[[bytes], bool] | None = None  # a test on the first bytes of a binary file with no magic
    xml_root: str | None = None         # XML formats share .xml: the document's root element picks the row

    @property
    def fmt_names(self) -> tuple[str, ...]:
        """Every value ``read(fmt=...)`` accepts for this format."""
        return (self.key, *(s.lstrip(".") for s in self.suffixes), *self.aliases)


def _reader(module: str, function: str, *, takes_units: bool) -> Reader:
    """A reader imported on first use, so the table costs no heavy imports (wfdb, pyedflib, h5py)."""

    def read_format(path: Path, units: str, options: dict) -> Record:
        read_function = getattr(import_module(f"ecgcore.io.{module}"), function)
        return read_function(path, units=units, **options) if takes_units else read_function(path, **options)

    return read_format


def _read_zip(path: Path, units: str, options: dict) -> Record:
    from ecgcore.io import read
    from ecgcore.io.zip_reader import read_zip

    return read_zip(path, lambda member: read(member, units=units, **options))


# -- how text formats are recognised ------------------------------------------------------------------
def _content_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _is_wfdb_header(text: str) -> bool:
    """A record line (``name n_sig fs ...``) followed by a signal line (``file.dat fmt ...``)."""
    lines = _content_lines(text)
    return bool(
        len(lines) >= 2
        and re.match(r"^[\w\-]+(/\d+)?\s+\d+\s+[\d.]+", lines[0])
        and re.match(r"^\S+\.\w+\s+\d+", lines[1])
    )


def _is_xml(text: str) -> bool:
    return text.startswith("<") and root_element(text.encode("utf-8")) is not None


def _is_scp_ecg(head: bytes) -> bool:
    """SCP-ECG has no fixed leading bytes (a CRC comes first): CRC, length, then Section 0's header
    (id 0, a length of 16 + 10 per pointer) whose first pointer is Section 0 itself, at byte 7 (6 where
    a writer counts from 0)."""
    if len(head) < 32:
        return False
    length = int.from_bytes(head[10:14], "little")
    return (
        head[8:10] == b"\x00\x00"
        and 16 < length <= 16 + 10 * 1000
        and (length - 16) % 10 == 0
        and head[22:24] == b"\x00\x00"
        and int.from_bytes(head[24:28], "little") == length
        and int.from_bytes(head[28:32], "little") in (6, 7)
    )


def _is_delimited(text: str) -> bool:
    """A first line with a comma, semicolon or tab; XML is never taken for CSV, whatever its first line holds."""
    lines = _content_lines(text)
    return bool(lines) and not _is_xml(text) and any(sep in lines[0] for sep in (",", ";", "\t"))


FORMATS: tuple[FileFormat, ...] = (
    FileFormat(
        "wfdb", "WFDB", suffixes=(".hea",), companions=(".dat", ".xyz", ".mat"), aliases=("dat",),
        sniff=_is_wfdb_header, reader=_reader("wfdb_reader", "read_wfdb", takes_units=False),  # the header states units
        upload_help="WFDB (.hea with .dat, .xyz or .mat)",
    ),
    FileFormat(
        "zip", "ZIP", suffixes=(".zip",), magic=(b"PK\x03\x04", b"PK\x05\x06"), reader=_read_zip,
        upload_help="ZIP (.zip) holding one WFDB record or one supported file",
    ),
    FileFormat(
        "csv", "CSV", suffixes=(".csv", ".tsv", ".txt"), sniff=_is_delimited,
        reader=_reader("csv_reader", "read_csv", takes_units=True),
        upload_help="CSV (.csv, .tsv, .txt; header row of lead names)",
    ),
    FileFormat(
        "numpy", "NumPy", suffixes=(".npy", ".npz"), magic=(b"\x93NUMPY",),
        reader=_reader("numpy_reader", "read_numpy", takes_units=True),
        upload_help="NumPy (.npy, .npz)",
    ),
    FileFormat(
        "edf", "EDF/BDF", suffixes=(".edf", ".bdf"), aliases=("edf+",), magic=(b"0       ", b"\xffBIOSEMI"),
        reader=_reader("edf_reader", "read_edf", takes_units=True),
        upload_help="EDF / EDF+ / BDF (.edf, .bdf)",
    ),
    FileFormat(
        "aecg", "HL7 aECG XML", suffixes=(".xml",), aliases=("hl7",), xml_root="AnnotatedECG",
        reader=_reader("aecg_reader", "read_aecg", takes_units=False),
        upload_help="HL7 aECG XML (.xml)",
    ),
    FileFormat(
        "muse", "GE MUSE XML", suffixes=(".xml",), aliases=("ge",), xml_root="RestingECG",
        reader=_reader("ge_muse_reader", "read_muse", takes_units=False),  # the file states its units
        upload_help="GE MUSE XML (.xml)",
    ),
    FileFormat(
        "philips", "Philips SierraECG XML", suffixes=(".xml",), aliases=("sierra",), xml_root="restingecgdata",
        reader=_reader("philips_reader", "read_philips", takes_units=False),  # the file states its resolution
        upload_help="Philips SierraECG XML (.xml)",
    ),
    FileFormat(
        "sph", "SPH HDF5", suffixes=(".h5", ".hdf5"), magic=(b"\x89HDF\r\n\x1a\n",),
        reader=_reader("hdf5_reader", "read_sph_h5", takes_units=True),
        upload_help="SPH HDF5 (.h5, .hdf5)",
    ),
    FileFormat(
        "mat", "MATLAB .mat", suffixes=(".mat",), aliases=("code15", "cinc2017"), magic=(b"MATLAB",),
        reader=_reader("mat_reader", "read_mat", takes_units=False),
        upload_help="CODE-15% / CinC 2017 MATLAB (.mat)",
    ),
    FileFormat(
        "dicom", "DICOM ECG waveform", suffixes=(".dcm",), magic=(b"DICM",), magic_offset=128,
        reader=_reader("dicom_reader", "read_dicom", takes_units=False),  # the file states its units
        upload_help="DICOM 12-lead / general ECG waveform (.dcm)",
    ),
    FileFormat(
        "scp", "SCP-ECG", suffixes=(".scp",), sniff_binary=_is_scp_ecg,
        reader=_reader("scp_reader", "read_scp", takes_units=False),  # the file states its units (nV per unit)
        upload_help="SCP-ECG (.scp)",
    ),
)

SUPPORTED_FORMATS: tuple[str, ...] = tuple(f.upload_help for f in FORMATS)
STANDALONE_SUFFIXES: frozenset[str] = frozenset(s for f in FORMATS for s in f.suffixes)
# A suffix that is a record of its own wins over the same suffix as a companion (.mat: MATLAB); a suffix
# several formats share (.xml) goes to the first, and format_for then picks by content (xml_root).
_BY_SUFFIX: dict[str, FileFormat] = {
    **{s: f for f in FORMATS for s in f.companions},
    **{s: f for f in reversed(FORMATS) for s in f.suffixes},
}
# A name two formats share (the XML formats' "xml") goes to the first; format_named(fmt, path) then picks by content.
_BY_FMT_NAME: dict[str, FileFormat] = {name: f for f in reversed(FORMATS) for name in f.fmt_names}
FMT_NAMES: tuple[str, ...] = tuple(sorted(_BY_FMT_NAME))


def accepted_formats() -> str:
    """The sentence every "what is accepted" error message ends with."""
    return "Accepted formats: " + "; ".join(SUPPORTED_FORMATS) + "."


def format_named(fmt: str, path: str | Path | None = None) -> FileFormat | None:
    """The format ``read(fmt=...)`` means: its key, one of its suffixes (dot optional) or an alias.

    ``fmt="xml"`` names every XML format: given the ``path``, the document's root element picks one.
    """
    name = str(fmt).strip().lower().lstrip(".")
    named = _BY_FMT_NAME.get(name)
    if named is not None and named.xml_root and path is not None and name not in (named.key, *named.aliases):
        with Path(path).open("rb") as handle:
            return xml_format(handle.read(SNIFF_BYTES)) or named
    return named


def format_by_suffix(path: str | Path) -> FileFormat | None:
    """The format of ``path`` by its suffix alone, or None.

    A companion file whose entry file sits beside it belongs to that record (``x.mat`` next to
    ``x.hea`` is WFDB, a lone ``x.mat`` is MATLAB); a lone companion that is nothing else (``x.dat``)
    still goes to its record's reader, which says what is missing.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    for fmt in FORMATS:
        if suffix in fmt.companions and any(path.with_suffix(s).exists() for s in fmt.suffixes):
            return fmt
    return _BY_SUFFIX.get(suffix)


_XML_FORMATS: tuple[FileFormat, ...] = tuple(f for f in FORMATS if f.xml_root)
_BY_XML_ROOT: dict[str, FileFormat] = {f.xml_root.lower(): f for f in _XML_FORMATS}


def xml_format(head: bytes) -> FileFormat | None:
    """The XML format whose root element the document has; for unknown roots the first XML format,
    whose reader then says which root elements are known."""
    root = root_element(head)
    if root is None:
        return None
    return _BY_XML_ROOT.get(root.lower(), _XML_FORMATS[0])


def known_xml_roots() -> str:
    """For error messages: every XML root element the table reads, with its format."""
    return ", ".join(f"<{f.xml_root}> ({f.name})" for f in _XML_FORMATS)


def sniff(head: bytes) -> FileFormat | None:
    """The format whose magic bytes, else binary test, else XML root, else text test matches the first bytes."""
    for fmt in FORMATS:
        if fmt.magic and head.startswith(fmt.magic, fmt.magic_offset):
            return fmt
    for fmt in FORMATS:
        if fmt.sniff_binary is not None and fmt.sniff_binary(head):
            return fmt
    if root_element(head) is not None:
        return xml_format(head)
    try:
        text = head.decode("utf-8-sig").lstrip()
    except UnicodeDecodeError:
        return None
    return next((fmt for fmt in FORMATS if fmt.sniff is not None and fmt.sniff(text)), None)


def format_for(path: str | Path) -> FileFormat | None:
    """The format ``read()`` uses for ``path``: by suffix, else by its first bytes; None when unknown."""
    path = Path(path)
    fmt = format_by_suffix(path)
    if fmt is None:
        with path.open("rb") as handle:
            fmt = sniff(handle.read(SNIFF_BYTES))
    elif fmt.xml_root and len(_XML_FORMATS) > 1:
        with path.open("rb") as handle:
            fmt = xml_format(handle.read(SNIFF_BYTES)) or fmt
    return fmt


def is_ecg_file(path: str | Path) -> bool:
    """Whether a folder scan lists ``path`` as one record (by name only; the file is not opened).

    A record counts once, under its entry file: a ``.hea`` is listed and its ``.dat``/``.xyz``/``.mat``
    are not; a lone ``.dat`` is no record; a ``.mat`` without a header is a MATLAB record; a ``.zip``
    is a record. Index and licence files (``RECORDS``, ``SHA256SUMS.txt``, ``README.txt`` ...) are not.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in STANDALONE_SUFFIXES or IGNORED_NAME.search(path.name):
        return False  # decided without a look at the disk: most files of a large folder end here
    return suffix in format_by_suffix(path).suffixes


def upload_label(limit_mb: int) -> str:
    """The upload box's label: what one upload may hold, and the size limit."""
    wfdb = _BY_FMT_NAME["wfdb"]
    return (f"Upload an ECG (one file, a .zip, or a {'/'.join(wfdb.suffixes)} with its "
            f"{'/'.join(wfdb.companions)}; up to {limit_mb} MB)")


def upload_help(limit_mb: int) -> str:
    """The upload box's help: every accepted format, and the size limit and its setting."""
    return "Accepted: " + ", ".join(SUPPORTED_FORMATS) + f". Limit: {limit_mb} MB (ECG_MAX_FILE_MB)."


__all__ = [
    "FMT_NAMES",
    "FORMATS",
    "IGNORED_NAME",
    "STANDALONE_SUFFIXES",
    "SUPPORTED_FORMATS",
    "FileFormat",
    "accepted_formats",
    "format_by_suffix",
    "format_for",
    "format_named",
    "is_ecg_file",
    "known_xml_roots",
    "sniff",
    "upload_help",
    "upload_label",
]
