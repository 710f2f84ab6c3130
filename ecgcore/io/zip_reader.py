"""ZIP archives holding one ECG: a WFDB record (.hea + .dat/.mat) or any single supported file.

An uploaded archive is untrusted, so before anything is written we refuse: member paths that
are absolute or climb out with ``..`` (zip slip), symbolic links, encrypted members, nested
``.zip`` files, more than ``MAX_ZIP_MEMBERS`` members, and archives whose declared uncompressed
size exceeds ``config.MAX_FILE_BYTES`` (zip bombs). Extraction then streams each member and
stops if it produces more bytes than declared, so a lying header cannot bypass the limit.
"""

from __future__ import annotations

import re
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ecgcore import config
from ecgcore.errors import ECGFileTooLargeError, ECGFormatError
from ecgcore.io._common import check_file_size
from ecgcore.io._staging import choose_primary
from ecgcore.record import Record

MAX_ZIP_MEMBERS = 64
MAX_BULK_ZIP_MEMBERS = 20_000  # a folder of records zipped for bulk import
_CHUNK_BYTES = 1 << 20


def _open_zip(path: Path) -> zipfile.ZipFile:
    check_file_size(path)
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ECGFormatError(f"{path.name} is not a valid zip file (corrupt or truncated): {exc}") from exc


def read_zip(path: Path, read_member: Callable[[Path], Record]) -> Record:
    """Validate and extract ``path`` into a private temporary folder, then read its ECG.

    ``read_member`` reads the chosen member (``ecgcore.io.read`` with the caller's options);
    the folder is removed afterwards whatever happens.
    """
    path = Path(path)
    archive = _open_zip(path)
    with archive, tempfile.TemporaryDirectory(prefix="ecg-zip-") as tmp:
        root = Path(tmp)
        members = _validated_members(archive, path, MAX_ZIP_MEMBERS)
        extracted = [_extract(archive, info, root, path) for info in members]
        primary = choose_primary(extracted, f"The zip file {path.name}")
        if primary.suffix.lower() == ".zip":
            raise ECGFormatError(f"{path.name} contains another zip file ({primary.name}); nested zips are refused.")
        record = read_member(primary)
        member_name = primary.relative_to(root).as_posix()
    metadata = dict(record.metadata, original_filename=path.name, zip_member=member_name, container="zip")
    return record.replace(metadata=metadata)


def extract_zip_safely(path: Path, folder: Path, max_members: int = MAX_BULK_ZIP_MEMBERS) -> Path:
    """Extract an untrusted archive of many records into ``folder`` with every check above."""
    path = Path(path)
    archive = _open_zip(path)
    folder.mkdir(parents=True, exist_ok=True)
    with archive:
        for info in _validated_members(archive, path, max_members):
            _extract(archive, info, folder, path)
    return folder


def _validated_members(archive: zipfile.ZipFile, path: Path, max_members: int) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > max_members:
        raise ECGFormatError(f"{path.name} has {len(infos)} members; at most {max_members} are accepted.")
    files: list[zipfile.ZipInfo] = []
    total = 0
    for info in infos:
        name = info.filename
        parts = re.split(r"[\\/]", name)
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise ECGFormatError(f"{path.name}: member {name!r} has an unsafe path (absolute or '..'); refused.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ECGFormatError(f"{path.name}: member {name!r} is a symbolic link; refused.")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise ECGFormatError(f"{path.name}: member {name!r} is encrypted; upload an unencrypted zip.")
        if name.lower().endswith(".zip"):
            raise ECGFormatError(f"{path.name} contains another zip file ({name}); nested zips are refused.")
        total += info.file_size
        if total > config.MAX_FILE_BYTES:
            raise ECGFileTooLargeError(
                f"{path.name} would unpack to more than {config.format_megabytes(config.MAX_FILE_BYTES)} "
                "(ECG_MAX_FILE_MB); refused."
            )
        files.append(info)
    if not files:
        raise ECGFormatError(f"{path.name} is an empty zip file.")
    return files


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, path: Path) -> Path:
    """Stream one member to disk, never writing more than it declared."""
    relative = PurePosixPath(info.filename.replace("\\", "/"))
    target = (root / Path(*relative.parts)).resolve()
    if root.resolve() not in target.parents:
        raise ECGFormatError(f"{path.name}: member {info.filename!r} would be written outside the archive folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with archive.open(info) as source, target.open("xb") as sink:
            while chunk := source.read(_CHUNK_BYTES):
                written += len(chunk)
                if written > info.file_size or written > config.MAX_FILE_BYTES:
                    raise ECGFileTooLargeError(
                        f"{path.name}: member {info.filename!r} unpacks to more than it declares; refused."
                    )
                sink.write(chunk)
    except ECGFormatError:
        raise
    except FileExistsError:
        raise ECGFormatError(f"{path.name}: member {info.filename!r} appears twice.") from None
    except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError from a damaged stream
        raise ECGFormatError(f"{path.name}: member {info.filename!r} is corrupt: {exc}") from exc
    return target


__all__ = ["read_zip", "extract_zip_safely", "MAX_ZIP_MEMBERS", "MAX_BULK_ZIP_MEMBERS"]
