"""What the Agreement page shows, each table already cut to what the viewing role may see.

:func:`agreement_view` gathers the page's tables and applies :mod:`db.permissions`:

* ``see_model_agreement``: the model-vs-reviewer sections (model vs consensus AUROC, each reviewer
  vs the model) are None for roles without it (annotators, who read blinded); reviewer-vs-reviewer
  agreement is for everyone.
* ``see_reviewer_names``: every reviewer column carries :func:`db.permissions.reviewer_labels`, so
  other roles see the same stable pseudonyms ("reviewer 1") in every chart and table of the page.

:func:`verdicts_csv` (every current verdict, with reviewers' names) is an export: it checks its
``actor`` for ``export`` and is audited. Statistics, their n, intervals and minimum sample sizes
come from :mod:`db.agreement` and :mod:`db.reader_study`.

:func:`measurement_agreement` sets our interval measurements against the reviewers' corrections of
them, per measurement, with reviewers shown as ``see_reviewer_names`` allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from db import audit
from db.agreement import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, cohen_kappa_pairs, fleiss_kappa_per_label
from db.measurements import correction_table, difference
from db.models import PredictionRun, PredictionScore, Review
from db.permissions import allowed, reviewer_labels
from db.reader_study import model_auroc
from db.reviews import ReviewTable, review_table
from db.session import Database
from db.users import acting_user
from ecgcore.bundle import DEFAULT_THRESHOLD
from ecgcore.measurements.types import GLOBAL_MEASURES

CONFUSION_COLUMNS = ["reviewer", "label", "both_present", "reviewer_only", "model_only", "both_absent"]
VERDICT_COLUMNS = ["record_id", "reviewer", "role", "label", "verdict", "is_adjudication", "blinded", "version"]


@dataclass(frozen=True)
class AgreementView:
    """The Agreement page's tables for one role (reviewer names already shown as that role may see them)."""

    records_per_reviewer: pd.Series  # records reviewed, indexed by reviewer as shown
    pairs: pd.DataFrame  # Cohen's kappa per reviewer pair (db.agreement.cohen_kappa_pairs)
    labels: pd.DataFrame  # Fleiss' kappa per label (db.agreement.fleiss_kappa_per_label)
    auroc: pd.DataFrame | None  # model vs consensus (db.reader_study.model_auroc); None: not for this role
    confusion: pd.DataFrame | None  # reviewer vs model (reviewer_model_confusion); None: not for this role
    can_export: bool  # whether the role may download the verdicts CSV and the expert-review set


def records_per_reviewer(table: ReviewTable) -> pd.Series:
    """How many records each reviewer has a current review of (regular or adjudication)."""
    if table.reviews.empty:
        return pd.Series(dtype=int, name="records", index=pd.Index([], name="reviewer"))
    return table.reviews.groupby("reviewer")["record_id"].nunique().rename("records")


def reviewer_model_confusion(db: Database, table: ReviewTable | None = None) -> pd.DataFrame:
    """Per reviewer and label: how their current verdicts line up with the model's call.

    The model's call is the prediction the reviewer saw (or the record's latest one when they were
    blinded), positive at its stored threshold (0.5 when none). Uncertain verdicts are left out.
    Columns: reviewer, label, both_present, reviewer_only, model_only, both_absent.
    """
    table = review_table(db) if table is None else table
    if table.reviews.empty:
        return pd.DataFrame(columns=CONFUSION_COLUMNS)
    with db.transaction() as session:
        seen = dict(session.execute(select(Review.id, Review.prediction_id).where(
            Review.id.in_(table.reviews["review_id"].tolist()))).all())
        latest = dict(session.execute(select(PredictionRun.record_id, func.max(PredictionRun.id)).group_by(PredictionRun.record_id)).all())
        scores = pd.DataFrame(
            session.execute(select(PredictionScore.prediction_id, PredictionScore.label, PredictionScore.probability,
                                   PredictionScore.threshold)).all(),
            columns=["prediction_id", "label", "p", "thr"],
        )
    if scores.empty:
        return pd.DataFrame(columns=CONFUSION_COLUMNS)
    scores["model_positive"] = scores["p"] >= scores["thr"].fillna(DEFAULT_THRESHOLD)
    merged = table.verdicts.merge(table.reviews[["review_id", "record_id", "reviewer"]], on="review_id")
    merged = merged[merged["verdict"] != "uncertain"]
    merged["prediction_id"] = [seen.get(r) or latest.get(rec) for r, rec in zip(merged["review_id"], merged["record_id"])]
    merged = merged.dropna(subset=["prediction_id"]).merge(scores, on=["prediction_id", "label"])
    present = merged["verdict"] == "present"
    model = merged["model_positive"]
    merged = merged.assign(both_present=present & model, reviewer_only=present & ~model,
                           model_only=~present & model, both_absent=~present & ~model)
    out = merged.groupby(["reviewer", "label"])[CONFUSION_COLUMNS[2:]].sum().astype(int).reset_index()
    return out[CONFUSION_COLUMNS]


def verdicts_csv(db: Database, *, actor: str | int | None) -> str:
    """Every current verdict, one row each (record, reviewer, role, label, verdict, adjudication, blinded, version).

    An export with reviewers' names: ``actor`` must be allowed to ``export`` (None: the operator),
    and the download is audited in the same transaction as the check, so a refused call leaves no
    audit row and an allowed one always leaves one.
    """
    table = review_table(db)
    rows = table.verdicts.merge(table.reviews, on="review_id")
    rows = rows.assign(blinded=~rows["saw_model_output"].astype(bool))
    text = rows[VERDICT_COLUMNS].sort_values(["record_id", "reviewer", "label"]).to_csv(index=False)
    with db.transaction() as session:
        user = acting_user(session, actor, "export")
        audit.log(session, "export", user_id=user.id if user else None, target="verdicts_csv",
                  details={"n_verdicts": len(rows), "n_records": int(rows["record_id"].nunique())})
    return text


def _shown(frame: pd.DataFrame, names: dict[str, str], columns: tuple[str, ...]) -> pd.DataFrame:
    return frame.assign(**{c: frame[c].map(names) for c in columns if c in frame})


def agreement_view(db: Database, role: str, *, n_boot: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> AgreementView:
    """Everything the Agreement page shows to ``role`` (see the module docstring for who sees what)."""
    table = review_table(db)
    names = reviewer_labels(role, table.reviews["reviewer"].tolist())
    counts = records_per_reviewer(table)
    counts.index = counts.index.map(names).rename("reviewer")
    pairs = _shown(cohen_kappa_pairs(table, n_boot=n_boot, seed=seed), names, ("reviewer_a", "reviewer_b"))
    labels = fleiss_kappa_per_label(table, n_boot=n_boot, seed=seed)
    auroc = confusion = None
    if allowed(role, "see_model_agreement"):
        auroc = model_auroc(db, n_boot=n_boot, seed=seed)
        confusion = _shown(reviewer_model_confusion(db, table), names, ("reviewer",))
    return AgreementView(records_per_reviewer=counts, pairs=pairs, labels=labels, auroc=auroc, confusion=confusion,
                         can_export=allowed(role, "export"))


MEASUREMENT_SUMMARY_COLUMNS = ["name", "label", "unit", "n_corrected", "n_compared", "n_not_measurable",
                               "mean_diff", "sd_diff", "loa_low", "loa_high", "note"]
MEASUREMENT_ROW_COLUMNS = ["record_id", "reviewer", "name", "label", "unit", "ours", "reviewer_value", "diff",
                           "algorithm_version", "measurement_id", "version", "corrected_at", "note"]


@dataclass(frozen=True)
class MeasurementAgreement:
    """Our measurements against the reviewers' corrections (reviewers shown as the viewing role may see them).

    ``summary``: one row per global measurement, in ``GLOBAL_MEASURES`` order: n_corrected (current
    corrections: one per record and reviewer), n_compared (both values present), n_not_measurable
    (one of the two says it cannot be measured), mean_diff and sd_diff of (reviewer - ours) over
    the compared ones (SD with n - 1; NaN below 2), loa_low/loa_high = mean -+ 1.96 SD (Bland-Altman
    limits), note (why a number is missing). Axes differ by the signed angle, in (-180, 180].
    ``rows``: one row per current correction, for the table and the scatter (ours vs reviewer).
    """

    summary: pd.DataFrame
    rows: pd.DataFrame


def measurement_agreement(db: Database, role: str, *, algorithm_version: str | None = None) -> MeasurementAgreement:
    """Per global measurement, how the reviewers' current corrections differ from our values.

    "Ours" is the value the reviewer corrected (the measurement row stored with the correction),
    so a correction is always compared with what its reviewer saw; ``algorithm_version`` keeps only
    corrections of that algorithm version's measurements. Only corrections count: a value a
    reviewer left alone is not in here, so the differences describe the corrected values, not every
    measurement. Reviewer names follow :func:`db.permissions.reviewer_labels` for ``role``.
    """
    table = correction_table(db)
    table = table[table["is_latest"].astype(bool)]
    if algorithm_version is not None:
        table = table[table["algorithm_version"] == algorithm_version]
    names = reviewer_labels(role, table["reviewer"].tolist())
    by_name = {m.name: m for m in GLOBAL_MEASURES}
    rows = pd.DataFrame({
        "record_id": table["record_id"].astype(int),
        "reviewer": table["reviewer"].map(names),
        "name": table["name"],
        "label": table["name"].map(lambda n: by_name[n].label),
        "unit": table["name"].map(lambda n: by_name[n].unit),
        "ours": table["measured_value"].astype(float),
        "reviewer_value": table["value"].astype(float),
        "diff": [difference(n, r, o) if pd.notna(r) and pd.notna(o) else np.nan
                 for n, r, o in zip(table["name"], table["value"], table["measured_value"], strict=True)],
        "algorithm_version": table["algorithm_version"],
        "measurement_id": table["measurement_id"],
        "version": table["version"].astype(int),
        "corrected_at": table["created_at"],
        "note": table["note"],
    }, columns=MEASUREMENT_ROW_COLUMNS)
    rows = rows.sort_values(["name", "record_id", "reviewer"], ignore_index=True)
    summary = []
    for measure in GLOBAL_MEASURES:
        group = rows[rows["name"] == measure.name]
        diffs = group["diff"].dropna().to_numpy(dtype=float)
        n = len(diffs)
        mean = float(diffs.mean()) if n else np.nan
        sd = float(diffs.std(ddof=1)) if n >= 2 else np.nan
        note = "" if n >= 2 else ("no value to compare" if n == 0 else "one value: no SD")
        summary.append({"name": measure.name, "label": measure.label, "unit": measure.unit,
                        "n_corrected": len(group), "n_compared": n, "n_not_measurable": len(group) - n,
                        "mean_diff": mean, "sd_diff": sd, "loa_low": mean - 1.96 * sd, "loa_high": mean + 1.96 * sd,
                        "note": note})
    return MeasurementAgreement(summary=pd.DataFrame(summary, columns=MEASUREMENT_SUMMARY_COLUMNS), rows=rows)
