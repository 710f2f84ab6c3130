"""Roles are enforced by the store itself, whatever front end calls it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from db import records, users
from db.errors import PermissionDeniedError
from db.export import export_expert_review
from db.models import ROLES, AuditEvent, StoredRecord, User
from db.permissions import PERMISSIONS, allowed, reviewer_labels, sees_model_output
from db.reviews import save_review
from db.session import Database


def _count(db: Database, model) -> int:  # noqa: ANN001
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_permission_table() -> None:
    assert allowed("admin", "manage_users") and not allowed("cardiologist", "manage_users")
    assert allowed("annotator", "upload") and not allowed("viewer", "upload")
    assert allowed("cardiologist", "export") and not allowed("annotator", "export")
    assert set(PERMISSIONS) == {"upload", "review", "correct_measurements", "adjudicate", "export", "manage_users",
                                "see_reviewer_names", "see_model_agreement", "confirm_reports", "see_patient_keys",
                                "train_candidates", "manage_models"}
    assert [allowed(role, "train_candidates") for role in ROLES] == [True, False, True, False]
    assert [allowed(role, "manage_models") for role in ROLES] == [False, False, True, False]
    assert PERMISSIONS["correct_measurements"] == PERMISSIONS["review"]
    assert PERMISSIONS["confirm_reports"] == ("cardiologist",)  # the issue: confirming needs the cardiologist role


def test_who_sees_what() -> None:
    """Reviewer names only for cardiologists and admins; annotators never see pooled model statistics."""
    assert [allowed(role, "see_reviewer_names") for role in ROLES] == [True, False, True, False]
    assert [allowed(role, "see_model_agreement") for role in ROLES] == [True, False, True, True]
    assert [allowed(role, "export") for role in ROLES] == [True, False, True, False]
    assert [allowed(role, "see_patient_keys") for role in ROLES] == [True, True, True, False]


def test_blinded_annotators_see_model_output_only_after_their_own_reading() -> None:
    assert not sees_model_output("annotator", 0)
    assert sees_model_output("annotator", 1) and sees_model_output("annotator", 3)
    for role in ("cardiologist", "admin", "viewer"):
        assert sees_model_output(role, 0)


def test_reviewer_labels_are_names_or_stable_pseudonyms() -> None:
    names = ["zoe", "alice", "bob", "alice"]
    assert reviewer_labels("admin", names) == {"alice": "alice", "bob": "bob", "zoe": "zoe"}
    hidden = reviewer_labels("viewer", names)
    assert hidden == {"alice": "reviewer 1", "bob": "reviewer 2", "zoe": "reviewer 3"}
    assert reviewer_labels("annotator", reversed(names)) == hidden  # same numbers whatever the order


def test_viewer_cannot_upload_and_nothing_is_stored(db: Database, team: dict, ptbxl_records: list) -> None:
    before_records, before_audit = _count(db, StoredRecord), _count(db, AuditEvent)
    with pytest.raises(PermissionDeniedError, match="vic.*viewer.*upload"):
        records.add_record(db, ptbxl_records[0], uploader="vic")
    assert _count(db, StoredRecord) == before_records
    assert _count(db, AuditEvent) == before_audit
    row, created = records.add_record(db, ptbxl_records[0], uploader="dan")
    assert created
    with pytest.raises(PermissionDeniedError):  # a duplicate upload by a viewer is refused too
        records.add_record(db, ptbxl_records[0], uploader="vic")


def test_only_admins_manage_users(db: Database, team: dict) -> None:
    with pytest.raises(PermissionDeniedError, match="manage users"):
        users.create_user(db, "mallory", "admin", "long-password", actor="alice")
    with pytest.raises(PermissionDeniedError):
        users.set_role(db, "dan", "admin", actor="dan")  # no self-promotion
    with db.transaction() as session:
        assert session.scalar(select(User.role).where(User.name == "dan")) == "annotator"
    with pytest.raises(PermissionDeniedError):
        users.delete_user(db, "bob", actor="vic")
    with pytest.raises(PermissionDeniedError):
        users.reset_password(db, "bob", "hijacked-password", actor="alice")
    users.change_password(db, "bob", "bob-password", "bob-new-password")  # one's own password: allowed
    users.authenticate(db, "bob", "bob-new-password")
    users.set_role(db, "dan", "cardiologist", actor="erin")
    with db.transaction() as session:
        assert session.scalar(select(User.role).where(User.name == "dan")) == "cardiologist"
        assert session.scalar(select(func.count()).select_from(User).where(User.name == "mallory")) == 0


def test_deactivated_admin_cannot_act(db: Database, team: dict) -> None:
    users.create_user(db, "frank", "admin", "frank-password")  # the last active admin cannot be deactivated
    users.set_active(db, "erin", False)
    with pytest.raises(PermissionDeniedError, match="deactivated"):
        users.create_user(db, "newbie", "viewer", "long-password", actor="erin")


def test_only_cardiologists_and_admins_export(db: Database, team: dict, ptbxl_records: list, tmp_path: Path) -> None:
    row, _ = records.add_record(db, ptbxl_records[0], uploader="alice")
    for reviewer in ("alice", "bob"):
        save_review(db, row.id, reviewer, {"NORMAL ECG": "present"}, saw_model_output=False)
    with pytest.raises(PermissionDeniedError, match="export"):
        export_expert_review(db, tmp_path / "by-annotator", exported_by="dan")
    assert not (tmp_path / "by-annotator").exists()
    assert export_expert_review(db, tmp_path / "by-cardiologist", exported_by="alice").is_dir()


def test_viewer_cannot_review(db: Database, team: dict, ptbxl_records: list) -> None:
    row, _ = records.add_record(db, ptbxl_records[0])
    with pytest.raises(PermissionDeniedError, match="review"):
        save_review(db, row.id, "vic", {"NORMAL ECG": "present"}, saw_model_output=True)
