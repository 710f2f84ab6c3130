"""Experiment 4 (issue #7, optional): does contrastive pretraining improve the linear probe?

One command: ``python -m train recipe run contrastive`` (about 15 min on 2 CPU cores), after
``downstream`` (its table is the comparison). Per patient-disjoint CV fold: SimCLR pretraining
(:mod:`train.contrastive`, no labels) on the training folds, then the same linear probes, tasks,
data fractions and subsamples as the downstream experiment (its own settings, held equal to the
downstream experiment's by a test, so the two tables compare like with like), scored out-of-fold.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from train.contrastive import CONTRASTIVE_AUGMENT, ContrastiveConfig, fit_contrastive
from train.data import ensure_dataset
from train.data.shards import TrainingSet
from train.experiments import cv_splits, fmt_ci, run_jobs, subsample, write_experiment_report
from train.paths import ARTIFACTS_DIR, EXPERIMENT_DOCS_DIR, LOCAL_DATA_DIR, SHARED_DATA_DIR
from train.tasks import AGE, SEX, Task, extract_features, linear_probe, raw_targets, task_headline, task_metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    pretrain: ContrastiveConfig                 # SimCLR pretraining per fold
    tasks: tuple[Task, ...]                     # the linear probes: the downstream experiment's tasks,
    fractions: tuple[float, ...]                # fractions of the training records
    subsamples: dict[float, tuple[int, ...]]    # and subsamples
    n_boot: int

    def with_epochs(self, epochs: int) -> "Settings":
        return replace(self, pretrain=replace(self.pretrain, epochs=epochs))


SETTINGS = Settings(
    pretrain=ContrastiveConfig(out_dir="", model="net1d-small-12lead", projection_dim=64, temperature=0.1, epochs=20,
                               batch_size=32, lr=3e-3, weight_decay=0.05, seed=20261125, augment=CONTRASTIVE_AUGMENT,
                               num_threads=1, progress=False),
    tasks=(AGE, SEX, Task("LEFT VENTRICULAR HYPERTROPHY", "binary")),
    fractions=(0.1, 1.0),
    subsamples={0.1: (0, 1), 1.0: (0,)},
    n_boot=1000,
)


@dataclass(frozen=True)
class Job:
    dataset: str
    work: str
    settings: Settings
    fold: int


def run_job(job: Job) -> dict[tuple[float, int], np.ndarray]:
    """Pretrain one fold, then probe every (fraction, subsample); returns held-out predictions."""
    settings, tasks = job.settings, job.settings.tasks
    ts = TrainingSet(job.dataset)
    train_idx, held = cv_splits(ts)[job.fold]
    model = fit_contrastive(replace(settings.pretrain, out_dir=str(Path(job.work) / f"simclr-f{job.fold}")),
                            ts, train_idx)
    targets = raw_targets(ts, tasks)
    held_features = extract_features(model, ts, held)
    out = {}
    for fraction in settings.fractions:
        for s in settings.subsamples[fraction]:
            idx = subsample(train_idx, fraction, seed=100 * job.fold + s)   # the downstream recipe's subsamples
            out[(fraction, s)] = linear_probe(extract_features(model, ts, idx), targets[idx], held_features, tasks)
    return out


def run(settings: Settings = SETTINGS, *, work: Path = ARTIFACTS_DIR / "contrastive", docs: Path = EXPERIMENT_DOCS_DIR,
        data_dir: Path = LOCAL_DATA_DIR / "shared-12lead", shared: Path = SHARED_DATA_DIR,
        workers: int | None = None) -> dict:
    t0 = time.time()
    tasks = settings.tasks
    ts = ensure_dataset("shared", shared, data_dir)
    splits = cv_splits(ts)
    jobs = [Job(str(ts.path), str(work), settings, k) for k in range(len(splits))]
    logger.info("SimCLR pretraining + linear probes on %d folds", len(jobs))
    per_fold = run_jobs(run_job, jobs, workers=workers, desc="contrastive")
    held = np.concatenate([h for _, h in splits])
    y = raw_targets(ts, tasks)[held]
    results: dict[str, Any] = {"tasks": [t.name for t in tasks], "epochs": settings.pretrain.epochs,
                               "config": settings.pretrain.to_dict() | {"out_dir": None}, "n_records": int(len(held)),
                               "rows": []}
    for fraction in settings.fractions:
        subs = settings.subsamples[fraction]
        pred = np.mean([np.concatenate([fold[(fraction, s)] for fold in per_fold]) for s in subs], axis=0)
        row = {"fraction": fraction, "method": "contrastive probe", "subsamples": len(subs)}
        for k, task in enumerate(tasks):
            row[task.name] = task_metrics(task, y[:, k], pred[:, k], n_boot=settings.n_boot)
        results["rows"].append(row)
        logger.info(f"{int(fraction * 100)}% contrastive probe: " + ", ".join(
            f"{t.name} {task_headline(t, row[t.name])}" for t in tasks))
    results["minutes"] = (time.time() - t0) / 60
    reference = docs / "downstream.json"
    others = json.loads(reference.read_text())["rows"] if reference.is_file() else []
    write_experiment_report(docs, "contrastive", results, report(results, others))
    logger.info("done in %.0f min", results["minutes"])
    return results


def report(results: dict, downstream_rows: list[dict]) -> str:
    tasks = [Task(n, "regression" if n == "age" else "binary") for n in results["tasks"]]
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
