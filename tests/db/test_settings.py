"""Settings: admin-only, audited, migrated on SQLite and PostgreSQL; audit stays append-only after 0002."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from db import settings
from db.errors import DBError, PermissionDeniedError
from db.models import AuditEvent
from db.session import Database


def test_demo_mode_defaults_off_and_only_admins_switch_it(db: Database, team: dict) -> None:
    assert settings.get(db, settings.DEMO_MODE) is False
    with pytest.raises(PermissionDeniedError):
        settings.set_value(db, settings.DEMO_MODE, True, actor="alice")
    settings.set_value(db, settings.DEMO_MODE, True, actor="erin")
    assert settings.get(db, settings.DEMO_MODE) is True
    settings.set_value(db, settings.DEMO_MODE, False, actor="erin")
    assert settings.all_settings(db) == {settings.DEMO_MODE: False}
    with db.transaction() as session:
        changes = session.scalars(select(AuditEvent).where(AuditEvent.action == "settings_change")).all()
    assert [c.details for c in changes] == [{"old": False, "new": True}, {"old": True, "new": False}]
    with pytest.raises(KeyError, match="Unknown setting"):
        settings.get(db, "theme")


def test_audit_log_is_still_append_only_after_the_migration(db: Database, team: dict) -> None:
    settings.set_value(db, settings.DEMO_MODE, True, actor="erin")
    with pytest.raises((DBError, Exception), match="append-only"):
        with db.transaction() as session:
            session.execute(text("UPDATE audit_events SET action = 'login'"))
    with pytest.raises((DBError, Exception), match="append-only"):
        with db.transaction() as session:
            session.execute(text("DELETE FROM audit_events"))
