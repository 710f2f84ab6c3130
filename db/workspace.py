"""What the review workspace does, as plain functions: first start, imports, the worklist.

The Streamlit pages only call these, so every action a page offers is tested without a browser.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from db import config, users
from db import records as record_store
from db.assessments import assess_at_import
from db.consensus import WAITING_STATUSES, review_queue
from db.errors import PermissionDeniedError
from db.models import PredictionRun, PredictionScore, Review, StoredRecord, User
from db.session import Database
from ecgcore import config as ecg_config
from ecgcore.bundle import DEFAULT_THRESHOLD
from ecgcore.measurements.types import Measurements
from ecgcore.predict import Predictor
from ecgcore.record import Record as ECGRecord


# -- first start -----------------------------------------------------------------------------
def bootstrap_admin_from_env(db: Database) -> str | None:
    """Create the first admin from ``ECG_ADMIN_USER``/``ECG_ADMIN_PASSWORD`` (deployments); its name or None.

    Like the first-start form, only while no administrator ever existed: the variables left in a
    deployment's environment cannot recreate an admin someone deliberately removed.
    """
    from_env = config.admin_from_env()
    if from_env is None or not users.first_start_open(db):
        return None
    name, password = from_env
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
    """Store an ECG (originals kept), its signal assessment (:mod:`db.assessments`) and, if this
    model has not scored it yet, its prediction.

    A duplicate upload is the same record; re-running the same model version on it is skipped,
    another model or version adds a run (the store never overwrites predictions).
    """
    row, created = record_store.add_record(
        db, ecg, files=files, file_format=file_format, original_filename=original_filename, uploader=uploader
    )
    prediction_id = ensure_prediction(db, row.id, ecg, predictor, actor=uploader) if predictor is not None else None
    assess_at_import(db, row.id, ecg)  # once per assessment version: the worklist reads it, never recomputes
    return ImportResult(record_id=row.id, created=created, prediction_id=prediction_id)


def scored_window_start_s(ecg: ECGRecord, predictor: Predictor, start_s: float | None = None) -> float:
    """Where the window the model reads starts (s, on a sample): ``start_s`` checked against the
    record, or the predictor's default window. Raises ECGValidationError if invalid."""
    from ecgcore.preprocessing import window_bounds

    start, _ = window_bounds(ecg.n_samples, ecg.fs, predictor.preprocess_config, start_s)
    return start / ecg.fs


def ensure_prediction(db: Database, record_id: int, ecg: ECGRecord, predictor: Predictor, *,
                      actor: str | None = None, start_s: float | None = None) -> int:
    """The id of this model version's prediction on the record's window starting at ``start_s``
    (default: the model's default window), scoring it now if there is none."""
    card = predictor.card
    window_start_s = scored_window_start_s(ecg, predictor, start_s)
    existing = latest_prediction_id(db, record_id, model_name=card.name, model_version=card.version,
                                    window_start_s=window_start_s)
    if existing is not None:
        return existing
    probabilities = predictor.probabilities(predictor.prepare(ecg, window_start_s)[np.newaxis])[0]
    run = record_store.add_prediction(
        db,
        record_id,
        card.name,
        card.version,
        dict(zip(predictor.labels, (float(p) for p in probabilities))),
        dict(zip(predictor.labels, (float(t) for t in predictor.thresholds))),
        actor=actor,
        window_start_s=window_start_s,
    )
    return run.id


@dataclass(frozen=True)
class WindowMeasurements:
    """The measurements of one window of a stored record: ``measurements`` as measured now (with
    the median beats the page draws, which the store does not keep), ``measurement_id`` the stored
    row of the same algorithm version and window (what a reviewer's correction refers to)."""

    measurements: Measurements
    measurement_id: int


def ensure_window_measurements(db: Database, record_id: int, ecg: ECGRecord, *, start_s: float | None = None,
                               actor: str | None = None,
                               measure_fn: Callable[..., Measurements] | None = None) -> WindowMeasurements:
    """Measure the window of the record starting at ``start_s`` (the window the model scores; None:
    the record's start) and store it once per algorithm version (:func:`db.measurements.ensure_measurements`).

    ``measure_fn(ecg, start_s=...)`` defaults to :func:`ecgcore.measurements.measure`; the page passes
    a cached one, so reopening a record costs one look-up in the store. The stored row is looked up
    by the window the measurement reports (a record no longer than the measured window is measured
    whole, from 0 s, whatever ``start_s``). If the stored row of this version holds other values
    than the new measurement (the algorithm changed without a new version), a warning says so and
    the stored row is kept, as :func:`db.measurements.store_measurements` does.
    """
    from db.measurements import ensure_measurements
    from ecgcore.measurements import measure

    measured = (measure_fn or measure)(ecg, start_s=start_s)
    run = ensure_measurements(db, ecg, record_id, lambda record, start_s=None: measured,
                              start_s=measured.window_start_s, algorithm_version=measured.algorithm_version,
                              actor=actor)
    if run.global_values != measured.global_values():
        warnings.warn(f"Record {record_id}: the stored measurement {run.id} (algorithm {run.algorithm_version}) holds "
                      f"{run.global_values}, a new measurement {measured.global_values()}; the stored one is kept. "
                      "A changed algorithm needs a new ALGORITHM_VERSION.", stacklevel=2)
    return WindowMeasurements(measurements=measured, measurement_id=run.id)


def stored_scores(db: Database, prediction_id: int) -> dict[str, tuple[float, float]]:
    """Label -> (probability, threshold) of a stored run: the thresholds it was made with (a score
    stored without one counts at :data:`ecgcore.bundle.DEFAULT_THRESHOLD`, as everywhere in the store)."""
    with db.transaction() as session:
        rows = session.execute(
            select(PredictionScore.label, PredictionScore.probability, PredictionScore.threshold)
            .where(PredictionScore.prediction_id == prediction_id)
        ).all()
    return {label: (float(p), DEFAULT_THRESHOLD if thr is None else float(thr)) for label, p, thr in rows}


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
    for line in report.error_lines():
        warnings.warn(f"Demo record skipped: {line}", stacklevel=2)
    return report.new


def latest_prediction_id(db: Database, record_id: int, *, model_name: str | None = None,
                         model_version: str | None = None, window_start_s: float | None = None) -> int | None:
    query = select(PredictionRun.id).where(PredictionRun.record_id == record_id)
    if window_start_s is not None:  # stored rounded to the ms
        query = query.where(func.abs(PredictionRun.window_start_s - window_start_s) < 5e-4)
    if model_name is not None:
        query = query.where(PredictionRun.model_name == model_name)
    if model_version is not None:
        query = query.where(PredictionRun.model_version == model_version)
    with db.transaction() as session:
        return session.scalar(query.order_by(PredictionRun.id.desc()).limit(1))


# -- worklist --------------------------------------------------------------------------------
_STATUS_PRIORITY = {status: rank for rank, status in enumerate(WAITING_STATUSES)}
WORKLIST_SCOPES = ("tasks", "unread", "adjudication", "all")


def installed_trained_labels(directory: str | os.PathLike[str] | None = None) -> dict[tuple[str, str], tuple[str, ...]]:
    """(model name, version) -> the labels it was trained on, for every bundle installed in the models
    folder (``ECG_MODEL_DIR``) and ``ECG_DEFAULT_MODEL``. Reads only the model cards, not the weights."""
    from ecgcore.bundle import list_bundles, load_card
    from ecgcore.errors import ModelError

    folders = [p for p in list_bundles(directory) if p.is_dir()]
    explicit = ecg_config.default_model_path()
    if explicit is not None and explicit.is_dir():
        folders.append(explicit)
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for folder in folders:
        try:
            card = load_card(folder)
        except ModelError:  # a broken bundle is reported where it is loaded, not here
            continue
        found[(card.name, card.version)] = tuple(card.trained_labels)
    return found


# The worklist's acquisition order (issue #21), as docs/experiments/active_learning.md measured it best.
ACQUISITION_AGGREGATE = "mean"      # per record: the mean of its labels' uncertainties
ACQUISITION_DIVERSITY_WEIGHT = 0.5  # w in a = (1 - w) u + w delta (ecgcore.active_learning)


def _latest_scores(db: Database, shown_labels: Mapping[tuple[str, str], Collection[str]] | None) -> pd.DataFrame:
    """record_id, label, p, thr of every record's latest model run, only the labels the model shows."""
    latest = select(PredictionRun.record_id, func.max(PredictionRun.id).label("pid")).group_by(PredictionRun.record_id).subquery()
    query = (
        select(latest.c.record_id, PredictionRun.model_name, PredictionRun.model_version, PredictionScore.label,
               PredictionScore.probability, PredictionScore.threshold)
        .join(PredictionRun, PredictionRun.id == latest.c.pid)
        .join(PredictionScore, PredictionScore.prediction_id == latest.c.pid)
    )
    with db.transaction() as session:
        rows = session.execute(query).all()
    frame = pd.DataFrame(rows, columns=["record_id", "model", "version", "label", "p", "thr"])
    shown = installed_trained_labels() if shown_labels is None else shown_labels
    if shown and not frame.empty:
        shown_triples = {(*key, label) for key, labels in shown.items() for label in labels}
        keep = [(model, version) not in shown or (model, version, label) in shown_triples
                for model, version, label in zip(frame["model"], frame["version"], frame["label"])]
        frame = frame[np.asarray(keep, dtype=bool)]
    return frame.assign(thr=frame["thr"].fillna(DEFAULT_THRESHOLD))


def model_uncertainty(db: Database, *, shown_labels: Mapping[tuple[str, str], Collection[str]] | None = None,
                      aggregate: str = "max") -> pd.Series:
    """Per record, how close the latest model run comes to changing its calls, in [0, 1].

    Only the labels the model shows count: its trained labels, looked up by (model name, version)
    in ``shown_labels`` (default: :func:`installed_trained_labels`); a run of a model not found
    there counts every label it scored. For each label, the distance from the decision is taken in
    log-odds, ``d = |logit(p) - logit(threshold)|`` (a missing threshold counts as 0.5; p and the
    threshold are clipped to [1e-6, 1 - 1e-6]), and the label's uncertainty is ``exp(-d)``
    (:func:`ecgcore.active_learning.label_uncertainty`). ``aggregate="max"``::

        uncertainty = exp(-min over labels of d)

    that is, for the label closest to its threshold, the ratio of the probability's odds to the
    threshold's odds (the smaller over the larger). 1: a call sits exactly on its threshold;
    0.5: the closest call is 2-fold off in odds; 0.1: 10-fold; near 0: every call is clear-cut.
    ``"mean"`` averages the labels' ``exp(-d)`` instead: how many calls are close. Log-odds, not
    |p - threshold|, because thresholds range from 0.04 to 0.97: p = 0.09 against a threshold of
    0.05 is as close a call (odds ratio 0.53) as p = 0.65 against 0.5 (0.54).

    Why only the shown labels: the default models score 150 labels but were trained on about 20;
    the untrained outputs scatter around their placeholder threshold of 0.5, so some label always
    sat on it and the former score (1 - 2 min |p - threshold| over all labels) read 99.3-100% for
    every record. Records without a model run are absent from the result.
    """
    from ecgcore.active_learning import label_uncertainty

    frame = _latest_scores(db, shown_labels)
    if frame.empty:
        return pd.Series(dtype=float, name="uncertainty", index=pd.Index([], name="record_id"))
    u = label_uncertainty(frame[["p"]].to_numpy(dtype=float), frame[["thr"]].to_numpy(dtype=float))[:, 0]
    grouped = frame.assign(u=u).groupby("record_id")["u"]
    return (grouped.max() if aggregate == "max" else grouped.mean()).rename("uncertainty")


def acquisition_ranks(db: Database, record_ids: Collection[int], *,
                      shown_labels: Mapping[tuple[str, str], Collection[str]] | None = None,
                      aggregate: str = ACQUISITION_AGGREGATE,
                      diversity_weight: float = ACQUISITION_DIVERSITY_WEIGHT) -> pd.Series:
    """Rank (0: read first) of each of ``record_ids`` that has a model run, by the acquisition score
    of :mod:`ecgcore.active_learning`: the record's uncertainty (:func:`model_uncertainty` with
    ``aggregate``) and its distance from the records already reviewed, the first 200 chosen greedily
    as one batch. The embedding is what the store keeps of every run: per shown label, the signed
    distance from the decision, ``logit(p) - logit(threshold)`` (0 for a label a run did not score).
    The simulation measured diversity in a SimCLR embedding; the store keeps no network features,
    so the worklist measures it in the model's label space (docs/experiments/active_learning.md)."""
    from ecgcore.active_learning import LOGIT_CLIP, acquisition_order, label_uncertainty

    frame = _latest_scores(db, shown_labels)
    wanted = [int(r) for r in record_ids]
    if frame.empty or not wanted:
        return pd.Series(dtype=float, name="rank", index=pd.Index([], name="record_id"))
    u = label_uncertainty(frame[["p"]].to_numpy(dtype=float), frame[["thr"]].to_numpy(dtype=float))[:, 0]
    clipped = np.clip(frame[["p", "thr"]].to_numpy(dtype=float), LOGIT_CLIP, 1 - LOGIT_CLIP)
    logits = np.log(clipped / (1 - clipped))
    frame = frame.assign(u=u, signed=logits[:, 0] - logits[:, 1])
    grouped = frame.groupby("record_id")["u"]
    uncertainty = grouped.max() if aggregate == "max" else grouped.mean()
    embedding = frame.pivot_table(index="record_id", columns="label", values="signed", aggfunc="first").fillna(0.0)
    candidates = [r for r in wanted if r in embedding.index]
    with db.transaction() as session:
        reviewed_ids = set(session.scalars(select(Review.record_id).distinct()).all())
    reviewed = [r for r in embedding.index if r in reviewed_ids and r not in set(candidates)]
    order = acquisition_order(uncertainty.loc[candidates].to_numpy(), embedding.loc[candidates].to_numpy(),
                              embedding.loc[reviewed].to_numpy(), diversity_weight=diversity_weight)
    ranks = np.empty(len(candidates))
    ranks[order] = np.arange(len(candidates))
    return pd.Series(ranks, index=pd.Index(candidates, name="record_id"), name="rank")


def worklist(db: Database, *, reviewer: str | None = None, role: str | None = None, scope: str | None = None,
             order: str = "priority", min_reviewers: int = 2,
             shown_labels: Mapping[tuple[str, str], Collection[str]] | None = None) -> pd.DataFrame:
    """Records awaiting review, one row each, in the order ``reviewer`` should take them.

    ``scope`` (default ``"tasks"`` with a reviewer, ``"all"`` without):

    * ``"unread"``: records ``reviewer`` has not read (saved no review of), whatever their status;
    * ``"adjudication"``: records awaiting adjudication (only for roles that adjudicate);
    * ``"tasks"``: what ``reviewer`` can do next: unread records plus, for adjudicators, every
      record awaiting adjudication (the review page's "next record");
    * ``"all"``: every waiting record.

    ``order="priority"``: adjudication, then second reviews, then first reviews, each in the
    acquisition order; ``"uncertainty"``: the acquisition order alone (active learning: the record
    whose verdict should teach the model most first, :func:`acquisition_ranks`; the measured choice
    is in docs/experiments/active_learning.md); ``"oldest"``: by upload. The ``uncertainty`` column
    is :func:`model_uncertainty`, the closest call, which a reviewer can read at a glance; the order
    also weighs the other labels and the distance from what was already reviewed.

    Blinding: ``role`` (default: ``reviewer``'s role; no blinding when there is none) decides
    per row with :func:`db.permissions.sees_model_output`. A row whose model output that role may
    not see yet (an annotator's unread record) gets no uncertainty (NaN), and is ordered by upload
    time after the scored rows of its group, so the order reveals no score either. Records without
    a model run are blank and ordered the same way.

    Columns: record_id, name, uploaded_at, status (see :data:`db.consensus.STATUS_LABELS` for the
    words to show), n_reviewers, uncertainty, unresolved.
    """
    from db.errors import PermissionDeniedError
    from db.permissions import allowed, sees_model_output

    if order not in ("priority", "uncertainty", "oldest"):
        raise ValueError(f"order must be priority, uncertainty or oldest; got {order!r}")
    scope = scope or ("tasks" if reviewer is not None else "all")
    if scope not in WORKLIST_SCOPES:
        raise ValueError(f"scope must be one of {', '.join(WORKLIST_SCOPES)}; got {scope!r}")
    if scope in ("unread", "tasks") and reviewer is None:
        raise ValueError(f"scope {scope!r} needs a reviewer")
    columns = ["record_id", "name", "uploaded_at", "status", "n_reviewers", "uncertainty", "unresolved"]
    read: dict[int, int] = {}  # record id -> versions of it the reviewer saved
    if reviewer is not None:
        with db.transaction() as session:
            # A name with no account (the read-only demo's visitor) has read nothing; its role is ``role``.
            role = role or session.scalar(select(User.role).where(User.name == reviewer))
            read = dict(session.execute(
                select(Review.record_id, func.count(Review.id)).join(User, User.id == Review.reviewer_id)
                .where(User.name == reviewer).group_by(Review.record_id)
            ).all())
    adjudicates = role is None or allowed(role, "adjudicate")
    if scope == "adjudication" and not adjudicates:
        raise PermissionDeniedError(f"A {role} does not adjudicate; there is no adjudication worklist for them.")
    queue = review_queue(db, min_reviewers=min_reviewers, include_unreviewed=True)
    if queue.empty:
        return pd.DataFrame(columns=columns)
    unread = ~queue["record_id"].isin(list(read))
    awaiting_adjudication = queue["status"] == "needs_adjudication"
    if scope == "unread":
        queue = queue[unread]
    elif scope == "adjudication":
        queue = queue[awaiting_adjudication]
    elif scope == "tasks":
        queue = queue[unread | (awaiting_adjudication & adjudicates)]
    with db.transaction() as session:
        meta = pd.DataFrame(
            session.execute(select(StoredRecord.id, StoredRecord.record_name, StoredRecord.uploaded_at)).all(),
            columns=["record_id", "name", "uploaded_at"],
        )
    table = queue.merge(meta, on="record_id", how="left")
    table = table.join(model_uncertainty(db, shown_labels=shown_labels), on="record_id")
    if role is not None:
        visible = [sees_model_output(role, read.get(int(rid), 0)) for rid in table["record_id"]]
        table.loc[~np.asarray(visible, dtype=bool), "uncertainty"] = np.nan
    # Unscored rows (blinded or no model run) after the scored ones, by upload time: no value leaks.
    scored = table.loc[table["uncertainty"].notna(), "record_id"]
    ranks = acquisition_ranks(db, scored.tolist(), shown_labels=shown_labels) if order != "oldest" else pd.Series()
    table = table.assign(_blank=table["uncertainty"].isna(),
                         _rank=table["record_id"].map(ranks).astype(float).fillna(np.inf),
                         _p=table["status"].map(_STATUS_PRIORITY))
    keys = {"priority": ["_p", "_blank", "_rank", "uploaded_at", "record_id"],
            "uncertainty": ["_blank", "_rank", "uploaded_at", "record_id"],
            "oldest": ["uploaded_at", "record_id"]}[order]
    table = table.sort_values(keys, kind="stable")
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
        result = import_ecg(db, ecg, predictor=predictor_for(ecg), files=staged,
                            file_format=primary.suffix.lstrip(".").lower(),
                            original_filename=primary.name, uploader=uploader)
    return result, ecg


# -- dashboard -------------------------------------------------------------------------------
# (the Agreement page's tables and its verdicts CSV are in db.dashboard_data)
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
    """What a bulk import did; ``errors`` lists (file name, reader's message) for files that were skipped.

    Show them with :meth:`error_lines`, which names each file once.
    """

    total: int = 0
    done: int = 0
    new: int = 0
    duplicates: int = 0
    errors: list[tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        self.errors = [] if self.errors is None else self.errors

    def error_lines(self) -> list[str]:
        """One line per skipped file that names it once: readers' messages mostly name the file
        already ("textnums.csv: column 'I' has ..."); the others get the name put in front."""
        return [message if name in message else f"{name}: {message}" for name, message in self.errors]


def _with_companions(path: Path) -> list[Path]:
    """``path`` and the files of its record beside it, as the format table says (``x.hea``: ``x.dat``)."""
    from ecgcore.io.formats import format_by_suffix

    fmt = format_by_suffix(path)
    if fmt is None or not fmt.companions or path.suffix.lower() not in fmt.suffixes:
        return [path]
    beside = (next((p for p in (path.with_suffix(s), path.with_suffix(s.upper())) if p.is_file()), None)
              for s in fmt.companions)
    return [path, *sorted(p for p in beside if p is not None)]


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

    ``read`` defaults to :func:`ecgcore.io.read`. Each file is stored with its companions as the
    format table (:mod:`ecgcore.io.formats`) names them (a WFDB header with its signal files); a
    hospital export (GE MUSE, Philips, DICOM, SCP-ECG, HL7 aECG) keeps its device reading and
    acquisition, and no original (:func:`db.records.add_record`).
    """
    from ecgcore.errors import ECGError

    if read is None:
        from ecgcore.io import read

    report = BulkImportReport(total=len(paths))
    for path in paths:
        try:
            ecg = read(path)
            result = import_ecg(db, ecg, predictor=predictor_for(ecg), files=_with_companions(path),
                                file_format=path.suffix.lstrip(".").lower(), original_filename=path.name,
                                uploader=uploader)
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
