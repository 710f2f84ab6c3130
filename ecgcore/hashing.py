"""sha256 of a file's bytes: the one digest the bundle card, the registry and the exports pin files with."""

from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file at ``path``, read in chunks (``hashlib.file_digest``); raises OSError if unreadable."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
