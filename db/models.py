"""SQLAlchemy 2 typed ORM models of the review store.

Names say what a row is, apart from the library's objects: a :class:`StoredRecord` is an ECG in the
store (``ecgcore.Record`` is the signal in memory), a :class:`PredictionRun` is one model run on it
(``ecgcore.Prediction`` is the ranked findings of one forward pass). ``record_id`` is always the
store's integer key here; the recording's own name is ``StoredRecord.record_name``.

The schema itself is owned by Alembic (``db/migrations``); these classes must match it, which
``tests/db/test_operation.py`` (``test_models_match_the_migrated_schema_and_downgrade_works``)
checks by autogenerate-comparing them with the migrated database.

Design choices, each for "never lose or silently change a verdict":

* ``reviews`` and ``review_verdicts`` are append-only. Editing a review inserts a new version
  (``version`` + 1 for the same record and reviewer); database triggers refuse UPDATE and DELETE
  on both tables, so not even a bug in this code can rewrite history.
* Users are soft-deleted (``deleted_at``): their old reviews keep a valid foreign key.
* Predictions are rows per (run, label); re-running a model adds a run, never overwrites.
* Interval measurements are rows per (record, algorithm version, window); a new algorithm version
  adds a row. Reviewers' corrections of them are versioned like reviews. Both are append-only too.
* A record's confirmed report (``confirmed_reports``) is versioned and append-only too: editing a
  confirmed report adds a version that says what changed.
* Signal assessments (``record_assessments``) are rows per (record, assessment version), stored at
  import; a new version adds a row. Append-only.
* Every foreign key is ``ON DELETE RESTRICT`` (the default): deleting a record that has
  reviews fails instead of cascading verdicts away.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ecgcore.measurements.types import GLOBAL_MEASURE_NAMES

ROLES = ("cardiologist", "annotator", "admin", "viewer")
# Roles whose reviews count as verdicts; a viewer can only look.
REVIEWER_ROLES = ("cardiologist", "annotator", "admin")
# Roles allowed to adjudicate (their adjudication verdict overrides the majority).
ADJUDICATOR_ROLES = ("cardiologist", "admin")
VERDICTS = ("present", "absent", "uncertain")
AUDIT_ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "upload",
    "prediction",
    "review",
    "export",
    "backup",
    "user_create",
    "user_update",
    "user_delete",
    "settings_change",
    "measurement",
    "measurement_correction",
    "patient_link",
    "report_confirm",
    "model_candidate",
    "model_promote",
    "model_reject",
    "model_rollback",
)
# What an admin can decide about a model bundle (db.model_registry); the newest promote or rollback
# of a lead count names that lead count's default model.
MODEL_DECISIONS = ("promote", "reject", "rollback")
# The global measurements a reviewer can correct: ecgcore's one table of them. A name added there
# needs a migration widening ck_measurement_corrections_name (tests/db/test_measurements.py checks).
MEASURE_NAMES: tuple[str, ...] = GLOBAL_MEASURE_NAMES


def utcnow() -> datetime:
    """Timezone-aware now; stored as UTC on both SQLite and PostgreSQL."""
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_users_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Bumped when the account changes in a way that must end its open sessions (role, status,
    # password); a session started under another epoch is signed out at its next page run.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set by an admin's password reset: the next sign-in must choose a new password first.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    def __repr__(self) -> str:
        return f"User({self.name!r}, {self.role}{'' if self.active else ', inactive'})"


class StoredRecord(Base):
    """One ECG, identified by the hash of its canonical signal (same ECG uploaded twice = one row).

    A hospital file adds what it knows beyond the signal (migration 0005): ``patient_key`` (keyed
    hash of the patient identifier, ``db.patient_keys``; the identifier is never stored),
    ``acquired_at`` (the device's wall-clock time, no time zone), ``device``, ``site`` and the
    cart's own reading (``device_reading``, JSON ``DeviceReading.to_dict()``). Migration 0006: a
    record whose file states no acquisition time has its upload time (UTC) as ``acquired_at``, marked
    by ``acquired_at_is_upload_time``; an uploader may link it to a patient (``db.overread.set_patient``).
    """

    __tablename__ = "records"
    __table_args__ = (
        CheckConstraint("sex IS NULL OR sex IN ('M', 'F')", name="ck_records_sex"),
        Index("ix_records_patient_key", "patient_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    record_name: Mapped[str] = mapped_column(String(255))
    original_filename: Mapped[str | None] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(50))
    # Folder under the data directory (relative, so the data directory can move) holding the
    # original upload in original/ and the canonical float32 signal as signal.npy.
    storage_path: Mapped[str] = mapped_column(String(500))
    fs: Mapped[float] = mapped_column(Float)
    leads: Mapped[list[str]] = mapped_column(JSON)
    n_samples: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    age: Mapped[float | None] = mapped_column(Float)
    sex: Mapped[str | None] = mapped_column(String(1))
    source: Mapped[str | None] = mapped_column(String(200))
    source_labels: Mapped[list[str] | None] = mapped_column(JSON)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    patient_key: Mapped[str | None] = mapped_column(String(32))
    acquired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    device: Mapped[str | None] = mapped_column(String(200))
    site: Mapped[str | None] = mapped_column(String(200))
    device_reading: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # True when the file stated no acquisition time and acquired_at is the upload time (UTC), 0006.
    acquired_at_is_upload_time: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    uploaded_by: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"StoredRecord({self.id}, {self.record_name!r}, {self.content_hash[:12]})"


class PredictionRun(Base):
    """One model run on one record; its per-label scores are :class:`PredictionScore` rows."""

    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_record", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Start of the 10-s window of the record the model read (the record's own time, seconds).
    window_start_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")

    scores: Mapped[list[PredictionScore]] = relationship(order_by="PredictionScore.id")


class PredictionScore(Base):
    __tablename__ = "prediction_scores"
    __table_args__ = (
        UniqueConstraint("prediction_id", "label", name="uq_prediction_scores_label"),
        CheckConstraint("probability >= 0 AND probability <= 1", name="ck_prediction_scores_probability"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id"))
    label: Mapped[str] = mapped_column(String(200))
    probability: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)


class Review(Base):
    """One version of one reviewer's reading of one record. Never updated: edits add a version."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("record_id", "reviewer_id", "version", name="uq_reviews_version"),
        CheckConstraint("version >= 1", name="ck_reviews_version"),
        CheckConstraint("confidence IS NULL OR (confidence >= 1 AND confidence <= 5)", name="ck_reviews_confidence"),
        CheckConstraint("time_spent_s IS NULL OR time_spent_s >= 0", name="ck_reviews_time_spent"),
        Index("ix_reviews_record", "record_id"),
        Index("ix_reviews_reviewer", "reviewer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer)
    is_adjudication: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    # True when the reviewer was shown the model's output before/while reading (not blinded).
    saw_model_output: Mapped[bool] = mapped_column(Boolean)
    # The prediction run shown, when saw_model_output.
    prediction_id: Mapped[int | None] = mapped_column(ForeignKey("predictions.id"))
    time_spent_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    reviewer: Mapped[User] = relationship()
    record: Mapped[StoredRecord] = relationship()
    verdicts: Mapped[list[ReviewVerdict]] = relationship(order_by="ReviewVerdict.id")


class ReviewVerdict(Base):
    __tablename__ = "review_verdicts"
    __table_args__ = (
        UniqueConstraint("review_id", "label", name="uq_review_verdicts_label"),
        CheckConstraint(_in("verdict", VERDICTS), name="ck_review_verdicts_verdict"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    label: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(10))
    # True for a label the reviewer added that the model run shown did not rank.
    added_by_reviewer: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEvent(Base):
    """Who did what when. Written in the same transaction as the action it records."""

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint(_in("action", AUDIT_ACTIONS), name="ck_audit_events_action"),
        Index("ix_audit_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(30))
    target: Mapped[str | None] = mapped_column(String(500))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AppSetting(Base):
    """Workspace-wide switches an admin sets (e.g. the read-only demo mode); every change is audited."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class MeasurementRun(Base):
    """One run of the interval-measurement algorithm on one window of one record. Never updated.

    ``global_values`` are the global measurements by ``GLOBAL_MEASURES`` name (None: could not be
    measured, ``payload["reasons"]`` says why); ``payload`` is ``Measurements.to_dict()`` (fiducials,
    beats, amplitudes, flags; the median beats only when stored with them). A new algorithm version
    adds a row; the same version on the same window is stored once.
    """

    __tablename__ = "measurements"
    __table_args__ = (
        UniqueConstraint("record_id", "algorithm_version", "window_start_s", name="uq_measurements_version_window"),
        CheckConstraint("window_start_s >= 0", name="ck_measurements_window_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    algorithm_version: Mapped[str] = mapped_column(String(100))
    # Start of the measured stretch of the record (seconds, rounded to the ms like predictions').
    window_start_s: Mapped[float] = mapped_column(Float)
    global_values: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def __repr__(self) -> str:
        return f"MeasurementRun({self.id}, record {self.record_id}, {self.algorithm_version!r}, {self.window_start_s:g} s)"


class MeasurementCorrection(Base):
    """One version of one reviewer's value of one global measurement of one record. Never updated.

    ``value`` None means the reviewer judged it cannot be measured. ``measurement_id``,
    ``algorithm_version`` and ``measured_value`` are the stored measurement it corrects (None when
    the record had none).
    """

    __tablename__ = "measurement_corrections"
    __table_args__ = (
        UniqueConstraint("record_id", "reviewer_id", "name", "version", name="uq_measurement_corrections_version"),
        CheckConstraint(_in("name", MEASURE_NAMES), name="ck_measurement_corrections_name"),
        CheckConstraint("version >= 1", name="ck_measurement_corrections_version"),
        Index("ix_measurement_corrections_reviewer", "reviewer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(50))
    version: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)
    measurement_id: Mapped[int | None] = mapped_column(ForeignKey("measurements.id"))
    algorithm_version: Mapped[str | None] = mapped_column(String(100))
    measured_value: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    reviewer: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"MeasurementCorrection(record {self.record_id}, {self.name} = {self.value}, v{self.version})"


class ConfirmedReport(Base):
    """One version of the confirmed (signed) report of one record. Never updated: edits add a version.

    Signed by ``confirmed_by`` in the role ``signed_role`` they had at ``created_at``. ``statements``
    (labels, as in reviews), ``measurements`` (GLOBAL_MEASURES name -> value; null: cannot be
    measured) with ``measured_values`` (the stored measurement ``measurement_id`` they were accepted
    or corrected from), ``conclusion`` (free text), ``review_id`` (the signer's latest review of the
    record at signing), ``changes`` (what changed from the previous version; null for version 1).
    """

    __tablename__ = "confirmed_reports"
    __table_args__ = (
        UniqueConstraint("record_id", "version", name="uq_confirmed_reports_version"),
        CheckConstraint("version >= 1", name="ck_confirmed_reports_version"),
        Index("ix_confirmed_reports_confirmed_by", "confirmed_by_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    version: Mapped[int] = mapped_column(Integer)
    confirmed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signed_role: Mapped[str] = mapped_column(String(20))
    statements: Mapped[list[str]] = mapped_column(JSON)
    measurements: Mapped[dict[str, Any]] = mapped_column(JSON)
    measured_values: Mapped[dict[str, Any]] = mapped_column(JSON)
    measurement_id: Mapped[int | None] = mapped_column(ForeignKey("measurements.id"))
    conclusion: Mapped[str | None] = mapped_column(Text)
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    confirmed_by: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"ConfirmedReport(record {self.record_id}, v{self.version}, by {self.confirmed_by_id})"


class RecordAssessment(Base):
    """One run of the signal assessment (``ecgcore.assess``) on one record. Never updated.

    ``interpretable``, ``reasons``, ``reversal`` (None: none called) and ``paced`` are copied out of
    ``payload`` (``Assessment.to_dict()``) so the worklist filters without reading JSON. A new
    assessment algorithm version adds a row; the same version is stored once per record.
    """

    __tablename__ = "record_assessments"
    __table_args__ = (UniqueConstraint("record_id", "algorithm_version", name="uq_record_assessments_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    algorithm_version: Mapped[str] = mapped_column(String(100))
    interpretable: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    reversal: Mapped[str | None] = mapped_column(String(20))
    paced: Mapped[bool] = mapped_column(Boolean)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def __repr__(self) -> str:
        return f"RecordAssessment(record {self.record_id}, {self.algorithm_version!r}, interpretable={self.interpretable})"


class ModelPromotion(Base):
    """One admin's decision on a model bundle (migration 0008). Never updated: the history of defaults.

    ``action``: ``promote`` (made the default for ``n_leads``-lead records), ``reject`` (turned a
    candidate down), ``rollback`` (made an earlier bundle the default again). ``bundle_path`` is
    relative to the models directory when the bundle lies in it; ``weights_sha256`` is checked
    whenever the default is resolved, so a replaced file is never served under this row's name.
    ``override_reason``: why a candidate worse on a claimed label was promoted anyway (also written
    into its card); ``comparison``: the summary of the comparison the decision was made on.
    """

    __tablename__ = "model_promotions"
    __table_args__ = (
        CheckConstraint(_in("action", MODEL_DECISIONS), name="ck_model_promotions_action"),
        Index("ix_model_promotions_n_leads", "n_leads"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(10))
    n_leads: Mapped[int] = mapped_column(Integer)
    bundle_path: Mapped[str] = mapped_column(String(500))
    weights_sha256: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    override_reason: Mapped[str | None] = mapped_column(Text)
    comparison: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    user: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"ModelPromotion({self.id}, {self.action} {self.model_name} v{self.model_version}, {self.n_leads} leads)"
