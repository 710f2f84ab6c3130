"""Signed, expiring session tokens, so a page reload (F5) keeps a signed-in user signed in.

A token names the account and the ``session_epoch`` it was issued under, and expires; it is
signed with HMAC-SHA256 under a key only the server knows. It carries no role or name: every
check reads the account again, so a role change, deactivation or password reset (each bumps the
epoch) invalidates every token issued before it at once.

The signing key comes from ``ECG_SESSION_SECRET`` when set (several servers behind one name
share it that way), else it is generated once per store and kept in the database, which every
process of a deployment already shares.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy import exc

from db import config
from db.models import AppSetting, User
from db.session import Database

_KEY_SETTING = "_session_signing_key"  # not in db.settings.DEFAULTS: never shown or exported


def _signing_key(db: Database) -> bytes:
    configured = config.session_secret()
    if configured:
        return configured.encode()
    with db.transaction() as session:
        row = session.get(AppSetting, _KEY_SETTING)
        if row is not None:
            return str(row.value).encode()
    try:
        with db.transaction() as session:
            session.add(AppSetting(key=_KEY_SETTING, value=secrets.token_hex(32)))
    except exc.IntegrityError:
        pass  # another process stored one first: use theirs
    with db.transaction() as session:
        return str(session.get(AppSetting, _KEY_SETTING).value).encode()


def _signature(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def issue(db: Database, user: User, lifetime_s: float) -> str:
    """A token for ``user``'s current epoch, valid for ``lifetime_s`` seconds."""
    payload = f"{user.id}.{user.session_epoch or 0}.{int(time.time() + lifetime_s)}"
    return f"{payload}.{_signature(_signing_key(db), payload)}"


def verify(db: Database, token: str | None) -> User | None:
    """The account a valid token names, or None: bad signature, expired, revoked, or account gone."""
    if not token or token.count(".") != 3:
        return None
    payload, _, signature = token.rpartition(".")
    if not hmac.compare_digest(signature, _signature(_signing_key(db), payload)):
        return None
    try:
        user_id, epoch, expires = (int(part) for part in payload.split("."))
    except ValueError:
        return None
    if expires < time.time():
        return None
    with db.transaction() as session:
        user = session.get(User, user_id)
    if user is None or not user.active or user.deleted_at is not None or (user.session_epoch or 0) != epoch:
        return None
    return user
