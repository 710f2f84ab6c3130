"""Core-library benchmark: preprocessing, model forward, CLI end-to-end, against the machine's matmul peak.

    python -m bench.bench_core [--records DIR] [--n-cli 256] [--repeats 5]

Prints a table and writes ``bench/results/core.json``. Timings are medians over repeats after
warm-up. FLOPs come from torch's FlopCounterMode (2 per multiply-add, as for the matmul peak).
Random weights are used for timing: the arithmetic is the same as with trained ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.timing import median_seconds
from ecgcore.batch import discover_ecg_files
from ecgcore.bundle import make_card, save_bundle
from ecgcore.config import REPO_ROOT
from ecgcore.io import read
from ecgcore.labels import ecgfounder_labels
from ecgcore.layout_planner import measure_layouts
from ecgcore.model import create_model
from ecgcore.planned_forward import PlannedNet1D
from ecgcore.preprocessing import preprocess
from train.paths import SHARED_DATA_DIR

DEFAULT_RECORDS = SHARED_DATA_DIR / "ptbxl_subset" / "records500"


def gemm_kernels() -> dict[str, tuple[Callable[[], object], float]]:
    """Large float32 GEMMs through each of PyTorch's CPU back-ends: name -> (run, FLOPs per run).

    On this AMD (Zen 5, AVX-512) CPU the back-ends differ by 2x: MKL's sgemm (``torch.mm``) takes its
    AVX2 path (~105 GFLOP/s per core), while oneDNN runs AVX-512 kernels. oneDNN's GEMM is reached
    through a 1x1 convolution, and it is fastest in channels-last layout (NHWC: the GEMM's inner
    dimension is contiguous). Until session 3 the peak omitted the channels-last kernels and was
    ~310 GFLOP/s; the true peak is ~400-480, so earlier "% of peak" figures were ~1.5x too high.
    """
    kernels: dict[str, tuple[Callable[[], object], float]] = {}
    for n in (2048, 4096):
        a, b = torch.randn(n, n), torch.randn(n, n)
        kernels[f"mkl_mm_{n}"] = (lambda a=a, b=b: a @ b, 2.0 * n**3)
    for channels, length in ((1024, 4096), (2048, 4096), (2048, 8192)):
        conv = torch.nn.Conv1d(channels, channels, 1, bias=False)
        x = torch.randn(4, channels, length)
        kernels[f"onednn_gemm_ncw_{channels}x{length * 4}"] = (lambda c=conv, x=x: c(x), 2.0 * 4 * channels**2 * length)
    for channels, length in ((512, 16384), (1024, 8192), (2048, 4096)):
        conv = torch.nn.Conv2d(channels, channels, 1, bias=False).to(memory_format=torch.channels_last)
        x = torch.randn(1, channels, 1, length).contiguous(memory_format=torch.channels_last)
        kernels[f"onednn_gemm_nhwc_{channels}x{length}"] = (lambda c=conv, x=x: c(x), 2.0 * channels**2 * length)
    return kernels


def matmul_peak_gflops(repeats: int) -> dict:
    """The machine's practical float32 GEMM peak: the best GEMM any of PyTorch's CPU back-ends reaches."""
    results: dict[str, float] = {}
    kernels = gemm_kernels()
    with torch.inference_mode():
        for name, (run, flops) in kernels.items():
            results[name] = flops / median_seconds(run, repeats, warmup=2) / 1e9
    best = max(results, key=results.get)
    return {"by_kernel": results, "peak": results[best], "best_kernel": best}


def model_flops(model: torch.nn.Module, n_leads: int) -> int:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, n_leads, 5000))
    return counter.get_total_flops()


def bench_preprocess(records: list, repeats: int) -> dict:
    per_record = [median_seconds(lambda r=r: preprocess(r), repeats) for r in records]
    return {"ms_median": 1e3 * statistics.median(per_record), "ms_p90": 1e3 * float(np.percentile(per_record, 90))}


def bench_forward(networks: dict[str, torch.nn.Module], flops_per_record: int, peak: dict, rounds: int) -> list[dict]:
    """Each network at batch 1 and 32, timed in rounds interleaved with the peak GEMM.

    This VM's speed drifts by 10-30% between minutes, so a forward time and a peak measured
    minutes apart do not make an honest fraction. Each round times the best GEMM kernel, then
    every network twice (best of the two); the fraction of peak is the median over rounds of
    (network GFLOP/s in the round) / (peak GFLOP/s in the same round).
    """
    run_peak, peak_flops = gemm_kernels()[peak["best_kernel"]]
    rows = []
    for batch in (1, 32):
        x = torch.randn(batch, 12, 5000)
        seconds: dict[str, list[float]] = {name: [] for name in networks}
        fractions: dict[str, list[float]] = {name: [] for name in networks}
        with torch.inference_mode():
            for network in networks.values():
                network(x)
                network(x)
            for _ in range(rounds):
                round_peak = peak_flops / median_seconds(run_peak, 3, warmup=1)
                for name, network in networks.items():
                    best = min(median_seconds(lambda: network(x), 1, warmup=0) for _ in range(2))
                    seconds[name].append(best)
                    fractions[name].append(batch * flops_per_record / best / round_peak)
        for name in networks:
            median = statistics.median(seconds[name])
            rows.append({
                "network": name,
                "batch": batch,
                "ms_per_batch": 1e3 * median,
                "ms_per_record": 1e3 * median / batch,
                "ms_per_record_best": 1e3 * min(seconds[name]) / batch,
                "gflops": batch * flops_per_record / median / 1e9,
                "fraction_of_peak": statistics.median(fractions[name]),
                "fraction_of_peak_best_round": max(fractions[name]),
            })
    return rows


def bench_cli(files: list[Path], bundle_dir: Path, cache_dir: Path) -> dict:
    """The real CLI in a subprocess: wall time including start-up, and its own scoring time.

    ``cache_dir`` is the CLI's layout-plan cache (``ECG_CACHE_DIR``): empty, the scoring time
    includes measuring the plan; filled by an earlier run, it does not.
    """
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "files"
        listing.mkdir()
        for f in files:  # a folder holding exactly these records (WFDB pairs keep their names)
            for companion in f.parent.glob(f.stem + ".*"):
                (listing / companion.name).symlink_to(companion)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "ecgcore", "predict", str(listing), "--model", str(bundle_dir), "--format", "csv", "-q", "-o", str(Path(tmp) / "out.csv")],
            cwd=REPO_ROOT,
            env={**os.environ, "ECG_CACHE_DIR": str(cache_dir)},
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"CLI failed: {proc.stderr[-2000:]}")
    # The CLI reports its scoring time (after start-up and model loading) on its last stderr line.
    summary = proc.stderr.strip().splitlines()[-1]
    match = re.search(r"scored (\d+) of (\d+) .*?([\d.]+) s, ([\d.]+) records/s", summary)
    if not match:
        raise RuntimeError(f"unexpected CLI summary: {summary}")
    scored, scoring_s = int(match.group(1)), float(match.group(3))
    return {
        "n_files": len(files),
        "n_scored": scored,
        "wall_s_including_startup": wall,
        "records_per_s_wall": len(files) / wall,
        "scoring_s": scoring_s,
        "records_per_s_scoring": scored / scoring_s,
        "ms_per_record_scoring": 1e3 * scoring_s / scored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    parser.add_argument("--n-preprocess", type=int, default=50)
    parser.add_argument("--n-cli", type=int, default=0, help="files for the CLI run (0 = all found)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "core.json")
    args = parser.parse_args()

    files = discover_ecg_files([args.records])
    if not files:
        sys.exit(f"no records found in {args.records}")
    records = [read(f) for f in files[: args.n_preprocess]]

    torch.manual_seed(0)
    model = create_model("ecgfounder-12lead").eval()
    flops = model_flops(model, 12)
    peak = matmul_peak_gflops(args.repeats)
    pre = bench_preprocess(records, args.repeats)
    start = time.perf_counter()
    measurement = measure_layouts(model, 32)
    planning_s = time.perf_counter() - start
    networks = {"eager": model, "layout-planned": PlannedNet1D(model, measurement.plan)}
    forward = bench_forward(networks, flops, peak, args.repeats)
    cli_files = files[: args.n_cli] if args.n_cli else files
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = save_bundle(model, make_card("bench-random", model, list(ecgfounder_labels())), Path(tmp) / "b")
        cli_cold = bench_cli(cli_files, bundle_dir, Path(tmp) / "cache")
        cli = bench_cli(cli_files, bundle_dir, Path(tmp) / "cache")
    planned32 = next(r for r in forward if r["network"] == "layout-planned" and r["batch"] == 32)
    result = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
        },
        "matmul_peak_gflops": peak,
        "gflop_per_record": flops / 1e9,
        "preprocess": pre,
        "layout_plan": {"plan": measurement.plan.to_dict(), "planning_s": planning_s,
                        "predicted_ms": 1e3 * measurement.predicted_seconds},
        "forward": forward,
        "cli_cold_plan_cache": cli_cold,
        "cli": cli,
        "cli_over_forward_ratio": cli["ms_per_record_scoring"] / planned32["ms_per_record"],
    }

    print(f"\nmachine: {result['machine']}")
    print(f"matmul peak: {peak['peak']:.1f} GFLOP/s  (" + ", ".join(f"{k}: {v:.0f}" for k, v in peak["by_kernel"].items()) + ")")
    print(f"model: ecgfounder-12lead, {flops / 1e9:.3f} GFLOP per record")
    print(f"layout plan (batch 32, measured in {planning_s:.1f} s): stem {measurement.plan.stem}, stages {', '.join(measurement.plan.stages)}\n")
    print(f"{'measure':<52}{'value':>12}  target")
    print("-" * 78)
    print(f"{'preprocess ms/record (median)':<52}{pre['ms_median']:>12.2f}  < 5 ms")
    print(f"{'preprocess ms/record (p90)':<52}{pre['ms_p90']:>12.2f}")
    for row in forward:
        label = f"forward {row['network']} batch {row['batch']}"
        target = ">= 80%" if row["batch"] == 32 and row["network"] == "layout-planned" else ""
        print(f"{label + ' ms/record':<52}{row['ms_per_record']:>12.2f}")
        print(f"{label + ' % of peak (median of rounds)':<52}{100 * row['fraction_of_peak']:>11.1f}%  {target}")
        print(f"{label + ' % of peak (best round)':<52}{100 * row['fraction_of_peak_best_round']:>11.1f}%")
    print(f"{'CLI records/s (scoring; plan cached)':<52}{cli['records_per_s_scoring']:>12.1f}")
    print(f"{'CLI records/s (scoring; plan measured in the run)':<52}{cli_cold['records_per_s_scoring']:>12.1f}")
    print(f"{'CLI records/s (wall, incl. start-up; plan cached)':<52}{cli['records_per_s_wall']:>12.1f}")
    print(f"{'CLI ms/record / planned forward b32 ms/record':<52}{result['cli_over_forward_ratio']:>12.2f}  <= 1.3")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
