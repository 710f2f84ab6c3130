"""Out of distribution: is this record unlike what the bundle was trained on?

A model trained on a few hundred PTB-XL and Challenge records has seen 400-500 Hz carts, 10 s, mV
amplitudes of adults' ECGs. A record outside that (a 250 Hz Holter strip, an export in microvolts
read as millivolts, a child's ECG, a device unlike any in training) still gets probabilities, and
they should not be read as if it were not. The card carries a reference of its training data
(``ModelCard.ood``, built by :func:`fit_reference`), and :func:`check_distribution` compares a record
with it:

- **sampling rate** below the lowest of the training data (upsampling cannot restore what a slow
  recorder never captured);
- **duration** shorter than the model's window (the rest is zero padding the model never saw);
- **amplitude**: the record's typical peak-to-peak amplitude (median over leads of the 0.5-99.5
  percentile range, mV) outside the training records' 0.5-99.5 percentile range widened by
  ``AMPLITUDE_MARGIN``;
- **embedding distance**: the pooled features before the head (:meth:`ecgcore.predict.Predictor.embeddings`),
  whitened by the training records' principal components (``N_COMPONENTS``): a Mahalanobis distance.
  Its ``score`` is the share of held-out in-distribution records (scored by cross-validation models
  the records were not trained on, rescaled to the final model) that lie closer: 0.995 means further
  than 99.5 % of held-out records like the training data. ``score >= SCORE_LIMIT`` warns.

The result says what was found; it never changes the probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ecgcore.record import Record

if TYPE_CHECKING:
    from ecgcore.predict import Predictor

N_COMPONENTS = 16
"""Principal components of the training embeddings kept for the distance (the rest is noise on < 500 records)."""
SCORE_LIMIT = 0.99
"""Embedding score from which a record is called unlike the training data."""
AMPLITUDE_MARGIN = 1.5
"""The training amplitude range is widened by this factor each way before a record is called outside it."""
N_REFERENCE_QUANTILES = 201


def typical_amplitude_mv(signal_mv: np.ndarray) -> float:
    """Median over leads of each lead's 0.5-99.5 percentile range (mV): robust to a spike or a flat lead."""
    x = np.nan_to_num(np.asarray(signal_mv, dtype=np.float64))
    lo, hi = np.percentile(x, [0.5, 99.5], axis=-1)
    return float(np.median(hi - lo))


@dataclass(frozen=True)
class EmbeddingReference:
    """Whitening of the training embeddings and the held-out distances that give a distance its score."""

    mean: np.ndarray                 # (n_features,)
    components: np.ndarray           # (k, n_features), rows orthonormal
    scales: np.ndarray               # (k,) standard deviation along each component
    reference_distances: np.ndarray  # sorted quantiles of held-out in-distribution distances

    def distance(self, embeddings: np.ndarray) -> np.ndarray:
        """Mahalanobis distance in the principal subspace for embeddings (n, n_features)."""
        z = (np.atleast_2d(embeddings) - self.mean) @ self.components.T / self.scales
        return np.sqrt(np.sum(z * z, axis=1))

    def score(self, distances: np.ndarray) -> np.ndarray:
        """Share of held-out in-distribution records closer than each distance (0..1)."""
        return np.searchsorted(self.reference_distances, distances, side="right") / len(self.reference_distances)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": _rounded(self.mean), "components": [_rounded(c) for c in self.components],
                "scales": _rounded(self.scales), "reference_distances": _rounded(self.reference_distances)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EmbeddingReference":
        return cls(np.asarray(data["mean"], float), np.asarray(data["components"], float),
                   np.asarray(data["scales"], float), np.asarray(data["reference_distances"], float))


def fit_embedding_reference(train_embeddings: np.ndarray, held_out_distances: np.ndarray,
                            n_components: int = N_COMPONENTS) -> EmbeddingReference:
    """PCA of the final model's training embeddings; ``held_out_distances`` are distances of records
    the scoring models were not trained on, already on this model's scale (see :func:`rescaled_distances`)."""
    x = np.asarray(train_embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"need training embeddings (n >= 3, n_features), got shape {x.shape}")
    k = int(min(n_components, len(x) - 1, x.shape[1]))
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    scales = np.maximum(s[:k] / np.sqrt(len(x) - 1), 1e-6)
    quantiles = np.quantile(np.asarray(held_out_distances, float), np.linspace(0, 1, N_REFERENCE_QUANTILES))
    return EmbeddingReference(mean, vt[:k], scales, np.sort(quantiles))


def rescaled_distances(held_out: np.ndarray, fold_train: np.ndarray, final_train: np.ndarray) -> np.ndarray:
    """Held-out distances of a CV model put on the final model's scale: divided by the median training
    distance of the CV model, times the final model's. Why: a model is closer to its own training
    records than to new ones, and each model's feature space has its own scale; the ratio
    held-out / training is what carries over."""
    return np.asarray(held_out, float) / np.median(fold_train) * np.median(final_train)


@dataclass(frozen=True)
class DistributionCheck:
    """What :func:`check_distribution` found; ``warnings`` empty means like the training data."""

    warnings: tuple[str, ...] = ()
    score: float | None = None                 # embedding score (0..1), None without a reference
    distance: float | None = None
    amplitude_mv: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def in_distribution(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict[str, Any]:
        return {"in_distribution": self.in_distribution, "warnings": list(self.warnings), "score": self.score,
                "distance": self.distance, "amplitude_mv": self.amplitude_mv, **self.details}


def fit_reference(*, fs_hz: Sequence[float], amplitudes_mv: Sequence[float],
                  embedding: EmbeddingReference | None) -> dict[str, Any]:
    """The card's ``ood`` entry from the training records' sampling rates, amplitudes and embeddings."""
    lo, hi = np.percentile(np.asarray(amplitudes_mv, float), [0.5, 99.5])
    return {"fs_hz": sorted({float(f) for f in fs_hz}), "amplitude_mv": [round(float(lo), 4), round(float(hi), 4)],
            "score_limit": SCORE_LIMIT, "amplitude_margin": AMPLITUDE_MARGIN,
            **({"embedding": embedding.to_dict()} if embedding is not None else {})}


def check_distribution(record: Record, predictor: Predictor, *, start_s: float | None = None,
                       embedding: np.ndarray | None = None) -> DistributionCheck:
    """Compare ``record`` with the training data of ``predictor``'s bundle (its card's ``ood`` entry).

    ``embedding`` (the record's pooled features from this predictor) saves a forward pass when the
    caller has it. A card without a reference gets only the checks that need none (duration).
    """
    reference = predictor.card.ood or {}
    warnings: list[str] = []
    details: dict[str, Any] = {}
    window_s = predictor.preprocess_config.window_s
    if record.duration_s < window_s:
        warnings.append(f"{record.duration_s:.1f} s recorded: the model reads {window_s:.0f} s, the rest is padding "
                        "it never saw in training")
    train_fs = reference.get("fs_hz") or []
    if train_fs and record.fs < min(train_fs) - 1e-6:
        warnings.append(f"sampled at {record.fs:g} Hz, below the training data's {min(train_fs):g} Hz")
    amplitude = typical_amplitude_mv(record.signal[[record.leads.index(lead) for lead in predictor.input_leads
                                                    if lead in record.leads]])
    amp_range = reference.get("amplitude_mv")
    if amp_range:
        margin = float(reference.get("amplitude_margin", AMPLITUDE_MARGIN))
        low, high = amp_range[0] / margin, amp_range[1] * margin
        details["amplitude_range_mv"] = [round(low, 3), round(high, 3)]
        if not low <= amplitude <= high:
            warnings.append(f"typical amplitude {amplitude:.3g} mV, outside the training data's {low:.2f}-{high:.2f} mV "
                            "(wrong units or gain?)")
    score = distance = None
    if "embedding" in reference:
        ref = EmbeddingReference.from_dict(reference["embedding"])
        if embedding is None:
            embedding = predictor.embeddings(predictor.prepare(record, start_s)[np.newaxis])[0]
        distance = float(ref.distance(embedding)[0])
        score = float(ref.score(np.array([distance]))[0])
        limit = float(reference.get("score_limit", SCORE_LIMIT))
        if score >= limit:
            warnings.append(f"unlike the training data: further from it than {score:.1%} of held-out training-like "
                            f"records (limit {limit:.0%})")
    return DistributionCheck(tuple(warnings), score, distance, amplitude, details)


def _rounded(values: np.ndarray, digits: int = 5) -> list[float]:
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, float).ravel()]
