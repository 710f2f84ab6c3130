"""Benchmark of the review store: verdict write throughput and expert-review export time.

    python -m bench.bench_db [--saves 150] [--export-records 1000] [--no-postgres]

* Writes per second with 1 and 4 concurrent writers (threads, one reviewer each, each save a new
  review version with 5 verdicts through ``db.reviews.save_review``), on SQLite (WAL, synchronous=NORMAL)
  and on a throw-away local PostgreSQL started with default durability (fsync on).
* Time to export a 1,000-record expert-review test set (2 reviews per record, real PTB-XL
  waveforms, made unique by a per-record offset), on each backend.

Prints a table and writes bench/results/db.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import wfdb

from db.export import export_expert_review, load_expert_review_export
from db.records import add_record
from db.reviews import save_review
from db.session import Database
from db.users import create_user
from ecgcore.config import REPO_ROOT
from ecgcore.record import Record as ECGRecord
from train.paths import SHARED_DATA_DIR

PTBXL = SHARED_DATA_DIR / "ptbxl_subset" / "records500"
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
VERDICTS = {"ATRIAL FIBRILLATION": "present", "SINUS BRADYCARDIA": "absent", "NORMAL ECG": "absent",
            "LEFT BUNDLE BRANCH BLOCK": "uncertain", "SINUS RHYTHM": "absent"}
REVIEWERS = ("r1", "r2", "r3", "r4")


def _pg_helper():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("pg_test_server", REPO_ROOT / "scripts" / "pg_test_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def base_records(n: int) -> list[ECGRecord]:
    out = []
    for hea in sorted(PTBXL.rglob("*_hr.hea"))[:n]:
        signal, fields = wfdb.rdsamp(str(hea.with_suffix("")))
        out.append(ECGRecord(signal=signal.T.astype(np.float32), fs=fields["fs"], leads=LEADS, record_name=hea.stem,
                             source="ptbxl"))
    return out


def unique_records(base: list[ECGRecord], n: int) -> list[ECGRecord]:
    """n distinct ECGs from real ones (a tiny per-copy offset changes the content hash)."""
    return [base[i % len(base)].replace(signal=base[i % len(base)].signal + np.float32(1e-3 * (i // len(base))),
                                        record_name=f"{base[i % len(base)].record_name}_{i}") for i in range(n)]


def setup(db: Database) -> None:
    for name in REVIEWERS:
        create_user(db, name, "cardiologist", f"{name}-password")


def write_rate(db: Database, record_ids: list[int], writers: int, saves: int) -> dict[str, float]:
    per_writer = saves // writers

    def work(name: str) -> int:
        for i in range(per_writer):
            save_review(db, record_ids[i % len(record_ids)], name, VERDICTS, saw_model_output=False,
                        time_spent_s=10.0)
        return per_writer

    start = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        done = sum(pool.map(work, REVIEWERS[:writers]))
    elapsed = time.perf_counter() - start
    return {"writers": writers, "reviews": done, "seconds": elapsed, "reviews_per_s": done / elapsed,
            "verdicts_per_s": done * len(VERDICTS) / elapsed}


def export_time(db: Database, records: list[ECGRecord], out_root: Path) -> dict[str, float]:
    start = time.perf_counter()
    ids = [add_record(db, r)[0].id for r in records]
    for i, rid in enumerate(ids):
        verdict = {"ATRIAL FIBRILLATION": "present" if i % 3 == 0 else "absent"}
        save_review(db, rid, "r1", verdict, saw_model_output=False)
        save_review(db, rid, "r2", verdict, saw_model_output=True)
    populate = time.perf_counter() - start
    start = time.perf_counter()
    out = export_expert_review(db, out_root / f"export-{db.dialect}")
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    n = len(load_expert_review_export(out))
    load_s = time.perf_counter() - start
    assert n == len(records), (n, len(records))
    return {"records": n, "populate_s": populate, "export_s": export_s, "load_s": load_s}


def run_backend(name: str, url: str, tmp: Path, args: argparse.Namespace, base: list[ECGRecord]) -> dict:
    db = Database(url, data_dir_path=tmp / f"data-{name}")
    setup(db)
    ids = [add_record(db, r)[0].id for r in unique_records(base, 20)]
    rates = [write_rate(db, ids, w, args.saves) for w in (1, 4)]
    # offset 0.5 mV keeps the export's records distinct from the 20 used for the write test
    fresh = [r.replace(record_name=r.record_name + "x", signal=r.signal + np.float32(0.5))
             for r in unique_records(base, args.export_records)]
    exported = export_time(db, fresh, tmp)
    db.dispose()
    return {"backend": name, "write": rates, "export": exported}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=200, help="reviews saved per measurement (split over writers)")
    parser.add_argument("--export-records", type=int, default=1000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "db.json")
    args = parser.parse_args()
    base = base_records(50)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-db-") as tmp_name:
        tmp = Path(tmp_name)
        results.append(run_backend("sqlite", f"sqlite:///{tmp / 'review.sqlite'}", tmp, args, base))
        pg = _pg_helper()
        if not args.no_postgres and pg.find_pg_bin() is not None:
            with pg.PostgresServer(fsync=True) as server:
                results.append(run_backend("postgresql", server.create_database("bench"), tmp, args, base))
    print(f"{'backend':<11} {'writers':>7} {'reviews/s':>10} {'verdicts/s':>11}")
    for r in results:
        for w in r["write"]:
            print(f"{r['backend']:<11} {w['writers']:>7} {w['reviews_per_s']:>10.1f} {w['verdicts_per_s']:>11.1f}")
    print(f"\n{'backend':<11} {'records':>7} {'populate s':>10} {'export s':>9} {'load s':>7}")
    for r in results:
        e = r["export"]
        print(f"{r['backend']:<11} {e['records']:>7} {e['populate_s']:>10.1f} {e['export_s']:>9.1f} {e['load_s']:>7.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "cpus": __import__("os").cpu_count()},
               "verdicts_per_review": len(VERDICTS), "results": results}
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
