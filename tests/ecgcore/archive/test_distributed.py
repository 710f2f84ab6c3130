"""Two gloo ranks under torchrun give the same file as one process; shards are disjoint and complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from ecgcore.archive.distributed import Ranks, ranks_from_env, shard
from ecgcore.errors import ECGError
from tests.conftest import REPO_ROOT


def test_shards_are_disjoint_and_cover_every_file() -> None:
    files = [f"f{i}" for i in range(11)]
    shards = [shard(files, Ranks(rank, 3)) for rank in range(3)]
    assert sorted(f for s in shards for f in s) == sorted(files)
    assert all(not set(a) & set(b) for i, a in enumerate(shards) for b in shards[i + 1:])


def test_ranks_come_from_torchrun_variables() -> None:
    assert ranks_from_env({}) == Ranks(0, 1, 0)
    assert ranks_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Ranks(3, 4, 1)
    with pytest.raises(ECGError, match="RANK must be in 0..WORLD_SIZE-1; got RANK=4, WORLD_SIZE=4"):
        ranks_from_env({"RANK": "4", "WORLD_SIZE": "4"})


def _predict(*launcher: str, folder: Path, bundle: Path, out: Path, extra: tuple[str, ...] = ()) -> str:
    command = [*launcher, "-m", "ecgcore", "predict", str(folder), "--model", str(bundle), "-o", str(out), "-q",
               "--workers", "0", "--batch-size", "3", "--rows-per-group", "2", *extra]
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc.stderr


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(folder: Path, bundle: Path, tmp_path: Path) -> None:
    single, double = tmp_path / "one.parquet", tmp_path / "two.parquet"
    _predict(sys.executable, folder=folder, bundle=bundle, out=single, extra=("--measure",))
    err = _predict(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                   folder=folder, bundle=bundle, out=double, extra=("--measure",))
    assert "over 2 processes" in err and "6 of 7 file(s) in this run, 1 failed" in err
    one = sorted(pq.read_table(single).to_pylist(), key=lambda r: r["path"])
    two = sorted(pq.read_table(double).to_pylist(), key=lambda r: r["path"])
    assert len(two) == 7 and one == two
    assert pq.read_schema(single) == pq.read_schema(double)


@pytest.mark.slow
def test_ranks_leave_parts_for_ecg_merge(folder: Path, bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "two.parquet"
    _predict(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
             folder=folder, bundle=bundle, out=out, extra=("--no-merge",))
    parts = sorted((tmp_path / "two.parquet.parts").glob("part-*.parquet"))
    assert {p.name.split("-")[2] for p in parts} == {"r00000", "r00001"}  # each rank wrote its own parts
    assert not out.exists()
    from ecgcore.cli import main

    assert main(["merge", str(out)]) == 0
    assert sorted(Path(p).name for p in pq.read_table(out).column("path").to_pylist()) == sorted(
        [p.name for p in folder.glob("*.hea")] + ["garbage.edf"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_scores_as_the_cpu_does(folder: Path, bundle: Path, tmp_path: Path) -> None:
    cpu, cuda, amp = tmp_path / "cpu.parquet", tmp_path / "cuda.parquet", tmp_path / "amp.parquet"
    _predict(sys.executable, folder=folder, bundle=bundle, out=cpu)
    _predict(sys.executable, folder=folder, bundle=bundle, out=cuda, extra=("--device", "cuda"))
    _predict(sys.executable, folder=folder, bundle=bundle, out=amp, extra=("--device", "cuda", "--amp"))
    rows = [sorted(pq.read_table(p).to_pylist(), key=lambda r: r["path"]) for p in (cpu, cuda, amp)]
    for reference, other, tolerance in ((rows[0], rows[1], 1e-4), (rows[0], rows[2], 2e-2)):
        for a, b in zip(reference, other):
            for key, value in a.items():
                if key.startswith("p:") and value is not None:
                    assert abs(value - b[key]) < tolerance
