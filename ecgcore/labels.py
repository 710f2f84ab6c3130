"""The ECGFounder label vocabulary: 150 diagnoses, in the order of the model's outputs."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

N_ECGFOUNDER_LABELS = 150


@lru_cache(maxsize=1)
def ecgfounder_labels() -> tuple[str, ...]:
    """The 150 labels; index i is output i of the official ECGFounder checkpoints."""
    text = resources.files("ecgcore.resources").joinpath("ecgfounder_labels.txt").read_text(encoding="utf-8")
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(labels) != N_ECGFOUNDER_LABELS:
        raise RuntimeError(f"ecgfounder_labels.txt has {len(labels)} labels, expected {N_ECGFOUNDER_LABELS}")
    return labels
