"""The review store: users and roles, records and predictions, append-only verdicts, audit log.

SQLAlchemy 2 models (``db.models``), schema by Alembic (``db/migrations``), sessions from
``ECG_DB_URL`` (``db.session``), and one module per job (users, records, reviews, consensus,
agreement, export, workspace). ``python -m db`` (or ``ecg db``) is its command line.
"""
