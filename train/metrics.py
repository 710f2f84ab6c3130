"""Per-label metrics over a known-label mask: AUROC, AUPRC, bootstrap CIs, thresholds, macro/micro."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score


def _valid(y: np.ndarray, keep: np.ndarray) -> bool:
    t = y[keep]
    return t.size > 0 and 0 < t.sum() < t.size


def _per_label(metric, y: np.ndarray, scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    mask = np.ones_like(y, bool) if mask is None else mask.astype(bool)
    out = np.full(y.shape[1], np.nan)
    for j in range(y.shape[1]):
        if _valid(y[:, j], mask[:, j]):
            out[j] = metric(y[mask[:, j], j], scores[mask[:, j], j])
    return out


def per_label_auroc(y: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """AUROC per column over known rows; NaN where a label lacks positives or negatives."""
    return _per_label(roc_auc_score, y, scores, mask)


def macro_auroc(y: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean AUROC over labels that have positives and negatives (NaN if none)."""
    values = per_label_auroc(y, scores, mask)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def micro_auroc(y: np.ndarray, scores: np.ndarray, mask: np.ndarray | None = None,
                columns: np.ndarray | None = None) -> float:
    """AUROC of all known (record, label) pairs pooled, over ``columns`` (default: all)."""
    mask = np.ones_like(y, bool) if mask is None else mask.astype(bool)
    cols = np.arange(y.shape[1]) if columns is None else columns
    keep = mask[:, cols]
    t, s = y[:, cols][keep], scores[:, cols][keep]
    return float(roc_auc_score(t, s)) if 0 < t.sum() < t.size else float("nan")


def micro_auprc(y, scores, mask=None, columns=None) -> float:
    mask = np.ones_like(y, bool) if mask is None else mask.astype(bool)
    cols = np.arange(y.shape[1]) if columns is None else columns
    keep = mask[:, cols]
    t, s = y[:, cols][keep], scores[:, cols][keep]
    return float(average_precision_score(t, s)) if 0 < t.sum() < t.size else float("nan")


def bootstrap_ci(y: np.ndarray, scores: np.ndarray, metric=roc_auc_score, *, n_boot: int = 1000,
                 seed: int = 0, alpha: float = 0.05) -> tuple[float, float, float]:
    """(point, low, high): percentile bootstrap over records; resamples with one class are redrawn."""
    y = np.asarray(y)
    scores = np.asarray(scores)
    point = float(metric(y, scores))
    rng = np.random.default_rng(seed)
    n = len(y)
    values = []
    attempts = 0
    while len(values) < n_boot and attempts < 20 * n_boot:
        attempts += 1
        idx = rng.integers(0, n, n)
        t = y[idx]
        if t.min() == t.max():
            continue
        values.append(metric(t, scores[idx]))
    return (point, *percentile_ci(np.array(values, dtype=float), alpha))


def bootstrap_macro_ci(y: np.ndarray, scores: np.ndarray, mask: np.ndarray, columns: np.ndarray, *,
                       n_boot: int = 500, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """CI of the macro AUROC over ``columns`` (records resampled jointly for all labels)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        v = per_label_auroc(y[idx][:, columns], scores[idx][:, columns], mask[idx][:, columns])
        if np.isfinite(v).any():
            values.append(np.nanmean(v))
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def choose_threshold(y: np.ndarray, scores: np.ndarray, method: str = "f1") -> float:
    """Decision threshold for one label from (validation) data: max F1 (default) or Youden's J."""
    y = np.asarray(y).astype(bool)
    if y.size == 0 or y.all() or not y.any():
        return 0.5
    candidates = np.unique(scores)
    best, best_t = -1.0, 0.5
    for t in candidates:
        pred = scores >= t
        tp = np.sum(pred & y)
        fp = np.sum(pred & ~y)
        fn = np.sum(~pred & y)
        tn = np.sum(~pred & ~y)
        if method == "youden":
            value = tp / (tp + fn) + tn / (tn + fp) - 1
        else:
            value = 2 * tp / max(2 * tp + fp + fn, 1)
        if value > best:
            best, best_t = value, float(t)
    return best_t


def confusion_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    return decision_metrics(y, np.asarray(scores) >= threshold)


def decision_metrics(y: np.ndarray, decided: np.ndarray) -> dict[str, float]:
    """Sensitivity, specificity, F1 and the four counts of binary decisions against outcomes ``y``."""
    y = np.asarray(y).astype(bool)
    pred = np.asarray(decided).astype(bool)
    tp, fp = int(np.sum(pred & y)), int(np.sum(pred & ~y))
    fn, tn = int(np.sum(~pred & y)), int(np.sum(~pred & ~y))
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else float("nan")
    return {"sensitivity": sens, "specificity": spec, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def fast_auroc(y: np.ndarray, scores: np.ndarray) -> float:
    """AUROC by the Mann-Whitney rank sum (ties averaged): sklearn's value, without its per-call cost,
    which dominates a bootstrap of thousands of small resamples."""
    y = np.asarray(y).astype(bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    ranks = rankdata(scores)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fast_average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    """sklearn's average precision (step-wise, one point per distinct score) in a few numpy calls."""
    y = np.asarray(y).astype(bool)
    order = np.argsort(-np.asarray(scores), kind="stable")
    s, t = np.asarray(scores)[order], y[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(t)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def percentile_ci(values: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """The central ``1 - alpha`` percentile interval of bootstrap ``values``, ignoring NaNs (resamples
    where the statistic is undefined, e.g. a label with no positives drawn); NaNs if none is left."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan"), float("nan")
    return float(np.percentile(values, 100 * alpha / 2)), float(np.percentile(values, 100 * (1 - alpha / 2)))


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """(proportion, low, high): the Wilson score interval of ``k`` successes in ``n`` (scipy); NaNs when n == 0.

    Wilson rather than the normal approximation because rates near 0 or 1 on a few dozen records
    (a rare label's sensitivity, a detector's specificity) are exactly where the latter fails.
    """
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return k / n, float(ci.low), float(ci.high)
