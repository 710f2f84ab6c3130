"""The threshold policy: how a label's decision threshold is chosen, and when a label gets none.

Why not Youden's J or plain max F1: on a few positives both pick a threshold that over-calls (the
first real upload of a hospital ECG got eight positives, premature ventricular complexes at
p = 0.08 against 0.05). A cardiologist reads a positive as a claim; the policy keeps false claims
rare first and finds as many true ones as it can within that limit:

1. A label with fewer than ``min_positives`` positives in the evaluation gets **no threshold**: it is
   never shown as positive (the card says why; :func:`ecgcore.consistency.validated_labels` applies
   the same count, :data:`ecgcore.consistency.MIN_POSITIVES`).
2. Otherwise the threshold maximises F1 among the thresholds whose specificity on the evaluation's
   negatives is at least ``min_specificity`` (0.90: at most one false call per ten records without
   the finding). If no threshold reaches it, the label gets no threshold.
3. Thresholds are chosen on calibrated out-of-fold probabilities (:mod:`ecgcore.calibration`), so a
   threshold is a probability a reader can interpret.

The sensitivity and specificity a card reports at a threshold are *cross-fitted* (each CV group
decided with a threshold chosen on the other groups) with Wilson 95 % intervals
(:func:`decision_rates`), because rates measured on the records the threshold was tuned on flatter it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ecgcore.consistency import MIN_POSITIVES
from train.metrics import decision_metrics, wilson_interval


@dataclass(frozen=True)
class ThresholdPolicy:
    """The one table of the policy's numbers (see the module docstring)."""

    min_positives: int = MIN_POSITIVES
    min_specificity: float = 0.90

    def describe(self) -> str:
        return (f"max F1 among thresholds with specificity >= {self.min_specificity:.2f} on the out-of-fold negatives "
                f"(calibrated probabilities); no threshold, never shown positive, for labels with < "
                f"{self.min_positives} positives or none reaching that specificity")

    def to_dict(self) -> dict:
        return {**asdict(self), "rule": self.describe()}


POLICY = ThresholdPolicy()


@dataclass(frozen=True)
class ThresholdChoice:
    """A label's threshold, or ``None`` with the reason it has none."""

    threshold: float | None
    reason: str


def choose_policy_threshold(y: np.ndarray, p: np.ndarray, policy: ThresholdPolicy = POLICY) -> ThresholdChoice:
    """Apply ``policy`` to one label's outcomes ``y`` (0/1) and probabilities ``p``."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"y and p must be 1-D of one length, got shapes {y.shape} and {p.shape}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos < policy.min_positives:
        return ThresholdChoice(None, f"{n_pos} positives (< {policy.min_positives}): too few to set a threshold")
    if n_neg == 0:
        return ThresholdChoice(None, "no negatives: specificity cannot be measured")
    # Every distinct score is a candidate "p >= t"; counts by sorting once (O(n log n)).
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]
    tp = np.cumsum(ys)[last_of_tie]
    fp = np.cumsum(~ys)[last_of_tie]
    thresholds = ps[last_of_tie]
    specificity = 1 - fp / n_neg
    f1 = 2 * tp / (n_pos + tp + fp)
    allowed = specificity >= policy.min_specificity
    if not allowed.any():
        return ThresholdChoice(None, f"no threshold reaches specificity {policy.min_specificity:.2f}")
    best = int(np.flatnonzero(allowed)[np.argmax(f1[allowed])])
    return ThresholdChoice(float(thresholds[best]),
                           f"max F1 {f1[best]:.2f} at specificity {specificity[best]:.2f} (>= {policy.min_specificity:.2f})")


def decision_rates(y: np.ndarray, decided: np.ndarray) -> dict[str, float | list[float] | int]:
    """Sensitivity and specificity of binary decisions with Wilson 95 % CIs, and the counts."""
    counts = decision_metrics(y, decided)
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    return {"sensitivity": counts["sensitivity"], "sensitivity_ci": list(wilson_interval(tp, tp + fn)[1:]),
            "specificity": counts["specificity"], "specificity_ci": list(wilson_interval(tn, tn + fp)[1:]),
            "f1": counts["f1"], "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def cross_fitted_decisions(y: np.ndarray, p: np.ndarray, groups: np.ndarray,
                           policy: ThresholdPolicy = POLICY) -> np.ndarray:
    """Each group's decisions with the threshold the policy chooses on the other groups; a group whose
    complement yields no threshold decides "not positive" (as the shipped label would)."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=np.float64)
    groups = np.asarray(groups)
    decided = np.zeros(len(y), bool)
    for g in np.unique(groups):
        here = groups == g
        choice = choose_policy_threshold(y[~here], p[~here], policy)
        if choice.threshold is not None:
            decided[here] = p[here] >= choice.threshold
    return decided


def policy_table(y: np.ndarray, p: np.ndarray, mask: np.ndarray, groups: np.ndarray, labels: Sequence[str],
                 policy: ThresholdPolicy = POLICY) -> dict[str, dict]:
    """Per label: the shipped threshold (or None and why) and its cross-fitted rates with CIs."""
    out = {}
    for j, label in enumerate(labels):
        keep = np.asarray(mask[:, j]).astype(bool)
        yj, pj, gj = np.asarray(y[keep, j]).astype(bool), p[keep, j], np.asarray(groups)[keep]
        choice = choose_policy_threshold(yj, pj, policy)
        row: dict = {"threshold": choice.threshold, "threshold_reason": choice.reason}
        if choice.threshold is not None:
            row.update(decision_rates(yj, cross_fitted_decisions(yj, pj, gj, policy)))
        out[label] = row
    return out
