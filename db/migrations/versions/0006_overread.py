"""the overread workflow: acquisition time fallback, patient links typed in, confirmed reports

* ``records.acquired_at_is_upload_time`` (not null, default false): a record whose file states no
  acquisition time gets its upload time (UTC, without the zone, like ``acquired_at``) and this flag.
  Existing rows without ``acquired_at`` are filled so here.
* ``confirmed_reports``: one row per version of a record's confirmed (signed) report: who signed in
  which role, the statements, the measurements accepted or corrected (with the stored measurement
  they came from), the conclusion, the signer's review, what changed from the previous version.
  Append-only (the triggers of 0001/0004 on this table too).
* audit actions ``patient_link`` (an uploader typed a patient identifier: its keyed hash links the
  record) and ``report_confirm``.

Downgrading empties ``acquired_at`` where it was the upload time, and is refused (like 0004's)
while audit events of the new actions exist: audit rows are never deleted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_OLD_ACTIONS = ('login', 'login_failed', 'logout', 'upload', 'prediction', 'review', 'export', 'backup',
                'user_create', 'user_update', 'user_delete', 'settings_change', 'measurement',
                'measurement_correction')
_NEW_ACTIONS = _OLD_ACTIONS + ('patient_link', 'report_confirm')
APPEND_ONLY_TABLE = 'confirmed_reports'


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _set_action_constraint(actions: tuple[str, ...]) -> None:
    """As in 0002/0004: PostgreSQL alters the constraint; SQLite rebuilds the table and its triggers."""
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
    # A plain ALTER TABLE on SQLite too: batch mode would copy and drop ``records``, which the foreign
    # keys of predictions, reviews ... refuse while they reference it.
    op.add_column('records', sa.Column('acquired_at_is_upload_time', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    upload_time = "uploaded_at AT TIME ZONE 'UTC'" if _postgres() else "uploaded_at"  # SQLite keeps UTC, no zone
    op.execute(f"UPDATE records SET acquired_at = {upload_time}, acquired_at_is_upload_time = "
               f"{'true' if _postgres() else '1'} WHERE acquired_at IS NULL")

    op.create_table('confirmed_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=False),
    sa.Column('signed_role', sa.String(length=20), nullable=False),
    sa.Column('statements', sa.JSON(), nullable=False),
    sa.Column('measurements', sa.JSON(), nullable=False),
    sa.Column('measured_values', sa.JSON(), nullable=False),
    sa.Column('measurement_id', sa.Integer(), nullable=True),
    sa.Column('conclusion', sa.Text(), nullable=True),
    sa.Column('review_id', sa.Integer(), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('version >= 1', name='ck_confirmed_reports_version'),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['measurement_id'], ['measurements.id'], ),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], ),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('record_id', 'version', name='uq_confirmed_reports_version')
    )
    with op.batch_alter_table('confirmed_reports', schema=None) as batch_op:
        batch_op.create_index('ix_confirmed_reports_confirmed_by', ['confirmed_by_id'], unique=False)
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
    with op.batch_alter_table('confirmed_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_confirmed_reports_confirmed_by')
    op.drop_table('confirmed_reports')
    op.execute(f"UPDATE records SET acquired_at = NULL WHERE acquired_at_is_upload_time = "
               f"{'true' if _postgres() else '1'}")
    if _postgres():
        op.drop_column('records', 'acquired_at_is_upload_time')
    else:  # SQLite's own DROP COLUMN (3.35+), not batch mode: see upgrade()
        op.execute("ALTER TABLE records DROP COLUMN acquired_at_is_upload_time")
