"""Export the expert-review test set as a folder, and read it back for training/evaluation.

Layout (``FORMAT_VERSION`` 1)::

    OUT/
      manifest.json     who exported when, schema revision, consensus policy, reviewers, the review
                        versions the labels come from (``reviews``: id, record, reviewer, version),
                        model runs, sha256 of every file
      labels.csv        one row per record: record, record_id, content_hash, fs, n_samples, age, sex,
                        status, n_reviewers, n_adjudicators, agreement, patient_key, acquired_at,
                        device, site, then one 0/1 column per label
      waveforms/        <record>.hea + <record>.dat written with wfdb.wrsamp (16-bit, mV)
      measurements.csv  every stored interval measurement of the exported records (all algorithm
                        versions and windows): record, then db.measurements.MEASUREMENT_COLUMNS
                        (algorithm_version, window_start_s, one column per global measurement,
                        reasons, is_latest = the record's newest)
      measurement_corrections.csv
                        every version of every reviewer's correction of those records: record, then
                        db.measurements.CORRECTION_COLUMNS (reviewer, role, name, version, value,
                        the measured value it corrects with its measurement_id and algorithm_version,
                        note, created_at, is_latest = the version that counts)
      device_readings.csv
                        the acquiring device's own reading of the exported records that have one:
                        record, record_id, source, one column per global measurement (the device's
                        value), statements and original_statements (JSON lists of text)

The two measurement files were added to format version 1 with schema revision 0004 (readers of
version 1 ignore them; :func:`load_expert_review_export` reads them when present, else None);
device_readings.csv and labels.csv's patient_key, acquired_at, device and site came with schema
0005 (absent: None).

What identifies a patient never leaves the store, because the store does not have it: no names,
no identifier, no date of birth (age only). ``patient_key`` is the store's keyed hash of the
patient identifier (``db.patient_keys``): pseudonymous, it tells which exported ECGs are of the
same patient (so a train/test split can keep a patient on one side) and means nothing outside
this installation; whoever holds the installation key and an identifier can recompute it.

Only records whose consensus is final (complete or adjudicated) are exported. The folder is built
under a temporary name beside OUT and renamed at the end, so a failed export leaves no half-written
test set behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import wfdb
from sqlalchemy import func, select

from db import audit
from db.consensus import compute_consensus
from db.errors import ExportError
from db.labels import vocabulary
from db.measurements import correction_table, measurement_table
from db.migrate import head_revision
from db.models import PredictionRun, StoredRecord, User, utcnow
from db.records import load_ecg
from db.reviews import review_table
from db.session import Database
from db.users import acting_user
from ecgcore.acquisition import Acquisition, DeviceReading
from ecgcore.hashing import file_sha256
from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES
from ecgcore.record import Record as ECGRecord

FORMAT_VERSION = 1
ACQUISITION_INFO_COLUMNS = ["patient_key", "acquired_at", "device", "site"]
INFO_COLUMNS = ["record", "record_id", "content_hash", "fs", "n_samples", "age", "sex", "status", "n_reviewers",
                "n_adjudicators", "agreement", *ACQUISITION_INFO_COLUMNS]
MEASUREMENTS_FILE = "measurements.csv"
CORRECTIONS_FILE = "measurement_corrections.csv"
DEVICE_READINGS_FILE = "device_readings.csv"
DEVICE_READING_COLUMNS = ["record", "record_id", "source", *GLOBAL_MEASURE_NAMES, "statements", "original_statements"]
PATIENT_KEY_NOTE = ("HMAC-SHA256 (first 32 hex characters) of the normalised patient identifier under this "
                    "installation's key: the same value means the same patient within this installation")


def record_name(record_id: int) -> str:
    """File stem of a record in the export (WFDB names: letters, digits, underscores)."""
    return f"ecg{record_id:06d}"


def _seal(tmp: Path, out_dir: Path, manifest: dict) -> None:
    """Every file's checksum into the manifest, the manifest written, then the folder moved into place in
    one rename: a reader sees a complete export or none."""
    manifest["files"] = {p.relative_to(tmp).as_posix(): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    os.replace(tmp, out_dir)




def _write_wfdb(ecg: ECGRecord, name: str, folder: Path) -> None:
    comments = [f"age: {ecg.age:g}" if ecg.age is not None else "age: unknown", f"sex: {ecg.sex or 'unknown'}"]
    wfdb.wrsamp(name, fs=ecg.fs, units=["mV"] * ecg.n_leads, sig_name=list(ecg.leads),
                p_signal=ecg.signal.T.astype(np.float64), fmt=["16"] * ecg.n_leads, comments=comments,
                write_dir=str(folder))


def _device_reading_rows(rows: dict[int, StoredRecord], record_ids: Sequence[int]) -> pd.DataFrame:
    lines = []
    for record_id in record_ids:
        reading = rows[record_id].device_reading
        if not reading:
            continue
        measured = reading.get("measurements") or {}
        lines.append({"record": record_name(record_id), "record_id": record_id, "source": reading.get("source"),
                      **{name: measured.get(name) for name in GLOBAL_MEASURE_NAMES},
                      "statements": json.dumps(list(reading.get("statements") or []), ensure_ascii=False),
                      "original_statements": json.dumps(list(reading.get("original_statements") or []),
                                                        ensure_ascii=False)})
    return pd.DataFrame(lines, columns=DEVICE_READING_COLUMNS)


def export_expert_review(db: Database, out_dir: Path | str, *, exported_by: str | int | None = None,
                         labels: Sequence[str] | None = None, min_reviewers: int = 2,
                         unlisted: str = "absent") -> Path:
    """Write the expert-review test set to ``out_dir`` (must not exist yet); returns the folder."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise ExportError(f"{out_dir} already exists; choose a new folder so no earlier export is overwritten.")
    labels = tuple(labels or vocabulary())
    table = review_table(db)
    result = compute_consensus(table, labels, min_reviewers=min_reviewers, unlisted=unlisted)
    final = result.final()
    info = result.records.loc[final.index]
    with db.transaction() as session:
        rows = {r.id: r for r in session.scalars(select(StoredRecord).where(StoredRecord.id.in_(final.index.tolist())))}
        exporter = acting_user(session, exported_by, "export")
        models = session.execute(
            select(PredictionRun.model_name, PredictionRun.model_version, func.count(func.distinct(PredictionRun.record_id)))
            .where(PredictionRun.record_id.in_(final.index.tolist()))
            .group_by(PredictionRun.model_name, PredictionRun.model_version)
        ).all()
        roles = dict(session.execute(select(User.name, User.role)).all())

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        (tmp / "waveforms").mkdir()
        lines = []
        for record_id in final.index:
            row = rows[record_id]
            name = record_name(record_id)
            _write_wfdb(load_ecg(db, row), name, tmp / "waveforms")
            lines.append({"record": name, "record_id": record_id, "content_hash": row.content_hash, "fs": row.fs,
                          "n_samples": row.n_samples, "age": row.age, "sex": row.sex,
                          "status": info.at[record_id, "status"], "n_reviewers": info.at[record_id, "n_reviewers"],
                          "n_adjudicators": info.at[record_id, "n_adjudicators"],
                          "agreement": round(float(info.at[record_id, "agreement"]), 4),
                          "patient_key": row.patient_key,
                          "acquired_at": (row.acquired_at.isoformat() if row.acquired_at is not None
                                          and not row.acquired_at_is_upload_time else None),  # the file's only
                          "device": row.device, "site": row.site})
        frame = pd.concat([pd.DataFrame(lines, columns=INFO_COLUMNS), final.reset_index(drop=True)], axis=1)
        frame.to_csv(tmp / "labels.csv", index=False)
        exported_ids = [int(r) for r in final.index]
        measured = measurement_table(db, exported_ids)
        corrections = correction_table(db, exported_ids)
        for table_out, file_name in ((measured, MEASUREMENTS_FILE), (corrections, CORRECTIONS_FILE)):
            table_out.insert(0, "record", [record_name(int(r)) for r in table_out["record_id"]])
            table_out.assign(created_at=[t.isoformat() for t in table_out["created_at"]]).to_csv(
                tmp / file_name, index=False)
        readings = _device_reading_rows(rows, exported_ids)
        readings.to_csv(tmp / DEVICE_READINGS_FILE, index=False)
        exported = table.reviews[table.reviews["record_id"].isin(final.index)]
        manifest: dict[str, Any] = {
            "format": "ecgfounder-expert-review",
            "format_version": FORMAT_VERSION,
            "schema_revision": head_revision(),
            "created_at": utcnow().isoformat(),
            "exported_by": exporter.name if exporter else None,
            "n_records": int(len(final)),
            "n_excluded_records": int(len(result.records) - len(final)),
            "labels": list(labels),
            "consensus_policy": result.policy,
            "reviewers": [{"name": name, "role": roles.get(name), "n_reviews": int(n),
                           "n_adjudications": int(g["is_adjudication"].astype(bool).sum())}
                          for name, g in exported.groupby("reviewer") for n in [len(g)]],
            "n_blinded_reviews": int((~exported["saw_model_output"].astype(bool)).sum()),
            # The verdict versions the consensus labels come from: a model trained on this export names them.
            "reviews": [{"review_id": int(r.review_id), "record": record_name(int(r.record_id)),
                         "reviewer": r.reviewer, "version": int(r.version),
                         "is_adjudication": bool(r.is_adjudication)} for r in exported.itertuples()],
            "model_versions": [{"model_name": m, "model_version": v, "n_records": int(n)} for m, v, n in models],
            "measurement_algorithm_versions": [
                {"algorithm_version": v, "n_records": int(g["record_id"].nunique()), "n_measurements": len(g)}
                for v, g in measured.groupby("algorithm_version")],
            "n_measurement_corrections": int(corrections["is_latest"].astype(bool).sum()),
            "n_measurement_correction_versions": len(corrections),
            "n_device_readings": len(readings),
            "n_patients_linked": len({rows[r].patient_key for r in exported_ids if rows[r].patient_key}),
            "patient_key": PATIENT_KEY_NOTE,
        }
        _seal(tmp, out_dir, manifest)
    except OSError as error:
        raise ExportError(f"Could not write the export to {out_dir}: {error}") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with db.transaction() as session:
        audit.log(session, "export", user_id=exporter.id if exporter else None, target=str(out_dir)[:500],
                  details={"n_records": manifest["n_records"], "format_version": FORMAT_VERSION})
    return out_dir


def export_labelled_records(records: Sequence[ECGRecord], out_dir: Path | str, *, description: str,
                            labels: Sequence[str] | None = None) -> Path:
    """Write records labelled elsewhere (``Record.labels``: the positive label names) in this export's
    layout, e.g. a reference test set from a public database that no shipped model was trained on.

    Every label of ``labels`` (default: the vocabulary) is known for every record: 1 when among the
    record's labels, else 0; labels outside ``labels`` are refused. ``n_reviewers`` is 0 and the
    manifest says ``kind: "reference test set"`` and ``description``: no reviewer gave these labels.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise ExportError(f"{out_dir} already exists; choose a new folder so no earlier set is overwritten.")
    labels = tuple(labels or vocabulary())
    unknown = sorted({name for ecg in records for name in ecg.labels} - set(labels))
    if unknown:
        raise ExportError(f"record labels {unknown[:5]} are not among the set's labels; map them to ECGFounder "
                          "label names (ecgcore.labels) or pass labels= including them.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        (tmp / "waveforms").mkdir()
        lines = []
        for i, ecg in enumerate(records, start=1):
            name = record_name(i)
            _write_wfdb(ecg, name, tmp / "waveforms")
            lines.append({"record": name, "record_id": ecg.record_name, "content_hash": ecg.content_hash(),
                          "fs": ecg.fs, "n_samples": ecg.n_samples, "age": ecg.age, "sex": ecg.sex, "status": "labelled",
                          "n_reviewers": 0, "n_adjudicators": 0, "agreement": 1.0, "patient_key": None,
                          "acquired_at": None, "device": None, "site": None,
                          **{label: int(label in ecg.labels) for label in labels}})
        pd.DataFrame(lines, columns=[*INFO_COLUMNS, *labels]).to_csv(tmp / "labels.csv", index=False)
        manifest: dict[str, Any] = {
            "format": "ecgfounder-expert-review", "format_version": FORMAT_VERSION, "kind": "reference test set",
            "description": description, "schema_revision": None, "created_at": utcnow().isoformat(),
            "exported_by": None, "n_records": len(records), "n_excluded_records": 0, "labels": list(labels),
            "consensus_policy": {"rule": "labels of the source database, no reviewers"}, "reviewers": [],
            "sources": sorted({str(ecg.source) for ecg in records if ecg.source}),
        }
        _seal(tmp, out_dir, manifest)
    except OSError as error:
        raise ExportError(f"Could not write the labelled set to {out_dir}: {error}") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


@dataclass(frozen=True)
class ExpertReviewSet:
    """An export read back: ``records[i]`` goes with row ``labels[i]`` (0/1 per ``label_names``)."""

    records: list[ECGRecord]
    labels: np.ndarray
    label_names: tuple[str, ...]
    table: pd.DataFrame
    manifest: dict[str, Any]
    # measurements.csv and measurement_corrections.csv (None in exports made before schema 0004)
    measurements: pd.DataFrame | None = None
    measurement_corrections: pd.DataFrame | None = None
    # device_readings.csv (None in exports made before schema 0005)
    device_readings: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.records)


def load_expert_review_export(folder: Path | str, *, verify: bool = True) -> ExpertReviewSet:
    """Read an export folder (checking every file's sha256 unless ``verify=False``)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise ExportError(f"{folder} is not an expert-review export (manifest.json unreadable: {error}).") from error
    if manifest.get("format") != "ecgfounder-expert-review" or manifest.get("format_version") != FORMAT_VERSION:
        raise ExportError(f"{folder}: unsupported export format {manifest.get('format')!r} "
                          f"version {manifest.get('format_version')!r}; this code reads version {FORMAT_VERSION}.")
    if verify:
        for relative, expected in manifest["files"].items():
            path = folder / relative
            if not path.is_file() or file_sha256(path) != expected:
                raise ExportError(f"{path} is missing or was modified after export (sha256 mismatch).")
    table = pd.read_csv(folder / "labels.csv", dtype={"record": str, "sex": str, "patient_key": str,
                                                      "acquired_at": str, "device": str, "site": str})
    readings = (pd.read_csv(folder / DEVICE_READINGS_FILE, dtype={"record": str, "source": str})
                if (folder / DEVICE_READINGS_FILE).is_file() else None)
    reading_of = {} if readings is None else {row["record"]: _device_reading(row) for _, row in readings.iterrows()}
    label_names = tuple(manifest["labels"])
    missing = [name for name in label_names if name not in table.columns]
    if missing:
        raise ExportError(f"labels.csv lacks label column(s) {', '.join(missing[:5])}.")
    matrix = table[list(label_names)].to_numpy(dtype=np.int8)
    records = []
    for i, row in table.iterrows():
        signal, fields = wfdb.rdsamp(str(folder / "waveforms" / row["record"]))
        age = None if pd.isna(row["age"]) else float(row["age"])
        sex = None if pd.isna(row["sex"]) else str(row["sex"])
        positives = tuple(name for name, v in zip(label_names, matrix[i], strict=True) if v == 1)
        records.append(ECGRecord(signal=signal.T, fs=fields["fs"], leads=tuple(fields["sig_name"]),
                                 record_name=row["record"], age=age, sex=sex, source="expert-review",
                                 labels=positives, allow_flat_leads=True,
                                 metadata={"content_hash": row["content_hash"], "n_reviewers": int(row["n_reviewers"]),
                                           "agreement": float(row["agreement"]),
                                           "patient_key": _text(row.get("patient_key"))},
                                 acquisition=_acquisition(row), device_reading=reading_of.get(row["record"])))
    extra = {key: pd.read_csv(folder / file_name, dtype={"record": str, "algorithm_version": str, "note": str})
             if (folder / file_name).is_file() else None
             for key, file_name in (("measurements", MEASUREMENTS_FILE), ("measurement_corrections", CORRECTIONS_FILE))}
    return ExpertReviewSet(records, matrix, label_names, table, manifest, **extra, device_readings=readings)


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _acquisition(row: pd.Series) -> Acquisition | None:
    acquired_at, device, site = (_text(row.get(c)) for c in ("acquired_at", "device", "site"))
    if acquired_at is None and device is None and site is None:
        return None
    return Acquisition(acquired_at=datetime.fromisoformat(acquired_at) if acquired_at else None, device=device,
                       site=site)


def _device_reading(row: pd.Series) -> DeviceReading:
    return DeviceReading(measurements={name: float(row[name]) for name in GLOBAL_MEASURE_NAMES
                                       if name in row and not pd.isna(row[name])},
                         statements=tuple(json.loads(row["statements"])) if _text(row["statements"]) else (),
                         original_statements=(tuple(json.loads(row["original_statements"]))
                                              if _text(row["original_statements"]) else ()),
                         source=_text(row["source"]))
