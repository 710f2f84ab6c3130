"""Linear probes on stored embeddings: fit and evaluate a classifier per label without touching the network.

``ecg embed DIR -o embeddings.parquet`` stores each record's pooled features (the vector the
model's own head reads, :mod:`ecgcore.archive.embeddings`); this module joins them with a CSV of
the group's own labels and fits one L2-regularised logistic regression per label column on
standardised features. The probe is evaluated by k-fold cross-validation: every record's score
comes from the fold that did not train on it (out-of-fold), and those scores get AUROC/AUPRC with
95% bootstrap CIs from :func:`train.evaluate.evaluate_predictions`. Finally the probe is refitted
on every labelled record and saved as plain JSON (standardisation and coefficients per label), so
applying it needs nothing but numpy.

Labels CSV: one key column, ``record_id`` (the recording's name, as in the embeddings file) or
``path``, then one column per label holding 1, 0, or nothing (unknown: that record is left out of
that label only). ``--folds`` splits records, so several records of one patient can land on both
sides; give a ``group`` column (e.g. the patient id) to keep a patient's records in one fold.

CLI: ``python -m train linear-probe --embeddings E.parquet --labels my_labels.csv [--out DIR]``
(``ecg train linear-probe ...``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold

from train.evaluate import Evaluation, evaluate_predictions, markdown_report

KEY_COLUMNS = ("record_id", "path")
GROUP_COLUMN = "group"
PROBE_FORMAT = "ecgcore-linear-probe/1"


@dataclass
class ProbeData:
    features: np.ndarray     # (records, feature_dim) float64
    y: np.ndarray            # (records, labels) 0/1
    mask: np.ndarray         # (records, labels) True where the label is known
    labels: list[str]
    keys: list[str]
    groups: np.ndarray | None
    model: dict[str, Any]    # the embeddings file's model and version


def load_probe_data(embeddings: str | os.PathLike[str], labels_csv: str | os.PathLike[str],
                    key: str | None = None) -> ProbeData:
    """Join the embeddings (rows without an error) with the labels CSV on ``key`` (default: the CSV's key column)."""
    from ecgcore.archive.schema import archive_metadata

    table = pq.read_table(embeddings, columns=["path", "record_id", "embedding", "error"])
    meta = archive_metadata(pq.read_schema(embeddings))
    if meta.get("kind") != "embeddings":
        raise ValueError(f"{embeddings} is not an embeddings file (write one with `ecg embed DIR -o FILE.parquet`)")
    frame = pd.read_csv(labels_csv, dtype={c: str for c in (*KEY_COLUMNS, GROUP_COLUMN)})
    key = key or next((c for c in KEY_COLUMNS if c in frame.columns), None)
    if key not in KEY_COLUMNS or key not in frame.columns:
        raise ValueError(f"{labels_csv} needs a key column, one of {KEY_COLUMNS}; it has {list(frame.columns)}")
    if frame[key].duplicated().any():
        raise ValueError(f"{labels_csv}: {key} values must be unique; repeated: {frame[key][frame[key].duplicated()].tolist()[:5]}")
    label_columns = [c for c in frame.columns if c not in (*KEY_COLUMNS, GROUP_COLUMN)]
    if not label_columns:
        raise ValueError(f"{labels_csv} has no label columns beside {key}")
    raw = frame[label_columns]
    values = raw.apply(pd.to_numeric, errors="coerce")
    bad = ~values.isin([0, 1]) & raw.notna()
    if bad.any().any():
        column = bad.any().idxmax()
        raise ValueError(f"label column {column!r} must hold 1, 0 or nothing; got {str(raw[column][bad[column]].iloc[0])!r}")
    ok = table.filter(table.column("error").is_null())
    index = {k: i for i, k in enumerate(ok.column(key).to_pylist())}
    rows = [(i, index[k]) for i, k in enumerate(frame[key]) if k in index]
    if not rows:
        raise ValueError(f"no {key} of {labels_csv} is in {embeddings}")
    label_rows, embedding_rows = map(list, zip(*rows))
    features = np.asarray(ok.column("embedding").take(embedding_rows).to_pylist(), dtype=np.float64)
    known = values.iloc[label_rows]
    groups = frame[GROUP_COLUMN].iloc[label_rows].to_numpy() if GROUP_COLUMN in frame.columns else None
    return ProbeData(features, known.fillna(0).to_numpy(np.int64), known.notna().to_numpy(), label_columns,
                     frame[key].iloc[label_rows].tolist(), groups, {k: meta.get(k) for k in ("model", "model_version")})


def _classifier(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = x.mean(0), x.std(0)
    return mean, np.where(scale > 0, scale, 1.0)


def _fit_one(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    mean, scale = _standardise(x)
    return mean, scale, _classifier(c).fit((x - mean) / scale, y)


def out_of_fold_scores(data: ProbeData, *, folds: int = 5, c: float = 1.0, seed: int = 0) -> np.ndarray:
    """Each record's probe score per label from the fold that did not train on it (NaN where unknown)."""
    scores = np.full(data.y.shape, np.nan)
    for j in range(len(data.labels)):
        known = np.flatnonzero(data.mask[:, j])
        x, y = data.features[known], data.y[known, j]
        n_splits = min(folds, int(np.bincount(y, minlength=2).min()))
        if n_splits < 2:
            continue  # too few of one class to cross-validate: the label is reported as not scored
        if data.groups is not None:
            splits = GroupKFold(n_splits=n_splits).split(x, y, data.groups[known])
        else:
            splits = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(x, y)
        for train, test in splits:
            if len(np.unique(y[train])) < 2:
                continue
            mean, scale, model = _fit_one(x[train], y[train], c)
            scores[known[test], j] = model.predict_proba((x[test] - mean) / scale)[:, 1]
    return scores


def fit_probe(data: ProbeData, *, c: float = 1.0) -> dict[str, Any]:
    """The probe on every labelled record, as JSON-ready numbers: p = sigmoid(((x - mean) / scale) . coef + intercept)."""
    probes = {}
    for j, label in enumerate(data.labels):
        known = data.mask[:, j]
        y = data.y[known, j]
        if len(np.unique(y)) < 2:
            continue
        mean, scale, model = _fit_one(data.features[known], y, c)
        probes[label] = {"mean": mean.tolist(), "scale": scale.tolist(), "coef": model.coef_[0].tolist(),
                         "intercept": float(model.intercept_[0]), "n": int(known.sum()), "positives": int(y.sum())}
    return {"format": PROBE_FORMAT, "embeddings_model": data.model, "C": c, "labels": probes}


def apply_probe(probe: dict[str, Any], features: np.ndarray) -> dict[str, np.ndarray]:
    """Label -> probability for each row of ``features`` (the saved probe, numpy only)."""
    out = {}
    for label, p in probe["labels"].items():
        z = ((features - np.asarray(p["mean"])) / np.asarray(p["scale"])) @ np.asarray(p["coef"]) + p["intercept"]
        out[label] = 1.0 / (1.0 + np.exp(-z))
    return out


def run_linear_probe(embeddings: str | os.PathLike[str], labels_csv: str | os.PathLike[str], *, key: str | None = None,
                     folds: int = 5, c: float = 1.0, n_boot: int = 1000, seed: int = 0,
                     out_dir: str | os.PathLike[str] | None = None) -> Evaluation:
    """Cross-validated evaluation (and, with ``out_dir``, report.md, metrics.json and probe.json)."""
    data = load_probe_data(embeddings, labels_csv, key)
    scores = out_of_fold_scores(data, folds=folds, c=c, seed=seed)
    mask = data.mask & np.isfinite(scores)
    evaluation = evaluate_predictions(data.y, np.nan_to_num(scores), mask, data.labels, n_boot=n_boot, seed=seed)
    evaluation.summary.update({"folds": folds, "C": c, "embeddings_model": data.model,
                               "grouped_folds": data.groups is not None})
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        model = f"{data.model.get('model')} v{data.model.get('model_version')}"
        how = f"{folds}-fold cross-validated logistic regression (C={c}) on standardised features"
        notes = [f"embeddings of {model}; {len(data.keys)} records joined on the labels",
                 f"{how}; AUROC of out-of-fold scores"]
        (out / "report.md").write_text(markdown_report(evaluation, title="Linear probe", notes=notes))
        (out / "metrics.json").write_text(json.dumps(evaluation.to_dict(), indent=1) + "\n")
        (out / "probe.json").write_text(json.dumps(fit_probe(data, c=c)) + "\n")
    return evaluation
