"""Accounts: the workspace never loses its last admin, first start cannot be replayed, sessions end
when the account changes, passwords and names follow the documented rules, guessing is slowed."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from db import config, session_tokens, users, workspace
from db.errors import (
    AuthenticationError,
    InvalidInputError,
    LastAdminError,
    PermissionDeniedError,
    TooManyAttemptsError,
)
from db.models import AuditEvent, User
from db.session import Database


def _epoch(db: Database, name: str) -> int:
    with db.transaction() as session:
        return session.scalar(select(User.session_epoch).where(User.name == name))


# -- the last admin and the first start ------------------------------------------------------
def test_first_admin_only_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    assert users.first_start_open(db)
    users.create_first_admin(db, "root", "first-admin-pw")
    assert not users.first_start_open(db) and users.has_active_admin(db)
    with pytest.raises(PermissionDeniedError, match="exists or existed"):
        users.create_first_admin(db, "intruder", "second-admin-pw")
    monkeypatch.setenv(config.ADMIN_USER_ENV, "ops")
    monkeypatch.setenv(config.ADMIN_PASSWORD_ENV, "ops-password")
    assert workspace.bootstrap_admin_from_env(db) is None  # an admin exists already


def test_admin_from_environment(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ADMIN_USER_ENV, "ops")
    monkeypatch.setenv(config.ADMIN_PASSWORD_ENV, "ops-password")
    assert workspace.bootstrap_admin_from_env(db) == "ops"
    assert users.has_active_admin(db)


def test_the_takeover_sequence_fails(db: Database) -> None:
    """The walk-through's sequence: the only admin demotes themselves, then a visitor takes over."""
    users.create_first_admin(db, "root", "first-admin-pw")
    for change in (lambda: users.set_role(db, "root", "viewer", actor="root"),
                   lambda: users.set_active(db, "root", False, actor="root"),
                   lambda: users.delete_user(db, "root", actor="root"),
                   lambda: users.set_role(db, "root", "cardiologist")):  # not even the operator
        with pytest.raises(LastAdminError, match="last active administrator"):
            change()
    with db.transaction() as session:
        root = session.scalar(select(User).where(User.name == "root"))
        assert (root.role, root.active, root.deleted_at) == ("admin", True, None)
    assert not users.first_start_open(db)
    with pytest.raises(PermissionDeniedError):
        users.create_first_admin(db, "visitor", "visitor-password")


def test_a_second_admin_can_be_demoted_and_then_the_first_cannot(db: Database) -> None:
    users.create_first_admin(db, "root", "first-admin-pw")
    users.create_user(db, "second", "admin", "second-password", actor="root")
    users.set_role(db, "second", "cardiologist", actor="root")
    with pytest.raises(LastAdminError):
        users.set_role(db, "root", "viewer", actor="root")
    users.set_role(db, "second", "admin", actor="root")
    users.set_active(db, "root", False, actor="second")  # another active admin remains: allowed
    with pytest.raises(LastAdminError):
        users.delete_user(db, "second", actor="second")


def test_first_start_stays_closed_even_if_every_admin_row_is_gone(db: Database) -> None:
    """A store damaged by the old bug (its admin demoted by hand) must not reopen the first start."""
    users.create_first_admin(db, "root", "first-admin-pw")
    with db.transaction() as session:
        session.execute(update(User).where(User.name == "root").values(role="viewer"))
    assert not users.has_active_admin(db)
    assert not users.first_start_open(db)  # the audit log remembers an admin existed
    with pytest.raises(PermissionDeniedError):
        users.create_first_admin(db, "visitor", "visitor-password")


def test_racing_first_admins_create_exactly_one(db: Database) -> None:
    results: list[str] = []

    def attempt(name: str) -> None:
        try:
            users.create_first_admin(db, name, f"{name}-password")
            results.append(name)
        except PermissionDeniedError:
            pass

    threads = [threading.Thread(target=attempt, args=(f"admin{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 1
    with db.transaction() as session:
        assert session.scalars(select(User.name).where(User.role == "admin")).all() == results


# -- sessions end when the account changes -------------------------------------------------
def test_account_changes_bump_the_session_epoch(db: Database, team: dict) -> None:
    before = _epoch(db, "bob")
    users.set_role(db, "bob", "cardiologist", actor="erin")  # no change: sessions keep going
    assert _epoch(db, "bob") == before
    users.set_role(db, "bob", "viewer", actor="erin")
    assert _epoch(db, "bob") == before + 1
    users.set_active(db, "bob", False, actor="erin")
    assert _epoch(db, "bob") == before + 2
    users.set_active(db, "bob", True, actor="erin")
    users.reset_password(db, "bob", "temporary-pw", actor="erin")
    assert _epoch(db, "bob") == before + 3
    users.change_password(db, "bob", "temporary-pw", "bobs-new-password")
    assert _epoch(db, "bob") == before + 4
    users.record_logout(db, "bob", everywhere=True)
    assert _epoch(db, "bob") == before + 5
    users.record_logout(db, "bob", reason="session timed out")
    assert _epoch(db, "bob") == before + 5


def test_session_tokens_are_signed_expire_and_are_revoked(db: Database, team: dict) -> None:
    with db.transaction() as session:
        bob = session.scalar(select(User).where(User.name == "bob"))
    token = session_tokens.issue(db, bob, lifetime_s=600)
    assert session_tokens.verify(db, token).name == "bob"
    user_id, epoch, expires, signature = token.split(".")
    forged = f"{user_id}.{epoch}.{int(expires) + 10_000}.{signature}"
    assert session_tokens.verify(db, forged) is None  # a longer life needs the key
    assert session_tokens.verify(db, f"{int(user_id) + 1}.{epoch}.{expires}.{signature}") is None
    assert session_tokens.verify(db, "garbage") is None and session_tokens.verify(db, None) is None
    assert session_tokens.verify(db, session_tokens.issue(db, bob, lifetime_s=-1)) is None  # expired
    users.set_role(db, "bob", "viewer", actor="erin")
    assert session_tokens.verify(db, token) is None  # the role changed: the old session is over
    with db.transaction() as session:
        bob = session.scalar(select(User).where(User.name == "bob"))
    fresh = session_tokens.issue(db, bob, lifetime_s=600)
    users.set_active(db, "bob", False, actor="erin")
    assert session_tokens.verify(db, fresh) is None


def test_session_key_is_shared_by_every_process_of_the_store(db: Database, team: dict) -> None:
    with db.transaction() as session:
        bob = session.scalar(select(User).where(User.name == "bob"))
    token = session_tokens.issue(db, bob, lifetime_s=600)
    other = Database(db.url, data_dir_path=db.data_dir)
    try:
        assert session_tokens.verify(other, token).name == "bob"
    finally:
        other.dispose()


# -- passwords and names ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["", "two words", "semi;colon", "x" * 101, "naïve", "<script>"])
def test_user_names_are_validated(db: Database, name: str) -> None:
    with pytest.raises(InvalidInputError, match="letters, digits"):
        users.create_user(db, name, "viewer", "long-password")


def test_valid_user_names(db: Database) -> None:
    for name in ("a", "dr.smith", "j_doe-2", "X" * 100):
        users.create_user(db, name, "viewer", "long-password")


@pytest.mark.parametrize("password", ["short", "1234567", "", "Amelia01"])
def test_passwords_below_the_minimum_or_equal_to_the_name_are_refused(db: Database, password: str) -> None:
    with pytest.raises(InvalidInputError, match="at least 8|user name"):
        users.create_user(db, "amelia01", "viewer", password)


def test_own_password_change_needs_the_current_password(db: Database, team: dict) -> None:
    with pytest.raises(AuthenticationError, match="current password"):
        users.change_password(db, "bob", "not-bobs-password", "brand-new-password")
    with pytest.raises(InvalidInputError, match="differ"):
        users.change_password(db, "bob", "bob-password", "bob-password")
    users.change_password(db, "bob", "bob-password", "brand-new-password")
    with pytest.raises(AuthenticationError):
        users.authenticate(db, "bob", "bob-password")
    assert users.authenticate(db, "bob", "brand-new-password").name == "bob"


def test_admin_reset_forces_a_change_at_next_sign_in(db: Database, team: dict) -> None:
    with pytest.raises(PermissionDeniedError, match="manage users"):
        users.reset_password(db, "bob", "hijacked-password", actor="alice")
    users.reset_password(db, "bob", "temporary-pw", actor="erin")
    user = users.authenticate(db, "bob", "temporary-pw")
    assert user.must_change_password
    users.change_password(db, "bob", "temporary-pw", "bobs-own-password")
    assert not users.authenticate(db, "bob", "bobs-own-password").must_change_password
    with db.transaction() as session:
        details = [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "user_update"))]
    assert {"password": "reset", "must_change_password": True} in details


# -- slowing down guessing --------------------------------------------------------------------
def test_repeated_failures_are_slowed_down(db: Database, team: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(users.FREE_FAILED_SIGN_INS):
        with pytest.raises(AuthenticationError, match="wrong password"):
            users.authenticate(db, "bob", "guess")
    with pytest.raises(TooManyAttemptsError, match=r"wait \d+ s") as refused:
        users.authenticate(db, "bob", "bob-password")  # even the right password must wait
    assert 0 < refused.value.retry_after_s <= 1.0
    time.sleep(refused.value.retry_after_s + 0.05)
    assert users.authenticate(db, "bob", "bob-password").name == "bob"
    users.authenticate(db, "bob", "bob-password")  # a success resets the count


def test_delay_doubles_and_is_capped() -> None:
    free = users.FREE_FAILED_SIGN_INS
    assert [users.sign_in_delay_s(n) for n in range(free + 4)] == [0.0] * free + [1.0, 2.0, 4.0, 8.0]
    assert users.sign_in_delay_s(free + 60) == users.MAX_SIGN_IN_DELAY_S


def test_unknown_names_are_slowed_down_too_and_old_failures_expire(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(users.FREE_FAILED_SIGN_INS + 1):
        try:
            users.authenticate(db, "nobody", "guess")
        except TooManyAttemptsError:
            break
        except AuthenticationError:
            pass
    with pytest.raises(TooManyAttemptsError):
        users.authenticate(db, "nobody", "guess")
    later = users.utcnow() + users.FAILED_SIGN_IN_WINDOW + timedelta(seconds=1)
    monkeypatch.setattr(users, "utcnow", lambda: later)
    with pytest.raises(AuthenticationError) as error:  # the window has passed: a normal failure again
        users.authenticate(db, "nobody", "guess")
    assert not isinstance(error.value, TooManyAttemptsError)
