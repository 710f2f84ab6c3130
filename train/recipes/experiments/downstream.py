"""Experiment 3 (issue #7): does pretraining help downstream tasks? Linear probe vs fine-tuning vs
training from scratch, at 10% and 100% of the training records.

One command: ``python -m train recipe run downstream`` (about 30 min on 2 CPU cores).

- Tasks: age (regression: MAE, R²), sex (AUROC) and LEFT VENTRICULAR HYPERTROPHY (AUROC), a
  diagnosis held out of pretraining (together with its sibling VOLTAGE CRITERIA FOR LVH).
- Per patient-disjoint CV fold over PTB-XL (as for the default model): pretrain the small Net1D
  on the training folds' diagnoses (the default labels minus the LVH pair), then on the same
  training folds' task targets, with 100% or a random 10% of them (two subsamples):
  * linear probe: logistic / ridge regression on the frozen pretrained features;
  * random-init probe: the same on the features of the untrained network (the control that says
    whether the *pretraining* helps the probe: random convolutions alone are a strong baseline,
    cf. ROCKET);
  * fine-tune: the pretrained bundle, new 3-output head, all weights trained;
  * scratch: the same network from random weights, the same epochs and schedule.
  All scored out-of-fold on the held-out PTB-XL folds; bootstrap 95% CIs over records.
Pretraining here uses the *same* records' diagnoses (there is no other labelled data), so this
measures transfer from diagnosis labels to new tasks, not the paper's 10-million-ECG scale.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecgcore.bundle import load_bundle
from ecgcore.model import create_model
from train.data import ensure_dataset
from train.data.shards import TrainingSet
from train.experiments import cv_splits, fmt_ci, fmt_diff, run_jobs, subsample, write_experiment_report
from train.fit import FitConfig, fit, predict_outputs, select_labels
from train.paths import ARTIFACTS_DIR, EXPERIMENT_DOCS_DIR, LOCAL_DATA_DIR, SHARED_DATA_DIR
from train.recipes.presets import fit_preset
from train.tasks import (
    AGE,
    SEX,
    Task,
    extract_features,
    linear_probe,
    outputs_to_predictions,
    paired_task_difference,
    raw_targets,
    task_headline,
    task_loss_options,
    task_metrics,
    task_set,
)

logger = logging.getLogger(__name__)

HELD_OUT_LABEL = "LEFT VENTRICULAR HYPERTROPHY"
METHODS = ("linear probe", "random-init probe", "fine-tune", "scratch")
COMPARISONS = (("scratch", "fine-tune"), ("random-init probe", "linear probe"))  # (A, B): is B better?


@dataclass(frozen=True)
class Settings:
    pretrain: FitConfig                       # pretraining on the diagnoses; also the tasks' fits (same schedule)
    tasks: tuple[Task, ...]
    excluded_from_pretraining: tuple[str, ...]
    fractions: tuple[float, ...]              # of each fold's training records
    subsamples: dict[float, tuple[int, ...]]  # random subsamples per fraction (predictions averaged)
    task_epochs: dict[float, int]             # per fraction
    finetune_lr: float                        # scratch keeps pretrain.lr
    n_boot: int

    def with_epochs(self, epochs: int) -> "Settings":
        """Every stage's epochs (testing)."""
        return replace(self, pretrain=replace(self.pretrain, epochs=epochs),
                       task_epochs={f: epochs for f in self.task_epochs})


SETTINGS = Settings(
    pretrain=replace(fit_preset("net1d-small-12lead"), bundle_name="pretrained-no-lvh"),
    tasks=(AGE, SEX, Task(HELD_OUT_LABEL, "binary")),
    excluded_from_pretraining=(HELD_OUT_LABEL, "VOLTAGE CRITERIA FOR LEFT VENTRICULAR HYPERTROPHY"),
    fractions=(0.1, 1.0),
    subsamples={0.1: (0, 1), 1.0: (0,)},
    task_epochs={1.0: 15, 0.1: 45},           # 3x the epochs on 10% of the data: still 30% of the steps
    finetune_lr=1e-3,
    n_boot=1000,
)


@dataclass(frozen=True)
class Job:
    dataset: str
    work: str
    settings: Settings
    fold: int
    method: str                          # "pretrain" or one of METHODS
    epochs: int
    fraction: float = 1.0
    subsample: int = 0
    labels: tuple[str, ...] = ()         # pretraining labels


def _pretrained_dir(work: str, fold: int) -> Path:
    return Path(work) / f"pretrain-f{fold}"


def run_job(job: Job) -> Any:
    settings, tasks = job.settings, job.settings.tasks
    pretrain = settings.pretrain
    ts = TrainingSet(job.dataset)
    train_idx, held = cv_splits(ts)[job.fold]
    if job.method == "pretrain":
        config = replace(pretrain, out_dir=str(_pretrained_dir(job.work, job.fold)), labels=list(job.labels),
                         epochs=job.epochs)
        fit(config, ts, train_idx, None)
        return None
    train_idx = subsample(train_idx, job.fraction, seed=100 * job.fold + job.subsample)
    if job.method in ("linear probe", "random-init probe"):
        if job.method == "linear probe":
            model = load_bundle(_pretrained_dir(job.work, job.fold) / "bundle").model
        else:
            torch.manual_seed(pretrain.seed + job.fold)
            model = create_model(pretrain.model, n_classes=len(job.labels) or 1)
        targets = raw_targets(ts, tasks)
        return linear_probe(extract_features(model, ts, train_idx), targets[train_idx],
                            extract_features(model, ts, held), tasks)
    view, scaler = task_set(ts, tasks, train_idx)
    out = Path(job.work) / f"{job.method.replace(' ', '-')}-p{int(job.fraction * 100)}-s{job.subsample}-f{job.fold}"
    config = replace(pretrain, out_dir=str(out), labels=[t.name for t in tasks], epochs=job.epochs,
                     loss="multitask", loss_options=task_loss_options(tasks), bundle_name=f"downstream-{job.method}",
                     init=str(_pretrained_dir(job.work, job.fold) / "bundle") if job.method == "fine-tune" else None,
                     lr=settings.finetune_lr if job.method == "fine-tune" else pretrain.lr)
    result = fit(config, view, train_idx, None)
    return outputs_to_predictions(predict_outputs(result.model, view, held), tasks, scaler)


def run(settings: Settings = SETTINGS, *, work: Path = ARTIFACTS_DIR / "downstream", docs: Path = EXPERIMENT_DOCS_DIR,
        data_dir: Path = LOCAL_DATA_DIR / "shared-12lead", shared: Path = SHARED_DATA_DIR,
        workers: int | None = None) -> dict:
    t0 = time.time()
    tasks, fractions, subsamples, n_boot = settings.tasks, settings.fractions, settings.subsamples, settings.n_boot
    ts = ensure_dataset("shared", shared, data_dir)
    labels = [n for n in select_labels(ts, np.arange(len(ts)), settings.pretrain.min_positives)
              if n not in settings.excluded_from_pretraining]
    splits = cv_splits(ts)
    folds = range(len(splits))
    pre = [Job(str(ts.path), str(work), settings, k, "pretrain", settings.pretrain.epochs, labels=tuple(labels))
           for k in folds]
    logger.info("pretraining %d folds on %d labels (without %s)", len(pre), len(labels),
                ", ".join(settings.excluded_from_pretraining))
    run_jobs(run_job, pre, workers=workers, desc="pretrain")
    jobs = [Job(str(ts.path), str(work), settings, k, method, settings.task_epochs[fraction], fraction, s)
            for fraction in fractions for s in subsamples[fraction] for method in METHODS for k in folds]
    logger.info("%d downstream runs", len(jobs))
    preds = run_jobs(run_job, jobs, workers=workers, desc="downstream")

    held = np.concatenate([h for _, h in splits])
    y = raw_targets(ts, tasks)[held]
    results: dict[str, Any] = {"tasks": [t.name for t in tasks], "pretraining_labels": labels,
                               "n_records": int(len(held)), "fractions": list(fractions),
                               "epochs": {"pretrain": settings.pretrain.epochs,
                                          **{f"{int(f * 100)}%": settings.task_epochs[f] for f in fractions}},
                               "n_train_per_fold": {f"{int(f * 100)}%": int(np.mean(
                                   [len(subsample(tr, f, 0)) for tr, _ in splits])) for f in fractions},
                               "rows": []}
    pooled: dict[tuple[float, str], np.ndarray] = {}
    for fraction in fractions:
        for method in METHODS:
            per_sub = []
            for s in subsamples[fraction]:
                parts = [p for j, p in zip(jobs, preds) if (j.method, j.fraction, j.subsample) == (method, fraction, s)]
                per_sub.append(np.concatenate(parts))
            pred = np.mean(per_sub, axis=0)  # subsample-averaged predictions (one subsample at 100%)
            pooled[(fraction, method)] = pred
            row = {"fraction": fraction, "method": method, "subsamples": len(per_sub)}
            row["n_train_per_fold"] = results["n_train_per_fold"][f"{int(fraction * 100)}%"]
            for k, task in enumerate(tasks):
                row[task.name] = task_metrics(task, y[:, k], pred[:, k], n_boot=n_boot)
                if len(per_sub) > 1:
                    row[task.name]["per_subsample"] = [task_metrics(task, y[:, k], p[:, k], n_boot=200)
                                                       for p in per_sub]
            results["rows"].append(row)
            logger.info(f"{int(fraction * 100)}% {method}: " + ", ".join(
                f"{t.name} {task_headline(t, row[t.name])}" for t in tasks))
    results["differences"] = []
    for fraction in fractions:
        for a, b in COMPARISONS:
            for k, task in enumerate(tasks):
                d = paired_task_difference(task, y[:, k], pooled[(fraction, a)][:, k], pooled[(fraction, b)][:, k],
                                           n_boot=n_boot)
                results["differences"].append({"fraction": fraction, "a": a, "b": b, "task": task.name, **d})
    results["minutes"] = (time.time() - t0) / 60
    write_experiment_report(docs, "downstream", results, report(results), _plot)
    logger.info("done in %.0f min", results["minutes"])
    return results


def report(results: dict) -> str:
    tasks = [Task(n, "regression" if n == "age" else "binary") for n in results["tasks"]]
    n_train = results["n_train_per_fold"]
    lines = ["## 3. Downstream tasks: linear probe vs fine-tuning vs training from scratch", "",
             f"Out-of-fold over {results['n_records']} PTB-XL records (patient-disjoint 5-fold CV). Training records "
             f"per fold: {n_train['100%']} (100%) or {n_train['10%']} (10%, two random subsamples, predictions "
             f"averaged). Epochs: pretraining {results['epochs']['pretrain']}, tasks {results['epochs']['100%']} "
             f"(100%) / {results['epochs']['10%']} (10%). Pretrained on the training folds' diagnoses without "
             f"{results['tasks'][-1]}. 95% bootstrap CIs over records.", "",
             "| data | method | " + " | ".join(
                 ("age MAE (years) | age R²" if t.kind == "regression" else f"{t.name.lower()} AUROC") for t in tasks)
             + " |", "|---|---|" + "---|" * (len(tasks) + 1)]
    for row in results["rows"]:
        cells = []
        for t in tasks:
            m = row[t.name]
            if t.kind == "regression":
                cells += [fmt_ci(m["mae"], m["mae_ci"], 1), fmt_ci(m["r2"], m["r2_ci"], 2)]
            else:
                cells.append(fmt_ci(m["auroc"], m["auroc_ci"]))
        lines.append(f"| {int(row['fraction'] * 100)}% | {row['method']} | " + " | ".join(cells) + " |")
    if results.get("differences"):
        lines += ["", "Does pretraining help? Paired differences on the same held-out records (bootstrap 95% CI): "
                  "AUROC B − A (positive = pretraining better), age MAE B − A in years (negative = pretraining better).",
                  "", "| data | B − A | " + " | ".join(
                      "age MAE" if t.kind == "regression" else f"{t.name.lower()} AUROC" for t in tasks) + " |",
                  "|---|---|" + "---|" * len(tasks)]
        for fraction in results["fractions"]:
            for a, b in COMPARISONS:
                rows = {d["task"]: d for d in results["differences"]
                        if d["fraction"] == fraction and (d["a"], d["b"]) == (a, b)}
                cells = [fmt_diff(rows[t.name]["diff"], rows[t.name]["diff_ci"], 1 if t.kind == "regression" else 3)
                         for t in tasks]
                lines.append(f"| {int(fraction * 100)}% | {b} − {a} | " + " | ".join(cells) + " |")
    lines += ["", "![downstream](downstream.png)", ""]
    return "\n".join(lines)


def _plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("age", "mae", "age MAE (years, lower is better)")] + [
        (n, "auroc", f"{n.lower()[:30]} AUROC") for n in results["tasks"][1:]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    for ax, (task, key, title) in zip(axes, panels):
        for i, method in enumerate(METHODS):
            rows = [r for r in results["rows"] if r["method"] == method]
            x = np.arange(len(rows)) + (i - 1.5) * 0.18
            vals = np.array([r[task][key] for r in rows])
            ci = np.array([r[task][f"{key}_ci"] for r in rows])
            ax.errorbar(x, vals, yerr=[vals - ci[:, 0], ci[:, 1] - vals], fmt="o", capsize=3, label=method)
        ax.set_xticks(range(len(results["fractions"])), [f"{int(f * 100)}% data" for f in results["fractions"]])
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
