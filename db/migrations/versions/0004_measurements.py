"""interval measurements per record and algorithm version, and reviewers' corrections of them

``measurements``: one row per (record, algorithm version, measured window): the global values
(``global_values``, JSON name -> value or null) and the measurement's ``to_dict()`` as ``payload``.
A new algorithm version adds a row; nothing is overwritten. ``measurement_corrections``: one
reviewer's value of one global measurement of one record, versioned per (record, reviewer, name)
like reviews, pointing at the measurement row (and its algorithm version) it corrects. Both tables
are append-only (the triggers of 0001, on these tables too), and the audit log gets the actions
``measurement`` and ``measurement_correction``.

The measurement names are frozen here (a migration must not import the code it migrates);
they are ``ecgcore.measurements.types.GLOBAL_MEASURE_NAMES`` at the time of writing, and a new
global measurement needs a new revision that widens ``ck_measurement_corrections_name``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 12:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

MEASURE_NAMES = ('heart_rate_bpm', 'rr_ms', 'p_duration_ms', 'pr_ms', 'qrs_ms', 'qt_ms', 'qtc_bazett_ms',
                 'qtc_fridericia_ms', 'p_axis_deg', 'qrs_axis_deg', 't_axis_deg')
_OLD_ACTIONS = ('login', 'login_failed', 'logout', 'upload', 'prediction', 'review', 'export', 'backup',
                'user_create', 'user_update', 'user_delete', 'settings_change')
_NEW_ACTIONS = _OLD_ACTIONS + ('measurement', 'measurement_correction')
APPEND_ONLY_TABLES = ('measurements', 'measurement_corrections')


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _audit_trigger_sql(action: str) -> str:
    return (f"CREATE TRIGGER audit_events_no_{action.lower()} BEFORE {action} ON audit_events BEGIN "
            "SELECT RAISE(ABORT, 'audit_events is append-only: add a new version instead of changing a row'); END")


def _set_action_constraint(actions: tuple[str, ...]) -> None:
    """As in 0002: PostgreSQL alters the constraint; SQLite rebuilds the table and its triggers."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint('ck_audit_events_action', 'audit_events', type_='check')
        op.create_check_constraint('ck_audit_events_action', 'audit_events', _in('action', actions))
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{action}")
    with op.batch_alter_table('audit_events', recreate='always') as batch_op:
        batch_op.drop_constraint('ck_audit_events_action', type_='check')
        batch_op.create_check_constraint('ck_audit_events_action', _in('action', actions))
    for action in ("UPDATE", "DELETE"):
        op.execute(_audit_trigger_sql(action))


def _create_append_only_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY_TABLES:
        if postgres:  # ecg_append_only() is 0001's trigger function
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION ecg_append_only()")
            continue
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, '{table} is append-only: add a new version instead of changing a row'); END"
            )


def _drop_append_only_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY_TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            continue
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def upgrade() -> None:
    op.create_table('measurements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('algorithm_version', sa.String(length=100), nullable=False),
    sa.Column('window_start_s', sa.Float(), nullable=False),
    sa.Column('global_values', sa.JSON(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('window_start_s >= 0', name='ck_measurements_window_start'),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('record_id', 'algorithm_version', 'window_start_s', name='uq_measurements_version_window')
    )
    op.create_table('measurement_corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('measurement_id', sa.Integer(), nullable=True),
    sa.Column('algorithm_version', sa.String(length=100), nullable=True),
    sa.Column('measured_value', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(_in('name', MEASURE_NAMES), name='ck_measurement_corrections_name'),
    sa.CheckConstraint('version >= 1', name='ck_measurement_corrections_version'),
    sa.ForeignKeyConstraint(['measurement_id'], ['measurements.id'], ),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], ),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('record_id', 'reviewer_id', 'name', 'version', name='uq_measurement_corrections_version')
    )
    with op.batch_alter_table('measurement_corrections', schema=None) as batch_op:
        batch_op.create_index('ix_measurement_corrections_reviewer', ['reviewer_id'], unique=False)
    _create_append_only_triggers()
    _set_action_constraint(_NEW_ACTIONS)


def downgrade() -> None:
    # Fails while audit events of the new actions exist: audit rows are never deleted.
    _set_action_constraint(_OLD_ACTIONS)
    _drop_append_only_triggers()
    with op.batch_alter_table('measurement_corrections', schema=None) as batch_op:
        batch_op.drop_index('ix_measurement_corrections_reviewer')
    op.drop_table('measurement_corrections')
    op.drop_table('measurements')
