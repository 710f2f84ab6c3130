"""Reader study on records with a final consensus: the model vs the experts, and each expert vs the others.

* :func:`model_auroc`: AUROC per label of the model's probabilities against the consensus, with its
  n (records, positives, negatives) and a percentile bootstrap 95% CI (records resampled; resamples
  with a single class are skipped), flagged ``enough_data`` False below the minimum numbers of
  positives and negatives (all defined and explained in :mod:`db.agreement`).
* :func:`reviewer_performance`: each reviewer's sensitivity, specificity and F1 against the
  consensus of the *other* reviewers (leave-one-out majority; an adjudicator other than the reviewer
  still overrides), so nobody is graded against their own vote.

Both count only active labels (see :mod:`db.agreement`), so specificity is not inflated by the
labels nobody ever considered.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sqlalchemy import select

from db.agreement import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    MIN_AUROC_NEGATIVES,
    MIN_AUROC_POSITIVES,
    active_labels,
    bootstrap_ci,
    sample_size_note,
)
from db.consensus import ABSENT, PRESENT, UNCERTAIN, compute_consensus, majority, verdict_matrix
from db.labels import vocabulary
from db.models import PredictionRun, PredictionScore
from db.reviews import review_table
from db.session import Database


def latest_probabilities(db: Database, record_ids: Sequence[int], labels: Sequence[str], *,
                         model_name: str | None = None, model_version: str | None = None) -> pd.DataFrame:
    """Probabilities (record x label, NaN where absent) of each record's latest matching model run."""
    query = select(PredictionRun.id, PredictionRun.record_id).where(PredictionRun.record_id.in_(list(record_ids)))
    if model_name is not None:
        query = query.where(PredictionRun.model_name == model_name)
    if model_version is not None:
        query = query.where(PredictionRun.model_version == model_version)
    out = pd.DataFrame(np.nan, index=pd.Index(list(record_ids), name="record_id"), columns=list(labels))
    with db.transaction() as session:
        runs = pd.DataFrame(session.execute(query).all(), columns=["prediction_id", "record_id"])
        if runs.empty:
            return out
        latest = runs.sort_values("prediction_id").groupby("record_id")["prediction_id"].last()
        scores = pd.DataFrame(session.execute(
            select(PredictionScore.prediction_id, PredictionScore.label, PredictionScore.probability)
            .where(PredictionScore.prediction_id.in_(latest.tolist()))
        ).all(), columns=["prediction_id", "label", "probability"])
    record_of = pd.Series(latest.index, index=latest.to_numpy())
    scores["record_id"] = record_of.loc[scores["prediction_id"]].to_numpy()
    wide = scores.pivot(index="record_id", columns="label", values="probability")
    out.update(wide.reindex(columns=out.columns))
    return out


def _auroc(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """AUROC of each row (Mann-Whitney U with ties counted half, as roc_auc_score); NaN for one class."""
    y = y.astype(bool)
    n_pos = y.sum(axis=-1)
    n_neg = y.shape[-1] - n_pos
    ranks = rankdata(p, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * y).sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos == 0) | (n_neg == 0), np.nan, auc)


def bootstrap_auroc(y: np.ndarray, p: np.ndarray, *, n_boot: int = BOOTSTRAP_RESAMPLES,
                    seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """AUROC and its percentile bootstrap 95% CI (:func:`db.agreement.bootstrap_ci`); NaNs for a single class."""
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan"), float("nan")
    low, high = bootstrap_ci(lambda idx: _auroc(y[idx], p[idx]), len(y), n_boot=n_boot, seed=seed)
    return float(_auroc(y, p)), low, high


AUROC_COLUMNS = ["label", "n_records", "n_positive", "n_negative", "auroc", "ci_low", "ci_high", "enough_data",
                 "note"]


def model_auroc(db: Database, labels: Sequence[str] | None = None, *, model_name: str | None = None,
                model_version: str | None = None, min_reviewers: int = 2, n_boot: int = BOOTSTRAP_RESAMPLES,
                seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """AUROC per label vs consensus, on records with a final consensus and a matching model run.

    Columns: label, n_records, n_positive, n_negative, auroc, ci_low, ci_high, enough_data
    (``n_positive >= MIN_AUROC_POSITIVES`` and ``n_negative >= MIN_AUROC_NEGATIVES``), note (why
    greyed out or NaN). One row per active label (some review marked it present or uncertain) that
    the model scores on at least one of these records; a label whose consensus has a single class
    there keeps its row and n, with a NaN AUROC and the reason in ``note``.
    """
    labels = tuple(labels or vocabulary())
    table = review_table(db)
    final = compute_consensus(table, labels, min_reviewers=min_reviewers).final()
    probs = latest_probabilities(db, final.index.tolist(), labels, model_name=model_name,
                                 model_version=model_version)
    active = set(active_labels(verdict_matrix(table, labels), labels))
    rows = []
    for j, label in enumerate(labels):
        have = probs[label].notna().to_numpy()
        if j not in active or not have.any():
            continue
        y = final[label].to_numpy()[have]
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        auc, low, high = bootstrap_auroc(y, probs[label].to_numpy()[have], n_boot=n_boot, seed=seed)
        enough = n_pos >= MIN_AUROC_POSITIVES and n_neg >= MIN_AUROC_NEGATIVES
        too_small = None if enough else (f"{n_pos} positive, {n_neg} negative records; "
                                         f"minimum {MIN_AUROC_POSITIVES} and {MIN_AUROC_NEGATIVES}")
        undefined = None
        if np.isnan(auc):
            undefined = f"undefined: the consensus has no {'positive' if n_pos == 0 else 'negative'} record"
        rows.append({"label": label, "n_records": len(y), "n_positive": n_pos, "n_negative": n_neg,
                     "auroc": auc, "ci_low": low, "ci_high": high, "enough_data": enough,
                     "note": sample_size_note(too_small, undefined)})
    return pd.DataFrame(rows, columns=AUROC_COLUMNS).astype({"enough_data": bool})


def reviewer_performance(db: Database, labels: Sequence[str] | None = None, *, unlisted: str = "absent",
                         by_blinding: bool = False) -> pd.DataFrame:
    """Each reviewer vs the consensus of the others (records where the others reach one).

    Columns: reviewer, [saw_model_output,] n_records, tp, fp, fn, tn, n_uncertain, sensitivity,
    specificity, f1. ``by_blinding`` splits each reviewer's reads by whether they saw the model's
    output, to show automation bias (or help).
    """
    labels = tuple(labels or vocabulary())
    table = review_table(db)
    codes = verdict_matrix(table, labels, unlisted)
    cols = np.array(active_labels(codes, labels), dtype=int)
    reviews = table.reviews
    adjudication = reviews["is_adjudication"].to_numpy().astype(bool)
    stats: dict[tuple[str, bool], dict[str, int]] = {}
    for _, idx in reviews.groupby("record_id").indices.items():
        for i in idx[~adjudication[idx]]:
            others = [k for k in idx if k != i and reviews.at[k, "reviewer_id"] != reviews.at[i, "reviewer_id"]]
            regular = [k for k in others if not adjudication[k]]
            if not others:
                continue
            target = majority(codes[regular]) if regular else np.full(len(labels), np.nan)
            adjudicators = [k for k in others if adjudication[k]]
            if adjudicators:
                latest = max(adjudicators, key=lambda k: reviews.at[k, "review_id"])
                decided = np.isin(codes[latest], (PRESENT, ABSENT))
                target[decided] = codes[latest][decided]
            mine, target = codes[i][cols], target[cols]
            key = (reviews.at[i, "reviewer"], bool(reviews.at[i, "saw_model_output"]) if by_blinding else False)
            s = stats.setdefault(key, {"n_records": 0, "tp": 0, "fp": 0, "fn": 0, "tn": 0,
                                                              "n_uncertain": 0})
            s["n_records"] += 1
            known = ~np.isnan(target)
            s["n_uncertain"] += int(((mine == UNCERTAIN) & known).sum())
            ok = known & np.isin(mine, (PRESENT, ABSENT))
            m, t = mine[ok] == PRESENT, target[ok] == 1.0
            s["tp"] += int((m & t).sum())
            s["fp"] += int((m & ~t).sum())
            s["fn"] += int((~m & t).sum())
            s["tn"] += int((~m & ~t).sum())
    rows = []
    for (name, saw), s in sorted(stats.items()):
        sens = s["tp"] / (s["tp"] + s["fn"]) if s["tp"] + s["fn"] else float("nan")
        spec = s["tn"] / (s["tn"] + s["fp"]) if s["tn"] + s["fp"] else float("nan")
        f1 = 2 * s["tp"] / (2 * s["tp"] + s["fp"] + s["fn"]) if s["tp"] + s["fp"] + s["fn"] else float("nan")
        rows.append({"reviewer": name, "saw_model_output": saw, **s, "sensitivity": sens, "specificity": spec,
                     "f1": f1})
    columns = ["reviewer", "saw_model_output", "n_records", "tp", "fp", "fn", "tn", "n_uncertain", "sensitivity",
               "specificity", "f1"]
    return pd.DataFrame(rows, columns=columns if by_blinding else [c for c in columns if c != "saw_model_output"])
