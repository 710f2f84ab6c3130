"""The review store's and the workspace's settings, each an ``ECG_`` environment variable, read here only.

Read at call time (not import time), so tests and a long-running server see a changed value.
The README's configuration table lists every variable of this module and of ``ecgcore.config``.
"""

from __future__ import annotations

import os
from pathlib import Path

DB_URL_ENV = "ECG_DB_URL"
DATA_DIR_ENV = "ECG_DATA_DIR"
ADMIN_USER_ENV = "ECG_ADMIN_USER"
ADMIN_PASSWORD_ENV = "ECG_ADMIN_PASSWORD"
SESSION_SECRET_ENV = "ECG_SESSION_SECRET"
SESSION_TIMEOUT_ENV = "ECG_SESSION_TIMEOUT_MIN"
PATIENT_KEY_ENV = "ECG_PATIENT_KEY"
CANDIDATES_DIR_ENV = "ECG_CANDIDATES_DIR"
REHEARSAL_SET_ENV = "ECG_REHEARSAL_SET"
REFERENCE_TEST_SET_ENV = "ECG_REFERENCE_TEST_SET"

DEFAULT_DATA_DIR = Path("data") / "local"
DEFAULT_SESSION_TIMEOUT_MIN = 30.0


def data_dir() -> Path:
    """Where uploaded originals (and the default SQLite file) live: ``ECG_DATA_DIR`` or ./data/local."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def db_url() -> str | None:
    """``ECG_DB_URL`` when set (``db.session.database_url`` supplies the SQLite default)."""
    return os.environ.get(DB_URL_ENV) or None


def admin_from_env() -> tuple[str, str] | None:
    """``(ECG_ADMIN_USER, ECG_ADMIN_PASSWORD)`` for a deployment's first administrator, when both are set."""
    name, password = os.environ.get(ADMIN_USER_ENV), os.environ.get(ADMIN_PASSWORD_ENV)
    return (name, password) if name and password else None


def session_secret() -> str | None:
    """``ECG_SESSION_SECRET``: the key that signs session cookies, when the deployment sets one."""
    return os.environ.get(SESSION_SECRET_ENV) or None


def patient_key_secret() -> str | None:
    """``ECG_PATIENT_KEY``: the installation's key for patient-identifier hashes, when the deployment sets one.

    Unset, ``db.patient_keys`` creates one on first use and keeps it in the data directory.
    """
    return (os.environ.get(PATIENT_KEY_ENV) or "").strip() or None


def session_timeout_s() -> float:
    """Idle seconds before a session is signed out: ``ECG_SESSION_TIMEOUT_MIN`` (30) minutes."""
    raw = os.environ.get(SESSION_TIMEOUT_ENV, "").strip()
    if not raw:
        return 60.0 * DEFAULT_SESSION_TIMEOUT_MIN
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"{SESSION_TIMEOUT_ENV}={raw!r} is not a number of minutes (e.g. 30).") from None
    if minutes < 0:
        raise ValueError(f"{SESSION_TIMEOUT_ENV}={raw!r}: the time-out cannot be negative.")
    return 60.0 * minutes


def _optional_path(name: str) -> Path | None:
    raw = (os.environ.get(name) or "").strip()
    return Path(raw) if raw else None


def candidates_dir() -> Path:
    """Where candidate models trained from the reviews are written (``<name>-<version>`` each):
    ``ECG_CANDIDATES_DIR``, else ``candidates/`` in the models directory (``ECG_MODEL_DIR``)."""
    from ecgcore.config import models_dir

    return _optional_path(CANDIDATES_DIR_ENV) or models_dir() / "candidates"


def rehearsal_set() -> Path | None:
    """``ECG_REHEARSAL_SET``: a built training set (``python -m train build-dataset``) of the shipped
    model's own training data, mixed into a candidate's fine-tuning so it does not forget; None: unset."""
    return _optional_path(REHEARSAL_SET_ENV)


def reference_test_set() -> Path | None:
    """``ECG_REFERENCE_TEST_SET``: a labelled folder in the expert-review export layout that no shipped
    model was trained on; every candidate is compared with the default on it too. None: unset."""
    return _optional_path(REFERENCE_TEST_SET_ENV)
