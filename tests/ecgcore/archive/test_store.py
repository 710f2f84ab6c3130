"""Part files, what is done, and the merge: one row per path (the latest), the row groups kept, the parts gone."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ecgcore.archive.schema import ArchiveLayout
from ecgcore.archive.store import ArchiveError, PartWriter, check_compatible, done_files, merge_parts, part_files

LAYOUT = ArchiveLayout(labels=("A", "B"), model="m", model_version="1.0.0", thresholds=(0.5, 0.5))


def _row(i: int, sha: str = "s", p: float = 0.1, error: str | None = None) -> dict:
    row = {"path": f"/x/{i}.hea", "content_sha256": sha, "error": error}
    if error is None:
        row.update({"record_id": str(i), "model": "m", "model_version": "1.0.0", "p:A": p, "p:B": 1 - p,
                    "positives": ["B"], "notes": []})
    return row


def test_parts_are_whole_files_and_merge_keeps_the_latest_row(tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    writer = PartWriter(out, LAYOUT, rank=0, rows_per_group=3)
    for i in range(7):
        writer.add(_row(i))
    assert len(part_files(out)) == 2  # two full groups saved, one row still buffered
    writer.close()
    assert [pq.ParquetFile(p).metadata.num_rows for p in part_files(out)] == [3, 3, 1]
    assert set(done_files(out)) == {f"/x/{i}.hea" for i in range(7)}

    merged = merge_parts(out, LAYOUT)
    assert (merged.n_rows, merged.n_parts, merged.n_superseded) == (7, 3, 0)
    assert not part_files(out) and not (tmp_path / "r.parquet.parts").exists()
    assert pq.ParquetFile(out).metadata.num_row_groups == 3  # the groups as written

    later = PartWriter(out, LAYOUT, rank=1, rows_per_group=10)
    later.add(_row(2, sha="changed", p=0.9))
    later.add(_row(8, error="broken"))
    later.close()
    done = done_files(out)
    assert done["/x/2.hea"].content_sha256 == "changed" and done["/x/8.hea"].failed
    merged = merge_parts(out)
    assert (merged.n_rows, merged.n_superseded) == (8, 1)  # 0-6 and 8; 2 replaced
    rows = {r["path"]: r for r in pq.read_table(out).to_pylist()}
    assert rows["/x/2.hea"]["p:A"] == pytest.approx(0.9) and rows["/x/8.hea"]["error"] == "broken"


def test_an_interrupted_group_is_ignored_and_cleaned(tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    writer = PartWriter(out, LAYOUT, rank=0, rows_per_group=1)
    writer.add(_row(0))
    torn = writer.directory / ".tmp-part-00000000000000000001-r00000-000001.parquet"
    torn.write_bytes(b"PAR1 half a file")  # what a kill during a write leaves
    assert set(done_files(out)) == {"/x/0.hea"}
    PartWriter(out, LAYOUT, rank=0)  # the next run of rank 0 removes it
    assert not torn.exists()
    assert merge_parts(out).n_rows == 1


def test_another_model_or_layout_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    writer = PartWriter(out, LAYOUT)
    writer.add(_row(0))
    writer.close()
    check_compatible(out, LAYOUT)
    other = ArchiveLayout(labels=("A", "B"), model="m", model_version="2.0.0")
    with pytest.raises(ArchiveError, match="model_version: '1.0.0' there, '2.0.0' now"):
        check_compatible(out, other)
    with pytest.raises(ArchiveError, match="nothing to merge"):
        merge_parts(tmp_path / "none.parquet")
