"""Where an archive run's rows go: part files written as it goes, what is done, one merged file at the end.

A Parquet file is readable only once its footer is written, so a file being appended to is lost
to a SIGKILL. Instead each process writes its rows in row groups, each group a complete Parquet
file of its own in ``<output>.parts/``, written under a temporary name and renamed into place (a
rename is atomic): whenever the run is killed, every part there is whole, and the output file is
either the previous complete one or absent. :func:`done_files` reads what the output and the
parts hold (path, content hash, error) so a resumed run skips those files; :func:`merge_parts`
folds the parts into the output, again through a temporary file and a rename, keeping one row per
path (the latest), then removes the parts. A crash during the merge leaves the parts, so merging
again (``ecg merge``, or the next run) gives the same file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ecgcore.archive.schema import ArchiveLayout, RowBuffer, archive_metadata
from ecgcore.errors import ECGError

PARTS_SUFFIX = ".parts"
PART_GLOB = "part-*.parquet"
DEFAULT_ROWS_PER_GROUP = 512
MAX_SECONDS_BETWEEN_GROUPS = 60.0  # a slow run still saves its progress at least this often
COMPATIBLE_KEYS = ("kind", "model", "model_version", "labels", "measure", "assess", "include_untrained", "feature_dim")


class ArchiveError(ECGError):
    """An archive output cannot be written, resumed or merged as asked."""


def parts_dir(output: Path) -> Path:
    return output.with_name(output.name + PARTS_SUFFIX)


def part_files(output: Path) -> list[Path]:
    """The finished parts of ``output``, oldest run first (names start with the run's start time)."""
    directory = parts_dir(output)
    return sorted(directory.glob(PART_GLOB)) if directory.is_dir() else []


class PartWriter:
    """One process's rows, flushed as a part file every ``rows_per_group`` rows (or minute)."""

    def __init__(self, output: Path, layout: ArchiveLayout, *, rank: int = 0,
                 rows_per_group: int = DEFAULT_ROWS_PER_GROUP):
        if rows_per_group < 1:
            raise ArchiveError(f"rows per group must be >= 1; got {rows_per_group}")
        self.directory = parts_dir(output)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.schema = layout.schema()
        self.rows_per_group = rows_per_group
        self.prefix = f"part-{time.time_ns():020d}-r{rank:05d}"
        for stale in self.directory.glob(f".tmp-*-r{rank:05d}-*"):  # this rank's group a kill interrupted
            stale.unlink(missing_ok=True)
        self.buffer = RowBuffer(self.schema)
        self.n_parts = 0
        self.last_flush = time.monotonic()

    def add(self, row: dict[str, Any]) -> None:
        self.buffer.add(row)
        if len(self.buffer) >= self.rows_per_group or time.monotonic() - self.last_flush > MAX_SECONDS_BETWEEN_GROUPS:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not len(self.buffer):
            return
        table = self.buffer.take_table()
        self.n_parts += 1
        name = f"{self.prefix}-{self.n_parts:06d}.parquet"
        temporary = self.directory / f".tmp-{name}"
        pq.write_table(table, temporary, row_group_size=len(table))
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, self.directory / name)

    def close(self) -> None:
        self.flush()


@dataclass(frozen=True)
class DoneFile:
    content_sha256: str | None
    failed: bool


def _sources(output: Path) -> list[Path]:
    return ([output] if output.is_file() else []) + part_files(output)


def check_compatible(output: Path, layout: ArchiveLayout) -> None:
    """Refuse to add rows to an output made by another model, or with other columns."""
    wanted = layout.metadata()
    for source in _sources(output):
        found = archive_metadata(pq.read_schema(source))
        differ = [k for k in COMPATIBLE_KEYS if found.get(k) != wanted.get(k)]
        if differ:
            what = ", ".join(f"{k}: {found.get(k)!r} there, {wanted.get(k)!r} now" for k in differ if k != "labels")
            raise ArchiveError(f"{source} was written by another run ({what or 'other labels'}); "
                               f"write to another output, or delete it (and {parts_dir(output)}) to start over")


def done_files(output: Path) -> dict[str, DoneFile]:
    """Path -> content hash and whether it failed, for every row in the output and its parts (latest wins)."""
    done: dict[str, DoneFile] = {}
    for source in _sources(output):
        table = pq.read_table(source, columns=["path", "content_sha256", "error"])
        for path, sha, error in zip(*(table.column(c).to_pylist() for c in ("path", "content_sha256", "error"))):
            done[path] = DoneFile(sha, error is not None)
    return done


@dataclass(frozen=True)
class MergeResult:
    output: Path
    n_rows: int
    n_parts: int
    n_superseded: int  # rows replaced by a later row for the same path (a file rescored after it changed)


def _latest_rows(sources: list[Path]) -> list[np.ndarray]:
    """Per source, which rows to keep: the last row of each path over all sources in order."""
    paths = [pq.read_table(s, columns=["path"]).column("path").to_pylist() for s in sources]
    last: dict[str, tuple[int, int]] = {}
    for i, source_paths in enumerate(paths):
        for j, path in enumerate(source_paths):
            last[path] = (i, j)
    keep = [np.zeros(len(p), dtype=bool) for p in paths]
    for i, j in last.values():
        keep[i][j] = True
    return keep


def _row_groups(source: Path, keep: np.ndarray) -> Iterator[pa.Table]:
    """The kept rows of ``source``, one table per row group (never the whole file in memory)."""
    reader = pq.ParquetFile(source)
    start = 0
    for g in range(reader.num_row_groups):
        table = reader.read_row_group(g)
        mask = keep[start: start + len(table)]
        start += len(table)
        yield table if mask.all() else table.filter(pa.array(mask))


def merge_parts(output: Path, layout: ArchiveLayout | None = None) -> MergeResult:
    """Fold ``output``'s parts into ``output`` (one row per path, the latest); an empty file if there is nothing.

    The schema is ``layout``'s, else the output's or first part's. Written to a temporary file and
    renamed, so a kill leaves the previous output and the parts as they were.
    """
    output = Path(output)
    sources, parts = _sources(output), part_files(output)
    if layout is not None:
        schema = layout.schema()
    elif sources:
        schema = pq.read_schema(sources[0])
    else:
        raise ArchiveError(f"nothing to merge: neither {output} nor parts in {parts_dir(output)} exist")
    if output.is_file() and not parts:
        return MergeResult(output, pq.ParquetFile(output).metadata.num_rows, 0, 0)
    keep = _latest_rows(sources)
    temporary = output.with_name(f".tmp-{output.name}")
    n_rows = 0
    with pq.ParquetWriter(temporary, schema) as writer:
        for source, mask in zip(sources, keep):
            for table in _row_groups(source, mask):
                if len(table):
                    writer.write_table(table.cast(schema) if table.schema != schema else table)
                    n_rows += len(table)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, output)
    for part in parts:
        part.unlink(missing_ok=True)
    try:
        parts_dir(output).rmdir()
    except OSError:
        pass  # another rank's temporary file, or already gone
    return MergeResult(output, n_rows, len(parts), sum(len(k) for k in keep) - n_rows)
