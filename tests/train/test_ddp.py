"""DistributedDataParallel on the CPU: 2 processes with gloo end with identical weights."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, dataset: str, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from train.data import TrainingSet
    from train.fit import FitConfig, fit

    ts = TrainingSet(dataset)
    idx = ts.indices(sources=["ptbxl"])
    config = FitConfig(out_dir=os.path.join(out, "run"), model="net1d-tiny",
                       labels=["NORMAL ECG", "ABNORMAL ECG", "SINUS RHYTHM"], epochs=2, batch_size=8, patience=None,
                       progress=False, resume=False, seed=5)
    result = fit(config, ts, idx[:24], idx[24:36])
    torch.save(result.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_end_with_identical_weights(small_set, tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(small_set.path), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "ranks diverged"
    # each rank saw half of the 24 training records per epoch
    import json

    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history) == 2 and all("val_macro_auroc" in row for row in history)
