"""Calibration of a bundle's labels from out-of-fold predictions, with the evidence the card shows.

Each trained label gets the map :func:`ecgcore.calibration.choose_calibration` picks by cross-fitted
log loss over the CV groups; expected calibration error (ECE) and reliability bins are reported
before (the network's out-of-fold output) and after (each group calibrated by a map fitted on the
other groups, so "after" is measured on records the map did not see).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ecgcore.calibration import (
    METHODS,
    choose_calibration,
    expected_calibration_error,
    reliability_bins,
)


@dataclass(frozen=True)
class CalibrationResult:
    maps: dict[str, dict]          # the card's ``calibration`` (labels whose map is not identity)
    per_label: dict[str, dict]     # method, cross-fitted log losses, ECE and reliability before/after
    summary: dict[str, float]      # pooled ECE before/after over every (record, label) pair
    calibrated: np.ndarray         # (n, len(labels)) out-of-fold probabilities through the shipped maps


def calibrate_labels(y: np.ndarray, p: np.ndarray, mask: np.ndarray, groups: np.ndarray,
                     labels: Sequence[str]) -> CalibrationResult:
    """Choose and fit one map per column of ``p`` (known entries only, per ``mask``)."""
    y = np.asarray(y).astype(float)
    mask = np.asarray(mask).astype(bool)
    calibrated = np.array(p, dtype=np.float64, copy=True)
    maps, per_label = {}, {}
    pooled_y, pooled_before, pooled_after = [], [], []
    for j, label in enumerate(labels):
        keep = mask[:, j]
        yj, pj = y[keep, j], np.asarray(p, float)[keep, j]
        choice = choose_calibration(yj, pj, np.asarray(groups)[keep])
        calibrated[:, j] = choice.calibration.apply(np.asarray(p, float)[:, j])
        if choice.calibration.method != "identity":
            maps[label] = choice.calibration.to_dict()
        per_label[label] = {
            "method": choice.calibration.method,
            "cross_fitted_log_loss": {k: round(v, 5) for k, v in choice.cross_fitted_log_loss.items()},
            "ece_before": round(expected_calibration_error(yj, pj), 5),
            "ece_after": round(expected_calibration_error(yj, choice.cross_fitted), 5),
            "reliability_before": reliability_bins(yj, pj),
            "reliability_after": reliability_bins(yj, choice.cross_fitted),
        }
        pooled_y.append(yj)
        pooled_before.append(pj)
        pooled_after.append(choice.cross_fitted)
    ys, before, after = (np.concatenate(a) if a else np.zeros(0) for a in (pooled_y, pooled_before, pooled_after))
    summary = {"ece_before": round(expected_calibration_error(ys, before), 5),
               "ece_after": round(expected_calibration_error(ys, after), 5),
               "macro_ece_before": round(float(np.mean([r["ece_before"] for r in per_label.values()])), 5),
               "macro_ece_after": round(float(np.mean([r["ece_after"] for r in per_label.values()])), 5),
               "reliability_before": reliability_bins(ys, before), "reliability_after": reliability_bins(ys, after),
               "methods": {m: sum(r["method"] == m for r in per_label.values()) for m in METHODS}}
    return CalibrationResult(maps, per_label, summary, calibrated)
