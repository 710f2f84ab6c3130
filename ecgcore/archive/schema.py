"""The columns of an archive run's Parquet file, and how one scored (or failed) file becomes a row.

One row per record file. Always: ``path``, ``content_sha256`` (:mod:`ecgcore.archive.hashing`),
``record_id`` (the recording's name, as ``ecg predict``'s CSV calls it), ``model`` and
``model_version`` (of the model that scored it: the single-lead model for one-lead files),
one float32 column ``p:<LABEL>`` per label of the main model (null for labels the model was not
trained on, unless asked for, and for a failed file), ``positives`` and ``notes`` (the consistency
rules' changes, :mod:`ecgcore.consistency`), and ``error`` (null unless the file failed). With
measurements: ``m:<name>`` per global measurement (ms, bpm, degrees; null when not measured),
``statements``, ``measurement_flags``, ``measurement_version``. With the quality assessment
(:func:`ecgcore.assess`): ``interpretable``, ``reversal``, ``possible_reversals``, ``paced``,
``quality_reasons``, ``quality_warnings``, ``assessment_version``. An embeddings file
(``ecg embed``) has one ``embedding`` column (float32, the pooled features before the head,
:mod:`ecgcore.archive.embeddings`) in place of the probability, measurement and quality columns.

The schema's metadata names the format (``ecgcore.archive``: ``FORMAT``), the labels, the card's
thresholds and the model, so a file says what made it without the bundle at hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from ecgcore.batch import PreparedItem
    from ecgcore.predict import Prediction

FORMAT = "ecgcore-archive/1"
PROBABILITY_PREFIX = "p:"
MEASUREMENT_PREFIX = "m:"
METADATA_KEY = b"ecgcore.archive"
KEY_COLUMNS = ("path", "content_sha256")

_STRINGS = pa.list_(pa.string())


def probability_column(label: str) -> str:
    return PROBABILITY_PREFIX + label


@dataclass(frozen=True)
class ArchiveLayout:
    """What a run writes: the labels, the model, and whether measurements and quality flags are in."""

    labels: tuple[str, ...]
    model: str
    model_version: str
    thresholds: tuple[float, ...] = ()
    measure: bool = False
    assess: bool = False
    kind: str = "predictions"  # or "embeddings": one ``embedding`` column instead of probabilities
    feature_dim: int | None = None  # embeddings: the length of each vector
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. how a multi-network bundle's features combine

    def schema(self) -> pa.Schema:
        fields = [
            pa.field("path", pa.string(), nullable=False),
            pa.field("content_sha256", pa.string()),
            pa.field("record_id", pa.string()),
            pa.field("model", pa.string()),
            pa.field("model_version", pa.string()),
        ]
        if self.kind == "embeddings":
            fields += [pa.field("embedding", pa.list_(pa.float32(), self.feature_dim)), pa.field("error", pa.string())]
            return pa.schema(fields, metadata={METADATA_KEY: json.dumps(self.metadata()).encode()})
        fields += [
            *(pa.field(probability_column(label), pa.float32()) for label in self.labels),
            pa.field("positives", _STRINGS),
            pa.field("notes", _STRINGS),
        ]
        if self.measure:
            from ecgcore.measurements import GLOBAL_MEASURE_NAMES

            fields += [pa.field(MEASUREMENT_PREFIX + name, pa.float64()) for name in GLOBAL_MEASURE_NAMES]
            fields += [pa.field("statements", _STRINGS), pa.field("measurement_flags", _STRINGS),
                       pa.field("measurement_version", pa.string())]
        if self.assess:
            fields += [pa.field("interpretable", pa.bool_()), pa.field("reversal", pa.string()),
                       pa.field("possible_reversals", _STRINGS), pa.field("paced", pa.bool_()),
                       pa.field("quality_reasons", _STRINGS), pa.field("quality_warnings", _STRINGS),
                       pa.field("assessment_version", pa.string())]
        fields.append(pa.field("error", pa.string()))
        return pa.schema(fields, metadata={METADATA_KEY: json.dumps(self.metadata()).encode()})

    def metadata(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": self.kind, "model": self.model, "model_version": self.model_version,
                "labels": list(self.labels), "thresholds": list(self.thresholds), "measure": self.measure,
                "assess": self.assess, "feature_dim": self.feature_dim, **self.extra}


def archive_metadata(schema: pa.Schema) -> dict[str, Any]:
    """The ``ecgcore.archive`` metadata of a file's schema ({} for a Parquet file this package did not write)."""
    raw = (schema.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}


class RowBuffer:
    """Rows gathered column by column until the writer turns them into one row group."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        self.columns: dict[str, list] = {name: [] for name in schema.names}

    def __len__(self) -> int:
        return len(self.columns["path"])

    def add(self, row: dict[str, Any]) -> None:
        """``row`` maps column names to values; a column it leaves out is null."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise KeyError(f"not columns of this archive: {sorted(unknown)}")
        for name, values in self.columns.items():
            values.append(row.get(name))

    def take_table(self) -> pa.Table:
        table = pa.table(self.columns, schema=self.schema)
        self.columns = {name: [] for name in self.schema.names}
        return table


def prediction_row(layout: ArchiveLayout, path: str, content_sha256: str | None, item: PreparedItem, *,
                   prediction: Prediction | None = None, probabilities: dict[str, float] | None = None,
                   model: tuple[str, str] | None = None) -> dict[str, Any]:
    """One file's row: its prediction (``probabilities`` by label, ``model`` as (name, version)) or its
    error, and what was measured and assessed."""
    row: dict[str, Any] = {"path": path, "content_sha256": content_sha256, "error": item.error}
    if item.error is None:
        row["record_id"] = item.record_name
    if prediction is not None:
        row["record_id"] = prediction.record_name
        row["model"], row["model_version"] = model if model is not None else (None, None)
        row["positives"] = [f.label for f in prediction.positives]
        row["notes"] = list(prediction.notes)
        known = set(layout.labels)
        row.update({probability_column(label): p for label, p in (probabilities or {}).items() if label in known})
    if layout.measure and item.measurements is not None:
        row.update(_measurement_cells(item))
    if layout.assess and item.assessment is not None:
        a = item.assessment
        row.update({"interpretable": bool(a.interpretable), "reversal": a.reversal,
                    "possible_reversals": list(a.possible_reversals), "paced": bool(a.paced),
                    "quality_reasons": list(a.reasons), "quality_warnings": list(a.warnings),
                    "assessment_version": a.version})
    return row


def _measurement_cells(item: PreparedItem) -> dict[str, Any]:
    from ecgcore.measure_display import flags

    m = item.measurements
    cells: dict[str, Any] = {MEASUREMENT_PREFIX + name: (None if value is None or not np.isfinite(value) else float(value))
                             for name, value in m.global_values().items()}
    cells["statements"] = [s.text for s in item.statements or ()]
    cells["measurement_flags"] = flags(m)
    cells["measurement_version"] = m.algorithm_version
    return cells


def labelled_probabilities(labels: Sequence[str], probabilities: np.ndarray, keep: np.ndarray) -> dict[str, float]:
    """Label -> probability for the labels ``keep`` marks (the trained ones, or all)."""
    return {label: float(p) for label, p, k in zip(labels, probabilities, keep) if k}
