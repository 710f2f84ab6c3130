"""Operation: configuration, migrations, concurrency, read-only and full databases, backups."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, func, select, text

from db.backup import backup_sqlite
from db.errors import DatabaseFullError, ReadOnlyDatabaseError, StorageError
from db.migrate import alembic_config, head_revision
from db.models import Base, Review, ReviewVerdict
from db.records import add_record
from db.reviews import current_reviews, save_review
from db.session import Database
from db.users import create_user
from ecgcore.config import REPO_ROOT

AF, SB, LBBB = "ATRIAL FIBRILLATION", "SINUS BRADYCARDIA", "LEFT BUNDLE BRANCH BLOCK"


def counts(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        return (session.scalar(select(func.count()).select_from(Review)),
                session.scalar(select(func.count()).select_from(ReviewVerdict)))


def test_default_store_is_a_wal_sqlite_file_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("ECG_DB_URL", raising=False)
    monkeypatch.setenv("ECG_DATA_DIR", str(tmp_path / "new" / "dir"))
    db = Database()
    assert (tmp_path / "new" / "dir" / "review.sqlite").is_file() and db.data_dir == tmp_path / "new" / "dir"
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_models_match_the_migrated_schema_and_downgrade_works(db):
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []
    from alembic import command

    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is None
    Database(db.url, data_dir_path=db.data_dir).dispose()  # migrates again on open
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()


def test_concurrent_reviewers_in_threads_lose_nothing(db, team, ptbxl_records):
    ids = [add_record(db, r)[0].id for r in ptbxl_records[:5]]
    reviewers = ["alice", "bob", "carol", "dan"]
    per_reviewer = 3  # saves per record: versions 1..3

    def work(name: str) -> int:
        for _ in range(per_reviewer):
            for rid in ids:
                save_review(db, rid, name, {AF: "present", SB: "absent"}, saw_model_output=False)
        return per_reviewer * len(ids)

    with ThreadPoolExecutor(len(reviewers)) as pool:
        assert sum(pool.map(work, reviewers)) == 60
    assert counts(db) == (60, 120)
    assert sorted({r.version for r in current_reviews(db)}) == [per_reviewer]


def test_same_reviewer_saving_from_several_tabs_gets_distinct_versions(db, team, ptbxl_records):
    rid = add_record(db, ptbxl_records[0])[0].id
    with ThreadPoolExecutor(4) as pool:
        saved = list(pool.map(lambda i: save_review(db, rid, "alice", {AF: "present"}, saw_model_output=False,
                                                     comment=f"tab {i}"), range(8)))
    assert sorted(r.version for r in saved) == list(range(1, 9))
    assert counts(db) == (8, 8)


def _process_worker(url: str, data_dir: str, name: str, record_ids: list[int], n: int) -> None:
    db = Database(url, data_dir_path=data_dir)
    for i in range(n):
        for rid in record_ids:
            save_review(db, rid, name, {LBBB: "present" if i % 2 else "absent"}, saw_model_output=True)
    db.dispose()


def test_concurrent_reviewers_in_processes_lose_nothing(db, team, ptbxl_records):
    ids = [add_record(db, r)[0].id for r in ptbxl_records[:4]]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_worker, args=(db.url, str(db.data_dir), name, ids, 3))
             for name in ("alice", "bob", "carol")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    assert counts(db) == (36, 36)


def test_read_only_sqlite_file_gives_a_clear_error_and_keeps_data(tmp_path, ptbxl_records):
    path = tmp_path / "review.sqlite"
    db = Database(f"sqlite:///{path}", data_dir_path=tmp_path / "data")
    create_user(db, "alice", "cardiologist", "alice-password")
    rid = add_record(db, ptbxl_records[0])[0].id
    save_review(db, rid, "alice", {AF: "present"}, saw_model_output=False)
    db.dispose()
    ro = Database(f"sqlite:///file:{path}?mode=ro&uri=true", data_dir_path=tmp_path / "data")
    assert len(current_reviews(ro)) == 1  # reading works
    with pytest.raises(ReadOnlyDatabaseError, match="read-only"):
        save_review(ro, rid, "alice", {AF: "absent"}, saw_model_output=False)
    ro.dispose()
    assert counts(Database(f"sqlite:///{path}", data_dir_path=tmp_path / "data")) == (1, 1)


@pytest.mark.postgres
def test_read_only_postgres_gives_a_clear_error(pg_url, tmp_path, ptbxl_records):
    db = Database(pg_url, data_dir_path=tmp_path / "data")
    create_user(db, "alice", "cardiologist", "alice-password")
    rid = add_record(db, ptbxl_records[0])[0].id
    ro = Database(pg_url, data_dir_path=tmp_path / "data",
                  connect_args={"options": "-c default_transaction_read_only=on"})
    with pytest.raises(ReadOnlyDatabaseError):
        save_review(ro, rid, "alice", {AF: "absent"}, saw_model_output=False)
    ro.dispose()
    assert counts(db) == (0, 0)
    db.dispose()


def test_full_sqlite_database_gives_a_clear_error_and_nothing_half_written(tmp_path, ptbxl_records):
    path = tmp_path / "review.sqlite"
    db = Database(f"sqlite:///{path}", data_dir_path=tmp_path / "data")
    create_user(db, "alice", "cardiologist", "alice-password")
    rid = add_record(db, ptbxl_records[0])[0].id
    with db.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    event.listen(db.engine, "connect", lambda c, _r: c.execute(f"PRAGMA max_page_count = {pages + 3}"))
    db.engine.dispose()  # reconnect with the size limit
    big_comment = "x" * 2000
    saved = 0
    with pytest.raises(DatabaseFullError, match="full"):
        for _ in range(1000):
            save_review(db, rid, "alice", {AF: "present", SB: "absent"}, saw_model_output=False, comment=big_comment)
            saved += 1
    assert counts(db) == (saved, 2 * saved)  # the failed review left neither a row nor a verdict
    db.dispose()


def test_missing_database_directory_is_a_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="Cannot create"):
        Database(f"sqlite:///{blocker}/x/review.sqlite")
    with pytest.raises(StorageError, match="Cannot open"):
        Database(f"sqlite:///file:{blocker}/x/review.sqlite?mode=rw&uri=true")


def test_backup_is_consistent_while_reviewers_keep_writing(tmp_path, ptbxl_records):
    path = tmp_path / "review.sqlite"
    db = Database(f"sqlite:///{path}", data_dir_path=tmp_path / "data")
    create_user(db, "alice", "cardiologist", "alice-password")
    rid = add_record(db, ptbxl_records[0])[0].id
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            save_review(db, rid, "alice", {AF: "present", SB: "absent"}, saw_model_output=False)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while counts(db)[0] < 5:
            pass
        out = backup_sqlite(db, tmp_path / "backups" / "copy.sqlite")
        env = dict(os.environ, ECG_DB_URL=f"sqlite:///{path}", PYTHONPATH=str(REPO_ROOT))
        cli = subprocess.run([sys.executable, "-m", "db", "backup", str(tmp_path / "cli.sqlite")], env=env,
                             capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    finally:
        stop.set()
        thread.join()
    assert cli.returncode == 0, cli.stderr
    for copy in (out, tmp_path / "cli.sqlite"):
        conn = sqlite3.connect(copy)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_reviews, n_verdicts = conn.execute(
            "SELECT (SELECT count(*) FROM reviews), (SELECT count(*) FROM review_verdicts)").fetchone()
        conn.close()
        assert n_reviews >= 5 and n_verdicts == 2 * n_reviews  # a snapshot between transactions
    assert counts(db)[0] >= n_reviews
    db.dispose()


def test_cli_info_and_create_user(tmp_path):
    env = dict(os.environ, ECG_DB_URL="", ECG_DATA_DIR=str(tmp_path / "d"), PYTHONPATH=str(REPO_ROOT))
    made = subprocess.run([sys.executable, "-m", "db", "create-user", "zoe", "--role", "cardiologist"],
                          input="zoe-password\n", env=env, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert made.returncode == 0, made.stderr
    again = subprocess.run([sys.executable, "-m", "db", "create-user", "zoe", "--role", "viewer"],
                           input="zoe-password\n", env=env, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert again.returncode == 1 and "already exists" in again.stderr
    info = subprocess.run([sys.executable, "-m", "db", "info"], env=env, capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)
    assert info.returncode == 0 and "users: 1" in info.stdout and head_revision() in info.stdout
    assert "measurements: 0" in info.stdout and "confirmed_reports: 0" in info.stdout


def test_same_ecg_uploaded_concurrently_is_one_record(db, team, ptbxl_records, ptbxl_files):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda name: add_record(db, ptbxl_records[2], files=ptbxl_files[2], uploader=name),
                                ["alice", "bob", "carol", "dan"]))
    assert len({row.id for row, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with db.transaction() as session:
        assert session.scalar(text("SELECT count(*) FROM records")) == 1
        assert session.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'upload'")) == 4
