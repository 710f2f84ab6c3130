"""The learning loop with the shipped 12-lead model (issue #21): how long a candidate takes on this CPU
and whether fine-tuning on reviews (with the rehearsal set) keeps the external reference set.

    python -m bench.bench_learning_loop [--reviewed 60] [--epochs 5] [--threads 1] [--work artifacts/bench_learning_loop]

Needs ../shared/data. A throw-away store gets ``--reviewed`` real PTB-XL records read by two
"cardiologists" whose verdicts are PTB-XL's labels; the rehearsal set is the shipped model's own
training data (PTB-XL 1-500 folds 1-9 + CinC 2021 + CODE-15% samples, built once into the work
folder); the reference test set is the CinC 2020 sample (scripts/make_reference_test_set.py). The
PTB-XL records were in the shipped model's training data, so the *holdout* comparison is in-sample
for the base model and says nothing about improvement; the *reference* comparison is external.
Prints a table and writes ``bench/results/learning_loop.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ecgcore.config import REPO_ROOT
from train.paths import SHARED_DATA_DIR


def _reviewed_store(work: Path, n: int):
    from db.records import add_record
    from db.reviews import save_review
    from db.session import Database
    from db.users import create_user
    from ecgcore.labels import ecgfounder_labels
    from train.data import ptbxl_examples

    t0 = time.perf_counter()
    shutil.rmtree(work / "store", ignore_errors=True)
    db = Database(f"sqlite:///{work / 'store' / 'store.sqlite'}", data_dir_path=work / "store" / "data")
    for name in ("alice", "bob"):
        create_user(db, name, "cardiologist", f"{name}-password")
    names = ecgfounder_labels()
    for ex in itertools.islice(ptbxl_examples(SHARED_DATA_DIR / "ptbxl_subset"), n):
        record = ex.load()
        y, mask = ex.label(record)
        row, _ = add_record(db, record, uploader="alice")
        verdicts = {names[j]: "present" for j in np.flatnonzero(np.asarray(y) * np.asarray(mask))}
        for reviewer in ("alice", "bob"):
            save_review(db, row.id, reviewer, verdicts, saw_model_output=False)
    return db, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviewed", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default=str(REPO_ROOT / "artifacts" / "bench_learning_loop"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["ECG_MODEL_DIR"] = str(REPO_ROOT / "models")

    from db.model_registry import default_bundle
    from scripts.make_reference_test_set import main as make_reference
    from train.candidate import CandidateConfig, candidate_from_store
    from train.data import ensure_dataset

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rehearsal = ensure_dataset("shared", SHARED_DATA_DIR, work / "rehearsal", progress=False)
    timings["rehearsal set (built once)"] = time.perf_counter() - t0
    reference = work / "reference-cinc2020"
    if not reference.is_dir():
        make_reference(["--out", str(reference)])
    db, timings["store: records + reviews"] = _reviewed_store(work, args.reviewed)
    stages: list[tuple[float, str, float]] = []
    t0 = time.perf_counter()
    candidates = work / "candidates"
    shutil.rmtree(candidates, ignore_errors=True)
    result = candidate_from_store(db, actor="alice", base_bundle=default_bundle(None, 12), candidates_dir=candidates,
                                  rehearsal_set=rehearsal.path, reference_set=reference,
                                  config=CandidateConfig(epochs=args.epochs, num_threads=args.threads),
                                  on_progress=lambda f, s: stages.append((f, s, time.perf_counter() - t0)))
    total = time.perf_counter() - t0
    tuning_start = next(t for f, s, t in stages if s.startswith("fine-tuning"))
    comparing = next(t for f, s, t in stages if s.startswith("comparing"))
    timings["candidate: export + sets"] = tuning_start
    timings["candidate: fine-tuning"] = comparing - tuning_start
    timings["candidate: comparison + save"] = total - comparing
    timings["candidate: total"] = total
    sets = result.comparison["sets"]
    rows = [{"set": name, "records": s["n_records"], "labels": s["n_labels_scored"],
             "macro AUROC current": s.get("macro_auroc_base"), "macro AUROC candidate": s.get("macro_auroc_candidate"),
             "difference": s.get("macro_diff"), "difference CI": s.get("macro_diff_ci"),
             "ECE current": s.get("ece_base"), "ECE candidate": s.get("ece_candidate"),
             "calls changed": s["n_changed_calls"], "fixed": s["n_calls_fixed"], "broken": s["n_calls_broken"]}
            for name, s in sets.items()]
    from db.model_registry import worse_claimed_labels
    from ecgcore.bundle import load_card

    worse = [f"{r['label']} ({r['set']})" for r in worse_claimed_labels(load_card(result.bundle_dir))]
    print(f"{'step':<32} {'seconds':>8}")
    for step, seconds in timings.items():
        print(f"{step:<32} {seconds:8.1f}")
    print()
    for row in rows:
        ci = row["difference CI"] or [float("nan")] * 2
        print(f"{row['set']:<10} {row['records']:4d} records {row['labels']:3d} labels  macro AUROC "
              f"{row['macro AUROC current']:.3f} -> {row['macro AUROC candidate']:.3f} "
              f"({row['difference']:+.3f}, CI {ci[0]:+.3f} to {ci[1]:+.3f}); ECE {row['ECE current']:.3f} -> "
              f"{row['ECE candidate']:.3f}; {row['calls changed']} calls changed ({row['fixed']} fixed, "
              f"{row['broken']} broken)")
    print(f"worse beyond the CI on claimed labels: {', '.join(worse) or 'none'}")
    out = REPO_ROOT / "bench" / "results" / "learning_loop.json"
    out.write_text(json.dumps({
        "config": {"reviewed": args.reviewed, "epochs": args.epochs, "threads": args.threads,
                   "n_train": result.card.training["n_train"], "n_holdout": result.card.training["n_holdout"],
                   "base": result.comparison["base"], "candidate": result.card.display_name},
        "seconds": timings, "sets": rows, "worse_claimed_labels": worse,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cores": os.cpu_count(),
                    "load_average": os.getloadavg()},
    }, indent=1, default=str) + "\n")
    print(f"wrote {out}")
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
