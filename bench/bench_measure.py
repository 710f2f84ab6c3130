"""Measurement speed: ``ecgcore.measure`` on real records, per record and per stage.

    python -m bench.bench_measure [--n-ptbxl 50] [--repeats 5] [--no-stages]

Times ``ecgcore.measure(record)`` (median of ``--repeats`` calls after a warm-up call, per record)
on the 40 LUDB records (``ludb_dev``, 12 x 5000 at 500 Hz), the first ``--n-ptbxl`` PTB-XL 500 Hz
records (``ptbxl_subset/records500``, 12 x 5000) and one single-lead CinC 2017 record (300 Hz,
30 s; ``measure`` takes its first 10 s). Reports min / median / p95 ms per record for each set
against the target (median under 50 ms for 12 x 5000), and the median time of each stage of the
algorithm on the 12 x 5000 records: the stages are run one by one through the functions
``measure`` is built from (filters, lead quality, QRS detection, dominant and median beats,
delineation); "rest" is ``measure`` minus their sum (pacing, P-wave check, axes, amplitudes).
Last, the throughput of ``ecg measure``'s folder path (``ecgcore.batch.measure_files``: read and
measure, in the main process and in one worker per core) over the same PTB-XL files. A missing
data set is skipped with a message. Prints a table and writes ``bench/results/measure.json``.
Not a test: the machine is shared, so read medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy

from bench.timing import median_seconds
from ecgcore.batch import discover_ecg_files, measure_files
from ecgcore.config import REPO_ROOT
from ecgcore.io import read
from ecgcore.measurements import ALGORITHM_VERSION, measure
from ecgcore.record import Record
from train.paths import SHARED_DATA_DIR

RESULTS = REPO_ROOT / "bench" / "results" / "measure.json"
TARGET_MS = 50.0  # median per 12 x 5000 record
LUDB = SHARED_DATA_DIR / "ludb_dev" / "data"
PTBXL_500 = SHARED_DATA_DIR / "ptbxl_subset" / "records500"
CINC2017 = SHARED_DATA_DIR / "cinc2017_subset" / "training2017"


def load_sets(n_ptbxl: int) -> dict[str, list[Record]]:
    """Name -> records; sets whose folder is missing are left out with a message."""
    sets: dict[str, list[Record]] = {}
    for name, folder, limit in (("ludb_dev 500 Hz", LUDB, None), ("ptbxl_subset 500 Hz", PTBXL_500, n_ptbxl)):
        if not folder.is_dir():
            print(f"skipped {name}: {folder} not found")
            continue
        sets[name] = [read(f) for f in discover_ecg_files([folder])[:limit]]
    cinc = _first_cinc2017_30s()
    if cinc is None:
        print(f"skipped cinc2017: no 30-s record in {CINC2017}")
    else:
        sets[f"cinc2017 {cinc.fs:g} Hz {cinc.duration_s:.0f} s ({cinc.record_name})"] = [cinc]
    return sets


def _first_cinc2017_30s() -> Record | None:
    if not CINC2017.is_dir():
        return None
    for header in sorted(CINC2017.glob("A*.hea"))[:50]:
        record = read(header)
        if abs(record.duration_s - 30.0) < 0.5:
            return record
    return None


def time_records(records: list[Record], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU ms per record: each the median of ``repeats`` calls of ``measure`` after a warm-up call.

    CPU time (this process, all threads) is what the work costs; on a loaded shared machine the
    wall time also holds the time other processes had the core.
    """
    wall, cpu = [], []
    for record in records:
        measure(record)
        cpu_runs = []
        for _ in range(repeats):
            start = time.process_time()
            measure(record)
            cpu_runs.append(time.process_time() - start)
        cpu.append(1e3 * statistics.median(cpu_runs))
        wall.append(1e3 * median_seconds(lambda r=record: measure(r), repeats, warmup=0))
    return wall, cpu


def summarise(name: str, records: list[Record], timings: tuple[list[float], list[float]]) -> dict:
    ms, cpu = timings
    first = records[0]
    return {
        "set": name,
        "n_records": len(records),
        "shape": f"{first.n_leads} x {first.n_samples}",
        "fs": first.fs,
        "ms_min": round(min(ms), 2),
        "ms_median": round(statistics.median(ms), 2),
        "ms_p95": round(float(np.percentile(ms, 95)), 2),
        "cpu_ms_median": round(statistics.median(cpu), 2),
        "target_ms_median": TARGET_MS if (first.n_leads, first.n_samples) == (12, 5000) else None,
    }


def _stage_functions(record: Record) -> list[tuple[str, Callable[[dict], None]]]:
    """The stages of ``measure`` as separate steps over a shared state (the functions it is built from)."""
    from ecgcore.measurements import DEFAULT_PARAMS as p
    from ecgcore.measurements.delineation import delineate_rows, global_fiducials
    from ecgcore.measurements.filters import measurement_signal
    from ecgcore.measurements.median_beat import dominant_and_aligned, median_beats
    from ecgcore.measurements.qrs_detection import detect_qrs
    from ecgcore.measurements.quality import lead_quality

    fs = record.fs
    n = min(record.n_samples, round(p.max_window_s * fs))
    raw = np.asarray(record.signal[:, :n], dtype=np.float64)

    def filters(s: dict) -> None:
        s["filtered"], _ = measurement_signal(raw, fs, p)

    def quality(s: dict) -> None:
        s["usable"] = lead_quality(raw, s["filtered"], record.leads, fs, p).usable
        s["x"] = s["filtered"][s["usable"]]

    def detection(s: dict) -> None:
        s["beats"] = detect_qrs(s["x"], fs, p)

    def medians(s: dict) -> None:
        dominant, aligned, _ = dominant_and_aligned(s["x"], s["beats"], fs, p)
        s["median"], s["r"] = median_beats(s["filtered"], aligned[dominant], fs, p)

    def delineation(s: dict) -> None:
        rr = float(np.median(np.diff(s["beats"])))
        rows = delineate_rows(s["median"][s["usable"]], s["r"], fs, np.full(int(s["usable"].sum()), rr), p)
        lead_params = dataclasses.replace(p, p_min_leads=min(p.p_min_leads, int(s["usable"].sum())))
        global_fiducials(rows, fs, lead_params)

    return [("filters", filters), ("lead quality", quality), ("QRS detection", detection),
            ("dominant + median beats", medians), ("delineation", delineation)]


def time_stages(records: list[Record], repeats: int) -> dict[str, float]:
    """Median CPU ms per stage over records (each record: the median of ``repeats`` runs of each stage).

    CPU time, so that the split does not depend on what else the shared machine runs meanwhile.
    """
    per_stage: dict[str, list[float]] = {}
    totals: list[float] = []
    for record in records:
        stages = _stage_functions(record)
        runs: dict[str, list[float]] = {name: [] for name, _ in stages}
        for i in range(repeats + 1):  # the first run warms up
            state: dict = {}
            for name, fn in stages:
                start = time.process_time()
                fn(state)
                if i:
                    runs[name].append(1e3 * (time.process_time() - start))
        for name, values in runs.items():
            per_stage.setdefault(name, []).append(statistics.median(values))
        whole = []
        for _ in range(repeats):
            start = time.process_time()
            measure(record)
            whole.append(1e3 * (time.process_time() - start))
        totals.append(statistics.median(whole))
    out = {name: round(statistics.median(values), 2) for name, values in per_stage.items()}
    out["rest (pacing, P-wave check, axes, amplitudes)"] = round(statistics.median(totals) - sum(out.values()), 2)
    out["measure (whole)"] = round(statistics.median(totals), 2)
    return out


def time_folder(files: list[Path]) -> list[dict]:
    """records/s of ``measure_files`` (reading included) in the main process and with one worker per core.

    torch (whose DataLoader runs the workers) is loaded first, as ``ecg measure`` has it loaded.
    """
    import torch.utils.data  # noqa: F401

    out = []
    for workers in (0, os.cpu_count() or 1):
        start = time.perf_counter()
        items = list(measure_files(files, num_workers=workers))
        seconds = time.perf_counter() - start
        out.append({"workers": workers, "n_files": len(files), "n_failed": sum(i.error is not None for i in items),
                    "seconds": round(seconds, 2), "records_per_s": round(len(files) / seconds, 1)})
    return out


def print_tables(rows: list[dict], stages: dict[str, float] | None, folder: list[dict]) -> None:
    header = (f"{'set':<40} {'n':>4} {'leads x samples':>16} {'min':>7} {'median':>7} {'p95':>7} "
              f"{'cpu med':>8}  target")
    print(f"\nms per record, ecgcore.measure (measurements {ALGORITHM_VERSION}); wall time, and the median CPU time")
    print(header)
    print("-" * len(header))
    for row in rows:
        target = ""
        if row["target_ms_median"] is not None:
            verdict = "PASS" if row["ms_median"] < row["target_ms_median"] else "FAIL"
            target = f"median < {row['target_ms_median']:g} ms: {verdict}"
        print(f"{row['set']:<40} {row['n_records']:>4} {row['shape']:>16} {row['ms_min']:>7.1f} "
              f"{row['ms_median']:>7.1f} {row['ms_p95']:>7.1f} {row['cpu_ms_median']:>8.1f}  {target}")
    if stages:
        print("\nstages, median CPU ms per 12 x 5000 record")
        for name, ms in stages.items():
            print(f"  {name:<48} {ms:>7.2f}")
    for row in folder:
        print(f"\nmeasure_files over {row['n_files']} PTB-XL files (reading included), {row['workers']} worker(s): "
              f"{row['records_per_s']:.1f} records/s ({row['seconds']:.1f} s, {row['n_failed']} failed)", end="")
    print()


def environment(load_before: float) -> dict:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-ptbxl", type=int, default=50, help="PTB-XL 500 Hz records to time")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage breakdown")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    sets = load_sets(args.n_ptbxl)
    if not sets:
        print(f"nothing to time: no data in {SHARED_DATA_DIR}")
        return
    load_before = os.getloadavg()[0]
    rows = [summarise(name, records, time_records(records, args.repeats)) for name, records in sets.items()]
    twelve = [r for records in sets.values() for r in records if (r.n_leads, r.n_samples) == (12, 5000)]
    stages = None
    if twelve and not args.no_stages:
        try:
            stages = time_stages(twelve, args.repeats)
        except (ImportError, AttributeError, TypeError, ValueError) as exc:  # the stage functions changed
            print(f"stage breakdown unavailable: {type(exc).__name__}: {exc}")
    folder = time_folder(discover_ecg_files([PTBXL_500])[: args.n_ptbxl]) if PTBXL_500.is_dir() else []
    print_tables(rows, stages, folder)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "algorithm_version": ALGORITHM_VERSION,
        "repeats": args.repeats,
        "target_ms_median_12x5000": TARGET_MS,
        "rows": rows,
        "stages_cpu_ms_median_12x5000": stages,
        "measure_files": folder,
        "environment": environment(load_before),
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {args.out.relative_to(REPO_ROOT) if args.out.is_relative_to(REPO_ROOT) else args.out}")


if __name__ == "__main__":
    main()
