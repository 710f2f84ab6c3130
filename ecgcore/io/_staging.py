"""Choosing which file of a multi-file upload or zip is "the ECG", and staging uploads safely."""

from __future__ import annotations

import re
from pathlib import Path

from ecgcore.errors import ECGFormatError
from ecgcore.io.formats import IGNORED_NAME, STANDALONE_SUFFIXES, format_named

_WFDB = format_named("wfdb")
_SINGLE_FILE_SUFFIXES = STANDALONE_SUFFIXES - set(_WFDB.suffixes)  # an ECG in one file (.zip included)


def choose_primary(paths: list[Path], where: str) -> Path:
    """The one file to read among ``paths`` (a WFDB header wins; otherwise exactly one ECG file).

    ``where`` describes the container in messages ("the zip file x.zip", "the upload").
    """
    files = [p for p in paths if not IGNORED_NAME.search(p.name)]
    headers = [p for p in files if p.suffix.lower() in _WFDB.suffixes]
    if len(headers) == 1:
        return headers[0]
    if len(headers) > 1:
        raise ECGFormatError(
            f"{where} holds {len(headers)} WFDB records ({', '.join(sorted(h.stem for h in headers))}); "
            "provide one record at a time."
        )
    candidates = [p for p in files if p.suffix.lower() in _SINGLE_FILE_SUFFIXES]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        dat = [p.name for p in files if p.suffix.lower() in _WFDB.companions]
        if dat:
            raise ECGFormatError(
                f"{where} has WFDB signal file(s) {', '.join(dat)} but no .hea header; include the header."
            )
        if len(files) == 1:
            return files[0]  # unknown extension: let read() sniff the content
        listing = ", ".join(sorted(p.name for p in paths)) or "nothing"
        raise ECGFormatError(f"{where} contains no ECG file we can read (found: {listing}).")
    raise ECGFormatError(
        f"{where} holds several ECG files ({', '.join(sorted(p.name for p in candidates))}); "
        "provide one ECG at a time."
    )


def safe_basename(name: str) -> str:
    """The last path component of an uploaded file name; refuses names that are not plain files."""
    base = re.split(r"[\\/]", str(name))[-1].strip()
    if base in {"", ".", ".."} or "\x00" in base:
        raise ECGFormatError(f"Uploaded file name {name!r} is not a valid file name.")
    return base
