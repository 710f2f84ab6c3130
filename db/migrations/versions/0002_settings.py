"""app settings (read-only demo mode) and the settings_change audit action

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 23:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_OLD_ACTIONS = ('login', 'login_failed', 'logout', 'upload', 'prediction', 'review', 'export', 'backup',
                'user_create', 'user_update', 'user_delete')
_NEW_ACTIONS = _OLD_ACTIONS + ('settings_change',)


def _check(actions: tuple[str, ...]) -> str:
    return "action IN (" + ", ".join(f"'{a}'" for a in actions) + ")"


def _set_action_constraint(actions: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint('ck_audit_events_action', 'audit_events', type_='check')
        op.create_check_constraint('ck_audit_events_action', 'audit_events', _check(actions))
        return
    # SQLite cannot alter a constraint: batch mode rebuilds the table (copy, drop, rename), which
    # drops its append-only triggers with the old table, so they are installed again afterwards.
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{action}")
    with op.batch_alter_table('audit_events', recreate='always') as batch_op:
        batch_op.drop_constraint('ck_audit_events_action', type_='check')
        batch_op.create_check_constraint('ck_audit_events_action', _check(actions))
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_events_no_{action.lower()} BEFORE {action} ON audit_events BEGIN "
            "SELECT RAISE(ABORT, 'audit_events is append-only: add a new version instead of changing a row'); END"
        )


def upgrade() -> None:
    op.create_table('app_settings',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.JSON(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('key')
    )
    _set_action_constraint(_NEW_ACTIONS)


def downgrade() -> None:
    _set_action_constraint(_OLD_ACTIONS)  # fails if settings_change events exist: audit rows are never deleted
    op.drop_table('app_settings')
