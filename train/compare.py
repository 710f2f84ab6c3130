"""Candidate vs current model on the same records: what a person needs to decide on a promotion (issue #21).

For each comparison set (the held-out reviewed records, the reference test set no shipped model was
trained on) and each label the candidate claims:

* AUROC of both models and the paired difference candidate - current, each with a bootstrap 95% CI
  from one :func:`train.experiments.paired_bootstrap` (the same resampled records score both
  models, so the difference's CI reflects only how they differ);
* calibration: Brier score and expected calibration error (10 equal-width bins) of both;
* the records whose call changed: positive for one model and not the other, each at its own
  card's thresholds, with the reviewers' consensus beside it (fixed / broken / no consensus).

The result is a plain JSON-able dict; :func:`train.candidate.train_candidate` writes it into the
candidate's card (``metrics["comparison"]``), the Models page shows it and
:func:`db.model_registry.worse_claimed_labels` applies the refusal rule to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from ecgcore.bundle import ModelCard
from train.data.shards import TrainingSet
from train.experiments import paired_bootstrap
from train.fit import predict_probabilities

N_CALIBRATION_BINS = 10
MAX_CHANGED_CALLS = 1000  # rows kept in the card; the counts are over all of them


@dataclass(frozen=True)
class ComparisonSet:
    """Records both models are scored on: ``ts[idx]``, called ``name`` (``holdout``, ``reference``)."""

    name: str
    ts: TrainingSet
    idx: np.ndarray
    description: str = ""


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = N_CALIBRATION_BINS) -> float:
    """Mean |observed rate - mean predicted probability| over equal-width probability bins, weighted by
    the bins' record counts (0 = perfectly calibrated); NaN without records."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if y.size == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        sel = bins == b
        total += sel.sum() * abs(y[sel].mean() - p[sel].mean())
    return float(total / y.size)


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between probability and outcome (lower is better); NaN without records."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    return float(np.mean((p - y) ** 2)) if y.size else float("nan")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, recursively."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _columns(card: ModelCard, ts: TrainingSet, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    out_cols = np.array([card.labels.index(n) for n in labels], dtype=np.int64)
    return out_cols, ts.label_columns(labels)


def compare_on_set(base: nn.Module, base_card: ModelCard, candidate: nn.Module, candidate_card: ModelCard,
                   data: ComparisonSet, labels: Sequence[str], *, n_boot: int = 500,
                   seed: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(set summary, per-label rows, changed-call rows) of one comparison set; ``base`` and ``candidate``
    are networks or seed ensembles (anything returning logits)."""
    idx = np.asarray(data.idx, dtype=np.int64)
    labels = [n for n in labels if n in data.ts.label_names]
    out_cols, ds_cols = _columns(base_card, data.ts, labels)
    cand_cols = np.array([candidate_card.labels.index(n) for n in labels], dtype=np.int64)
    p_base = predict_probabilities(base, data.ts, idx)[:, out_cols] if len(idx) else np.zeros((0, len(labels)))
    p_cand = predict_probabilities(candidate, data.ts, idx)[:, cand_cols] if len(idx) else np.zeros((0, len(labels)))
    y = data.ts.labels[idx][:, ds_cols].astype(np.int64)
    mask = data.ts.mask[idx][:, ds_cols].astype(bool)
    t_base = {n: float(base_card.thresholds[c]) for n, c in zip(labels, out_cols)}
    t_cand = {n: float(candidate_card.thresholds[c]) for n, c in zip(labels, cand_cols)}
    rows, skipped = [], []
    for j, label in enumerate(labels):
        keep = mask[:, j]
        t = y[keep, j]
        if t.size == 0 or t.min() == t.max():
            skipped.append(label)
            continue
        # one bootstrap gives both models' CIs and the paired difference's (same resampled records)
        paired = paired_bootstrap(y[:, [j]], mask[:, [j]], [p_base[:, [j]]], [p_cand[:, [j]]], n_boot=n_boot,
                                  seed=seed + j)
        rows.append({"set": data.name, "label": label, "n": int(t.size), "positives": int(t.sum()),
                     "auroc_base": paired.a, "auroc_base_ci": list(paired.a_ci),
                     "auroc_candidate": paired.b, "auroc_candidate_ci": list(paired.b_ci),
                     "diff": paired.diff, "diff_ci": list(paired.diff_ci),
                     "brier_base": brier_score(t, p_base[keep, j]), "brier_candidate": brier_score(t, p_cand[keep, j]),
                     "ece_base": expected_calibration_error(t, p_base[keep, j]),
                     "ece_candidate": expected_calibration_error(t, p_cand[keep, j])})
    changed = changed_calls(data, idx, labels, p_base, p_cand, y, mask,
                            np.array([t_base[n] for n in labels]), np.array([t_cand[n] for n in labels]))
    summary: dict[str, Any] = {"name": data.name, "description": data.description, "n_records": len(idx),
                               "n_labels_scored": len(rows), "not_scored": skipped,
                               "n_changed_calls": len(changed),
                               "n_calls_fixed": sum(r["outcome"] == "fixed" for r in changed),
                               "n_calls_broken": sum(r["outcome"] == "broken" for r in changed)}
    if rows:
        scored = [labels.index(r["label"]) for r in rows]
        macro = paired_bootstrap(y[:, scored], mask[:, scored], [p_base[:, scored]], [p_cand[:, scored]],
                                 n_boot=n_boot, seed=seed)
        summary.update(macro_auroc_base=macro.a, macro_auroc_base_ci=list(macro.a_ci),
                       macro_auroc_candidate=macro.b, macro_auroc_candidate_ci=list(macro.b_ci),
                       macro_diff=macro.diff, macro_diff_ci=list(macro.diff_ci),
                       brier_base=float(np.mean([r["brier_base"] for r in rows])),
                       brier_candidate=float(np.mean([r["brier_candidate"] for r in rows])),
                       ece_base=float(np.mean([r["ece_base"] for r in rows])),
                       ece_candidate=float(np.mean([r["ece_candidate"] for r in rows])))
    return summary, rows, changed


def changed_calls(data: ComparisonSet, idx: np.ndarray, labels: Sequence[str], p_base: np.ndarray,
                  p_cand: np.ndarray, y: np.ndarray, mask: np.ndarray, t_base: np.ndarray,
                  t_cand: np.ndarray) -> list[dict[str, Any]]:
    """One row per (record, label) whose call differs between the models, each at its own thresholds.

    ``outcome``: ``fixed`` (the candidate now agrees with the consensus), ``broken`` (it no longer
    does), ``no consensus`` (the label is not known for the record)."""
    call_base, call_cand = p_base >= t_base, p_cand >= t_cand
    rows = []
    for i, j in zip(*np.nonzero(call_base != call_cand)):
        known = bool(mask[i, j])
        outcome = ("fixed" if bool(call_cand[i, j]) == bool(y[i, j]) else "broken") if known else "no consensus"
        rows.append({"set": data.name, "record": str(data.ts.meta["record_id"].iloc[idx[i]]), "label": labels[j],
                     "probability_base": float(p_base[i, j]), "probability_candidate": float(p_cand[i, j]),
                     "call_base": bool(call_base[i, j]), "call_candidate": bool(call_cand[i, j]),
                     "consensus": int(y[i, j]) if known else None, "outcome": outcome})
    return rows


def compare_models(base: nn.Module, base_card: ModelCard, candidate: nn.Module, candidate_card: ModelCard,
                   sets: Sequence[ComparisonSet], *, n_boot: int = 500, seed: int = 0) -> dict[str, Any]:
    """The comparison over every set, on the labels the candidate claims (its ``trained_labels``)."""
    labels = [n for n in candidate_card.trained_labels if n in base_card.labels]
    summaries, per_label, changed = {}, [], []
    for data in sets:
        summary, rows, calls = compare_on_set(base, base_card, candidate, candidate_card, data, labels,
                                              n_boot=n_boot, seed=seed)
        summaries[data.name] = summary
        per_label += rows
        changed += calls
    return _clean({"base": {"name": base_card.name, "version": base_card.version,
                            "weights_sha256": base_card.weights_sha256},
                   "claimed_labels": labels, "n_boot": n_boot, "sets": summaries, "per_label": per_label,
                   "n_changed_calls": len(changed), "changed_calls": changed[:MAX_CHANGED_CALLS]})


def comparison_table(comparison: dict[str, Any]) -> pd.DataFrame:
    """Per-label rows for display: set, label, n, positives, AUROC of both with CIs, the paired
    difference with its CI, Brier and ECE of both (worst difference first)."""
    rows = []
    for r in comparison.get("per_label", []):
        rows.append({"set": r["set"], "label": r["label"], "n": r["n"], "positives": r["positives"],
                     "AUROC current": r["auroc_base"], "AUROC candidate": r["auroc_candidate"],
                     "difference": r["diff"], "difference 95% CI": _fmt_ci(r["diff_ci"], signed=True),
                     "current 95% CI": _fmt_ci(r["auroc_base_ci"]), "candidate 95% CI": _fmt_ci(r["auroc_candidate_ci"]),
                     "Brier current": r["brier_base"], "Brier candidate": r["brier_candidate"],
                     "ECE current": r["ece_base"], "ECE candidate": r["ece_candidate"]})
    frame = pd.DataFrame(rows)
    return frame.sort_values(["set", "difference"], ignore_index=True) if len(frame) else frame


def _fmt_ci(ci: Sequence[float | None] | None, *, signed: bool = False) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"{ci[0]:+.3f} to {ci[1]:+.3f}" if signed else f"{ci[0]:.3f}-{ci[1]:.3f}"
