"""The overread workflow's store (issue 19), on SQLite and PostgreSQL: migration 0006, acquisition time
fallback, patients typed in, timeline, prior ECG comparison, confirmed reports (roles, lock, versions,
audit) and their export (CSV, HL7 aECG round trip)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import exc, func, inspect, select, text

from db import audit
from db.confirmed_reports import (
    REPORT_COLUMNS,
    REPORTS_FILE,
    confirm_report,
    export_confirmed_reports,
    latest_report,
    report_draft,
    report_history,
)
from db.errors import (
    DBError,
    ExportError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ReviewConflictError,
    UnknownLabelError,
)
from db.measurements import correct_measurement, store_measurements
from db.migrate import alembic_config, head_revision
from db.models import AuditEvent, Base, ConfirmedReport, StoredRecord
from db.overread import (
    DEFAULT_THRESHOLD,
    TIMELINE_MEASURES,
    compare_with_prior,
    patient_timeline,
    prior_record,
    set_patient,
)
from db.patient_keys import patient_key
from db.permissions import allowed
from db.records import acquisition_for, add_prediction, add_record, records_of_patient
from db.reviews import save_review
from db.session import Database
from db.users import set_active
from ecgcore.acquisition import Acquisition, DeviceReading
from ecgcore.io import read
from ecgcore.measurements.types import BeatFiducials, Measurements, Wave

AF, LBBB, SR = "ATRIAL FIBRILLATION", "LEFT BUNDLE BRANCH BLOCK", "SINUS RHYTHM"
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
MRN = "MRN-770001"


@pytest.fixture(autouse=True)
def _patient_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECG_PATIENT_KEY", raising=False)  # the data dir's key file


def measured(**values: float | None) -> Measurements:
    normal = {"heart_rate_bpm": 62.0, "rr_ms": 968.0, "p_duration_ms": 100.0, "pr_ms": 160.0, "qrs_ms": 96.0,
              "qt_ms": 400.0, "qtc_bazett_ms": 407.0, "qtc_fridericia_ms": 404.0, "p_axis_deg": 50.0,
              "qrs_axis_deg": 30.0, "t_axis_deg": 40.0}
    return Measurements(algorithm_version="1.0", fs=500.0, leads=LEADS, window_start_s=0.0, window_s=10.0,
                        **{**normal, **values}, beat_samples=(250, 750, 1250), dominant=(True,) * 3,
                        fiducials=BeatFiducials(p=Wave(100, 125, 150), qrs=Wave(180, 200, 225), t=Wave(300, 380, 400)))


def hospital(ecg, when: datetime | None, patient: str | None = MRN):
    """The ECG as a hospital file would give it: a patient identifier and an acquisition time."""
    return ecg.replace(acquisition=Acquisition(patient_id=patient, acquired_at=when, device="cart"))


def probabilities(**present: float) -> dict[str, float]:
    scores = dict.fromkeys((AF, LBBB, SR, "SINUS BRADYCARDIA"), 0.02)
    scores.update(present)
    return scores


@pytest.fixture
def patient(db, team, ptbxl_records) -> dict[str, int]:
    """One patient's three ECGs (2024, 2025-03-01, 2026) and an unlinked plain one."""
    ids = {
        "oldest": add_record(db, hospital(ptbxl_records[0], datetime(2024, 2, 1, 8, 0)), uploader="dan")[0].id,
        "prior": add_record(db, hospital(ptbxl_records[1], datetime(2025, 3, 1, 9, 30)), uploader="dan")[0].id,
        "current": add_record(db, hospital(ptbxl_records[2], datetime(2026, 1, 5, 11, 0)), uploader="dan")[0].id,
        "plain": add_record(db, ptbxl_records[3], uploader="dan")[0].id,
    }
    return ids


def count(db: Database, model) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def today() -> str:
    return datetime.now(UTC).date().isoformat()


# -- schema ----------------------------------------------------------------------------------------
def _downgrade(engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_migration_0006_fills_upload_times_and_downgrades(db, team, ptbxl_records):
    assert head_revision() >= "0006"  # later migrations sit on top and are downgraded through
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    plain = add_record(db, ptbxl_records[0], uploader="alice")[0]
    dated = add_record(db, hospital(ptbxl_records[1], datetime(2025, 3, 1, 9, 30)), uploader="alice")[0]
    save_review(db, plain.id, "alice", {AF: "present"}, saw_model_output=False)  # a row referencing the record
    _downgrade(db.engine, "0005")
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0005"
        assert "confirmed_reports" not in inspect(conn).get_table_names()
        assert "acquired_at_is_upload_time" not in {c["name"] for c in inspect(conn).get_columns("records")}
        rows = dict(conn.execute(text("SELECT id, acquired_at FROM records")).all())
    assert rows[plain.id] is None and rows[dated.id] is not None  # the stand-in is emptied, the file's time kept
    db.dispose()
    again = Database(db.url, data_dir_path=db.data_dir)  # upgrades on open: existing rows are filled
    with again.transaction() as session:
        filled = {r.id: r for r in session.scalars(select(StoredRecord))}
    assert filled[plain.id].acquired_at_is_upload_time and not filled[dated.id].acquired_at_is_upload_time
    uploaded = filled[plain.id].uploaded_at
    uploaded = uploaded.astimezone(UTC).replace(tzinfo=None) if uploaded.tzinfo else uploaded
    assert filled[plain.id].acquired_at == uploaded
    assert filled[dated.id].acquired_at == datetime(2025, 3, 1, 9, 30)
    # Once a report is confirmed (an audit event of the new action), downgrading would orphan it: refused.
    confirm_report(again, plain.id, "alice", [AF], {}, None)
    with pytest.raises(exc.IntegrityError):
        _downgrade(again.engine, "0005")
    with again.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    assert count(again, ConfirmedReport) == 1
    again.dispose()


def test_confirmed_reports_are_append_only(db, patient):
    confirm_report(db, patient["current"], "alice", [AF], {"qrs_ms": 130.0}, "AF.")
    for statement in ("UPDATE confirmed_reports SET conclusion = 'changed'", "DELETE FROM confirmed_reports"):
        with pytest.raises(DBError, match="append-only"), db.transaction() as session:
            session.execute(text(statement))
    assert latest_report(db, patient["current"]).conclusion == "AF."


# -- acquisition time ---------------------------------------------------------------------------------
def test_a_record_without_an_acquisition_time_gets_its_upload_time_marked(db, team, ptbxl_records):
    plain = add_record(db, ptbxl_records[0], uploader="alice")[0]
    assert plain.acquired_at_is_upload_time
    assert plain.acquired_at == plain.uploaded_at.astimezone(UTC).replace(tzinfo=None)
    assert acquisition_for(db, plain.id) is None  # the stand-in is not the file's acquisition
    dated = add_record(db, hospital(ptbxl_records[1], datetime(2025, 3, 1, 9, 30)))[0]
    assert not dated.acquired_at_is_upload_time and dated.acquired_at == datetime(2025, 3, 1, 9, 30)
    # the same signal again, from a file that states the time: it replaces the stand-in
    row, created = add_record(db, hospital(ptbxl_records[0], datetime(2023, 5, 6, 7, 8)), uploader="alice")
    assert not created and row.id == plain.id
    assert row.acquired_at == datetime(2023, 5, 6, 7, 8) and not row.acquired_at_is_upload_time
    assert audit.events(db, action="upload", limit=1)[0].details["filled"] == ["patient_key", "acquired_at", "device"]
    # and a later file's time does not replace a file's time
    row, _ = add_record(db, hospital(ptbxl_records[0], datetime(2020, 1, 1)))
    assert row.acquired_at == datetime(2023, 5, 6, 7, 8)


# -- patients ----------------------------------------------------------------------------------------
def test_an_uploader_links_a_record_to_a_patient_by_a_typed_identifier(db, patient):
    file_key = records_of_patient(db, patient_key(MRN, data_dir=db.data_dir))
    assert [r.id for r in file_key] == [patient["current"], patient["prior"], patient["oldest"]]
    row = set_patient(db, patient["plain"], "dan", f"  {MRN.lower()} ")  # typed, in another spelling
    assert row.patient_key == patient_key(MRN, data_dir=db.data_dir)
    # the plain record's acquisition time is its upload time (now): the newest of the patient's ECGs
    assert records_of_patient(db, row.patient_key)[0].id == patient["plain"]
    event = audit.events(db, action="patient_link", limit=1)[0]
    assert event.target == f"record:{patient['plain']}" and event.details["previous_patient_key"] is None
    # the identifier itself is stored nowhere
    with db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            for values in session.execute(select(table)).all():
                assert MRN not in str(values).upper()
    # linking again to the same patient is no change; another patient needs replace=True
    before = count(db, AuditEvent)
    set_patient(db, patient["plain"], "alice", MRN)
    assert count(db, AuditEvent) == before
    with pytest.raises(InvalidInputError, match="already linked"):
        set_patient(db, patient["plain"], "alice", "MRN-999")
    replaced = set_patient(db, patient["plain"], "alice", "MRN-999", replace=True)
    assert replaced.patient_key == patient_key("MRN-999", data_dir=db.data_dir)
    assert audit.events(db, action="patient_link", limit=1)[0].details["previous_patient_key"] == row.patient_key


def test_placeholders_and_viewers_cannot_link(db, patient):
    for placeholder in ("", "0000", "UNKNOWN", "  "):
        with pytest.raises(InvalidInputError, match="placeholder"):
            set_patient(db, patient["plain"], "dan", placeholder)
    with pytest.raises(PermissionDeniedError, match="vic.*viewer"):
        set_patient(db, patient["plain"], "vic", MRN)
    with db.transaction() as session:
        assert session.get(StoredRecord, patient["plain"]).patient_key is None
    assert audit.events(db, action="patient_link") == []


def test_prior_record_is_the_newest_earlier_ecg_of_the_same_patient(db, patient):
    assert prior_record(db, patient["current"]).id == patient["prior"]
    assert prior_record(db, patient["prior"]).id == patient["oldest"]
    assert prior_record(db, patient["oldest"]) is None
    assert prior_record(db, patient["plain"]) is None  # unlinked
    assert compare_with_prior(db, patient["oldest"], "cardiologist") is None
    with pytest.raises(NotFoundError):
        compare_with_prior(db, patient["current"], "cardiologist", prior_id=patient["plain"])


# -- timeline ----------------------------------------------------------------------------------------
def test_timeline_lists_the_patients_ecgs_with_measurements_and_confirmed_statements(db, patient):
    store_measurements(db, patient["prior"], measured(qrs_ms=96.0))
    store_measurements(db, patient["current"], measured(qrs_ms=130.0))
    confirm_report(db, patient["prior"], "alice", [SR, LBBB], {"qrs_ms": 150.0}, "LBBB.")
    timeline = patient_timeline(db, patient["current"], "cardiologist", user="alice")
    assert timeline.linked and timeline.patient_key == patient_key(MRN, data_dir=db.data_dir)
    assert [e.record_id for e in timeline.entries] == [patient["current"], patient["prior"], patient["oldest"]]
    current, prior, oldest = timeline.entries
    assert current.is_current and not prior.is_current
    assert set(current.measurements) == set(TIMELINE_MEASURES)
    assert current.measurements["qrs_ms"] == 130.0 and current.measurement_sources["qrs_ms"] == "measurement"
    assert current.statements == () and current.confirmed is None
    assert prior.statements == (SR, LBBB) and prior.report_version == 1 and prior.conclusion == "LBBB."
    assert prior.confirmed == f"confirmed by alice {today()}"
    assert prior.measurements["qrs_ms"] == 150.0 and prior.measurement_sources["qrs_ms"] == prior.confirmed
    assert prior.measurements["pr_ms"] == 160.0 and prior.measurement_sources["pr_ms"] == "measurement"
    assert oldest.measurements == dict.fromkeys(TIMELINE_MEASURES) and oldest.acquired_at == datetime(2024, 2, 1, 8)
    assert not oldest.acquired_at_is_upload_time
    plain = patient_timeline(db, patient["plain"], "cardiologist")
    assert not plain.linked and plain.patient_key is None and [e.record_id for e in plain.entries] == [patient["plain"]]
    assert plain.entries[0].acquired_at_is_upload_time


def test_viewers_never_see_patient_keys_nor_signers_names(db, patient):
    confirm_report(db, patient["prior"], "alice", [LBBB], {}, None)
    assert not allowed("viewer", "see_patient_keys") and allowed("annotator", "see_patient_keys")
    timeline = patient_timeline(db, patient["current"], "viewer", user="vic")
    assert timeline.patient_key is None and timeline.linked
    assert all("patient_key" not in vars(e) for e in timeline.entries)
    assert timeline.entries[1].confirmed == f"confirmed by a cardiologist {today()}"
    comparison = compare_with_prior(db, patient["current"], "viewer", user="vic")
    assert comparison.patient_key is None and "alice" not in repr(comparison)
    assert compare_with_prior(db, patient["current"], "admin").patient_key == patient_key(MRN, data_dir=db.data_dir)
    with pytest.raises(InvalidInputError, match="Unknown role"):
        patient_timeline(db, patient["current"], "guest")


def test_blinded_annotators_see_model_output_and_reports_only_of_records_they_read(db, patient):
    add_prediction(db, patient["current"], "m", "1", probabilities(**{AF: 0.9}), dict.fromkeys(probabilities(), 0.5))
    confirm_report(db, patient["prior"], "alice", [LBBB], {}, None)
    blind = compare_with_prior(db, patient["current"], "annotator", user="dan").comparison
    assert blind.statements == () and "hidden until your own reading" in blind.current_basis
    assert patient_timeline(db, patient["current"], "annotator", user="dan").entries[1].statements == ()
    save_review(db, patient["current"], "dan", {AF: "present"}, saw_model_output=False)
    save_review(db, patient["prior"], "dan", {LBBB: "present"}, saw_model_output=False)
    read_both = compare_with_prior(db, patient["current"], "annotator", user="dan").comparison
    assert {c.text for c in read_both.statements} == {"atrial fibrillation: new",
                                                      "left bundle branch block: no longer present"}
    assert patient_timeline(db, patient["current"], "annotator", user="dan").entries[1].statements == (LBBB,)
    # without a user, a blinded role sees neither
    assert compare_with_prior(db, patient["current"], "annotator").comparison.statements == ()


# -- comparison with the prior ---------------------------------------------------------------------------
def test_comparison_uses_the_priors_confirmed_statements_and_says_so(db, patient):
    store_measurements(db, patient["prior"], measured(qrs_ms=96.0))
    store_measurements(db, patient["current"], measured(qrs_ms=130.0))
    add_prediction(db, patient["prior"], "m", "1", probabilities(**{AF: 0.95}), None)  # the machine said AF...
    confirm_report(db, patient["prior"], "alice", [SR, LBBB], {}, "LBBB.")  # ...the cardiologist confirmed LBBB
    add_prediction(db, patient["current"], "m", "1", probabilities(**{AF: 0.8, SR: 0.3}), None)
    result = compare_with_prior(db, patient["current"], "cardiologist", user="bob")
    assert result.prior_record_id == patient["prior"] and result.prior_acquired_at == datetime(2025, 3, 1, 9, 30)
    confirmed = f"confirmed by alice {today()}"
    cmp = result.comparison
    assert cmp.prior_basis == confirmed
    assert cmp.current_basis == "the model's findings and the measurement statements (no confirmed report)"
    assert result.changes() == ["QRS widened by 34 ms since 2025-03-01", "atrial fibrillation: new",
                                "wide QRS: new", "sinus rhythm: no longer present",
                                "left bundle branch block: no longer present"]
    sources = {c.text: c.source for c in cmp.statements}
    assert sources == {"atrial fibrillation: new": "model", "wide QRS: new": "measurement",
                       "sinus rhythm: no longer present": confirmed,
                       "left bundle branch block: no longer present": confirmed}
    qrs = {r.name: r for r in cmp.measurements}["qrs_ms"]
    assert (qrs.prior, qrs.current, qrs.difference, qrs.changed) == (96.0, 130.0, 34.0, True)
    # the reading being made, in place of the record's own sources
    draft = compare_with_prior(db, patient["current"], "cardiologist", current_statements=[SR, LBBB]).comparison
    assert draft.statements == () and draft.current_basis == "this reading"


def test_without_a_confirmed_report_the_prior_is_read_from_model_and_measurements(db, patient):
    store_measurements(db, patient["prior"], measured(qrs_ms=150.0))  # wide QRS by measurement
    add_prediction(db, patient["prior"], "m", "1", probabilities(**{LBBB: 0.9}), dict.fromkeys(probabilities(), 0.5))
    store_measurements(db, patient["current"], measured(qrs_ms=100.0))
    add_prediction(db, patient["current"], "m", "1", probabilities(**{AF: 0.9}), None)
    cmp = compare_with_prior(db, patient["current"], "cardiologist").comparison
    assert cmp.prior_basis == "the model's findings and the measurement statements (no confirmed report)"
    assert {(c.text, c.source) for c in cmp.statements} == {
        ("atrial fibrillation: new", "model"), ("left bundle branch block: no longer present", "model"),
        ("wide QRS: no longer present", "measurement")}
    assert cmp.changes()[0] == "QRS narrowed by 50 ms since 2025-03-01"
    # labels the model does not show (untrained ones) are not its findings
    shown = compare_with_prior(db, patient["current"], "cardiologist", shown_labels={("m", "1"): {SR}}).comparison
    assert {c.text for c in shown.statements} == {"wide QRS: no longer present"}
    assert DEFAULT_THRESHOLD == 0.5


def test_device_measurements_fill_in_when_nothing_else_is_stored(db, team, ptbxl_records):
    reading = DeviceReading(measurements={"qrs_ms": 92.0, "heart_rate_bpm": 70.0}, statements=("Sinus rhythm",))
    first = add_record(db, hospital(ptbxl_records[0], datetime(2025, 3, 1)).replace(device_reading=reading))[0]
    second = add_record(db, hospital(ptbxl_records[1], datetime(2026, 1, 1)).replace(
        device_reading=DeviceReading(measurements={"qrs_ms": 140.0, "heart_rate_bpm": 71.0})))[0]
    cmp = compare_with_prior(db, second.id, "cardiologist").comparison
    qrs = {r.name: r for r in cmp.measurements}["qrs_ms"]
    assert (qrs.prior, qrs.current, qrs.prior_source, qrs.current_source) == (92.0, 140.0, "device", "device")
    assert cmp.changes() == ["QRS widened by 48 ms since 2025-03-01"] and first.id != second.id


# -- confirmed reports ---------------------------------------------------------------------------------
def test_only_cardiologists_confirm_checked_in_the_store(db, patient):
    rid = patient["current"]
    for user, role in (("dan", "annotator"), ("vic", "viewer"), ("erin", "admin")):
        with pytest.raises(PermissionDeniedError, match=f"{user}.*{role}.*cardiologist"):
            confirm_report(db, rid, user, [AF], {"qrs_ms": 130.0}, "AF.")
    set_active(db, "bob", False, actor="erin")
    with pytest.raises(PermissionDeniedError, match="deactivated"):
        confirm_report(db, rid, "bob", [AF], {}, None)
    assert count(db, ConfirmedReport) == 0 and audit.events(db, action="report_confirm") == []
    assert latest_report(db, rid) is None and report_history(db, rid) == []


def test_a_confirmed_report_is_locked_and_editing_makes_a_version_that_says_what_changed(db, patient):
    rid = patient["current"]
    run = store_measurements(db, rid, measured(qrs_ms=130.0))
    save_review(db, rid, "alice", {AF: "present", LBBB: "absent"}, saw_model_output=True)
    first = confirm_report(db, rid, "alice", [AF, AF, " ATRIAL  FIBRILLATION "], {"qrs_ms": 130.0, "qt_ms": 420.0,
                                                                                   "pr_ms": None},
                           "Atrial fibrillation.", expected_version=0)
    assert (first.version, first.signed_by, first.signed_role, first.statements) == (1, "alice", "cardiologist", (AF,))
    assert first.measurement_id == run.id and first.review_id is not None and first.changes is None
    assert first.measurements == {"pr_ms": None, "qrs_ms": 130.0, "qt_ms": 420.0}  # GLOBAL_MEASURES order
    assert first.measurement_status == {"pr_ms": "corrected", "qrs_ms": "accepted", "qt_ms": "corrected"}
    assert first.signed_at.tzinfo is not None and first.signature().startswith("alice (cardiologist), ")
    # the same again changes nothing: refused; a stale form: conflict
    with pytest.raises(InvalidInputError, match="Nothing changed"):
        confirm_report(db, rid, "bob", [AF], {"qrs_ms": 130.0, "qt_ms": 420.0, "pr_ms": None}, "Atrial fibrillation.")
    with pytest.raises(ReviewConflictError, match="version 1, not 0"):
        confirm_report(db, rid, "bob", [AF, LBBB], {}, None, expected_version=0)
    second = confirm_report(db, rid, "bob", [AF, LBBB], {"qrs_ms": 134.0, "qt_ms": 420.0, "rr_ms": 700.0},
                            "Atrial fibrillation, new LBBB.", expected_version=1)
    assert second.version == 2 and second.signed_by == "bob"
    assert second.what_changed == ["statement added: LEFT BUNDLE BRANCH BLOCK", "RR added: 700 ms",
                                   "PR removed (was not measurable)", "QRS: 130 ms -> 134 ms", "conclusion edited"]
    assert second.measurement_status["qrs_ms"] == "corrected" and second.measurement_status["rr_ms"] == "corrected"
    history = report_history(db, rid)
    assert [v.version for v in history] == [1, 2] and history[0].what_changed == []
    assert history[0].statements == (AF,) and history[0].conclusion == "Atrial fibrillation."  # kept as signed
    assert latest_report(db, rid).version == 2
    events = audit.events(db, action="report_confirm")
    assert [e.details["version"] for e in events] == [2, 1] and {e.target for e in events} == {f"record:{rid}"}
    assert events[0].details["changes"]["statements_added"] == [LBBB]
    assert events[0].details["changes"]["measurements"][0] == {"name": "rr_ms", "change": "added", "from": None,
                                                               "to": 700.0}
    assert report_history(db, rid, role="viewer")[1].signed_by == "a cardiologist"


def test_confirming_checks_its_input(db, patient):
    rid = patient["current"]
    with pytest.raises(UnknownLabelError):
        confirm_report(db, rid, "alice", ["ATRIAL FIBRILATION"], {}, None)
    with pytest.raises(InvalidInputError, match="seconds"):
        confirm_report(db, rid, "alice", [AF], {"qt_ms": 0.42}, None)
    with pytest.raises(InvalidInputError, match="'name' parameter of confirm_report"):
        confirm_report(db, rid, "alice", [AF], {"qtc_ms": 420.0}, None)
    with pytest.raises(InvalidInputError, match="at least one statement or a conclusion"):
        confirm_report(db, rid, "alice", [], {"qt_ms": 420.0}, "   ")
    with pytest.raises(NotFoundError):
        confirm_report(db, rid, "alice", [AF], {}, None, measurement_id=12345)
    assert count(db, ConfirmedReport) == 0
    only_conclusion = confirm_report(db, rid, "alice", [], {}, "Technically poor tracing; repeat.")
    assert only_conclusion.statements == () and only_conclusion.measurement_id is None


def test_report_draft_starts_from_the_reading_then_from_the_report(db, patient):
    rid = patient["current"]
    run = store_measurements(db, rid, measured(qrs_ms=130.0))
    save_review(db, rid, "alice", {AF: "present", LBBB: "absent", SR: "uncertain"}, saw_model_output=True)
    correct_measurement(db, rid, "alice", "qt_ms", 430.0)
    draft = report_draft(db, rid, "alice")
    assert draft.statements == [AF] and draft.expected_version == 0 and not draft.from_report
    assert draft.measurements["qt_ms"] == 430.0 and draft.measured_values["qt_ms"] == 400.0
    assert draft.measurement_id == run.id
    confirm_report(db, rid, "alice", draft.statements, draft.measurements, "AF.", draft.expected_version)
    again = report_draft(db, rid, "bob")
    assert again.from_report and again.expected_version == 1 and again.conclusion == "AF."


# -- export ----------------------------------------------------------------------------------------------
def test_export_writes_the_csv_and_an_aecg_per_record_that_round_trips(db, patient, ptbxl_records, tmp_path):
    store_measurements(db, patient["current"], measured(qrs_ms=130.0))
    confirm_report(db, patient["current"], "alice", [AF, LBBB], {"qrs_ms": 134.0, "heart_rate_bpm": 88.0,
                                                                   "qrs_axis_deg": -45.0, "pr_ms": None}, "AF, LBBB.")
    confirm_report(db, patient["current"], "bob", [AF, LBBB], {"qrs_ms": 136.0, "heart_rate_bpm": 88.0,
                                                                 "qrs_axis_deg": -45.0, "pr_ms": None}, "AF, LBBB.")
    confirm_report(db, patient["plain"], "alice", [SR], {}, None)
    with pytest.raises(PermissionDeniedError):
        export_confirmed_reports(db, tmp_path / "no", exported_by="dan")
    out = export_confirmed_reports(db, tmp_path / "reports", exported_by="alice")
    table = pd.read_csv(out / REPORTS_FILE)
    assert list(table.columns) == REPORT_COLUMNS and len(table) == 3
    latest = table[table["is_latest"]].set_index("record_id")
    assert list(latest.index) == [patient["current"], patient["plain"]]
    row = latest.loc[patient["current"]]
    assert (row["version"], row["confirmed_by"], row["confirmed_role"]) == (2, "bob", "cardiologist")
    assert json.loads(row["statements"]) == [AF, LBBB] and row["qrs_ms"] == 136.0 and np.isnan(row["pr_ms"])
    assert json.loads(row["measurement_status"])["qrs_ms"] == "corrected"
    assert json.loads(row["changes"])["measurements"][0]["to"] == 136.0
    assert row["acquired_at"] == "2026-01-05T11:00:00" and not row["acquired_at_is_upload_time"]
    assert bool(latest.loc[patient["plain"], "acquired_at_is_upload_time"])
    assert table[~table["is_latest"]]["aecg_file"].isna().all()
    # the aECG file: our own reader gives the signal, the confirmed statements and measurements back
    ecg = read(out / row["aecg_file"])
    assert ecg.device_reading.statements == (AF, LBBB)
    assert ecg.device_reading.measurements == {"heart_rate_bpm": 88.0, "qrs_ms": 136.0, "qrs_axis_deg": -45.0}
    assert ecg.acquisition.acquired_at == datetime(2026, 1, 5, 11, 0) and ecg.acquisition.patient_id is None
    np.testing.assert_allclose(ecg.signal, ptbxl_records[2].signal, atol=0.5e-3 + 1e-6)
    assert read(out / "ecg{:06d}.xml".format(patient["plain"])).acquisition is None  # upload time: not written
    assert MRN not in (out / row["aecg_file"]).read_text().upper()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_records"] == 2 and manifest["n_versions"] == 3 and REPORTS_FILE in manifest["files"]
    event = audit.events(db, action="export", limit=1)[0]
    assert event.details == {"kind": "confirmed_reports", "n_records": 2, "n_versions": 3}
    with pytest.raises(ExportError, match="already exists"):
        export_confirmed_reports(db, out)


def test_report_dates_in_sources_are_the_signature_dates(db, patient):
    version = confirm_report(db, patient["prior"], "alice", [LBBB], {}, None)
    assert version.signed_at.date() == date.fromisoformat(today())
