"""Training benchmark: samples/s of one optimiser step (forward + backward + AdamW, batch 32) and the
model FLOPs utilisation (MFU) against the machine's measured matmul peak (bench_core.matmul_peak_gflops).

    python -m bench.bench_train [--repeats 3] [--batch 32] [--models net1d-small-12lead,ecgfounder-12lead]
                                [--threads N] [--peak-gflops X]

Prints a table and writes ``bench/results/train.json``. Training FLOPs per step = 3 x the forward FLOPs
counted by torch's FlopCounterMode (2 per multiply-add, as for the matmul peak).
On a machine shared with other jobs the numbers are lower bounds; the JSON records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.bench_core import matmul_peak_gflops
from ecgcore.config import REPO_ROOT
from ecgcore.model import count_parameters, create_model
from train.losses import masked_bce


def train_step_flops(model: torch.nn.Module, batch: int) -> int:
    """3 x the counted forward FLOPs (forward + grad-input + grad-weight convolutions).

    Not FlopCounterMode over the backward pass: its convolution_backward formula overcounts grouped
    convolutions (measured 17.9 GFLOP/record backward vs 2.3 forward for ecgfounder-12lead, where
    the true backward is ~2x forward), which would inflate the MFU about 3x.
    """
    x = torch.randn(1, model.config.in_channels, 5000)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return 3 * batch * counter.get_total_flops()


def bench_model(name: str, batch: int, repeats: int, peak: float) -> dict:
    torch.manual_seed(0)
    model = create_model(name).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, model.config.in_channels, 5000)
    y = (torch.rand(batch, model.config.n_classes) < 0.1).float()
    m = torch.ones_like(y, dtype=torch.bool)

    def step():
        loss = masked_bce(model(x), y, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, oneDNN primitive cache)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    flops = train_step_flops(model, batch)
    gflops = flops / seconds / 1e9
    return {"model": name, "parameters": count_parameters(model), "batch": batch, "s_per_step": seconds,
            "s_per_step_all": times, "samples_per_s": batch / seconds, "train_gflop_per_step": flops / 1e9,
            "gflops": gflops, "mfu": gflops / peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--models", default="net1d-small-12lead,ecgfounder-12lead")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--peak-gflops", type=float, default=None, help="skip measuring the peak (use this value)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "train.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    peak = {"peak": args.peak_gflops, "by_kernel": {}} if args.peak_gflops else matmul_peak_gflops(3)
    rows = [bench_model(name, args.batch, args.repeats, peak["peak"]) for name in args.models.split(",")]
    result = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                          "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()},
              "matmul_peak_gflops": peak, "train_step": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"matmul peak: {peak['peak']:.1f} GFLOP/s; torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'model':<22}{'params':>12}{'s/step':>10}{'samples/s':>12}{'GFLOP/step':>12}{'GFLOP/s':>10}{'MFU':>8}")
    for r in rows:
        print(f"{r['model']:<22}{r['parameters']:>12,}{r['s_per_step']:>10.3f}{r['samples_per_s']:>12.1f}"
              f"{r['train_gflop_per_step']:>12.1f}{r['gflops']:>10.1f}{100 * r['mfu']:>7.1f}%")


if __name__ == "__main__":
    main()
