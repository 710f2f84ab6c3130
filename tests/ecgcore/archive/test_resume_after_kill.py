"""A run SIGKILLed mid-way leaves readable Parquet, and resumed it ends with every file exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ecgcore.archive.store import part_files
from tests.conftest import REPO_ROOT
from tests.ecgcore.archive.conftest import copy_records


def _start(folder: Path, bundle: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "ecgcore", "predict", str(folder), "--model", str(bundle), "-o", str(out), "-q",
               "--batch-size", "2", "--rows-per-group", "2", "--workers", "1"]
    # A session of its own, so the kill takes the reader process too, as a machine going down would.
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _kill_after_parts(proc: subprocess.Popen, out: Path, n_parts: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while len(part_files(out)) < n_parts:
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
        assert time.monotonic() < deadline, "no parts appeared"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _readable_rows(out: Path) -> list[dict]:
    """Every row the output and its parts hold; each file must open (a torn file would raise)."""
    rows = []
    for source in ([out] if out.exists() else []) + part_files(out):
        rows += pq.read_table(source).to_pylist()
    return rows


@pytest.mark.slow
def test_killed_twice_then_resumed_scores_every_file_once(tmp_path: Path, shared_data_dir: Path,
                                                         bundle: Path) -> None:
    folder = copy_records(tmp_path / "ecgs", 60)
    out = tmp_path / "results.parquet"

    for n_parts in (2, 9):  # killed early, then killed again during the resumed run
        proc = _start(folder, bundle, out)
        _kill_after_parts(proc, out, n_parts)
        rows = _readable_rows(out)
        assert 2 * n_parts <= len(rows) < 60
        assert len({r["path"] for r in rows}) == len(rows)  # nothing done twice so far

    proc = _start(folder, bundle, out)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "already done (skipped)" in err.decode()
    assert not part_files(out)
    resumed = pq.read_table(out).to_pylist()
    headers = sorted(str(p) for p in folder.glob("*.hea"))
    assert sorted(r["path"] for r in resumed) == headers  # every file exactly once

    clean = tmp_path / "clean.parquet"
    proc = _start(folder, bundle, clean)
    proc.communicate(timeout=600)
    by_path = {r["path"]: r for r in pq.read_table(clean).to_pylist()}
    for row in resumed:
        assert row == by_path[row["path"]]
