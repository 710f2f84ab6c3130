"""The audit log: who logged in, uploaded, reviewed, exported or changed users, and when.

``log`` takes the caller's session so the event is committed in the same transaction as the
action: there is never an action without its audit row, nor an audit row for a rolled-back action.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.errors import InvalidInputError
from db.models import AUDIT_ACTIONS, AuditEvent
from db.session import Database


def log(session: Session, action: str, *, user_id: int | None = None, target: str | None = None,
        details: dict[str, Any] | None = None) -> AuditEvent:
    """Add an audit event to the session's transaction."""
    if action not in AUDIT_ACTIONS:
        raise InvalidInputError(f"Unknown audit action {action!r}; known: {', '.join(AUDIT_ACTIONS)}.")
    event = AuditEvent(action=action, user_id=user_id, target=target, details=details)
    session.add(event)
    return event


def events(db: Database, *, action: str | None = None, user_id: int | None = None,
           since: datetime | None = None, limit: int | None = None) -> list[AuditEvent]:
    """Audit events, newest first, optionally filtered."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if limit is not None:
        query = query.limit(limit)
    with db.transaction() as session:
        return list(session.scalars(query))
