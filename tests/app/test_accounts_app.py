"""Accounts in the running app (Streamlit's AppTest): account changes end sessions at once, the forced
password change, the admin's confirmed changes, the takeover sequence, the upload limit."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from db import users
from db.models import User
from db.session import Database
from ecgcore import config
from tests.app.conftest import PASSWORDS, app, sign_in, view_as


def _signed_out_with(at: AppTest, words: str) -> None:
    assert "_pages" not in at.session_state
    assert at.info and words in at.info[0].value, [i.value for i in at.info]


def _role(db: Database, name: str) -> str:
    with db.transaction() as session:
        return session.scalar(select(User.role).where(User.name == name))


def test_role_change_ends_the_session_at_its_next_run(team: Database) -> None:
    at = sign_in("carla")
    assert "Agreement" in [p.title for p in at.session_state["_pages"].values()]
    users.set_role(team, "carla", "viewer", actor="root")
    at.run()
    _signed_out_with(at, "role changed from cardiologist to viewer")


def test_deactivation_ends_the_session_at_its_next_run(team: Database) -> None:
    at = sign_in("carla")
    users.set_active(team, "carla", False, actor="root")
    at.run()
    _signed_out_with(at, "deactivated")
    at.text_input[0].input("carla")
    at.text_input[1].input(PASSWORDS["carla"])
    at.button[0].click().run()
    assert "_pages" not in at.session_state and at.error


def test_reset_password_forces_a_new_one_before_anything_else(team: Database) -> None:
    users.reset_password(team, "carla", "temporary-pw", actor="root")
    at = app().run()
    at.text_input[0].input("carla")
    at.text_input[1].input("temporary-pw")
    at.button[0].click().run()
    assert not at.exception
    assert any("Choose a new password" in t.value for t in at.title)
    assert "_pages" not in at.session_state  # no page is reachable yet
    current, new, confirm = at.text_input
    current.input("temporary-pw")
    new.input("carlas-new-password")
    confirm.input("carlas-new-password")
    at.button[0].click().run()
    assert not at.exception and "_pages" in at.session_state
    assert users.authenticate(team, "carla", "carlas-new-password").must_change_password is False


def _account_page_as_carla() -> None:
    import streamlit as st

    from app import services
    from app.auth import SessionUser
    from app.views import account

    account.page(services.database(), SessionUser("carla", "cardiologist"))
    st.session_state["_rendered"] = True


def test_own_password_change_from_my_account(team: Database) -> None:
    page = AppTest.from_function(_account_page_as_carla, default_timeout=120).run()
    current, new, confirm = page.text_input
    current.input("wrong-password")
    new.input("carlas-new-password")
    confirm.input("carlas-new-password")
    page.button[0].click().run()
    assert page.error and "current password is wrong" in page.error[0].value
    current, new, confirm = page.text_input
    current.input(PASSWORDS["carla"])
    new.input("short")
    confirm.input("short")
    page.button[0].click().run()
    assert page.error and f"at least {users.MIN_PASSWORD_LENGTH}" in page.error[0].value


def _request_change(page: AppTest, target: str, action: str, role: str | None = None) -> AppTest:
    [s for s in page.selectbox if s.label == "User"][0].set_value(target)
    [s for s in page.selectbox if s.label == "Action"][0].set_value(action)
    if role is not None:
        [s for s in page.selectbox if s.label.startswith("New role")][0].set_value(role)
    return [b for b in page.button if b.label.startswith("Apply")][0].click().run()


def _click(page: AppTest, label: str) -> AppTest:
    return [b for b in page.button if b.label == label][0].click().run()


def test_role_change_needs_confirmation_and_the_table_shows_it_at_once(team: Database) -> None:
    page = view_as("admin", "root", "admin").run()
    _request_change(page, "carla", "set role", "viewer")
    assert not page.exception
    assert page.warning and "confirm" in page.warning[0].value and "carla" in page.warning[0].value
    assert _role(team, "carla") == "cardiologist"  # nothing applied before the confirmation
    _click(page, "Cancel")
    assert _role(team, "carla") == "cardiologist"
    _request_change(page, "carla", "set role", "viewer")
    _click(page, "Confirm")
    assert _role(team, "carla") == "viewer"
    users_table = page.dataframe[0].value
    assert users_table.set_index("name").loc["carla", "role"] == "viewer"  # no lag of one action


def test_the_takeover_sequence_fails_in_the_app(team: Database) -> None:
    """Only admin demotes themselves, signs out; an anonymous visitor must not get a first-start form."""
    for name in ("carla", "anna", "vince"):
        assert _role(team, name) != "admin"
    page = view_as("admin", "root", "admin").run()
    _request_change(page, "root", "set role", "viewer")
    _click(page, "Confirm")
    assert page.error and "last active administrator" in page.error[0].value
    assert _role(team, "root") == "admin"
    visitor = app().run()
    assert not any("First start" in s.value for s in visitor.subheader)
    assert [t.label for t in visitor.text_input] == ["User name", "Password"]


def test_reset_password_from_the_admin_page(team: Database) -> None:
    page = view_as("admin", "root", "admin").run()
    [t for t in page.text_input if t.label.startswith("Temporary password")][0].input("temporary-pw")
    _request_change(page, "anna", "reset password")
    _click(page, "Confirm")
    assert page.success, [e.value for e in page.error]
    assert users.authenticate(team, "anna", "temporary-pw").must_change_password


def test_audit_log_pages_and_filters(team: Database) -> None:
    for _ in range(3):
        with pytest.raises(Exception):
            users.authenticate(team, "anna", "wrong")
    page = view_as("admin", "root", "admin").run()
    [s for s in page.selectbox if s.label == "Events of action"][0].set_value("login_failed").run()
    log = page.dataframe[1].value
    assert len(log) == 3 and set(log["action"]) == {"login_failed"}
    _click(page, "Prepare CSV of these events")
    assert any(b.label == "Download audit log (CSV)" for b in page.get("download_button"))


def test_upload_limit_is_the_one_setting(team: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    before = streamlit_config.get_option("server.maxUploadSize")
    monkeypatch.setattr(config, "MAX_FILE_BYTES", 3 * 1024 * 1024)
    try:
        at = sign_in("carla")
        assert streamlit_config.get_option("server.maxUploadSize") == 3  # what Streamlit's endpoint enforces
        uploader = at.file_uploader[0]
        assert "up to 3 MB" in uploader.label
        assert uploader.proto.max_upload_size_mb == 3
    finally:
        streamlit_config.set_option("server.maxUploadSize", before)


def test_a_failed_upload_is_cleared_from_the_box(team: Database) -> None:
    at = sign_in("carla")
    at.file_uploader[0].set_value(("scan.edf", b"0       this is not an EDF file", "application/octet-stream")).run()
    _click(at, "Import upload")
    assert at.error and "cannot be used" in at.error[0].value
    assert not at.file_uploader[0].value  # a new, empty box: the bad file cannot join the next upload
    assert not any(b.label == "Import upload" for b in at.button)


def test_repeated_failed_sign_ins_are_slowed_down_in_the_app(team: Database) -> None:
    at = app().run()
    for _ in range(users.FREE_FAILED_SIGN_INS + 1):
        at.text_input[0].input("carla")
        at.text_input[1].input("guess-guess")
        at.button[0].click().run()
    assert at.error and "wait" in at.error[0].value
