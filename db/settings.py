"""Workspace-wide settings an admin switches, stored in the database and audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from db import audit
from db.models import AppSetting, utcnow
from db.session import Database
from db.users import acting_user

DEMO_MODE = "demo_mode"  # read-only demo: the workspace can be browsed without signing in
DEFAULTS: dict[str, Any] = {DEMO_MODE: False}


def get(db: Database, key: str) -> Any:
    if key not in DEFAULTS:
        raise KeyError(f"Unknown setting {key!r}; known: {', '.join(DEFAULTS)}")
    with db.transaction() as session:
        row = session.get(AppSetting, key)
        return DEFAULTS[key] if row is None else row.value


def set_value(db: Database, key: str, value: Any, *, actor: str | None) -> None:
    """Change a setting (admins only when an actor is named); the change is audited."""
    if key not in DEFAULTS:
        raise KeyError(f"Unknown setting {key!r}; known: {', '.join(DEFAULTS)}")
    with db.transaction() as session:
        user = acting_user(session, actor, "manage_users")
        row = session.get(AppSetting, key)
        old = DEFAULTS[key] if row is None else row.value
        if row is None:
            session.add(AppSetting(key=key, value=value, updated_by_id=user.id if user else None))
        else:
            row.value, row.updated_at, row.updated_by_id = value, utcnow(), user.id if user else None
        audit.log(session, "settings_change", user_id=user.id if user else None, target=f"setting:{key}",
                  details={"old": old, "new": value})


def all_settings(db: Database) -> dict[str, Any]:
    with db.transaction() as session:
        stored = {row.key: row.value for row in session.scalars(select(AppSetting))}
    return {key: stored.get(key, default) for key, default in DEFAULTS.items()}
