"""Records (uploaded ECGs) and model predictions on them.

A record is identified by :meth:`ecgcore.record.Record.content_hash`, so the same ECG uploaded twice
(even in another format) is one row. Its files live under ``<data dir>/records/<hash[:2]>/<hash>/``:
the uploaded originals in ``original/`` and the canonical float32 signal as ``signal.npy`` (what
exports and the app read back, so they need no format reader). Files are written to a temporary
folder and renamed into place *before* the row is committed; a failed commit can leave an orphan
folder (harmless: content-addressed, reused by the next upload) but never a row without its files.

Privacy at import. A hospital file (GE MUSE, Philips, DICOM, SCP-ECG, HL7 aECG: a record with an
``acquisition`` or ``device_reading``, or a file of one of :data:`PATIENT_DATA_FORMATS`) holds the
patient's name, identifier and date of birth beside the signal. Of it the store keeps the signal,
age and sex, the acquisition time, device and site, the device's reading, and the patient
identifier only as a keyed hash (``patient_key``, :mod:`db.patient_keys`). It does *not* keep the
original file (``original/`` stays empty), nor the file's name (exports are often named after the
patient or the MRN): ``record_name`` becomes the source and acquisition time (``GE MUSE
2021-05-10 13:15``), ``original_filename`` is None and the upload's audit event names no file.

Acquisition time. Every record has an ``acquired_at``: the file's (the device's wall clock), else
the upload time (UTC, no zone) with ``acquired_at_is_upload_time`` set; a later upload of the
same signal from a file that states the time replaces the stand-in.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import exc, select
from sqlalchemy.orm import Session

from db import audit
from db.errors import InvalidInputError, NotFoundError, StorageError
from db.labels import check_labels, vocabulary
from db.models import PredictionRun, PredictionScore, StoredRecord, utcnow
from db.patient_keys import patient_key
from db.session import Database
from db.users import acting_user, get_user
from ecgcore.acquisition import Acquisition, DeviceReading
from ecgcore.record import Record as ECGRecord

SIGNAL_FILE = "signal.npy"
META_FILE = "record.json"
# Formats whose files carry patient demographics (ecgcore.io.formats keys): their originals and
# file names are not kept (see the module docstring).
PATIENT_DATA_FORMATS = ("aecg", "muse", "philips", "dicom", "scp")
# What an upload of the same ECG can add to its row when the row lacks it (never overwritten).
ACQUISITION_COLUMNS = ("patient_key", "acquired_at", "device", "site", "device_reading")


def _storage_dir(content_hash: str) -> Path:
    return Path("records") / content_hash[:2] / content_hash


def holds_patient_data(ecg: ECGRecord, files: Sequence[Path] = ()) -> bool:
    """True for an ECG from a hospital file: its original and its file name are not kept."""
    if ecg.acquisition is not None or ecg.device_reading is not None:
        return True
    from ecgcore.io.formats import FORMATS, format_for

    member = ecg.metadata.get("zip_member") if isinstance(ecg.metadata, Mapping) else None
    if member:  # a hospital file inside an uploaded zip
        suffixes = {s for fmt in FORMATS if fmt.key in PATIENT_DATA_FORMATS for s in fmt.suffixes}
        if Path(str(member)).suffix.lower() in suffixes:
            return True
    for path in files:
        try:
            fmt = format_for(path)
        except (OSError, ValueError):
            continue
        if fmt is not None and fmt.key in PATIENT_DATA_FORMATS:
            return True
    return False


def _neutral_record_name(ecg: ECGRecord, content_hash: str) -> str:
    """A hospital record's name: its source and acquisition time, never the file's name."""
    label = ecg.source or "ECG"
    when = ecg.acquisition.acquired_at if ecg.acquisition is not None else None
    return f"{label} {when:%Y-%m-%d %H:%M}" if when is not None else f"{label} {content_hash[:10]}"


def upload_wall_clock(uploaded_at: datetime) -> datetime:
    """The upload time as it stands in for an unknown acquisition time: UTC, without the zone."""
    return uploaded_at.astimezone(UTC).replace(tzinfo=None) if uploaded_at.tzinfo is not None else uploaded_at


def _wall_clock(when: datetime | None) -> datetime | None:
    """The acquisition time as the device's wall clock (a UTC offset, if the file states one, is dropped)."""
    return when.replace(tzinfo=None) if when is not None and when.tzinfo is not None else when


def _device_reading_json(reading: DeviceReading | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    out = reading.to_dict()
    out["measurements"] = {k: v for k, v in out["measurements"].items() if math.isfinite(v)}  # JSON has no NaN
    return out


def acquisition_values(db: Database, ecg: ECGRecord) -> dict[str, Any]:
    """The ``records`` columns a Record's acquisition and device reading fill (the identifier hashed)."""
    acquisition = ecg.acquisition or Acquisition()
    return {
        "patient_key": patient_key(acquisition.patient_id, data_dir=db.data_dir) if acquisition.patient_id else None,
        "acquired_at": _wall_clock(acquisition.acquired_at),
        "device": acquisition.device[:200] if acquisition.device else None,
        "site": acquisition.site[:200] if acquisition.site else None,
        "device_reading": _device_reading_json(ecg.device_reading),
    }


def _write_files(db: Database, ecg: ECGRecord, content_hash: str, files: Sequence[Path], record_name: str) -> Path:
    """Put signal.npy and the originals under the data dir (atomic rename); returns the relative path."""
    relative = _storage_dir(content_hash)
    final = db.data_dir / relative
    if (final / SIGNAL_FILE).exists():
        return relative
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".upload-", dir=final.parent))
    try:
        np.save(tmp / SIGNAL_FILE, np.ascontiguousarray(ecg.signal, dtype="<f4"))
        # record.json keeps its key "record_id" for the recording's name, as in the files already stored
        meta = {"fs": ecg.fs, "leads": list(ecg.leads), "record_id": record_name, "age": ecg.age, "sex": ecg.sex,
                "source": ecg.source, "content_hash": content_hash}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        if files:
            (tmp / "original").mkdir()
            for path in files:
                shutil.copy2(path, tmp / "original" / Path(path).name)
        for child in [tmp, *tmp.rglob("*")]:
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / SIGNAL_FILE).exists():  # not a concurrent upload of the same ECG: a real failure
                raise
    except OSError as error:
        raise StorageError(f"Could not store the ECG files under {db.data_dir}: {error}") from error
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return relative


def add_record(db: Database, ecg: ECGRecord, *, files: Iterable[Path | str] = (), file_format: str | None = None,
               original_filename: str | None = None, uploader: str | int | None = None,
               source_labels: Sequence[str] | None = None) -> tuple[StoredRecord, bool]:
    """Store an ECG (files + row). Returns ``(row, created)``; ``created`` is False for a duplicate upload.

    ``files`` are the uploaded originals (e.g. a .hea and its .dat); without them only the canonical
    signal is kept and ``file_format`` defaults to ``"array"``. A hospital file
    (:func:`holds_patient_data`) keeps no original and no file name (module docstring); its
    acquisition and device reading fill their columns, the patient identifier as ``patient_key``.
    A duplicate upload fills those columns where the stored row lacks them, and changes nothing else.
    """
    files = [Path(f) for f in files]
    for path in files:
        if not path.is_file():
            raise InvalidInputError(f"Original file {path} does not exist.")
    content_hash = ecg.content_hash()
    file_format = file_format or (files[0].suffix.lstrip(".").lower() if files else "array")
    original_filename = original_filename or (files[0].name if files else None)
    labels = list(source_labels if source_labels is not None else ecg.labels) or None
    record_name = str(ecg.record_name)
    if holds_patient_data(ecg, files):
        files, original_filename = [], None
        record_name = _neutral_record_name(ecg, content_hash)
    acquired = acquisition_values(db, ecg)
    file_detail = {"file": original_filename} if original_filename is not None else {}

    def _duplicate(session: Session, existing: StoredRecord) -> tuple[StoredRecord, bool]:
        uploader_user = acting_user(session, uploader, "upload")
        uploader_id = uploader_user.id if uploader_user else None
        # an acquired_at that is only the upload time is lacking too: the file's time replaces it
        filled = [name for name, value in acquired.items() if value is not None and (
            getattr(existing, name) is None or (name == "acquired_at" and existing.acquired_at_is_upload_time))]
        for name in filled:
            setattr(existing, name, acquired[name])
        if "acquired_at" in filled:
            existing.acquired_at_is_upload_time = False
        audit.log(session, "upload", user_id=uploader_id, target=f"record:{existing.id}",
                  details={"duplicate": True, **file_detail, **({"filled": filled} if filled else {})})
        session.flush()
        return existing, False

    with db.transaction() as session:
        existing = session.scalar(select(StoredRecord).where(StoredRecord.content_hash == content_hash))
        if existing is not None:
            return _duplicate(session, existing)
    relative = _write_files(db, ecg, content_hash, files, record_name)
    try:
        with db.transaction() as session:
            uploader_user = acting_user(session, uploader, "upload")
            uploader_id = uploader_user.id if uploader_user else None
            uploaded_at = utcnow()
            no_time = acquired["acquired_at"] is None  # then the upload time stands in, marked as such
            row = StoredRecord(
                content_hash=content_hash, record_name=record_name[:255], original_filename=original_filename,
                file_format=file_format[:50], storage_path=relative.as_posix(), fs=ecg.fs, leads=list(ecg.leads),
                n_samples=ecg.n_samples, duration_s=ecg.duration_s, age=ecg.age, sex=ecg.sex, source=ecg.source,
                source_labels=labels, uploaded_by_id=uploader_id, uploaded_at=uploaded_at,
                **{**acquired, "acquired_at": upload_wall_clock(uploaded_at) if no_time else acquired["acquired_at"]},
                acquired_at_is_upload_time=no_time,
            )
            session.add(row)
            session.flush()
            audit.log(session, "upload", user_id=uploader_id, target=f"record:{row.id}",
                      details={**file_detail, "format": file_format})
        return row, True
    except exc.IntegrityError:  # a concurrent upload of the same ECG won the race
        with db.transaction() as session:
            existing = session.scalars(select(StoredRecord).where(StoredRecord.content_hash == content_hash)).one()
            return _duplicate(session, existing)


def get_record(session: Session, record: int | str) -> StoredRecord:
    """A record row by id or content hash, or :class:`NotFoundError`."""
    if isinstance(record, int):
        row = session.get(StoredRecord, record)
    else:
        row = session.scalar(select(StoredRecord).where(StoredRecord.content_hash == record))
    if row is None:
        raise NotFoundError(f"No record {record!r} in the review store.")
    return row


def list_records(db: Database) -> list[StoredRecord]:
    with db.transaction() as session:
        return list(session.scalars(select(StoredRecord).order_by(StoredRecord.id)))


def load_ecg(db: Database, record: StoredRecord | int | str, *, verify: bool = True) -> ECGRecord:
    """The stored waveform as an :class:`ecgcore.record.Record` (checked against its content hash)."""
    if not isinstance(record, StoredRecord):
        with db.transaction() as session:
            record = get_record(session, record)
    folder = db.data_dir / record.storage_path
    try:
        signal = np.load(folder / SIGNAL_FILE, allow_pickle=False)
    except OSError as error:
        raise StorageError(f"The waveform of record {record.id} is missing from {folder}: {error}") from error
    ecg = ECGRecord(signal=signal, fs=record.fs, leads=tuple(record.leads), record_name=record.record_name,
                    age=record.age, sex=record.sex, source=record.source, labels=tuple(record.source_labels or ()),
                    allow_flat_leads=True, acquisition=_acquisition_of(record),
                    device_reading=_device_reading_of(record.device_reading))
    if verify and ecg.content_hash() != record.content_hash:
        raise StorageError(f"The stored waveform of record {record.id} does not match its hash: the file was altered.")
    return ecg


# -- acquisition, device reading, the same patient ----------------------------------------------
def _acquisition_of(row: StoredRecord) -> Acquisition | None:
    """The stored acquisition (without a patient identifier: the store has none), or None. An
    ``acquired_at`` that is only the upload time (``acquired_at_is_upload_time``) is not the file's."""
    acquired_at = None if row.acquired_at_is_upload_time else row.acquired_at
    if acquired_at is None and row.device is None and row.site is None:
        return None
    return Acquisition(acquired_at=acquired_at, device=row.device, site=row.site)


def _device_reading_of(stored: Mapping[str, Any] | None) -> DeviceReading | None:
    if not stored:
        return None
    from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES

    return DeviceReading(
        measurements={k: v for k, v in (stored.get("measurements") or {}).items()
                      if k in GLOBAL_MEASURE_NAMES and v is not None},
        statements=tuple(stored.get("statements") or ()),
        original_statements=tuple(stored.get("original_statements") or ()),
        source=stored.get("source"),
    )


def device_reading_for(db: Database, record: int | str) -> DeviceReading | None:
    """The acquiring device's measurements and statements stored with a record, or None."""
    with db.transaction() as session:
        return _device_reading_of(get_record(session, record).device_reading)


def acquisition_for(db: Database, record: int | str) -> Acquisition | None:
    """When, on what and where a record was acquired (no patient identifier), or None."""
    with db.transaction() as session:
        return _acquisition_of(get_record(session, record))


def records_of_patient(db: Database, patient_key: str, *, exclude: int | None = None) -> list[StoredRecord]:
    """Every record of the patient with this key, newest first: by acquisition time (the upload time
    where the file states none, ``acquired_at_is_upload_time``; unknown last), then import time.
    ``exclude``: a record id left out (the one being read, for its prior ECGs)."""
    if not patient_key:
        return []
    query = select(StoredRecord).where(StoredRecord.patient_key == patient_key)
    if exclude is not None:
        query = query.where(StoredRecord.id != exclude)
    query = query.order_by(StoredRecord.acquired_at.desc().nulls_last(), StoredRecord.uploaded_at.desc(),
                           StoredRecord.id.desc())
    with db.transaction() as session:
        return list(session.scalars(query))


def other_records_of_patient(db: Database, record: int | str) -> list[StoredRecord]:
    """The other records of the same patient as ``record`` (newest first); [] without a patient key."""
    with db.transaction() as session:
        row = get_record(session, record)
        key, record_id = row.patient_key, row.id
    return records_of_patient(db, key, exclude=record_id) if key else []


def add_prediction(db: Database, record: int | str, model_name: str, model_version: str,
                   probabilities: Mapping[str, float] | Sequence[float],
                   thresholds: Mapping[str, float] | Sequence[float] | None = None, *,
                   actor: str | int | None = None, window_start_s: float = 0.0) -> PredictionRun:
    """Store one model run on a record. Re-running (any model) adds a run; nothing is overwritten.

    ``probabilities`` is a mapping label -> probability, or a sequence in vocabulary order.
    ``window_start_s``: where the 10-s window the model read starts in the record (seconds).
    """
    if not (float(window_start_s) >= 0.0):
        raise InvalidInputError(f"window_start_s={window_start_s!r}; a window starts at 0 s or later.")
    names = vocabulary()
    if not isinstance(probabilities, Mapping):
        values = list(probabilities)
        if len(values) != len(names):
            raise InvalidInputError(f"{len(values)} probabilities given; a sequence must have one per label "
                                    f"({len(names)}), or pass a mapping label -> probability.")
        probabilities = dict(zip(names, values, strict=True))
    if thresholds is not None and not isinstance(thresholds, Mapping):
        thresholds = dict(zip(names, list(thresholds), strict=True))
    check_labels(probabilities)
    if thresholds:
        check_labels(thresholds)
    for label, p in probabilities.items():
        if not (0.0 <= float(p) <= 1.0):
            raise InvalidInputError(f"Probability of {label!r} is {p}; probabilities must be within [0, 1].")
    with db.transaction() as session:
        row = get_record(session, record)
        actor_id = get_user(session, actor).id if actor is not None else None
        prediction = PredictionRun(record_id=row.id, model_name=model_name, model_version=model_version,
                                created_by_id=actor_id, window_start_s=round(float(window_start_s), 3))
        prediction.scores = [
            PredictionScore(label=label, probability=float(p),
                            threshold=None if not thresholds or label not in thresholds else float(thresholds[label]))
            for label, p in probabilities.items()
        ]
        session.add(prediction)
        session.flush()
        audit.log(session, "prediction", user_id=actor_id, target=f"record:{row.id}",
                  details={"model": model_name, "version": model_version, "prediction": prediction.id,
                           "window_start_s": prediction.window_start_s})
    return prediction


def predictions_for(db: Database, record: int | str) -> list[PredictionRun]:
    """Every model run on a record, newest first, scores loaded."""
    with db.transaction() as session:
        row = get_record(session, record)
        runs = list(session.scalars(select(PredictionRun).where(PredictionRun.record_id == row.id)
                                    .order_by(PredictionRun.id.desc())))
        for run in runs:
            _ = run.scores
        return runs
