"""Users: create, authenticate (argon2id via argon2-cffi), change role or password, deactivate, soft-delete.

Users are never removed from the table: a deleted user is marked ``deleted_at`` and inactive, so
every review they wrote keeps pointing at a real row (and at the name shown in exports). Their
name stays taken, so an old verdict can never be attributed to a new person of the same name.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import exc, select
from sqlalchemy.orm import Session

from db import audit
from db.errors import AuthenticationError, DuplicateError, InvalidInputError, NotFoundError
from db.models import ROLES, User, utcnow
from db.permissions import check
from db.session import Database

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
MAX_NAME_LENGTH = 100


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInputError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(f"Passwords must have at least {MIN_PASSWORD_LENGTH} characters.")


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


def create_user(db: Database, name: str, role: str, password: str, *, full_name: str | None = None,
                actor: str | int | None = None) -> User:
    """Create a user; :class:`DuplicateError` if the name exists (deleted users' names included)."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInputError(f"User names must have 1-{MAX_NAME_LENGTH} characters.")
    _check_role(role)
    _check_password(password)
    password_hash = _hasher.hash(password)  # slow on purpose: do it outside the transaction
    duplicate = DuplicateError(f"A user named {name!r} already exists (names of deleted users stay reserved).")
    try:
        with db.transaction() as session:
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise duplicate
            actor_user = acting_user(session, actor, "manage_users")
            actor_id = actor_user.id if actor_user else None
            user = User(name=name, role=role, password_hash=password_hash, full_name=full_name, active=True)
            session.add(user)
            session.flush()
            audit.log(session, "user_create", user_id=actor_id, target=f"user:{user.id}",
                      details={"name": name, "role": role})
    except exc.IntegrityError as error:  # lost a race with a concurrent create of the same name
        raise duplicate from error
    return user


def authenticate(db: Database, name: str, password: str) -> User:
    """Check a password; logs ``login`` or ``login_failed``. Same message whatever was wrong."""
    failure = AuthenticationError("Unknown user name or wrong password (or the account is deactivated).")
    with db.transaction() as session:
        user = session.scalar(select(User).where(User.name == name))
    ok = False
    if user is not None and user.active and user.deleted_at is None:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    with db.transaction() as session:
        if not ok:
            audit.log(session, "login_failed", user_id=user.id if user else None, target=f"name:{name}"[:500])
        else:
            if _hasher.check_needs_rehash(user.password_hash):
                session.get(User, user.id).password_hash = _hasher.hash(password)
            audit.log(session, "login", user_id=user.id)
    if not ok:
        raise failure
    return user


def set_password(db: Database, name: str, new_password: str, *, actor: str | int | None = None) -> None:
    _check_password(new_password)
    password_hash = _hasher.hash(new_password)
    with db.transaction() as session:
        user = get_user(session, name)
        actor_user = get_user(session, actor) if actor is not None else user
        if actor_user.id != user.id:
            check(actor_user, "manage_users")  # anyone may change their own password
        user.password_hash = password_hash
        actor_id = actor_user.id
        audit.log(session, "user_update", user_id=actor_id, target=f"user:{user.id}", details={"password": "changed"})


def set_role(db: Database, name: str, role: str, *, actor: str | int | None = None) -> User:
    _check_role(role)
    with db.transaction() as session:
        actor_user = acting_user(session, actor, "manage_users")  # before any change: no self-promotion
        actor_id = actor_user.id if actor_user else None
        user = get_user(session, name)
        old = user.role
        user.role = role
        audit.log(session, "user_update", user_id=actor_id, target=f"user:{user.id}",
                  details={"role": [old, role]})
    return user


def set_active(db: Database, name: str, active: bool, *, actor: str | int | None = None) -> User:
    with db.transaction() as session:
        actor_user = acting_user(session, actor, "manage_users")
        actor_id = actor_user.id if actor_user else None
        user = get_user(session, name)
        if user.deleted_at is not None and active:
            raise InvalidInputError(f"User {name!r} was deleted and cannot be reactivated; create a new user.")
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
            user.deleted_at = utcnow()
            user.active = False
            audit.log(session, "user_delete", user_id=actor_id, target=f"user:{user.id}")
    return user


def list_users(db: Database, *, include_deleted: bool = False) -> list[User]:
    query = select(User).order_by(User.name)
    if not include_deleted:
        query = query.where(User.deleted_at.is_(None))
    with db.transaction() as session:
        return list(session.scalars(query))


def record_logout(db: Database, name: str, *, reason: str = "signed out") -> None:
    """Audit a sign-out (explicit or by session time-out)."""
    with db.transaction() as session:
        user = get_user(session, name)
        audit.log(session, "logout", user_id=user.id, details={"reason": reason})
