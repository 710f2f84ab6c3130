"""Which records should a reviewer read next so that their verdicts teach the model most?

The acquisition score (issue #21) has two parts, both in [0, 1]:

* **per-label uncertainty**: for record ``i`` and label ``j`` with probability ``p_ij`` and decision
  threshold ``t_j`` (both clipped to [1e-6, 1 - 1e-6])::

      u_ij = exp(-|logit(p_ij) - logit(t_j)|)

  the ratio of the probability's odds to the threshold's odds, the smaller over the larger: 1 when
  the call sits on its threshold, 0.5 when it is 2-fold off in odds, near 0 when clear-cut. Log-odds
  rather than ``|p - t|`` because thresholds range from 0.04 to 0.97. A record's uncertainty
  aggregates its labels: ``"max"`` (the closest call; the worklist's former score) or ``"mean"``
  (how many calls are close; the default, see docs/experiments/active_learning.md). Labels without
  a probability (NaN) are left out.

* **diversity**: how far a record lies from everything already reviewed (and already picked in
  this batch), in an embedding space::

      delta_i = min over reviewed r of (1 - cos(e_i - m, e_r - m)) / 2

  with ``m`` the mean embedding of all rows given (centring, so that all-positive features such as
  pooled ReLU activations still spread over the sphere). 1 for a record opposite every reviewed one;
  0 for a duplicate of one; 1 for every record when nothing is reviewed yet.

The score is ``a_i = (1 - w) u_i + w delta_i`` (``w``: ``diversity_weight``, 0 = uncertainty only).
Batches are chosen greedily: take the best ``a_i``, count it as reviewed (its neighbours' ``delta``
shrink), repeat, so one batch does not spend five verdicts on five near-copies of the same ECG.

Whether any of this beats reading records in random order is measured, not assumed:
``python -m train recipe run active-learning`` (docs/experiments/active_learning.md).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ecgcore.errors import ECGValidationError

LOGIT_CLIP = 1e-6  # probabilities and thresholds of exactly 0 or 1 would be infinitely far from anything
Aggregate = Literal["max", "mean"]
AGGREGATES: tuple[str, ...] = ("max", "mean")


def _logit(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=float), LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.log(x / (1.0 - x))


def label_uncertainty(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``u_ij = exp(-|logit p_ij - logit t_j|)``, shape ``(n_records, n_labels)``; NaN stays NaN.
    ``thresholds``: one per label, or one per record and label (runs of different models)."""
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 2:
        raise ECGValidationError(f"probabilities must be a (records, labels) array; got shape {p.shape}")
    try:  # one threshold per label (labels,), or per record and label (records, labels)
        t = np.broadcast_to(np.asarray(thresholds, dtype=float), p.shape)
    except ValueError:
        raise ECGValidationError(f"thresholds of shape {np.shape(thresholds)} do not fit probabilities of shape "
                                 f"{p.shape}; give one per label or one per record and label") from None
    if np.any((t < 0) | (t > 1)) or np.any(np.isnan(t)):
        raise ECGValidationError(f"thresholds must lie in [0, 1]; got {t[(t < 0) | (t > 1) | np.isnan(t)][:5]}")
    finite_p = p[np.isfinite(p)]
    if np.any((finite_p < 0) | (finite_p > 1)):
        raise ECGValidationError("probabilities must lie in [0, 1] (NaN for a label the model did not score)")
    u = np.exp(-np.abs(_logit(p) - _logit(t)))
    return np.where(np.isnan(p), np.nan, u)


def record_uncertainty(probabilities: np.ndarray, thresholds: np.ndarray, *, aggregate: Aggregate = "mean") -> np.ndarray:
    """Per record, its labels' uncertainties aggregated by ``"mean"`` or ``"max"``; 0 for a record
    with no scored label (nothing to learn from its verdict that the model can use)."""
    if aggregate not in AGGREGATES:
        raise ECGValidationError(f"aggregate must be one of {', '.join(AGGREGATES)}; got {aggregate!r}")
    u = label_uncertainty(probabilities, thresholds)
    scored = ~np.isnan(u)
    if aggregate == "max":
        out = np.max(np.where(scored, u, -np.inf), axis=1, initial=-np.inf)
    else:
        out = np.where(scored, u, 0.0).sum(axis=1) / np.maximum(scored.sum(axis=1), 1)
    return np.where(scored.any(axis=1), out, 0.0)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _centred_units(candidates: np.ndarray, reviewed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    candidates = np.asarray(candidates, dtype=float)
    reviewed = np.asarray(reviewed, dtype=float).reshape(-1, candidates.shape[1] if candidates.ndim == 2 else 0)
    if candidates.ndim != 2:
        raise ECGValidationError(f"embeddings must be a (records, features) array; got shape {candidates.shape}")
    if not (np.isfinite(candidates).all() and np.isfinite(reviewed).all()):
        raise ECGValidationError("embeddings must be finite (no NaN or infinity)")
    centre = np.concatenate([candidates, reviewed]).mean(axis=0) if len(candidates) + len(reviewed) else 0.0
    return _unit_rows(candidates - centre), _unit_rows(reviewed - centre)


def diversity(candidates: np.ndarray, reviewed: np.ndarray) -> np.ndarray:
    """``delta_i``: half the cosine distance (after centring) from each candidate to its nearest
    reviewed record, in [0, 1]; all 1 when nothing is reviewed."""
    cand, rev = _centred_units(candidates, reviewed)
    if len(rev) == 0:
        return np.ones(len(cand))
    return np.clip((1.0 - cand @ rev.T).min(axis=1) / 2.0, 0.0, 1.0)


def acquisition_score(uncertainty: np.ndarray, candidates: np.ndarray, reviewed: np.ndarray, *,
                      diversity_weight: float = 0.5) -> np.ndarray:
    """``a_i = (1 - w) u_i + w delta_i`` for every candidate at once (no batch updates)."""
    _check_weight(diversity_weight)
    u = _check_uncertainty(uncertainty, len(candidates))
    if diversity_weight == 0:
        return u.copy()
    return (1.0 - diversity_weight) * u + diversity_weight * diversity(candidates, reviewed)


def select_batch(uncertainty: np.ndarray, candidates: np.ndarray | None = None, reviewed: np.ndarray | None = None, *,
                 batch_size: int, diversity_weight: float = 0.5) -> np.ndarray:
    """Indices of ``batch_size`` candidates, best first, chosen greedily by ``a_i``.

    After each pick the picked record counts as reviewed, so the next pick's ``delta`` is measured
    against it too. With ``diversity_weight=0`` this is the top ``batch_size`` by uncertainty
    (embeddings not needed). Ties go to the lower index, so the order is reproducible.
    """
    _check_weight(diversity_weight)
    n = len(uncertainty)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 0:
        raise ECGValidationError(f"batch_size must be a non-negative integer; got {batch_size!r}")
    u = _check_uncertainty(uncertainty, n)
    k = min(int(batch_size), n)
    if diversity_weight == 0 or k == 0:
        return np.argsort(-u, kind="stable")[:k]
    if candidates is None:
        raise ECGValidationError("diversity_weight > 0 needs the candidates' embeddings")
    if len(candidates) != n:
        raise ECGValidationError(f"{len(candidates)} embeddings for {n} uncertainties; give one per candidate")
    cand, rev = _centred_units(candidates, np.zeros((0, np.shape(candidates)[1])) if reviewed is None else reviewed)
    nearest = np.ones(n) if len(rev) == 0 else np.clip((1.0 - cand @ rev.T).min(axis=1) / 2.0, 0.0, 1.0)
    available = np.ones(n, dtype=bool)
    chosen: list[int] = []
    for _ in range(k):
        score = np.where(available, (1.0 - diversity_weight) * u + diversity_weight * nearest, -np.inf)
        best = int(np.argmax(score))
        chosen.append(best)
        available[best] = False
        nearest = np.minimum(nearest, np.clip((1.0 - cand @ cand[best]) / 2.0, 0.0, 1.0))
    return np.asarray(chosen, dtype=int)


def acquisition_order(uncertainty: np.ndarray, candidates: np.ndarray | None = None,
                      reviewed: np.ndarray | None = None, *, diversity_weight: float = 0.5,
                      greedy_rows: int = 200) -> np.ndarray:
    """Every candidate's index, best first: the first ``greedy_rows`` chosen greedily as one batch
    (:func:`select_batch`), the rest by their score against the reviewed records alone
    (:func:`acquisition_score`), which keeps a worklist of thousands of records fast while the part
    a reviewer sees is batch-aware."""
    n = len(uncertainty)
    if diversity_weight == 0:
        return select_batch(uncertainty, batch_size=n, diversity_weight=0.0)
    if candidates is None:
        raise ECGValidationError("diversity_weight > 0 needs the candidates' embeddings")
    reviewed = np.zeros((0, np.shape(candidates)[1])) if reviewed is None else reviewed
    static = acquisition_score(uncertainty, candidates, reviewed, diversity_weight=diversity_weight)
    by_static = np.argsort(-static, kind="stable")
    head = np.sort(by_static[:greedy_rows])
    u = np.asarray(uncertainty, dtype=float)
    first = head[select_batch(u[head], np.asarray(candidates)[head], reviewed, batch_size=len(head),
                              diversity_weight=diversity_weight)]
    return np.concatenate([first, by_static[greedy_rows:]]).astype(int)


def _check_weight(weight: float) -> None:
    if not 0.0 <= weight <= 1.0:
        raise ECGValidationError(f"diversity_weight must lie in [0, 1]; got {weight!r}")


def _check_uncertainty(uncertainty: np.ndarray, n: int) -> np.ndarray:
    u = np.asarray(uncertainty, dtype=float)
    if u.shape != (n,):
        raise ECGValidationError(f"uncertainty must be one value per candidate ({n}); got shape {u.shape}")
    if not np.isfinite(u).all():
        raise ECGValidationError("uncertainty must be finite; score unscored records 0")
    return u


__all__ = ["AGGREGATES", "acquisition_order", "acquisition_score", "diversity", "label_uncertainty", "record_uncertainty", "select_batch"]
