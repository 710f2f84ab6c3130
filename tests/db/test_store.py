"""Users, records, predictions, reviews and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from db import audit
from db.errors import (
    AuthenticationError,
    DBError,
    DuplicateError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ReviewConflictError,
    UnknownLabelError,
)
from db.labels import vocabulary
from db.records import add_prediction, add_record, list_records, load_ecg, predictions_for
from db.reviews import current_reviews, review_history, save_review
from db.users import authenticate, create_user, delete_user, list_users, set_active, set_role
from ecgcore.errors import ECGError, LabelError

AF, SB, NORMAL = "ATRIAL FIBRILLATION", "SINUS BRADYCARDIA", "NORMAL ECG"


def test_users_roles_passwords_and_audit(db, team):
    assert {u.name for u in list_users(db)} == set(team)
    user = authenticate(db, "alice", "alice-password")
    assert user.role == "cardiologist"
    assert user.password_hash.startswith("$argon2id$") and "alice-password" not in user.password_hash
    with pytest.raises(AuthenticationError):
        authenticate(db, "alice", "wrong-password")
    with pytest.raises(AuthenticationError):
        authenticate(db, "nobody", "whatever-pass")
    with pytest.raises(DuplicateError, match="already exists"):
        create_user(db, "alice", "viewer", "another-password")
    with pytest.raises(InvalidInputError, match="role"):
        create_user(db, "zed", "surgeon", "zed-password")
    with pytest.raises(InvalidInputError, match="at least"):
        create_user(db, "zed", "viewer", "short")
    set_role(db, "dan", "cardiologist", actor="erin")
    set_active(db, "bob", False, actor="erin")
    with pytest.raises(AuthenticationError):
        authenticate(db, "bob", "bob-password")
    actions = [e.action for e in audit.events(db)]
    assert actions.count("login") == 1 and actions.count("login_failed") == 3
    assert actions.count("user_create") == len(team) and actions.count("user_update") == 2


def test_errors_share_the_project_hierarchy():
    assert issubclass(DBError, ECGError)
    assert issubclass(UnknownLabelError, LabelError) and issubclass(UnknownLabelError, DBError)


def test_same_ecg_uploaded_twice_is_one_record_with_files_on_disk(db, team, ptbxl_records, ptbxl_files):
    row, created = add_record(db, ptbxl_records[0], files=ptbxl_files[0], file_format="wfdb", uploader="alice")
    assert created and row.file_format == "wfdb" and row.original_filename == "00001_hr.hea"
    assert row.leads == list(ptbxl_records[0].leads) and row.fs == 500 and row.duration_s == pytest.approx(10)
    again, created_again = add_record(db, ptbxl_records[0], uploader="bob")
    assert not created_again and again.id == row.id
    folder = db.data_dir / row.storage_path
    assert sorted(p.name for p in (folder / "original").iterdir()) == ["00001_hr.dat", "00001_hr.hea"]
    ecg = load_ecg(db, row.id)
    assert ecg.content_hash() == row.content_hash
    assert len(list_records(db)) == 1
    uploads = audit.events(db, action="upload")
    assert len(uploads) == 2 and uploads[0].details["duplicate"] is True


def test_tampered_waveform_is_detected(db, ptbxl_records):
    import numpy as np

    row, _ = add_record(db, ptbxl_records[1])
    path = db.data_dir / row.storage_path / "signal.npy"
    signal = np.load(path)
    signal[0, 0] += 1.0
    np.save(path, signal)
    with pytest.raises(DBError, match="does not match its hash"):
        load_ecg(db, row.id)


def test_predictions_are_added_never_overwritten(db, ptbxl_records):
    row, _ = add_record(db, ptbxl_records[0])
    n = len(vocabulary())
    first = add_prediction(db, row.id, "ecgfounder-12lead", "1.0", [0.1] * n, [0.5] * n)
    second = add_prediction(db, row.id, "ecgfounder-12lead", "1.1", {AF: 0.9, SB: 0.2}, {AF: 0.4, SB: 0.5})
    runs = predictions_for(db, row.id)
    assert [r.id for r in runs] == [second.id, first.id]
    assert len(runs[1].scores) == n and {s.label: s.probability for s in runs[0].scores} == {AF: 0.9, SB: 0.2}
    with pytest.raises(UnknownLabelError, match="NOT A LABEL"):
        add_prediction(db, row.id, "m", "1", {"NOT A LABEL": 0.5})
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        add_prediction(db, row.id, "m", "1", {AF: 1.5})
    with pytest.raises(NotFoundError):
        add_prediction(db, 999, "m", "1", {AF: 0.5})
    assert len(predictions_for(db, row.id)) == 2


def test_review_versions_history_and_conflicts(db, team, ptbxl_records):
    row, _ = add_record(db, ptbxl_records[0])
    run = add_prediction(db, row.id, "ecgfounder-12lead", "1.0", {AF: 0.8, SB: 0.1})
    r1 = save_review(db, row.id, "alice", {AF: "present", SB: "absent"}, added=["LEFT BUNDLE BRANCH BLOCK"],
                     saw_model_output=True, prediction_id=run.id, confidence=4, comment="clear AF",
                     time_spent_s=42.5, expected_version=0)
    assert r1.version == 1
    r2 = save_review(db, row.id, "alice", {AF: "uncertain"}, saw_model_output=True, expected_version=1)
    assert r2.version == 2
    with pytest.raises(ReviewConflictError, match="version 2"):
        save_review(db, row.id, "alice", {AF: "absent"}, saw_model_output=True, expected_version=1)
    history = review_history(db, row.id, "alice")
    assert [h.version for h in history] == [1, 2]
    first = {v.label: (v.verdict, v.added_by_reviewer) for v in history[0].verdicts}
    assert first == {AF: ("present", False), SB: ("absent", False), "LEFT BUNDLE BRANCH BLOCK": ("present", True)}
    assert history[0].comment == "clear AF" and history[0].time_spent_s == 42.5 and history[0].prediction_id == run.id
    save_review(db, row.id, "bob", {AF: "present"}, saw_model_output=False)
    current = current_reviews(db, row.id)
    assert [(c.reviewer.name, c.version) for c in current] == [("alice", 2), ("bob", 1)]
    assert len(audit.events(db, action="review")) == 3


def test_bad_review_input_is_refused_and_nothing_written(db, team, ptbxl_records):
    row, _ = add_record(db, ptbxl_records[0])
    with pytest.raises(UnknownLabelError, match="ATRIAL FIBRILATION"):
        save_review(db, row.id, "alice", {"ATRIAL FIBRILATION": "present"}, saw_model_output=False)
    with pytest.raises(InvalidInputError, match="Verdict"):
        save_review(db, row.id, "alice", {AF: "yes"}, saw_model_output=False)
    with pytest.raises(InvalidInputError, match="Confidence"):
        save_review(db, row.id, "alice", {AF: "present"}, saw_model_output=False, confidence=9)
    with pytest.raises(NotFoundError, match="No record"):
        save_review(db, 12345, "alice", {AF: "present"}, saw_model_output=False)
    with pytest.raises(NotFoundError, match="No user"):
        save_review(db, row.id, "mallory", {AF: "present"}, saw_model_output=False)
    with pytest.raises(PermissionDeniedError, match="viewer"):
        save_review(db, row.id, "vic", {AF: "present"}, saw_model_output=False)
    with pytest.raises(PermissionDeniedError, match="adjudicate"):
        save_review(db, row.id, "dan", {AF: "present"}, saw_model_output=False, adjudication=True)
    with pytest.raises(NotFoundError, match="Prediction"):
        save_review(db, row.id, "alice", {AF: "present"}, saw_model_output=True, prediction_id=777)
    assert current_reviews(db) == []
    assert audit.events(db, action="review") == []


def test_deleted_users_reviews_are_kept(db, team, ptbxl_records):
    row, _ = add_record(db, ptbxl_records[0])
    save_review(db, row.id, "carol", {AF: "present"}, saw_model_output=False)
    delete_user(db, "carol", actor="erin")
    assert "carol" not in {u.name for u in list_users(db)}
    assert "carol" in {u.name for u in list_users(db, include_deleted=True)}
    with pytest.raises(AuthenticationError):
        authenticate(db, "carol", "carol-password")
    with pytest.raises(PermissionDeniedError, match="deactivated"):
        save_review(db, row.id, "carol", {AF: "absent"}, saw_model_output=False)
    with pytest.raises(DuplicateError):
        create_user(db, "carol", "cardiologist", "new-carol-password")
    (review,) = current_reviews(db, row.id)
    assert review.reviewer.name == "carol" and review.verdicts[0].verdict == "present"


def test_saved_verdicts_cannot_be_changed_or_deleted_even_with_raw_sql(db, team, ptbxl_records):
    row, _ = add_record(db, ptbxl_records[0])
    save_review(db, row.id, "alice", {AF: "present"}, saw_model_output=False)
    for statement in ("UPDATE review_verdicts SET verdict = 'absent'", "DELETE FROM review_verdicts",
                      "UPDATE reviews SET comment = 'x'", "DELETE FROM reviews", "DELETE FROM audit_events"):
        with pytest.raises(DBError, match="append-only"):
            with db.transaction() as session:
                session.execute(text(statement))
    (review,) = current_reviews(db, row.id)
    assert review.verdicts[0].verdict == "present"


def test_record_with_reviews_cannot_be_deleted(db, team, ptbxl_records):
    row, _ = add_record(db, ptbxl_records[0])
    save_review(db, row.id, "alice", {AF: "present"}, saw_model_output=False)
    with pytest.raises(Exception):
        with db.transaction() as session:
            session.execute(text("DELETE FROM records"))
    assert len(list_records(db)) == 1
