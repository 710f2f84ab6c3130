"""per-record signal assessments (``ecgcore.assess``), stored at import

``record_assessments``: one row per (record, assessment algorithm version): whether the record is
interpretable, the reasons when not, the electrode reversal called (null: none), whether it is
paced, and ``Assessment.to_dict()`` as ``payload``. A new algorithm version adds a row; nothing is
overwritten (append-only, the triggers of 0001 on this table too). The worklist filters on the
columns without opening a signal.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 13:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

APPEND_ONLY_TABLE = 'record_assessments'


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table('record_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('algorithm_version', sa.String(length=100), nullable=False),
    sa.Column('interpretable', sa.Boolean(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('reversal', sa.String(length=20), nullable=True),
    sa.Column('paced', sa.Boolean(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('record_id', 'algorithm_version', name='uq_record_assessments_version')
    )
    if _postgres():  # ecg_append_only() is 0001's trigger function
        op.execute(f"CREATE TRIGGER {APPEND_ONLY_TABLE}_append_only BEFORE UPDATE OR DELETE ON {APPEND_ONLY_TABLE} "
                   "FOR EACH ROW EXECUTE FUNCTION ecg_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {APPEND_ONLY_TABLE}_no_{action.lower()} BEFORE {action} ON {APPEND_ONLY_TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_TABLE} is append-only: add a new version instead of "
                       "changing a row'); END")


def downgrade() -> None:
    if _postgres():
        op.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY_TABLE}_append_only ON {APPEND_ONLY_TABLE}")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY_TABLE}_no_{action}")
    op.drop_table('record_assessments')
