"""Users: create, authenticate (argon2id via argon2-cffi), change role or password, deactivate, soft-delete.

Users are never removed from the table: a deleted user is marked ``deleted_at`` and inactive, so
every review they wrote keeps pointing at a real row (and at the name shown in exports). Their
name stays taken, so an old verdict can never be attributed to a new person of the same name.

Account rules, each enforced here so no front end can skip them:

* The workspace never loses its last active administrator: demoting, deactivating or deleting
  them is refused (:class:`LastAdminError`), inside the transaction that would make the change.
* The first-start administrator can be created only while no administrator has *ever* existed
  (checked and inserted in one locked transaction), so demoting an admin never reopens it.
* Every change that must end open sessions (role, status, password) bumps ``session_epoch``;
  sessions started under an older epoch are signed out at their next page run.
* Passwords: at least :data:`MIN_PASSWORD_LENGTH` characters, not the user name. User names:
  letters, digits, ``.``, ``_``, ``-`` (:data:`USER_NAME_PATTERN`).
* Sign-ins that keep failing for one name are slowed down: after :data:`FREE_FAILED_SIGN_INS`
  failures within :data:`FAILED_SIGN_IN_WINDOW`, each attempt must wait twice as long as the
  last (1 s, 2 s, 4 s, ... up to :data:`MAX_SIGN_IN_DELAY_S`).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import exc, func, select, text
from sqlalchemy.orm import Session

from db import audit
from db.errors import (
    AuthenticationError,
    DuplicateError,
    InvalidInputError,
    LastAdminError,
    NotFoundError,
    PermissionDeniedError,
    TooManyAttemptsError,
)
from db.models import ROLES, AuditEvent, User, utcnow
from db.permissions import check
from db.session import Database

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8  # NIST SP 800-63B's minimum for user-chosen passwords
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only bounds the work per attempt
MAX_NAME_LENGTH = 100
USER_NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,%d}" % MAX_NAME_LENGTH)
FREE_FAILED_SIGN_INS = 5
FAILED_SIGN_IN_WINDOW = timedelta(minutes=15)
MAX_SIGN_IN_DELAY_S = 300.0
_PG_FIRST_ADMIN_LOCK = 74_210_002  # pg_advisory_xact_lock key serialising first-admin creation


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInputError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")


def check_user_name(name: str) -> str:
    """The name, stripped, if it is a valid user name; else :class:`InvalidInputError` saying why."""
    name = (name or "").strip()
    if not USER_NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"User name {name!r} is not allowed: use 1-{MAX_NAME_LENGTH} letters, digits, '.', '_' or '-' "
            "(no spaces)."
        )
    return name


def check_password(password: str, *, user_name: str | None = None) -> None:
    """:class:`InvalidInputError` unless ``password`` meets the documented minimum."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"Passwords must have at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(f"Passwords can have at most {MAX_PASSWORD_LENGTH} characters.")
    if user_name is not None and password.strip().lower() == user_name.strip().lower():
        raise InvalidInputError("The password must not be the user name.")


def get_user(session: Session, name_or_id: str | int) -> User:
    """The user with that name or id (deleted ones included), or :class:`NotFoundError`."""
    if isinstance(name_or_id, int):
        user = session.get(User, name_or_id)
    else:
        user = session.scalar(select(User).where(User.name == name_or_id))
    if user is None:
        raise NotFoundError(f"No user {name_or_id!r}.")
    return user


def acting_user(session: Session, actor: str | int | None, action: str) -> User | None:
    """The user named by ``actor``, checked for ``action``; None when the operator acts (no actor)."""
    return check(get_user(session, actor), action) if actor is not None else None


def _verify(user: User | None, password: str) -> bool:
    if user is None or not user.active or user.deleted_at is not None:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _revoke_sessions(user: User) -> None:
    user.session_epoch = (user.session_epoch or 0) + 1


# -- administrators ---------------------------------------------------------------------------
def _is_active_admin(user: User) -> bool:
    return user.role == "admin" and user.active and user.deleted_at is None


def _keep_an_admin(session: Session, user: User, change: str) -> None:
    """Refuse ``change`` of ``user`` when they are the last active administrator.

    The other admins' rows are locked (``FOR UPDATE`` on PostgreSQL; SQLite transactions are
    ``BEGIN IMMEDIATE``), so two admins demoting each other at once cannot both succeed.
    """
    if not _is_active_admin(user):
        return
    others = session.scalars(
        select(User.id).where(User.role == "admin", User.active, User.deleted_at.is_(None), User.id != user.id)
        .with_for_update()
    ).all()
    if not others:
        raise LastAdminError(
            f"{user.name!r} is the last active administrator and cannot be {change}: make another user "
            "administrator first."
        )


def has_active_admin(db: Database) -> bool:
    with db.transaction() as session:
        return bool(session.scalar(select(func.count()).select_from(User).where(
            User.role == "admin", User.active, User.deleted_at.is_(None))))


def _admin_ever_existed(session: Session) -> bool:
    """Whether any account was ever an administrator: a user row now, or the audit log's history."""
    if session.scalar(select(User.id).where(User.role == "admin").limit(1)) is not None:
        return True
    history = session.scalars(select(AuditEvent.details).where(AuditEvent.action.in_(("user_create", "user_update"))))
    for details in history:
        role = (details or {}).get("role")
        if role == "admin" or (isinstance(role, list) and "admin" in role):
            return True
    return False


def first_start_open(db: Database) -> bool:
    """Whether the first-start form may create an administrator: only if none ever existed."""
    with db.transaction() as session:
        return not _admin_ever_existed(session)


# -- creating accounts ------------------------------------------------------------------------
def _insert_user(session: Session, name: str, role: str, password_hash: str, *, full_name: str | None,
                 actor_id: int | None, duplicate: DuplicateError) -> User:
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise duplicate
    user = User(name=name, role=role, password_hash=password_hash, full_name=full_name, active=True)
    session.add(user)
    session.flush()
    audit.log(session, "user_create", user_id=actor_id, target=f"user:{user.id}", details={"name": name, "role": role})
    return user


def _duplicate(name: str) -> DuplicateError:
    return DuplicateError(f"A user named {name!r} already exists (names of deleted users stay reserved).")


def create_user(db: Database, name: str, role: str, password: str, *, full_name: str | None = None,
                actor: str | int | None = None, must_change_password: bool = False) -> User:
    """Create a user; :class:`DuplicateError` if the name exists (deleted users' names included)."""
    name = check_user_name(name)
    _check_role(role)
    check_password(password, user_name=name)
    password_hash = _hasher.hash(password)  # slow on purpose: do it outside the transaction
    try:
        with db.transaction() as session:
            actor_user = acting_user(session, actor, "manage_users")
            user = _insert_user(session, name, role, password_hash, full_name=full_name,
                                actor_id=actor_user.id if actor_user else None, duplicate=_duplicate(name))
            user.must_change_password = must_change_password
    except exc.IntegrityError as error:  # lost a race with a concurrent create of the same name
        raise _duplicate(name) from error
    return user


def create_first_admin(db: Database, name: str, password: str) -> User:
    """The first-start administrator: only while no administrator ever existed, checked in the
    same locked transaction that inserts it, so two visitors racing cannot both become admin."""
    name = check_user_name(name)
    check_password(password, user_name=name)
    password_hash = _hasher.hash(password)
    closed = PermissionDeniedError("An administrator account exists or existed already; sign in instead.")
    try:
        with db.transaction() as session:
            if db.dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_FIRST_ADMIN_LOCK})
            if _admin_ever_existed(session):
                raise closed
            return _insert_user(session, name, "admin", password_hash, full_name=None, actor_id=None,
                                duplicate=_duplicate(name))
    except exc.IntegrityError as error:
        raise _duplicate(name) from error


# -- signing in -----------------------------------------------------------------------------
def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def sign_in_delay_s(failures: int) -> float:
    """How long after the last failure the next attempt must wait, given recent failures."""
    if failures < FREE_FAILED_SIGN_INS:
        return 0.0
    return min(2.0 ** (failures - FREE_FAILED_SIGN_INS), MAX_SIGN_IN_DELAY_S)


def _recent_failures(session: Session, name: str, user: User | None, now: datetime) -> list[datetime]:
    """Times of password failures for ``name`` in the window, since its last successful sign-in."""
    since = now - FAILED_SIGN_IN_WINDOW
    if user is not None:
        last_login = session.scalar(select(func.max(AuditEvent.at)).where(
            AuditEvent.action == "login", AuditEvent.user_id == user.id))
        if last_login is not None:
            since = max(since, _as_utc(last_login))
    rows = session.execute(
        select(AuditEvent.at, AuditEvent.details).where(
            AuditEvent.action == "login_failed", AuditEvent.target == _sign_in_target(name), AuditEvent.at > since)
        .order_by(AuditEvent.id.desc()).limit(1000)
    ).all()
    return [_as_utc(at) for at, details in rows if not (details or {}).get("throttled")]


def _sign_in_target(name: str) -> str:
    return f"name:{name}"[:500]


def authenticate(db: Database, name: str, password: str) -> User:
    """Check a password; logs ``login`` or ``login_failed``. Same message whatever was wrong.

    Throttled attempts are refused with :class:`TooManyAttemptsError` before the password is
    checked (audited as ``login_failed`` with ``throttled``), so guessing gets slower, not luckier.
    """
    failure = AuthenticationError("Unknown user name or wrong password (or the account is deactivated).")
    now = utcnow()
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.name == name))
        failures = _recent_failures(session, name, user, now)
        wait_s = sign_in_delay_s(len(failures)) - ((now - failures[0]).total_seconds() if failures else 0.0)
        if wait_s > 0:
            audit.log(session, "login_failed", user_id=user.id if user else None, target=_sign_in_target(name),
                      details={"throttled": True})
    if wait_s > 0:
        raise TooManyAttemptsError(
            f"Too many failed sign-ins for {name!r}: wait {math.ceil(wait_s)} s before trying again.", wait_s)
    ok = _verify(user, password)
    with db.transaction() as session:
        if not ok:
            audit.log(session, "login_failed", user_id=user.id if user else None, target=_sign_in_target(name))
        else:
            if _hasher.check_needs_rehash(user.password_hash):
                session.get(User, user.id).password_hash = _hasher.hash(password)
            audit.log(session, "login", user_id=user.id)
    if not ok:
        raise failure
    return user


# -- changing accounts ----------------------------------------------------------------------
def change_password(db: Database, name: str, old_password: str, new_password: str) -> User:
    """A user changes their own password (the old one proves it is them); ends their other sessions."""
    with db.transaction() as session:
        user = get_user(session, name)
    if not _verify(user, old_password):
        raise AuthenticationError("The current password is wrong.")
    check_password(new_password, user_name=user.name)
    if new_password == old_password:
        raise InvalidInputError("The new password must differ from the current one.")
    password_hash = _hasher.hash(new_password)
    with db.transaction() as session:
        user = get_user(session, name)
        user.password_hash, user.must_change_password = password_hash, False
        _revoke_sessions(user)
        audit.log(session, "user_update", user_id=user.id, target=f"user:{user.id}", details={"password": "changed"})
    return user


def reset_password(db: Database, name: str, temporary_password: str, *, actor: str | int | None = None) -> User:
    """An admin (or the operator) sets a temporary password that must be changed at the next sign-in."""
    with db.transaction() as session:
        user_name = get_user(session, name).name
    check_password(temporary_password, user_name=user_name)
    password_hash = _hasher.hash(temporary_password)
    with db.transaction() as session:
        actor_user = acting_user(session, actor, "manage_users")
        user = get_user(session, name)
        user.password_hash, user.must_change_password = password_hash, True
        _revoke_sessions(user)
        audit.log(session, "user_update", user_id=actor_user.id if actor_user else None, target=f"user:{user.id}",
                  details={"password": "reset", "must_change_password": True})
    return user


def set_role(db: Database, name: str, role: str, *, actor: str | int | None = None) -> User:
    _check_role(role)
    with db.transaction() as session:
        actor_user = acting_user(session, actor, "manage_users")  # before any change: no self-promotion
        actor_id = actor_user.id if actor_user else None
        user = get_user(session, name)
        old = user.role
        if old == role:
            return user
        if old == "admin":
            _keep_an_admin(session, user, f"made {role}")
        user.role = role
        _revoke_sessions(user)
        audit.log(session, "user_update", user_id=actor_id, target=f"user:{user.id}", details={"role": [old, role]})
    return user


def set_active(db: Database, name: str, active: bool, *, actor: str | int | None = None) -> User:
    with db.transaction() as session:
        actor_user = acting_user(session, actor, "manage_users")
        actor_id = actor_user.id if actor_user else None
        user = get_user(session, name)
        if user.deleted_at is not None and active:
            raise InvalidInputError(f"User {name!r} was deleted and cannot be reactivated; create a new user.")
        if user.active == active:
            return user
        if not active:
            _keep_an_admin(session, user, "deactivated")
            _revoke_sessions(user)
        user.active = active
        audit.log(session, "user_update", user_id=actor_id, target=f"user:{user.id}", details={"active": active})
    return user


def delete_user(db: Database, name: str, *, actor: str | int | None = None) -> User:
    """Soft delete: the user can no longer log in; their reviews stay and still count."""
    with db.transaction() as session:
        actor_user = acting_user(session, actor, "manage_users")
        actor_id = actor_user.id if actor_user else None
        user = get_user(session, name)
        if user.deleted_at is None:
            _keep_an_admin(session, user, "deleted")
            user.deleted_at = utcnow()
            user.active = False
            _revoke_sessions(user)
            audit.log(session, "user_delete", user_id=actor_id, target=f"user:{user.id}")
    return user


def list_users(db: Database, *, include_deleted: bool = False) -> list[User]:
    query = select(User).order_by(User.name)
    if not include_deleted:
        query = query.where(User.deleted_at.is_(None))
    with db.transaction() as session:
        return list(session.scalars(query))


def session_account(db: Database, user_id: int) -> User | None:
    """The account behind a signed-in session, or None when it no longer exists."""
    with db.transaction() as session:
        return session.get(User, user_id)


def record_logout(db: Database, name: str, *, reason: str = "signed out", everywhere: bool = False) -> None:
    """Audit a sign-out (explicit or by session time-out); ``everywhere`` also ends the user's other sessions."""
    with db.transaction() as session:
        user = get_user(session, name)
        if everywhere:
            _revoke_sessions(user)
        audit.log(session, "logout", user_id=user.id, details={"reason": reason})
