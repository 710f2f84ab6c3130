"""The audit log: who logged in, uploaded, reviewed, exported or changed users, and when.

``log`` takes the caller's session so the event is committed in the same transaction as the
action: there is never an action without its audit row, nor an audit row for a rolled-back action.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.errors import InvalidInputError
from db.models import AUDIT_ACTIONS, AuditEvent, User
from db.session import Database


def log(session: Session, action: str, *, user_id: int | None = None, target: str | None = None,
        details: dict[str, Any] | None = None) -> AuditEvent:
    """Add an audit event to the session's transaction."""
    if action not in AUDIT_ACTIONS:
        raise InvalidInputError(f"Unknown audit action {action!r}; known: {', '.join(AUDIT_ACTIONS)}.")
    event = AuditEvent(action=action, user_id=user_id, target=target, details=details)
    session.add(event)
    return event


def _filtered(query, *, action: str | None, user_id: int | None, since: datetime | None,  # noqa: ANN001, ANN202
              until: datetime | None):
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    return query


def events(db: Database, *, action: str | None = None, user_id: int | None = None,
           since: datetime | None = None, until: datetime | None = None, limit: int | None = None,
           offset: int = 0) -> list[AuditEvent]:
    """Audit events, newest first, optionally filtered; ``limit``/``offset`` page through them."""
    query = _filtered(select(AuditEvent), action=action, user_id=user_id, since=since, until=until)
    query = query.order_by(AuditEvent.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with db.transaction() as session:
        return list(session.scalars(query))


def count(db: Database, *, action: str | None = None, user_id: int | None = None,
          since: datetime | None = None, until: datetime | None = None) -> int:
    """How many events match the same filters as :func:`events` (for paging)."""
    query = _filtered(select(func.count()).select_from(AuditEvent), action=action, user_id=user_id, since=since,
                      until=until)
    with db.transaction() as session:
        return int(session.scalar(query) or 0)


def events_csv(db: Database, *, actor: str | int | None, **filters: Any) -> str:
    """Every matching event as CSV (at, user, action, target, details), for an admin's download.

    Reading the whole log is itself an action worth a line in it: the export is audited.
    """
    from db.users import acting_user

    rows = events(db, **filters)
    with db.transaction() as session:
        user = acting_user(session, actor, "manage_users")
        names = dict(session.execute(select(User.id, User.name)).all())
        log(session, "export", user_id=user.id if user else None, target="audit_log",
            details={"events": len(rows), **{k: str(v) for k, v in filters.items() if v is not None}})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["at", "user", "action", "target", "details"])
    for event in rows:
        writer.writerow([event.at.isoformat(), names.get(event.user_id, ""), event.action, event.target or "",
                         "" if event.details is None else json.dumps(event.details, sort_keys=True)])
    return buffer.getvalue()
