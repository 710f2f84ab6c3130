"""Downstream tasks on a training set: demographics (age regression, sex) and any label, trained
with the same loop as pretraining (:func:`train.fit.fit` with the ``multitask`` loss), or read
off frozen features with a linear model (the standard linear-probe protocol).

A task set is a view of a :class:`TrainingSet` whose "labels" are the task targets: ages are
standardised with the *training* rows' mean and std (so one head can mix regression and
classification), unknown targets are masked out of the loss.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.special import expit
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ecgcore.model import Net1D
from train.data.shards import TrainingSet
from train.experiments import fmt_ci
from train.metrics import bootstrap_ci, percentile_ci

MAX_PLAUSIBLE_AGE = 110  # PTB-XL writes 300 for anonymised ages over 89: unknown, not 300


@dataclass(frozen=True)
class Task:
    name: str                                   # "age", "sex" or a label of the 150-label vocabulary
    kind: Literal["binary", "regression"]


AGE = Task("age", "regression")
SEX = Task("sex (female)", "binary")


def raw_targets(ts: TrainingSet, tasks: Sequence[Task]) -> np.ndarray:
    """(records, tasks) float64 targets in natural units, NaN where unknown."""
    out = np.full((len(ts), len(tasks)), np.nan)
    for k, task in enumerate(tasks):
        if task is AGE or task.name == "age":
            age = ts.meta["age"].to_numpy(dtype=np.float64)
            out[:, k] = np.where((age >= 0) & (age <= MAX_PLAUSIBLE_AGE), age, np.nan)
        elif task is SEX or task.name.startswith("sex"):
            sex = ts.meta["sex"].astype(str).str.upper()
            out[:, k] = np.select([sex == "F", sex == "M"], [1.0, 0.0], default=np.nan)
        else:
            j = ts.label_columns([task.name])[0]
            out[:, k] = np.where(ts.mask[:, j], ts.labels[:, j], np.nan)
    return out


@dataclass
class Standardizer:
    """Per-task affine map for regression targets (identity for binary ones)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, targets: np.ndarray, tasks: Sequence[Task]) -> "Standardizer":
        mean = np.zeros(len(tasks))
        std = np.ones(len(tasks))
        for k, task in enumerate(tasks):
            if task.kind == "regression":
                mean[k], std[k] = np.nanmean(targets[:, k]), np.nanstd(targets[:, k]) or 1.0
        return cls(mean, std)

    def forward(self, targets: np.ndarray) -> np.ndarray:
        return (targets - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean


def task_set(ts: TrainingSet, tasks: Sequence[Task], train_idx: np.ndarray) -> tuple[TrainingSet, Standardizer]:
    """A view of ``ts`` with the tasks as its labels (regression targets standardised on ``train_idx``)."""
    targets = raw_targets(ts, tasks)
    scaler = Standardizer.fit(targets[train_idx], tasks)
    scaled = scaler.forward(targets)
    view = copy.copy(ts)
    view.labels = np.nan_to_num(scaled).astype(np.float32)
    view.mask = np.isfinite(scaled)
    view.label_names = tuple(t.name for t in tasks)
    return view, scaler


def task_loss_options(tasks: Sequence[Task]) -> dict:
    return {"regression": [t.kind == "regression" for t in tasks]}


def outputs_to_predictions(outputs: np.ndarray, tasks: Sequence[Task], scaler: Standardizer) -> np.ndarray:
    """Raw model outputs -> natural units (years) for regression, probabilities for binary tasks."""
    out = scaler.inverse(outputs.astype(np.float64))
    for k, task in enumerate(tasks):
        if task.kind == "binary":
            out[:, k] = expit(outputs[:, k])
    return out


@torch.no_grad()
def extract_features(model: Net1D, ts: TrainingSet, idx: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Pooled backbone features (the input of the classification head), in eval mode."""
    captured: list[torch.Tensor] = []
    hook = model.dense.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].detach()))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(idx), batch_size):
            model(torch.from_numpy(ts.signals(idx[start:start + batch_size])))
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(captured).numpy() if captured else np.zeros((0, model.dense.in_features), np.float32)


def linear_probe(train_features: np.ndarray, train_targets: np.ndarray, test_features: np.ndarray,
                 tasks: Sequence[Task]) -> np.ndarray:
    """Per task a linear model on frozen features (logistic regression / ridge with CV'd alpha);
    rows with an unknown target are left out of that task's fit. Predictions in natural units."""
    out = np.full((len(test_features), len(tasks)), np.nan)
    for k, task in enumerate(tasks):
        keep = np.isfinite(train_targets[:, k])
        y = train_targets[keep, k]
        if task.kind == "binary":
            if len(np.unique(y)) < 2:
                continue
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
            clf.fit(train_features[keep], y.astype(int))
            out[:, k] = clf.predict_proba(test_features)[:, 1]
        else:
            reg = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 4, 11)))
            reg.fit(train_features[keep], y)
            out[:, k] = reg.predict(test_features)
    return out


def task_metrics(task: Task, y: np.ndarray, pred: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """AUROC for binary tasks; MAE (years) and R² for regression; bootstrap 95% CIs; known rows only."""
    keep = np.isfinite(y) & np.isfinite(pred)
    y, pred = y[keep], pred[keep]
    if task.kind == "binary":
        if len(np.unique(y)) < 2:
            return {"n": int(len(y)), "auroc": float("nan"), "auroc_ci": [float("nan")] * 2}
        value, lo, hi = bootstrap_ci(y.astype(int), pred, roc_auc_score, n_boot=n_boot, seed=seed)
        return {"n": int(len(y)), "positives": int(y.sum()), "auroc": value, "auroc_ci": [lo, hi]}
    mae, mlo, mhi = bootstrap_ci(y, pred, mean_absolute_error, n_boot=n_boot, seed=seed)
    r2, rlo, rhi = bootstrap_ci(y, pred, r2_score, n_boot=n_boot, seed=seed)
    return {"n": int(len(y)), "mae": mae, "mae_ci": [mlo, mhi], "r2": r2, "r2_ci": [rlo, rhi]}


def paired_task_difference(task: Task, y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *, n_boot: int = 1000,
                           seed: int = 0) -> dict:
    """B minus A on the same records with a paired bootstrap CI: AUROC for binary tasks, MAE
    (years; negative = B better) for regression."""
    keep = np.isfinite(y) & np.isfinite(pred_a) & np.isfinite(pred_b)
    y, a, b = y[keep], pred_a[keep], pred_b[keep]
    if task.kind == "binary":
        metric, name = (lambda t, p: roc_auc_score(t.astype(int), p)), "auroc"
    else:
        metric, name = mean_absolute_error, "mae"

    def diff(idx: np.ndarray) -> float:
        t = y[idx]
        if task.kind == "binary" and len(np.unique(t)) < 2:
            return float("nan")
        return float(metric(t, b[idx]) - metric(t, a[idx]))

    rng = np.random.default_rng(seed)
    ci = percentile_ci(np.array([diff(rng.integers(0, len(y), len(y))) for _ in range(n_boot)]))
    return {"metric": name, "diff": diff(np.arange(len(y))) if len(y) else float("nan"), "diff_ci": list(ci)}


def task_headline(task: Task, metrics: dict) -> str:
    """One task's result in words: ``MAE 10.6 (9.9–11.4) y, R² ...`` or ``AUROC 0.875 (0.842–0.905)``."""
    if task.kind == "regression":
        return f"MAE {fmt_ci(metrics['mae'], metrics['mae_ci'], 1)} y, R² {fmt_ci(metrics['r2'], metrics['r2_ci'], 2)}"
    return f"AUROC {fmt_ci(metrics['auroc'], metrics['auroc_ci'])}"
