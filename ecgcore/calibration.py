"""Calibrated probabilities: per-label maps from the network's output to an observed frequency.

Why: a probability shown to a clinician should mean what it says: of the records scored 0.3, about
30 % have the finding. Networks trained on a few hundred records with masked BCE are not calibrated
(rare labels' outputs sit near 0 whatever the evidence). A map per label, fitted on out-of-fold
predictions, fixes the scale without changing the ranking much.

Four candidates per label, one chosen by cross-validation (:func:`choose_calibration`: the lowest
cross-fitted log loss over the out-of-fold groups, so a map is only kept when it helps on records it
was not fitted on):

- ``identity``: the network's output unchanged.
- ``temperature``: ``sigmoid(logit(p) / T)``, one parameter: sharpens or softens.
- ``platt``: ``sigmoid(a * logit(p) + b)``, two parameters: also shifts (base-rate mismatch).
- ``isotonic``: a non-decreasing step function (scikit-learn ``IsotonicRegression``), stored as its
  breakpoints and applied by linear interpolation, clipped to ``[PROB_FLOOR, 1 - PROB_FLOOR]`` so
  no calibrated probability is exactly 0 or 1 on a few hundred records.

All four are non-decreasing, so the order of records by a label's probability is kept (isotonic may
tie neighbours). The card stores the chosen map per label (``ModelCard.calibration``);
:class:`Calibrator` applies it. Calibration error is reported as expected calibration error (ECE,
equal-width bins) and reliability bins (:func:`reliability_bins`), before and after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit

METHODS: tuple[str, ...] = ("identity", "temperature", "platt", "isotonic")
"""Candidate maps, simplest first (a tie in cross-fitted log loss keeps the simpler one)."""

PROB_FLOOR = 1e-4
"""Probabilities are kept in [PROB_FLOOR, 1 - PROB_FLOOR] for logits, log loss and isotonic output."""

N_BINS = 10
"""Equal-width bins of the reliability diagram and the ECE."""


def _clip(p: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(p, dtype=np.float64), PROB_FLOOR, 1 - PROB_FLOOR)


@dataclass(frozen=True)
class LabelCalibration:
    """One label's map; ``params`` as stored in the card (see the module docstring)."""

    method: str = "identity"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}; accepted: {', '.join(METHODS)}")
        needed = {"identity": (), "temperature": ("temperature",), "platt": ("slope", "intercept"),
                  "isotonic": ("x", "y")}[self.method]
        missing = [k for k in needed if k not in self.params]
        if missing:
            raise ValueError(f"{self.method} calibration needs {missing} in its parameters, got {sorted(self.params)}")
        if self.method == "isotonic" and (len(self.params["x"]) != len(self.params["y"]) or not self.params["x"]):
            raise ValueError("isotonic calibration needs x and y breakpoints of one non-zero length")
        if self.method == "temperature" and not float(self.params["temperature"]) > 0:
            raise ValueError(f"temperature must be > 0, got {self.params['temperature']}")

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for the network's probabilities ``p`` (any shape)."""
        p = np.asarray(p, dtype=np.float64)
        if self.method == "identity":
            return p
        if self.method == "isotonic":
            return _clip(np.interp(p, self.params["x"], self.params["y"]))
        z = logit(_clip(p))
        if self.method == "temperature":
            return expit(z / float(self.params["temperature"]))
        return expit(float(self.params["slope"]) * z + float(self.params["intercept"]))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, **({"params": self.params} if self.params else {})}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LabelCalibration":
        return cls(str(data.get("method", "identity")), dict(data.get("params", {})))


def fit_calibration(method: str, y: np.ndarray, p: np.ndarray) -> LabelCalibration:
    """Fit ``method`` to outcomes ``y`` (0/1) and the network's probabilities ``p`` of one label."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"y and p must be 1-D of one length, got shapes {y.shape} and {p.shape}")
    if method == "identity":
        return LabelCalibration()
    if len(np.unique(y)) < 2:
        raise ValueError(f"{method} calibration needs positives and negatives; got only {int(y[0]) if len(y) else 'no'} outcomes")
    z = logit(_clip(p))
    if method == "temperature":
        def loss(log_t: float) -> float:
            return log_loss(y, expit(z / np.exp(log_t)))
        best = minimize_scalar(loss, bounds=(-4.0, 4.0), method="bounded")
        return LabelCalibration("temperature", {"temperature": round(float(np.exp(best.x)), 6)})
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1e6, max_iter=1000).fit(z[:, None], y)
        return LabelCalibration("platt", {"slope": round(float(model.coef_[0, 0]), 6),
                                          "intercept": round(float(model.intercept_[0]), 6)})
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(out_of_bounds="clip", y_min=PROB_FLOOR, y_max=1 - PROB_FLOOR).fit(p, y)
        return LabelCalibration("isotonic", {"x": [round(float(v), 6) for v in model.X_thresholds_],
                                             "y": [round(float(v), 6) for v in model.y_thresholds_]})
    raise ValueError(f"unknown calibration method {method!r}; accepted: {', '.join(METHODS)}")


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy with probabilities clipped to [PROB_FLOOR, 1 - PROB_FLOOR]."""
    p = _clip(p)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@dataclass(frozen=True)
class CalibrationChoice:
    """The chosen map and why: each candidate's cross-fitted log loss, and the cross-fitted calibrated
    probabilities (each group mapped by a calibration fitted on the other groups), for honest ECE."""

    calibration: LabelCalibration
    cross_fitted_log_loss: dict[str, float]
    cross_fitted: np.ndarray


def cross_fit(method: str, y: np.ndarray, p: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``p`` calibrated group by group, each by ``method`` fitted on the other groups' records.

    A group whose complement lacks positives or negatives keeps the uncalibrated ``p`` (nothing to fit).
    """
    out = np.asarray(p, dtype=np.float64).copy()
    for g in np.unique(groups):
        here = groups == g
        rest_y = y[~here]
        if method != "identity" and len(np.unique(rest_y)) == 2:
            out[here] = fit_calibration(method, rest_y, p[~here]).apply(p[here])
    return out


def choose_calibration(y: np.ndarray, p: np.ndarray, groups: np.ndarray,
                       methods: Sequence[str] = METHODS) -> CalibrationChoice:
    """The method with the lowest cross-fitted log loss over ``groups`` (e.g. CV folds), fitted on all records."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    groups = np.asarray(groups)
    if len(np.unique(y)) < 2:
        return CalibrationChoice(LabelCalibration(), {"identity": log_loss(y, p)}, p.copy())
    fitted = {m: cross_fit(m, y, p, groups) for m in methods}
    losses = {m: log_loss(y, q) for m, q in fitted.items()}
    best = min(methods, key=lambda m: (round(losses[m], 9), methods.index(m)))
    return CalibrationChoice(fit_calibration(best, y, p), losses, fitted[best])


def reliability_bins(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> list[dict[str, float]]:
    """Equal-width bins of predicted probability: each bin's mean prediction, observed frequency, count
    (empty bins left out): the points of a reliability diagram."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    which = np.minimum((p * n_bins).astype(int), n_bins - 1)
    rows = []
    for b in range(n_bins):
        here = which == b
        if here.any():
            rows.append({"bin": b, "mean_predicted": round(float(p[here].mean()), 6),
                         "observed": round(float(y[here].mean()), 6), "count": int(here.sum())})
    return rows


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> float:
    """Sum over bins of (bin's share of records) x |observed frequency - mean prediction|."""
    bins = reliability_bins(y, p, n_bins)
    n = sum(b["count"] for b in bins)
    return float(sum(b["count"] / n * abs(b["observed"] - b["mean_predicted"]) for b in bins)) if n else float("nan")


class Calibrator:
    """Applies a card's per-label maps to probability arrays whose columns are ``labels``."""

    def __init__(self, labels: Sequence[str], calibration: Mapping[str, Mapping[str, Any]]):
        index = {label: i for i, label in enumerate(labels)}
        unknown = sorted(set(calibration) - set(index))
        if unknown:
            raise ValueError(f"calibration for labels the model does not have: {unknown[:5]}")
        self.maps: dict[int, LabelCalibration] = {
            index[label]: LabelCalibration.from_dict(data) for label, data in calibration.items()}
        self.maps = {i: m for i, m in self.maps.items() if m.method != "identity"}

    def __bool__(self) -> bool:
        return bool(self.maps)

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        """(..., n_labels) network probabilities -> calibrated (a new array; uncalibrated columns unchanged)."""
        out = np.array(probabilities, dtype=np.float64, copy=True)
        for i, m in self.maps.items():
            out[..., i] = m.apply(out[..., i])
        return out
