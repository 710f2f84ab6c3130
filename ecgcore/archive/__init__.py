"""Archive runs: score or embed a whole archive into one Parquet file, resumable, sharded over processes.

``ecg predict DIR -o results.parquet``, ``ecg embed DIR -o embeddings.parquet`` and ``ecg merge``
(``docs/archive_scoring.md``). The pieces: :mod:`~ecgcore.archive.schema` (the columns),
:mod:`~ecgcore.archive.store` (part files, resume, merge), :mod:`~ecgcore.archive.distributed`
(ranks and shards), :mod:`~ecgcore.archive.embeddings` (pooled features),
:mod:`~ecgcore.archive.run` (the loop).
"""

from ecgcore.archive.run import ArchiveResult, RunSummary, run_archive
from ecgcore.archive.store import ArchiveError, MergeResult, done_files, merge_parts, part_files, parts_dir

__all__ = ["ArchiveError", "ArchiveResult", "MergeResult", "RunSummary", "done_files", "merge_parts", "part_files",
           "parts_dir", "run_archive"]
