"""account security (session epoch, forced password change) and the scored window of a prediction

``users.session_epoch`` is bumped whenever an account changes in a way that must end its open
sessions (role, deactivation, deletion, password); a session remembers the epoch it started with
and is signed out as soon as they differ. ``users.must_change_password`` is set by an admin's
password reset. ``predictions.window_start_s`` records which 10 s of a long record the model read
(0 for every earlier prediction, which always read the first 10 s).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('predictions') as batch_op:
        batch_op.add_column(sa.Column('window_start_s', sa.Float(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('predictions') as batch_op:
        batch_op.drop_column('window_start_s')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('session_epoch')
