"""The measurement-speed benchmark runs on a shipped record: its stages still match ``measure``'s building blocks."""

from __future__ import annotations

from bench import bench_measure as bm
from ecgcore.io import read
from tests.conftest import SAMPLES_DIR


def test_timings_and_the_stage_split_on_a_sample() -> None:
    record = read(SAMPLES_DIR / "ptbxl" / "00001_hr.hea")
    row = bm.summarise("sample", [record], bm.time_records([record], repeats=1))
    assert row["shape"] == "12 x 5000" and row["target_ms_median"] == bm.TARGET_MS
    assert 0 < row["ms_min"] <= row["ms_median"] <= row["ms_p95"] and row["cpu_ms_median"] > 0
    stages = bm.time_stages([record], repeats=1)
    assert list(stages)[:5] == ["filters", "lead quality", "QRS detection", "dominant + median beats", "delineation"]
    assert stages["measure (whole)"] > 0
