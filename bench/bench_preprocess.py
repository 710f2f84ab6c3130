"""Preprocessing benchmark: the straightforward per-lead pipeline against ecgcore.preprocess.

    python -m bench.bench_preprocess [--records DIR] [--n-records 50] [--repeats 7]

Loads real PTB-XL 500 Hz records, then for every record times each method (median of
``--repeats`` calls after a warm-up call; methods interleaved record by record so machine load
hits them alike). Prints a table (method, ms/record median and p90 over records, speedup
against the reference, max abs difference to the reference) and writes
``bench/results/preprocess.json``. Not a test: timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Callable

import bottleneck
import numpy as np
import scipy
import wfdb

from bench.timing import median_seconds
from ecgcore._reference_preprocess import reference_preprocess_window
from ecgcore.config import REPO_ROOT
from ecgcore.leads import canonical_lead_name
from ecgcore.preprocessing import DEFAULT_PREPROCESS, preprocess, preprocess_batch
from ecgcore.record import Record
from train.paths import SHARED_DATA_DIR

DEFAULT_RECORDS = SHARED_DATA_DIR / "ptbxl_subset" / "records500" / "00000"
RESULTS = REPO_ROOT / "bench" / "results" / "preprocess.json"
BATCH_SIZE = 16


def load_records(folder: Path, n_records: int) -> list[Record]:
    """The first ``n_records`` WFDB records of ``folder`` as Records (float32 mV, canonical leads)."""
    records = []
    for header in sorted(folder.glob("*.hea"))[:n_records]:
        samples, meta = wfdb.rdsamp(str(header.with_suffix("")))
        leads = tuple(canonical_lead_name(n) for n in meta["sig_name"])
        records.append(Record(signal=samples.T, fs=meta["fs"], leads=leads, record_name=header.stem))
    return records


def per_record_methods() -> dict[str, Callable[[Record], np.ndarray]]:
    """Name -> function of one record; the first one is the reference the others are compared with."""
    return {
        "reference (per-lead scipy)": lambda r: reference_preprocess_window(r.signal, r.fs, DEFAULT_PREPROCESS),
        "ecgcore, 1 thread (default)": lambda r: preprocess(r, n_threads=1),
        "ecgcore, 2 threads": lambda r: preprocess(r, n_threads=2),
    }


def time_per_record(records: list[Record], repeats: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """ms per record for every method and record, and each method's max abs difference to the reference."""
    methods = per_record_methods()
    ms: dict[str, list[float]] = {name: [] for name in methods}
    max_diff = dict.fromkeys(methods, 0.0)
    for record in records:
        expected = None
        for name, fn in methods.items():
            out = fn(record)
            expected = out if expected is None else expected
            max_diff[name] = max(max_diff[name], float(np.max(np.abs(out.astype(np.float64) - expected))))
            ms[name].append(1e3 * median_seconds(lambda: fn(record), repeats))
    return ms, max_diff


def time_batches(records: list[Record], repeats: int) -> tuple[list[float], float]:
    """ms per record when records go through preprocess_batch in groups of BATCH_SIZE."""
    ms, max_diff = [], 0.0
    for lo in range(0, len(records), BATCH_SIZE):
        group = records[lo : lo + BATCH_SIZE]
        signals = [r.signal for r in group]
        out = preprocess_batch(signals, 500.0, n_threads=2)
        for got, record in zip(out, group):
            expected = reference_preprocess_window(record.signal, record.fs, DEFAULT_PREPROCESS)
            max_diff = max(max_diff, float(np.max(np.abs(got.astype(np.float64) - expected))))
        seconds = median_seconds(lambda: preprocess_batch(signals, 500.0, n_threads=2), repeats)
        ms.extend([1e3 * seconds / len(group)] * len(group))
    return ms, max_diff


def summarise(ms: dict[str, list[float]], max_diff: dict[str, float]) -> list[dict]:
    reference = statistics.median(next(iter(ms.values())))
    rows = []
    for name, values in ms.items():
        median = statistics.median(values)
        rows.append(
            {
                "method": name,
                "ms_per_record_median": round(median, 3),
                "ms_per_record_p90": round(float(np.percentile(values, 90)), 3),
                "speedup": round(reference / median, 2),
                "max_abs_diff": max_diff[name],
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    header = f"{'method':<32} {'ms/rec median':>14} {'p90':>8} {'speedup':>8} {'max abs diff':>13}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['method']:<32} {row['ms_per_record_median']:>14.3f} {row['ms_per_record_p90']:>8.3f} "
            f"{row['speedup']:>7.2f}x {row['max_abs_diff']:>13.2e}"
        )


def environment() -> dict:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "bottleneck": bottleneck.__version__,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "machine": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    parser.add_argument("--n-records", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    records = load_records(args.records, args.n_records)
    load_before = os.getloadavg()[0]
    ms, max_diff = time_per_record(records, args.repeats)
    name = f"ecgcore batch of {BATCH_SIZE}, 2 threads"
    ms[name], max_diff[name] = time_batches(records, args.repeats)
    rows = summarise(ms, max_diff)
    print(f"{len(records)} PTB-XL records, 12 x 5000 at 500 Hz, {args.repeats} repeats each (median)")
    print_table(rows)

    env = environment() | {"load_average_1min_before": load_before}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "n_records": len(records),
        "repeats": args.repeats,
        "config": DEFAULT_PREPROCESS.to_dict(),
        "rows": rows,
        "environment": env,
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
