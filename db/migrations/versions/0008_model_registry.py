"""the model registry: which bundle is the default, decided by a person (issue #21)

* ``model_promotions``: one row per decision on a model bundle: ``promote`` (an admin made a
  candidate the default for its lead count), ``reject`` (an admin turned a candidate down),
  ``rollback`` (an admin made an earlier bundle the default again). Who, when, the bundle's path,
  the sha256 of its weights, its name and version, the lead count it serves, the override reason
  when a candidate worse on a claimed label was promoted anyway, and the comparison it was judged
  on. Append-only (the triggers of 0001 on this table too): the default is the newest promote or
  rollback row of a lead count, and the history of defaults is never rewritten.
* audit actions ``model_candidate`` (a candidate was trained from the reviews), ``model_promote``,
  ``model_reject`` and ``model_rollback``.

Downgrading is refused (like 0004's) while audit events of the new actions exist: audit rows are
never deleted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_OLD_ACTIONS = ('login', 'login_failed', 'logout', 'upload', 'prediction', 'review', 'export', 'backup',
                'user_create', 'user_update', 'user_delete', 'settings_change', 'measurement',
                'measurement_correction', 'patient_link', 'report_confirm')
_NEW_ACTIONS = _OLD_ACTIONS + ('model_candidate', 'model_promote', 'model_reject', 'model_rollback')
_DECISIONS = ('promote', 'reject', 'rollback')
APPEND_ONLY_TABLE = 'model_promotions'


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _set_action_constraint(actions: tuple[str, ...]) -> None:
    """As in 0002/0004/0006: PostgreSQL alters the constraint; SQLite rebuilds the table and its triggers."""
    if _postgres():
        op.drop_constraint('ck_audit_events_action', 'audit_events', type_='check')
        op.create_check_constraint('ck_audit_events_action', 'audit_events', _in('action', actions))
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{action}")
    with op.batch_alter_table('audit_events', recreate='always') as batch_op:
        batch_op.drop_constraint('ck_audit_events_action', type_='check')
        batch_op.create_check_constraint('ck_audit_events_action', _in('action', actions))
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER audit_events_no_{action.lower()} BEFORE {action} ON audit_events BEGIN "
                   "SELECT RAISE(ABORT, 'audit_events is append-only: add a new version instead of changing a row'); END")


def upgrade() -> None:
    op.create_table('model_promotions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('n_leads', sa.Integer(), nullable=False),
    sa.Column('bundle_path', sa.String(length=500), nullable=False),
    sa.Column('weights_sha256', sa.String(length=64), nullable=False),
    sa.Column('model_name', sa.String(length=200), nullable=False),
    sa.Column('model_version', sa.String(length=100), nullable=False),
    sa.Column('override_reason', sa.Text(), nullable=True),
    sa.Column('comparison', sa.JSON(), nullable=True),
    sa.CheckConstraint(_in('action', _DECISIONS), name='ck_model_promotions_action'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_promotions', schema=None) as batch_op:
        batch_op.create_index('ix_model_promotions_n_leads', ['n_leads'], unique=False)
    if _postgres():  # ecg_append_only() is 0001's trigger function
        op.execute(f"CREATE TRIGGER {APPEND_ONLY_TABLE}_append_only BEFORE UPDATE OR DELETE ON {APPEND_ONLY_TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION ecg_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {APPEND_ONLY_TABLE}_no_{action.lower()} BEFORE {action} ON {APPEND_ONLY_TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_TABLE} is append-only: add a new version instead of "
                       "changing a row'); END")
    _set_action_constraint(_NEW_ACTIONS)


def downgrade() -> None:
    # Fails while audit events of the new actions exist: audit rows are never deleted.
    _set_action_constraint(_OLD_ACTIONS)
    if _postgres():
        op.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY_TABLE}_append_only ON {APPEND_ONLY_TABLE}")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY_TABLE}_no_{action}")
    with op.batch_alter_table('model_promotions', schema=None) as batch_op:
        batch_op.drop_index('ix_model_promotions_n_leads')
    op.drop_table('model_promotions')
