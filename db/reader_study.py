"""Reader study on records with a final consensus: the model vs the experts, and each expert vs the others.

* :func:`model_auroc`: AUROC per label of the model's probabilities against the consensus, with a
  percentile bootstrap 95% CI (records resampled; resamples with a single class are skipped).
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
from sklearn.metrics import roc_auc_score
from sqlalchemy import select

from db.agreement import active_labels
from db.consensus import ABSENT, PRESENT, UNCERTAIN, compute_consensus, majority, verdict_matrix
from db.labels import vocabulary
from db.models import Prediction, PredictionScore
from db.reviews import review_table
from db.session import Database


def latest_probabilities(db: Database, record_ids: Sequence[int], labels: Sequence[str], *,
                         model_name: str | None = None, model_version: str | None = None) -> pd.DataFrame:
    """Probabilities (record x label, NaN where absent) of each record's latest matching model run."""
    query = select(Prediction.id, Prediction.record_id).where(Prediction.record_id.in_(list(record_ids)))
    if model_name is not None:
        query = query.where(Prediction.model_name == model_name)
    if model_version is not None:
        query = query.where(Prediction.model_version == model_version)
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


def bootstrap_auroc(y: np.ndarray, p: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """AUROC and percentile bootstrap 95% CI; NaNs when ``y`` has a single class."""
    y, p = np.asarray(y), np.asarray(p)
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan"), float("nan")
    auc = float(roc_auc_score(y, p))
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():
            samples.append(roc_auc_score(y[idx], p[idx]))
    if not samples:
        return auc, float("nan"), float("nan")
    low, high = np.percentile(samples, [2.5, 97.5])
    return auc, float(low), float(high)


def model_auroc(db: Database, labels: Sequence[str] | None = None, *, model_name: str | None = None,
                model_version: str | None = None, min_reviewers: int = 2, n_boot: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """AUROC per label vs consensus, on records with a final consensus and a matching model run.

    Columns: label, n_records, n_positive, auroc, ci_low, ci_high. Labels whose consensus has a
    single class on these records are left out (AUROC is undefined).
    """
    labels = tuple(labels or vocabulary())
    final = compute_consensus(review_table(db), labels, min_reviewers=min_reviewers).final()
    probs = latest_probabilities(db, final.index.tolist(), labels, model_name=model_name,
                                 model_version=model_version)
    rows = []
    for label in labels:
        have = probs[label].notna().to_numpy()
        y = final[label].to_numpy()[have]
        if len(y) == 0 or y.min() == y.max():
            continue
        auc, low, high = bootstrap_auroc(y, probs[label].to_numpy()[have], n_boot=n_boot, seed=seed)
        rows.append({"label": label, "n_records": int(len(y)), "n_positive": int(y.sum()), "auroc": auc,
                     "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=["label", "n_records", "n_positive", "auroc", "ci_low", "ci_high"])


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
