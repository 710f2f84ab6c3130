"""what a hospital file knows beyond the signal: acquisition, the device's reading, a patient key

``records`` gets, all nullable (every earlier record has none of them):

* ``patient_key``: the keyed hash of the file's patient identifier (``db.patient_keys``: 32 hex
  characters of HMAC-SHA256 under the installation's key), indexed, so a patient's ECGs link
  across uploads; the identifier itself is never stored;
* ``acquired_at``: when the ECG was recorded, the device's wall-clock time as the file states it
  (no time zone: carts rarely state one);
* ``device`` and ``site``: the acquiring device and the site (institution, department, location);
* ``device_reading``: the cart's own reading (JSON ``ecgcore.acquisition.DeviceReading.to_dict()``:
  ``measurements`` by ``GLOBAL_MEASURE_NAMES``, ``statements``, ``original_statements``, ``source``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records') as batch_op:
        batch_op.add_column(sa.Column('patient_key', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('acquired_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('device', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('site', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('device_reading', sa.JSON(), nullable=True))
        batch_op.create_index('ix_records_patient_key', ['patient_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('records') as batch_op:
        batch_op.drop_index('ix_records_patient_key')
        batch_op.drop_column('device_reading')
        batch_op.drop_column('site')
        batch_op.drop_column('device')
        batch_op.drop_column('acquired_at')
        batch_op.drop_column('patient_key')
