"""Consistent copies of the SQLite store while the app keeps running (sqlite3's online backup API).

The backup API copies pages under a read transaction; in WAL mode writers are not blocked and the
copy is one consistent snapshot. The copy is written under a temporary name, checked with
``PRAGMA integrity_check`` and only then renamed to the requested name. For PostgreSQL use
``pg_dump`` (the server's own consistent-snapshot tool).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from db import audit
from db.errors import InvalidInputError, StorageError
from db.session import Database


def sqlite_path(db: Database) -> Path:
    url = make_url(db.url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise InvalidInputError(
            "Backups with this command are for the SQLite store; for PostgreSQL run "
            "`pg_dump --format=custom --file OUT.dump DBNAME` (a consistent snapshot)."
        )
    return Path(url.database)


def backup_sqlite(db: Database, out: Path | str, *, overwrite: bool = False) -> Path:
    """Copy the live SQLite database to ``out``; returns ``out``."""
    source = sqlite_path(db)
    out = Path(out)
    if out.exists() and not overwrite:
        raise InvalidInputError(f"{out} exists; pass overwrite=True (--force) to replace it.")
    if out.resolve() == source.resolve():
        raise InvalidInputError("The backup must go to another file than the live database.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained single file
        finally:
            dst.close()
            src.close()
        if check != "ok":
            raise StorageError(f"The backup copy failed its integrity check: {check}")
        os.replace(tmp, out)
    except sqlite3.Error as error:
        raise StorageError(f"Backup of {source} failed: {error}") from error
    finally:
        tmp.unlink(missing_ok=True)
    with db.transaction() as session:
        audit.log(session, "backup", target=str(out)[:500])
    return out
