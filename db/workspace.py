"""What the review workspace does, as plain functions: first start, imports, the worklist.

The Streamlit pages only call these, so every action a page offers is tested without a browser.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from db import records as record_store
from db import users
from db.consensus import review_queue
from db.errors import PermissionDeniedError
from db.models import Prediction, PredictionScore, Record, Review, User
from db.session import Database
from ecgcore.predict import Predictor
from ecgcore.record import Record as ECGRecord

ADMIN_USER_ENV = "ECG_ADMIN_USER"
ADMIN_PASSWORD_ENV = "ECG_ADMIN_PASSWORD"


# -- first start -----------------------------------------------------------------------------
def bootstrap_admin_from_env(db: Database) -> str | None:
    """Create the first admin from ``ECG_ADMIN_USER``/``ECG_ADMIN_PASSWORD`` (deployments); its name or None.

    Like the first-start form, only while no administrator ever existed: the variables left in a
    deployment's environment cannot recreate an admin someone deliberately removed.
    """
    name, password = os.environ.get(ADMIN_USER_ENV), os.environ.get(ADMIN_PASSWORD_ENV)
    if not name or not password or not users.first_start_open(db):
        return None
    try:
        users.create_first_admin(db, name, password)
    except PermissionDeniedError:  # another process of the same deployment created it first
        return None
    return users.check_user_name(name)


# -- imports -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportResult:
    record_id: int
    created: bool
    prediction_id: int | None


def import_ecg(
    db: Database,
    ecg: ECGRecord,
    *,
    predictor: Predictor | None,
    files: Sequence[Path] = (),
    file_format: str | None = None,
    original_filename: str | None = None,
    uploader: str | None = None,
) -> ImportResult:
    """Store an ECG (originals kept) and, if this model has not scored it yet, its prediction.

    A duplicate upload is the same record; re-running the same model version on it is skipped,
    another model or version adds a run (the store never overwrites predictions).
    """
    row, created = record_store.add_record(
        db, ecg, files=files, file_format=file_format, original_filename=original_filename, uploader=uploader
    )
    prediction_id = ensure_prediction(db, row.id, ecg, predictor, actor=uploader) if predictor is not None else None
    return ImportResult(record_id=row.id, created=created, prediction_id=prediction_id)


def ensure_prediction(db: Database, record_id: int, ecg: ECGRecord, predictor: Predictor, *,
                      actor: str | None = None) -> int:
    """The id of this model version's prediction on the record, scoring it now if there is none."""
    card = predictor.card
    existing = latest_prediction_id(db, record_id, model_name=card.name, model_version=card.version)
    if existing is not None:
        return existing
    probabilities = predictor.probabilities(predictor.prepare(ecg)[np.newaxis])[0]
    run = record_store.add_prediction(
        db,
        record_id,
        card.name,
        card.version,
        dict(zip(predictor.labels, (float(p) for p in probabilities))),
        dict(zip(predictor.labels, (float(t) for t in predictor.thresholds))),
        actor=actor,
    )
    return run.id


def stored_probabilities(db: Database, prediction_id: int) -> dict[str, float]:
    with db.transaction() as session:
        rows = session.execute(
            select(PredictionScore.label, PredictionScore.probability).where(PredictionScore.prediction_id == prediction_id)
        ).all()
    return {label: float(p) for label, p in rows}


def latest_review_version(db: Database, record_id: int, reviewer: str) -> int:
    """0 when ``reviewer`` has not read the record yet; else their latest version number."""
    with db.transaction() as session:
        version = session.scalar(
            select(func.max(Review.version)).join(User, User.id == Review.reviewer_id)
            .where(Review.record_id == record_id, User.name == reviewer)
        )
    return int(version or 0)


def preload_records(
    db: Database,
    paths: Sequence[Path],
    predictor_for: Callable[[ECGRecord], Predictor | None],
    read: Callable[[Path], ECGRecord],
) -> int:
    """Import demo/sample records once (idempotent: the content hash makes repeats no-ops); count of new ones.

    A record that cannot be read or scored is skipped with a warning: a bad demo file must not keep
    the workspace from starting.
    """
    report = import_files(db, paths, predictor_for=predictor_for, uploader=None, read=read)
    for name, message in report.errors:
        warnings.warn(f"Demo record {name} skipped: {message}", stacklevel=2)
    return report.new


def latest_prediction_id(db: Database, record_id: int, *, model_name: str | None = None,
                         model_version: str | None = None) -> int | None:
    query = select(Prediction.id).where(Prediction.record_id == record_id)
    if model_name is not None:
        query = query.where(Prediction.model_name == model_name)
    if model_version is not None:
        query = query.where(Prediction.model_version == model_version)
    with db.transaction() as session:
        return session.scalar(query.order_by(Prediction.id.desc()).limit(1))


# -- worklist --------------------------------------------------------------------------------
_STATUS_PRIORITY = {"needs_adjudication": 0, "needs_second_review": 1, "needs_first_review": 2}


def model_uncertainty(db: Database) -> pd.Series:
    """Per record, how close the latest prediction sits to a decision: 1 - min |p - threshold| * 2.

    1.0 means some label sits exactly on its threshold (a verdict there teaches the model most);
    0.0 means every label is far from it. Labels without a threshold use 0.5.
    """
    latest = select(Prediction.record_id, func.max(Prediction.id).label("pid")).group_by(Prediction.record_id).subquery()
    query = select(latest.c.record_id, PredictionScore.probability, PredictionScore.threshold).join(
        PredictionScore, PredictionScore.prediction_id == latest.c.pid
    )
    with db.transaction() as session:
        rows = session.execute(query).all()
    if not rows:
        return pd.Series(dtype=float, name="uncertainty")
    frame = pd.DataFrame(rows, columns=["record_id", "p", "thr"])
    frame["margin"] = (frame["p"] - frame["thr"].fillna(0.5)).abs()
    return (1.0 - 2.0 * frame.groupby("record_id")["margin"].min()).clip(0.0, 1.0).rename("uncertainty")


def worklist(db: Database, *, reviewer: str | None = None, order: str = "priority", min_reviewers: int = 2) -> pd.DataFrame:
    """Records awaiting review, one row each, in the order a reviewer should take them.

    ``order="priority"``: adjudication first, then second reviews, then new records, each by model
    uncertainty; ``order="uncertainty"``: the most uncertain first (active learning);
    ``order="oldest"``: by upload. With ``reviewer``, records that reviewer already read are left out
    (except those awaiting adjudication, for adjudicators to see).
    """
    if order not in ("priority", "uncertainty", "oldest"):
        raise ValueError(f"order must be priority, uncertainty or oldest; got {order!r}")
    queue = review_queue(db, min_reviewers=min_reviewers, include_unreviewed=True)
    columns = ["record_id", "name", "uploaded_at", "status", "n_reviewers", "uncertainty", "unresolved"]
    if queue.empty:
        return pd.DataFrame(columns=columns)
    with db.transaction() as session:
        meta = pd.DataFrame(
            session.execute(select(Record.id, Record.record_name, Record.uploaded_at)).all(),
            columns=["record_id", "name", "uploaded_at"],
        )
        done: set[int] = set()
        if reviewer is not None:
            done = set(session.scalars(select(Review.record_id).join(User, User.id == Review.reviewer_id).where(User.name == reviewer)))
    table = queue.merge(meta, on="record_id", how="left")
    table = table.join(model_uncertainty(db), on="record_id")
    table["uncertainty"] = table["uncertainty"].fillna(0.0)
    if reviewer is not None:
        table = table[~table["record_id"].isin(done) | (table["status"] == "needs_adjudication")]
    if order == "priority":
        table = table.assign(_p=table["status"].map(_STATUS_PRIORITY)).sort_values(["_p", "uncertainty"], ascending=[True, False])
    elif order == "uncertainty":
        table = table.sort_values("uncertainty", ascending=False)
    else:
        table = table.sort_values("uploaded_at")
    return table[columns].reset_index(drop=True)


def import_upload(
    db: Database,
    files: Sequence[tuple[str, bytes]],
    *,
    predictor_for: Callable[[ECGRecord], Predictor | None],
    uploader: str | None,
) -> tuple[ImportResult, ECGRecord]:
    """Read an upload and store it with its original files; a file that fails stores nothing.

    Reading happens before anything is written, so a corrupt or oversized upload raises its
    reader error (an :class:`ecgcore.errors.ECGError`) and leaves the store untouched.
    """
    import tempfile

    from ecgcore.io import read, stage_upload

    with tempfile.TemporaryDirectory(prefix="ecg-upload-") as tmp:
        primary = stage_upload(list(files), Path(tmp))
        ecg = read(primary)
        staged = sorted(p for p in Path(tmp).iterdir() if p.is_file())
        result = import_ecg(db, ecg, predictor=predictor_for(ecg), files=staged, file_format=primary.suffix.lstrip("."),
                            original_filename=primary.name, uploader=uploader)
    return result, ecg


# -- dashboard -------------------------------------------------------------------------------
def reviewer_model_confusion(db: Database) -> pd.DataFrame:
    """Per reviewer and label: how their current verdicts line up with the model's call.

    The model's call is the prediction the reviewer saw (or the record's latest one when they were
    blinded), positive at its stored threshold (0.5 when none). Uncertain verdicts are left out.
    Columns: reviewer, label, both_present, reviewer_only, model_only, both_absent.
    """
    from db.reviews import review_table

    table = review_table(db)
    columns = ["reviewer", "label", "both_present", "reviewer_only", "model_only", "both_absent"]
    if table.reviews.empty:
        return pd.DataFrame(columns=columns)
    with db.transaction() as session:
        seen = dict(session.execute(select(Review.id, Review.prediction_id).where(
            Review.id.in_(table.reviews["review_id"].tolist()))).all())
        latest = dict(session.execute(select(Prediction.record_id, func.max(Prediction.id)).group_by(Prediction.record_id)).all())
        scores = pd.DataFrame(
            session.execute(select(PredictionScore.prediction_id, PredictionScore.label, PredictionScore.probability,
                                   PredictionScore.threshold)).all(),
            columns=["prediction_id", "label", "p", "thr"],
        )
    if scores.empty:
        return pd.DataFrame(columns=columns)
    scores["model_positive"] = scores["p"] >= scores["thr"].fillna(0.5)
    merged = table.verdicts.merge(table.reviews[["review_id", "record_id", "reviewer"]], on="review_id")
    merged = merged[merged["verdict"] != "uncertain"]
    merged["prediction_id"] = [seen.get(r) or latest.get(rec) for r, rec in zip(merged["review_id"], merged["record_id"])]
    merged = merged.dropna(subset=["prediction_id"]).merge(scores, on=["prediction_id", "label"])
    present = merged["verdict"] == "present"
    model = merged["model_positive"]
    merged = merged.assign(both_present=present & model, reviewer_only=present & ~model,
                           model_only=~present & model, both_absent=~present & ~model)
    out = merged.groupby(["reviewer", "label"])[columns[2:]].sum().astype(int).reset_index()
    return out[columns]


def verdicts_csv(db: Database) -> str:
    """Every current verdict, one row each (record, reviewer, label, verdict, blinded, version)."""
    from db.reviews import review_table

    table = review_table(db)
    rows = table.verdicts.merge(table.reviews, on="review_id")
    rows = rows.assign(blinded=~rows["saw_model_output"].astype(bool))
    columns = ["record_id", "reviewer", "role", "label", "verdict", "is_adjudication", "blinded", "version"]
    return rows[columns].sort_values(["record_id", "reviewer", "label"]).to_csv(index=False)


def export_zip(db: Database, exported_by: str | None) -> bytes:
    """The expert-review test set (see db.export) as a zip, for a download button."""
    import io
    import tempfile
    import zipfile

    from db.export import export_expert_review

    with tempfile.TemporaryDirectory(prefix="ecg-export-") as tmp:
        folder = export_expert_review(db, Path(tmp) / "expert-review", exported_by=exported_by)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder.parent).as_posix())
    return buffer.getvalue()


# -- bulk import -----------------------------------------------------------------------------
@dataclass
class BulkImportReport:
    """What a bulk import did; ``errors`` lists (file name, message) for files that were skipped."""

    total: int = 0
    done: int = 0
    new: int = 0
    duplicates: int = 0
    errors: list[tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        self.errors = [] if self.errors is None else self.errors


def import_files(
    db: Database,
    paths: Sequence[Path],
    *,
    predictor_for: Callable[[ECGRecord], Predictor | None],
    uploader: str | None,
    on_progress: Callable[[BulkImportReport], None] | None = None,
    read: Callable[[Path], ECGRecord] | None = None,
) -> BulkImportReport:
    """Import many ECG files (e.g. a folder or an unpacked zip); a bad file is listed, never fatal.

    ``read`` defaults to :func:`ecgcore.io.read`. A WFDB header is stored with its signal files.
    """
    from ecgcore.errors import ECGError

    if read is None:
        from ecgcore.io import read

    report = BulkImportReport(total=len(paths))
    for path in paths:
        try:
            ecg = read(path)
            companions = sorted(p for p in path.parent.glob(path.stem + ".*") if p.is_file()) if path.suffix == ".hea" else [path]
            result = import_ecg(db, ecg, predictor=predictor_for(ecg), files=companions,
                                file_format=path.suffix.lstrip("."), original_filename=path.name, uploader=uploader)
            report.new += int(result.created)
            report.duplicates += int(not result.created)
        except ECGError as error:
            report.errors.append((path.name, str(error)))
        report.done += 1
        if on_progress is not None:
            on_progress(report)
    return report


def import_archive(db: Database, data: bytes, *, predictor_for: Callable[[ECGRecord], Predictor | None],
                   uploader: str | None, on_progress: Callable[[BulkImportReport], None] | None = None) -> BulkImportReport:
    """Import every ECG in an uploaded .zip (safely extracted: no paths outside it, size-limited)."""
    import tempfile

    from ecgcore.batch import discover_ecg_files
    from ecgcore.io.zip_reader import extract_zip_safely

    with tempfile.TemporaryDirectory(prefix="ecg-bulk-") as tmp:
        archive = Path(tmp) / "upload.zip"
        archive.write_bytes(data)
        folder = extract_zip_safely(archive, Path(tmp) / "files")
        return import_files(db, discover_ecg_files([folder]), predictor_for=predictor_for, uploader=uploader,
                            on_progress=on_progress)
