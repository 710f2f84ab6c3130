"""Archive scoring side by side: the release's pipeline and ``ecg predict -o X.parquet`` on the same files.

    python -m bench.bench_archive [--records DIR] [--n-files 320] [--repeats 3] [--models official,default]

For each network (``official``: the ECGFounder architecture ``ecgfounder-12lead`` with random
weights, the same arithmetic as the released checkpoint; ``default``: the shipped
``models/net1d-small-12lead-default``) every run is a fresh process started from here, so start-up
(imports, model load, worker start) is paid as a user pays it, and runs of the methods are
interleaved repeat by repeat (this VM is shared and its speed drifts):

- ``release``: ``bench/release_pipeline.py`` (``wfdb.rdsamp`` + per-lead filtering in DataLoader
  workers, eager network), with 1 and with 2 workers; its best is the baseline;
- ``ours``: ``python -m ecgcore predict DIR -o out.parquet --model B`` (layout plan cached, as from
  the second run on a machine on), with 1 and 2 reader workers, and once with an empty plan cache;
- ``ours, 2 ranks``: the same under ``torchrun --standalone --nproc_per_node 2``.

- ``forward only (ceiling)``: a process that only runs the planned network on random batches, for
  as many records (its scoring time is the ceiling the runs are measured against).

Also, in this process: the pure-forward ceiling (layout-planned network at batch 32, 2 threads,
no reading or preprocessing), and mixed precision (bfloat16 autocast on the CPU) against float32
on real preprocessed records: its speed and its effect on the probabilities and positives.

Prints a table and writes ``bench/results/archive.json``.
"""

from __future__ import annotations

import os

# As ``python -m ecgcore`` does: idle OpenMP threads sleep instead of spinning, or on a busy 2-core
# machine the forward-only ceiling and the in-process timings below fight their own spinning threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import csv
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from bench.timing import median_seconds
from ecgcore.batch import discover_ecg_files
from ecgcore.bundle import load_bundle, make_card, save_bundle
from ecgcore.config import REPO_ROOT
from ecgcore.io import read
from ecgcore.labels import ecgfounder_labels
from ecgcore.model import create_model
from ecgcore.predict import Predictor
from train.paths import SHARED_DATA_DIR

DEFAULT_RECORDS = SHARED_DATA_DIR / "ptbxl_subset" / "records500"
DEFAULT_BUNDLE = REPO_ROOT / "models" / "net1d-small-12lead-default"
SUMMARY = re.compile(r"([\d.]+) s, ([\d.]+) records/s")


def link_folder(files: list[Path], folder: Path) -> Path:
    """A folder holding exactly these records (WFDB pairs keep their names)."""
    folder.mkdir(parents=True)
    for f in files:
        for companion in f.parent.glob(f.stem + ".*"):
            (folder / companion.name).symlink_to(companion.resolve())
    return folder


def timed_run(command: list[str], env: dict[str, str]) -> dict:
    """Wall time of a fresh process (start-up included) and the scoring time it reports on stderr."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} failed: {proc.stderr[-2000:]}")
    match = next((m for m in map(SUMMARY.search, reversed(proc.stderr.splitlines())) if m), None)
    return {"wall_s": wall, "scoring_s": float(match.group(1)) if match else float("nan")}


def methods(folder: Path, bundle: Path, out: Path) -> dict[str, list[str]]:
    python = sys.executable
    predict = ["-m", "ecgcore", "predict", str(folder), "--model", str(bundle), "-q", "-o", str(out / "ours.parquet")]
    release = ["-m", "bench.release_pipeline", str(folder), "--bundle", str(bundle), "-o", str(out / "release.csv")]
    return {
        "release, 1 worker": [python, *release, "--workers", "1"],
        "release, 2 workers": [python, *release, "--workers", "2"],
        "ours, 1 worker": [python, *predict, "--workers", "1"],
        "ours, 2 workers": [python, *predict, "--workers", "2"],
        "ours, 2 ranks (torchrun)": [python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                                     *predict[1:]],
        "forward only (ceiling)": [python, "-m", "bench.bench_archive", "--forward-only", str(bundle),
                                   "--n-files", str(len(list(folder.glob("*.hea"))))],
    }


def clear_outputs(out: Path) -> None:
    for path in out.glob("ours.parquet*"):
        if path.is_dir():
            for part in path.iterdir():
                part.unlink()
            path.rmdir()
        else:
            path.unlink()


def release_vs_ours_difference(out: Path) -> float:
    """Max |p_release - p_ours| over every file and trained label of the last runs: the same model must agree."""
    ours = {row["path"]: row for row in pq.read_table(out / "ours.parquet").to_pylist()}
    worst = 0.0
    with (out / "release.csv").open() as handle:
        for row in csv.DictReader(handle):
            mine = ours[row["path"]]
            for label, value in row.items():
                if label != "path" and mine.get("p:" + label) is not None:
                    worst = max(worst, abs(float(value) - mine["p:" + label]))
    return worst


def bench_network(name: str, bundle: Path, folder: Path, n_files: int, repeats: int, work: Path) -> dict:
    out = work / f"out-{name}"
    out.mkdir()
    warm_cache, cold_cache = work / f"cache-{name}", work / f"cold-{name}"
    env = {**os.environ, "ECG_CACHE_DIR": str(warm_cache)}
    commands = methods(folder, bundle, out)
    clear_outputs(out)
    cold = timed_run(commands["ours, 2 workers"], {**os.environ, "ECG_CACHE_DIR": str(cold_cache)})  # measures the plan
    runs: dict[str, list[dict]] = {m: [] for m in commands}
    for _ in range(repeats):
        for method, command in commands.items():
            if not method.startswith("forward"):  # it writes nothing; the last outputs are compared below
                clear_outputs(out)
            runs[method].append(timed_run(command, env))
    rows = {}
    for method, results in runs.items():
        wall = statistics.median(r["wall_s"] for r in results)
        scoring = statistics.median(r["scoring_s"] for r in results)
        rows[method] = {"wall_s": wall, "records_per_s_wall": n_files / wall, "scoring_s": scoring,
                        "records_per_s_scoring": n_files / scoring, "startup_s": wall - scoring,
                        "walls_s": [r["wall_s"] for r in results]}
    ceiling = rows.pop("forward only (ceiling)")
    baseline = min((m for m in rows if m.startswith("release")), key=lambda m: rows[m]["wall_s"])
    ours_single = min(("ours, 1 worker", "ours, 2 workers"), key=lambda m: rows[m]["wall_s"])
    for row in rows.values():
        row["speedup_vs_release_wall"] = rows[baseline]["wall_s"] / row["wall_s"]
        row["speedup_vs_release_scoring"] = rows[baseline]["scoring_s"] / row["scoring_s"]
    return {"runs": rows, "baseline": baseline, "forward_only_interleaved": ceiling, "ours_best_single_process": ours_single,
            "ratio_wall": rows[baseline]["wall_s"] / rows[ours_single]["wall_s"],
            "ratio_scoring": rows[baseline]["scoring_s"] / rows[ours_single]["scoring_s"],
            "cold_plan_cache_ours_2_workers": cold,
            "max_abs_probability_difference_release_vs_ours": release_vs_ours_difference(out)}


def forward_ceiling(predictor: Predictor, repeats: int) -> dict:
    """Records/s of the planned network alone at batch 32: what no reading or preprocessing slows down."""
    x = torch.randn(32, len(predictor.input_leads), 5000)
    model = predictor.inference_model(32)
    with torch.inference_mode():
        seconds = median_seconds(lambda: model(x), repeats, warmup=2)
    return {"ms_per_record": 1e3 * seconds / 32, "records_per_s": 32 / seconds, "torch_threads": torch.get_num_threads()}


def mixed_precision(predictor: Predictor, files: list[Path], repeats: int) -> dict:
    """bfloat16 autocast against float32 on real records: speed, and what it does to the probabilities and positives."""
    batch = np.stack([predictor.prepare(read(f)) for f in files])
    x = torch.from_numpy(batch)
    full = predictor.probabilities(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = predictor.probabilities(x)
        half_s = median_seconds(lambda: predictor.probabilities(x), repeats)
    full_s = median_seconds(lambda: predictor.probabilities(x), repeats)
    trained = predictor.trained_mask
    diff = np.abs(full - half)[:, trained]
    flips = ((full >= predictor.thresholds) != (half >= predictor.thresholds))[:, trained]
    return {"n_records": len(files), "ms_per_record_float32": 1e3 * full_s / len(files),
            "ms_per_record_bfloat16": 1e3 * half_s / len(files), "max_abs_probability_difference": float(diff.max()),
            "mean_abs_probability_difference": float(diff.mean()),
            "positive_calls_changed": int(flips.sum()), "calls_compared": int(flips.size)}


def forward_only(bundle: Path, n_records: int) -> None:
    """The ceiling as a run of its own, interleaved with the others: the planned network on random
    batches of 32 for as many records as the runs score, no reading, no preprocessing, no writing."""
    predictor = Predictor(bundle)
    x = torch.randn(32, len(predictor.input_leads), 5000)
    predictor.probabilities(x)  # plan lookup and warm-up
    start = time.perf_counter()
    for first in range(0, n_records, 32):
        predictor.probabilities(x[: min(32, n_records - first)])
    seconds = time.perf_counter() - start
    print(f"forward only: {seconds:.2f} s, {n_records / seconds:.1f} records/s", file=sys.stderr)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--forward-only":
        n_files = int(sys.argv[sys.argv.index("--n-files") + 1])
        forward_only(Path(sys.argv[2]), n_files)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    parser.add_argument("--n-files", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="official,default")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "archive.json")
    args = parser.parse_args()

    files = discover_ecg_files([args.records])[: args.n_files]
    if len(files) < args.n_files:
        sys.exit(f"only {len(files)} records in {args.records}")
    result: dict = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                                "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                "load_average_before": os.getloadavg()},
                    "n_files": len(files), "repeats": args.repeats, "networks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = link_folder(files, work / "records")
        torch.manual_seed(0)
        official = create_model("ecgfounder-12lead").eval()
        bundles = {"official": save_bundle(official, make_card("ecgfounder-random", official, list(ecgfounder_labels())),
                                           work / "official"),
                   "default": DEFAULT_BUNDLE}
        for name in args.models.split(","):
            print(f"{name}: {len(files)} files x {args.repeats} repeats ...", flush=True)
            entry = bench_network(name, bundles[name], folder, len(files), args.repeats, work)
            predictor = Predictor(load_bundle(bundles[name]))
            entry["forward_ceiling_b32"] = forward_ceiling(predictor, args.repeats + 2)
            entry["mixed_precision_cpu_bf16"] = mixed_precision(predictor, files[:64], args.repeats)
            result["networks"][name] = entry
    result["machine"]["load_average_after"] = os.getloadavg()
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


def print_table(result: dict) -> None:
    print(f"\n{result['n_files']} files, median of {result['repeats']} interleaved runs; load average "
          f"{result['machine']['load_average_before'][0]:.1f} before, {result['machine']['load_average_after'][0]:.1f} after")
    for name, entry in result["networks"].items():
        print(f"\n{name} network")
        print(f"  {'method':<28}{'wall s':>8}{'rec/s wall':>12}{'scoring s':>11}{'rec/s scoring':>15}{'x release':>11}")
        for method, row in entry["runs"].items():
            print(f"  {method:<28}{row['wall_s']:>8.1f}{row['records_per_s_wall']:>12.1f}{row['scoring_s']:>11.1f}"
                  f"{row['records_per_s_scoring']:>15.1f}{row['speedup_vs_release_wall']:>11.2f}")
        ceiling = entry["forward_ceiling_b32"]
        amp = entry["mixed_precision_cpu_bf16"]
        print(f"  ratio ours/release (wall, best single process vs best release): {entry['ratio_wall']:.2f}x; "
              f"scoring only: {entry['ratio_scoring']:.2f}x")
        print(f"  forward ceiling (planned, batch 32): {ceiling['ms_per_record']:.2f} ms/record = "
              f"{ceiling['records_per_s']:.1f} records/s in this process after the runs; interleaved with them: "
              f"{entry['forward_only_interleaved']['records_per_s_scoring']:.1f} records/s")
        print(f"  first run on a machine (plan measured): {entry['cold_plan_cache_ours_2_workers']['wall_s']:.1f} s wall")
        print(f"  bf16 autocast: {amp['ms_per_record_bfloat16']:.2f} vs {amp['ms_per_record_float32']:.2f} ms/record "
              f"(float32); max |dp| {amp['max_abs_probability_difference']:.4f}, positives changed "
              f"{amp['positive_calls_changed']} of {amp['calls_compared']}")
        print(f"  max |p_release - p_ours|: {entry['max_abs_probability_difference_release_vs_ours']:.2e}")


if __name__ == "__main__":
    main()
