"""Experiment 4 (issue #7, optional): does contrastive pretraining improve the linear probe?

One command: ``python scripts/run_experiment.py contrastive`` (about 15 min on 2 CPU cores), after
``downstream`` (its table is the comparison). Per patient-disjoint CV fold: SimCLR pretraining
(:mod:`train.contrastive`, no labels) on the training folds, then the same linear probes, tasks,
data fractions and subsamples as the downstream experiment, scored out-of-fold.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from train.contrastive import ContrastiveConfig, fit_contrastive
from train.data import ensure_dataset
from train.data.shards import TrainingSet
from train.experiments import cv_splits, fmt_ci, run_jobs, subsample, write_experiment_report
from train.recipes import downstream
from train.tasks import extract_features, linear_probe, raw_targets, task_metrics

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
EPOCHS = 20
RECIPE = ContrastiveConfig(out_dir="", model="net1d-small-12lead", epochs=EPOCHS, seed=20261125, progress=False)


@dataclass(frozen=True)
class Job:
    dataset: str
    work: str
    fold: int
    epochs: int


def run_job(job: Job) -> dict[tuple[float, int], np.ndarray]:
    """Pretrain one fold, then probe every (fraction, subsample); returns held-out predictions."""
    ts = TrainingSet(job.dataset)
    train_idx, held = cv_splits(ts)[job.fold]
    model = fit_contrastive(replace(RECIPE, out_dir=str(Path(job.work) / f"simclr-f{job.fold}"), epochs=job.epochs),
                            ts, train_idx)
    targets = raw_targets(ts, downstream.TASKS)
    held_features = extract_features(model, ts, held)
    out = {}
    for fraction in downstream.FRACTIONS:
        for s in downstream.SUBSAMPLES[fraction]:
            idx = subsample(train_idx, fraction, seed=100 * job.fold + s)   # the downstream recipe's subsamples
            out[(fraction, s)] = linear_probe(extract_features(model, ts, idx), targets[idx], held_features,
                                              downstream.TASKS)
    return out


def run(*, work: Path = REPO / "artifacts" / "contrastive", docs: Path = REPO / "docs" / "experiments",
        data_dir: Path = REPO / "data" / "local" / "shared-12lead", shared: Path = SHARED, epochs: int = EPOCHS,
        workers: int | None = None, n_boot: int = 1000, log=print, **_ignored) -> dict:
    t0 = time.time()
    ts = ensure_dataset("shared", shared, data_dir)
    splits = cv_splits(ts)
    jobs = [Job(str(ts.path), str(work), k, epochs) for k in range(len(splits))]
    log(f"SimCLR pretraining + linear probes on {len(jobs)} folds")
    per_fold = run_jobs(run_job, jobs, workers=workers, desc="contrastive")
    held = np.concatenate([h for _, h in splits])
    y = raw_targets(ts, downstream.TASKS)[held]
    results: dict[str, Any] = {"tasks": [t.name for t in downstream.TASKS], "epochs": epochs,
                               "config": RECIPE.to_dict() | {"out_dir": None}, "n_records": int(len(held)), "rows": []}
    for fraction in downstream.FRACTIONS:
        subs = downstream.SUBSAMPLES[fraction]
        pred = np.mean([np.concatenate([fold[(fraction, s)] for fold in per_fold]) for s in subs], axis=0)
        row = {"fraction": fraction, "method": "contrastive probe", "subsamples": len(subs)}
        for k, task in enumerate(downstream.TASKS):
            row[task.name] = task_metrics(task, y[:, k], pred[:, k], n_boot=n_boot)
        results["rows"].append(row)
        log(f"{int(fraction * 100)}% contrastive probe: " + ", ".join(
            f"{t.name} {downstream._headline(t, row[t.name])}" for t in downstream.TASKS))
    results["minutes"] = (time.time() - t0) / 60
    reference = docs / "downstream.json"
    others = json.loads(reference.read_text())["rows"] if reference.is_file() else []
    write_experiment_report(docs, "contrastive", results, report(results, others))
    log(f"done in {results['minutes']:.0f} min")
    return results


def report(results: dict, downstream_rows: list[dict]) -> str:
    tasks = downstream.TASKS
    lines = ["## 4. Contrastive pretraining (SimCLR) and the linear probe", "",
             f"SimCLR on each fold's training records (no labels, {results['epochs']} epochs, NT-Xent, temperature "
             f"{results['config']['temperature']}, stronger augmentation), then the downstream experiment's linear "
             "probes on the same folds, fractions and subsamples; out-of-fold, 95% bootstrap CIs.", "",
             "| data | features | age MAE (years) | age R² | " + " | ".join(
                 f"{t.name.lower()} AUROC" for t in tasks[1:]) + " |", "|---|---|" + "---|" * (len(tasks) + 1)]
    rows = [r for r in downstream_rows if r["method"] in ("linear probe", "random-init probe")] + results["rows"]
    names = {"linear probe": "supervised pretraining", "random-init probe": "random init",
             "contrastive probe": "contrastive pretraining"}
    for row in sorted(rows, key=lambda r: (r["fraction"], r["method"])):
        age = row["age"]
        cells = [fmt_ci(age["mae"], age["mae_ci"], 1), fmt_ci(age["r2"], age["r2_ci"], 2)]
        cells += [fmt_ci(row[t.name]["auroc"], row[t.name]["auroc_ci"]) for t in tasks[1:]]
        lines.append(f"| {int(row['fraction'] * 100)}% | {names[row['method']]} | " + " | ".join(cells) + " |")
    return "\n".join(lines + [""])
