"""The benchmark's baseline computes what ours computes: the release's pipeline and ``ecg predict`` agree."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq

from bench.bench_archive import link_folder
from bench.release_pipeline import main as release_main
from ecgcore.cli import main as ecg_main
from tests.ecgcore.helpers import ptbxl_headers, tiny_bundle


def test_release_pipeline_matches_ecg_predict(tmp_path: Path, shared_data_dir: Path) -> None:
    folder = link_folder(ptbxl_headers(3), tmp_path / "records")
    bundle = tiny_bundle(tmp_path / "bundle")
    release_main([str(folder), "--bundle", str(bundle), "--workers", "0", "-o", str(tmp_path / "release.csv")])
    assert ecg_main(["predict", str(folder), "--model", str(bundle), "-q", "--workers", "0",
                     "-o", str(tmp_path / "ours.parquet")]) == 0
    ours = {row["path"]: row for row in pq.read_table(tmp_path / "ours.parquet").to_pylist()}
    with (tmp_path / "release.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    for row in rows:
        for label in ("NORMAL ECG", "ATRIAL FIBRILLATION", "LEFT AXIS DEVIATION"):
            assert abs(float(row[label]) - ours[row["path"]]["p:" + label]) < 1e-5
