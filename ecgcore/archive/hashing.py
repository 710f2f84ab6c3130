"""The content hash of a record's files: what an archive run checks before skipping a file it has done.

A record can be more than one file (a WFDB ``.hea`` and its ``.dat``), so the hash covers the
entry file and the companion files beside it that the format table names
(:class:`ecgcore.io.formats.FileFormat`), in a fixed order. It is computed from the bytes, without
reading the ECG, so checking a resumed run costs a file read, not a decode and a filter.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ecgcore.io.formats import format_by_suffix

CHUNK_BYTES = 1 << 20


def record_files(path: Path) -> list[Path]:
    """The entry file, then its companions (same stem, a companion suffix of its format) that exist."""
    fmt = format_by_suffix(path)
    companions = fmt.companions if fmt is not None and path.suffix.lower() in fmt.suffixes else ()
    return [path, *(c for c in (path.with_suffix(s) for s in companions) if c.is_file())]


def content_sha256(path: Path) -> str:
    """sha256 over the record's files (each file's name suffix, size and bytes); raises OSError if unreadable."""
    digest = hashlib.sha256()
    for part in record_files(path):
        digest.update(f"{part.suffix.lower()}|{part.stat().st_size}|".encode())
        with part.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()
