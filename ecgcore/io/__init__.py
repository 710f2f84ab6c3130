"""Read an ECG file into a validated :class:`~ecgcore.record.Record`, whatever its format.

``read(path)`` picks the reader from the extension (or the content when the extension is
unknown; ``fmt=`` forces one) as the one format table, :mod:`ecgcore.io.formats`, says.
``read_upload(files)`` does the same for bytes from a web upload: one file, a .zip, or several
files such as ``.hea`` + ``.dat``. Either a valid Record
comes back or an :class:`~ecgcore.errors.ECGError` subclass is raised whose message says what
was wrong and what is accepted; a half-read signal is never returned.

``units`` is the unit of the values for formats that do not state one (CSV, NumPy, SPH HDF5,
EDF channels with an empty physical dimension). Formats that state their units (WFDB, EDF,
aECG) or follow a fixed convention (CODE-15/CinC 2017 .mat) use those. ``fs`` is needed
where the file has no rate (NumPy, CSV without time column); where the file states its rate
a different ``fs`` is refused, and where the rate is only a dataset convention (SPH 500 Hz,
CinC 2017 300 Hz) ``fs`` overrides it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ecgcore import config
from ecgcore.errors import ECGError, ECGFileTooLargeError, ECGFormatError
from ecgcore.io._common import check_file_size
from ecgcore.io._staging import choose_primary, safe_basename
from ecgcore.io.formats import (
    FMT_NAMES,
    SUPPORTED_FORMATS,
    FileFormat,
    accepted_formats,
    format_for,
    format_named,
    upload_help,
    upload_label,
)
from ecgcore.record import Record


def detect_format(path: Path) -> str:
    """Reader key for ``path``: by extension, else by the first bytes of the file."""
    return _format_of(Path(path)).key


def _format_of(path: Path) -> FileFormat:
    fmt = format_for(path)
    if fmt is None:
        raise ECGFormatError(f"{path.name}: unknown file format. {accepted_formats()}")
    return fmt


def read(
    path: str | Path,
    *,
    fs: float | None = None,
    units: str = "mV",
    record_name: str | None = None,
    allow_flat_leads: bool = False,
    fmt: str | None = None,
) -> Record:
    """Read one ECG file (see the module docstring for ``fs`` and ``units``).

    Raises ECGFormatError (unreadable, unknown format), ECGFileTooLargeError, LeadError
    (unknown/duplicate lead names) or ECGValidationError (signal not usable).
    """
    path = Path(path)
    if path.is_dir():
        raise ECGFormatError(f"{path} is a folder; pass the ECG file (for WFDB, the .hea header).")
    check_file_size(path)
    if fmt is not None:
        file_format = format_named(fmt, path)
        if file_format is None:
            raise ECGFormatError(f"fmt={fmt!r} is not a known format ({', '.join(FMT_NAMES)}).")
    else:
        file_format = _format_of(path)
    options = {"fs": fs, "record_name": record_name, "allow_flat_leads": allow_flat_leads}
    try:
        return file_format.reader(path, units, options)
    except (ECGError, MemoryError):
        raise
    except Exception as exc:  # a library choking on malformed input: report it as a format problem
        raise ECGFormatError(f"Could not read {path.name} as {file_format.name}: {exc}") from exc


def stage_upload(files: list[tuple[str, bytes]], folder: Path) -> Path:
    """Write uploaded ``(filename, bytes)`` pairs into ``folder``; returns the file to read.

    Names are reduced to safe base names, the size limit applies to the total, and a multi-file
    upload must hold one record (e.g. .hea + .dat): the header is the file to read.
    """
    if not files:
        raise ECGFormatError(f"No file was uploaded. {accepted_formats()}")
    limit = config.MAX_FILE_BYTES
    total = 0
    staged: list[Path] = []
    for name, data in files:
        base = safe_basename(name)
        total += len(data)
        if len(data) > limit or total > limit:
            raise ECGFileTooLargeError(
                f"Upload {base} is too large: {config.format_megabytes(total)} in total; the limit is "
                f"{config.format_megabytes(limit)} (ECG_MAX_FILE_MB)."
            )
        target = folder / base
        if target.exists():
            raise ECGFormatError(f"The upload contains two files named {base}.")
        target.write_bytes(data)
        staged.append(target)
    return staged[0] if len(staged) == 1 else choose_primary(staged, "The upload")


def read_upload(files: list[tuple[str, bytes]], **kwargs) -> Record:
    """Read an ECG from uploaded ``(filename, bytes)`` pairs.

    Accepts one file, one .zip, or the files of one WFDB record (.hea + .dat/.mat ...). The
    bytes are staged in a private temporary folder that is always removed afterwards.
    ``kwargs`` are passed to :func:`read`.
    """
    with tempfile.TemporaryDirectory(prefix="ecg-upload-") as tmp:
        return read(stage_upload(files, Path(tmp)), **kwargs)


__all__ = ["SUPPORTED_FORMATS", "detect_format", "read", "read_upload", "stage_upload", "upload_help", "upload_label"]
