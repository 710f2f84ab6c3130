"""Read an ECG file into a validated :class:`~ecgcore.record.Record`, whatever its format.

``read(path)`` picks the reader from the extension (or the content when the extension is
unknown; ``fmt=`` forces one). ``read_upload(files)`` does the same for bytes from a web
upload: one file, a .zip, or several files such as ``.hea`` + ``.dat``. Either a valid Record
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

import re
import tempfile
from pathlib import Path

from ecgcore import config
from ecgcore.errors import ECGError, ECGFileTooLargeError, ECGFormatError
from ecgcore.io._common import check_file_size
from ecgcore.io._staging import choose_primary, safe_basename
from ecgcore.record import Record

SUPPORTED_FORMATS: tuple[str, ...] = (
    "WFDB (.hea with .dat or .mat)",
    "ZIP (.zip) holding one WFDB record or one supported file",
    "CSV (.csv, .tsv, .txt; header row of lead names)",
    "NumPy (.npy, .npz)",
    "EDF / EDF+ / BDF (.edf, .bdf)",
    "HL7 aECG XML (.xml)",
    "SPH HDF5 (.h5)",
    "CODE-15% / CinC 2017 MATLAB (.mat)",
)

# fmt= values and their aliases -> internal reader key.
_FMT_ALIASES: dict[str, str] = {
    "wfdb": "wfdb", "hea": "wfdb", "dat": "wfdb",
    "zip": "zip",
    "csv": "csv", "tsv": "csv", "txt": "csv",
    "numpy": "numpy", "npy": "numpy", "npz": "numpy",
    "edf": "edf", "edf+": "edf", "bdf": "edf",
    "aecg": "aecg", "xml": "aecg", "hl7": "aecg",
    "sph": "sph", "h5": "sph", "hdf5": "sph",
    "mat": "mat", "code15": "mat", "cinc2017": "mat",
}
_BY_SUFFIX: dict[str, str] = {
    ".hea": "wfdb", ".dat": "wfdb", ".xyz": "wfdb",
    ".zip": "zip",
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".npy": "numpy", ".npz": "numpy",
    ".edf": "edf", ".bdf": "edf",
    ".xml": "aecg",
    ".h5": "sph", ".hdf5": "sph",
    ".mat": "mat",
}
_LABELS = {
    "wfdb": "WFDB", "zip": "ZIP", "csv": "CSV", "numpy": "NumPy", "edf": "EDF/BDF",
    "aecg": "HL7 aECG XML", "sph": "SPH HDF5", "mat": "MATLAB .mat",
}


def _accepted() -> str:
    return "Accepted formats: " + "; ".join(SUPPORTED_FORMATS) + "."


def detect_format(path: Path) -> str:
    """Reader key for ``path``: by extension, else by the first bytes of the file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return "wfdb" if path.with_suffix(".hea").exists() else "mat"
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    with path.open("rb") as handle:
        head = handle.read(4096)
    sniffed = _sniff(head)
    if sniffed is None:
        raise ECGFormatError(f"{path.name}: unknown file format. {_accepted()}")
    return sniffed


def _sniff(head: bytes) -> str | None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "numpy"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "sph"
    if head.startswith(b"MATLAB"):
        return "mat"
    if head.startswith(b"0       ") or head.startswith(b"\xffBIOSEMI"):
        return "edf"
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    stripped = text.lstrip()
    if stripped.startswith("<?xml") or stripped.startswith("<AnnotatedECG"):
        return "aecg"
    lines = [ln for ln in stripped.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) >= 2 and re.match(r"^[\w\-]+(/\d+)?\s+\d+\s+[\d.]+", lines[0]) and re.match(
        r"^\S+\.\w+\s+\d+", lines[1]
    ):
        return "wfdb"
    if lines and any(sep in lines[0] for sep in (",", ";", "\t")):
        return "csv"
    return None


def read(
    path: str | Path,
    *,
    fs: float | None = None,
    units: str = "mV",
    record_id: str | None = None,
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
        key = _FMT_ALIASES.get(str(fmt).strip().lower().lstrip("."))
        if key is None:
            raise ECGFormatError(f"fmt={fmt!r} is not a known format ({', '.join(sorted(set(_FMT_ALIASES)))}).")
    else:
        key = detect_format(path)
    options = {"fs": fs, "record_id": record_id, "allow_flat_leads": allow_flat_leads}
    try:
        return _dispatch(key, path, units, options, fmt)
    except (ECGError, MemoryError):
        raise
    except Exception as exc:  # a library choking on malformed input: report it as a format problem
        raise ECGFormatError(f"Could not read {path.name} as {_LABELS[key]}: {exc}") from exc


def _dispatch(key: str, path: Path, units: str, options: dict, fmt: str | None) -> Record:
    if key == "wfdb":
        from ecgcore.io.wfdb_reader import read_wfdb

        return read_wfdb(path, **options)
    if key == "zip":
        from ecgcore.io.zip_reader import read_zip

        return read_zip(path, lambda member: read(member, units=units, **options))
    if key == "csv":
        from ecgcore.io.csv_reader import read_csv

        return read_csv(path, units=units, **options)
    if key == "numpy":
        from ecgcore.io.numpy_reader import read_numpy

        return read_numpy(path, units=units, **options)
    if key == "edf":
        from ecgcore.io.edf_reader import read_edf

        return read_edf(path, units=units, **options)
    if key == "aecg":
        from ecgcore.io.aecg_reader import read_aecg

        return read_aecg(path, **options)
    if key == "sph":
        from ecgcore.io.hdf5_reader import read_sph_h5

        return read_sph_h5(path, units=units, **options)
    if key == "mat":
        from ecgcore.io.mat_reader import read_mat

        return read_mat(path, **options)
    raise ECGFormatError(f"{path.name}: unknown file format. {_accepted()}")  # pragma: no cover


def stage_upload(files: list[tuple[str, bytes]], folder: Path) -> Path:
    """Write uploaded ``(filename, bytes)`` pairs into ``folder``; returns the file to read.

    Names are reduced to safe base names, the size limit applies to the total, and a multi-file
    upload must hold one record (e.g. .hea + .dat): the header is the file to read.
    """
    if not files:
        raise ECGFormatError(f"No file was uploaded. {_accepted()}")
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


__all__ = ["read", "read_upload", "stage_upload", "detect_format", "SUPPORTED_FORMATS"]
