"""Opening the review store: URL from ``ECG_DB_URL``, schema via Alembic, transactions that map errors.

Defaults work on a laptop: with no ``ECG_DB_URL`` the store is a SQLite file
``$ECG_DATA_DIR/review.sqlite`` (``ECG_DATA_DIR`` defaults to ``./data/local``), created and migrated
on first use. SQLite runs in WAL mode (readers never block the writer), with foreign keys on and
every transaction started ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout
instead of failing with "database is locked" halfway through. PostgreSQL (``postgresql+psycopg://``)
uses the same code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from db import config
from db.config import data_dir
from db.errors import DatabaseFullError, ImmutableHistoryError, ReadOnlyDatabaseError, StorageError

SQLITE_FILE_NAME = "review.sqlite"
# How long a SQLite writer waits for another writer's transaction before giving up (ms).
SQLITE_BUSY_TIMEOUT_MS = 60_000


def database_url() -> str:
    """``$ECG_DB_URL`` or the default SQLite file under :func:`db.config.data_dir`."""
    return config.db_url() or f"sqlite:///{(data_dir() / SQLITE_FILE_NAME).resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN (pysqlite's own implicit BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        try:
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
        except Exception:  # a read-only file cannot switch journal mode; reading still works
            mode = None
        if mode and str(mode[0]).lower() == "wal":
            cursor.execute("PRAGMA synchronous = NORMAL")  # durable in WAL mode, and much faster than FULL
    finally:
        cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An Engine for ``url`` with the store's SQLite settings; creates the SQLite file's folder."""
    url = url or database_url()
    if url.startswith("sqlite"):
        match = re.match(r"sqlite(?:\+\w+)?:///(?!file:)(.+?)(?:\?.*)?$", url)
        if match and match.group(1) != ":memory:":
            try:
                Path(match.group(1)).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StorageError(f"Cannot create the folder of the review database {match.group(1)}: {error}") from error
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def translate_operational_error(error: BaseException) -> StorageError | None:
    """Map a driver error to a clear store error (read-only, full), or None if it is not one of those."""
    text = str(getattr(error, "orig", error)).lower()
    if "readonly" in text or "read-only" in text or "read only" in text:
        return ReadOnlyDatabaseError(
            "The review database is read-only, so nothing was saved. Check the file's permissions and "
            "the disk's mount options, or ask an administrator."
        )
    if "disk is full" in text or "database or disk is full" in text or "no space left" in text:
        return DatabaseFullError(
            "The disk holding the review database is full, so nothing of this operation was saved. "
            "Free space (or raise the size limit) and try again."
        )
    if "database is locked" in text:
        return StorageError(
            "The review database stayed locked by another writer for too long; nothing was saved. Try again."
        )
    if "unable to open database" in text or "connection refused" in text or "could not connect" in text:
        return StorageError(f"Cannot open the review database: {getattr(error, 'orig', error)}")
    return None


class Database:
    """The store: an engine, a session factory and the data directory for waveform files.

    Use :meth:`transaction` for every unit of work: it commits on success, rolls back on any
    exception, and turns driver errors into :mod:`db.errors` classes.
    """

    def __init__(self, url: str | None = None, *, data_dir_path: Path | str | None = None,
                 migrate: bool = True, **engine_kwargs: Any) -> None:
        self.url = url or database_url()
        self.data_dir = Path(data_dir_path) if data_dir_path is not None else data_dir()
        self.engine = make_engine(self.url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            from db.migrate import upgrade

            try:
                upgrade(self.engine)
            except exc.OperationalError as error:
                raise (translate_operational_error(error) or StorageError(str(error.orig))) from error

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: all of it is kept, or none of it."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        except exc.DBAPIError as error:
            if "append-only" in str(error.orig):
                raise ImmutableHistoryError(
                    "Saved reviews, verdicts and audit events are append-only: they cannot be changed or deleted; "
                    "save a new review version instead."
                ) from error
            mapped = translate_operational_error(error)
            if mapped is not None:
                raise mapped from error
            if isinstance(error, exc.OperationalError):
                raise StorageError(f"The review database failed: {error.orig}") from error
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close pooled connections (tests, and before copying the SQLite file)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"


def open_database(url: str | None = None, **kwargs: Any) -> Database:
    """Open (creating and migrating on first use) the store at ``url`` or ``$ECG_DB_URL``."""
    return Database(url, **kwargs)
