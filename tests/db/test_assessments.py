"""Signal assessments in the store (issue 20), on SQLite and PostgreSQL: migration 0007, stored at
import once per algorithm version, append-only, backfilled for older records, read by the worklist filter."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
from alembic import command
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from db.assessments import (
    QUALITY_PROBLEMS,
    backfill_assessments,
    ensure_assessment,
    latest_assessment,
    matches_problems,
    quality_label,
    quality_problems,
    store_assessment,
    stored_quality,
)
from db.errors import DBError, InvalidInputError
from db.migrate import alembic_config, head_revision
from db.models import RecordAssessment
from db.records import add_record
from db.session import Database
from db.workspace import import_ecg
from ecgcore.assessment import ASSESSMENT_VERSION, assess
from ecgcore.config import REPO_ROOT
from ecgcore.record import Record as ECGRecord


def count(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(RecordAssessment))


def flat_lead(ecg: ECGRecord, lead: str = "V2") -> ECGRecord:
    signal = np.array(ecg.signal, copy=True)
    signal[ecg.leads.index(lead)] = 0.0
    return dataclasses.replace(ecg, signal=signal, record_name=f"{ecg.record_name}-flat", allow_flat_leads=True)


def test_migration_0007_creates_and_drops_the_table(db, ptbxl_records):
    assert head_revision() >= "0007"  # later migrations sit on top and are downgraded through
    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0006"
        assert "record_assessments" not in inspect(conn).get_table_names()
    db.dispose()
    again = Database(db.url, data_dir_path=db.data_dir)  # migrates to the head on open
    with again.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    row = import_ecg(again, ptbxl_records[0], predictor=None)
    assert count(again) == 1 and latest_assessment(again, row.record_id).algorithm_version == ASSESSMENT_VERSION
    again.dispose()


def test_import_stores_the_assessment_once_and_a_new_version_adds_a_row(db, ptbxl_records):
    first = import_ecg(db, ptbxl_records[0], predictor=None)
    stored = latest_assessment(db, first.record_id)
    expected = assess(ptbxl_records[0])
    assert stored.interpretable == expected.interpretable and stored.reasons == expected.reasons
    assert stored.reversal == expected.reversal and stored.paced == expected.paced
    assert stored.payload["per_lead"].keys() == expected.to_dict()["per_lead"].keys()
    import_ecg(db, ptbxl_records[0], predictor=None)  # a duplicate upload: the same record, assessed already
    assert ensure_assessment(db, first.record_id).id == stored.id
    assert count(db) == 1
    newer = dataclasses.replace(expected, version="test-9.9", interpretable=False, reasons=["made up for the test"])
    added = store_assessment(db, first.record_id, newer)
    assert added.id != stored.id and count(db) == 2
    assert store_assessment(db, first.record_id, newer).id == added.id  # the same version is stored once
    assert latest_assessment(db, first.record_id, algorithm_version=ASSESSMENT_VERSION).id == stored.id
    # the worklist reads the current version's row, not the newest of any version
    assert stored_quality(db, [first.record_id])[first.record_id].id == stored.id


def test_assessments_are_append_only(db, ptbxl_records):
    import_ecg(db, ptbxl_records[0], predictor=None)
    for statement in ("UPDATE record_assessments SET interpretable = false", "DELETE FROM record_assessments"):
        with pytest.raises(DBError, match="append-only"), db.transaction() as session:
            session.execute(text(statement))
    assert count(db) == 1


def test_store_refuses_what_is_not_an_assessment(db, ptbxl_records):
    rid = add_record(db, ptbxl_records[0])[0].id
    with pytest.raises(InvalidInputError, match="ecgcore.Assessment. Got dict"):
        store_assessment(db, rid, {"interpretable": True})
    assert count(db) == 0


def test_backfill_assesses_records_stored_without_one(db, ptbxl_records):
    plain = add_record(db, ptbxl_records[0])[0].id  # add_record alone does not assess
    flat = add_record(db, flat_lead(ptbxl_records[1]))[0].id
    imported = import_ecg(db, ptbxl_records[2], predictor=None).record_id
    assert count(db) == 1
    report = backfill_assessments(db, progress=False)
    assert (report.assessed, report.already, report.failed) == (2, 1, [])
    assert backfill_assessments(db, progress=False).assessed == 0
    quality = stored_quality(db)
    assert set(quality) == {plain, flat, imported}
    assert not quality[flat].interpretable and "not interpretable" in quality_problems(quality[flat])
    assert quality_label(quality[flat]).startswith("not interpretable: lead V2 flat")
    ids = [plain, flat, imported]
    assert matches_problems(quality, ids, ["not interpretable"]) == [not quality[plain].interpretable, True, False]
    assert matches_problems(quality, ids, []) == [True, True, True]
    assert matches_problems(quality, [*ids, 999], ["paced"])[-1] is False  # not assessed: matches no problem
    with pytest.raises(InvalidInputError, match="among"):
        matches_problems(quality, ids, ["noisy"])
    assert set(QUALITY_PROBLEMS) == {"not interpretable", "reversal", "paced"}


def test_cli_assess_and_info_count_them(tmp_path, ptbxl_records):
    data_dir = tmp_path / "d"
    db = Database(f"sqlite:///{tmp_path / 'review.sqlite'}", data_dir_path=data_dir)
    add_record(db, ptbxl_records[0])
    db.dispose()
    env = dict(os.environ, ECG_DB_URL=f"sqlite:///{tmp_path / 'review.sqlite'}", ECG_DATA_DIR=str(data_dir),
               PYTHONPATH=str(REPO_ROOT))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "db", *args], env=env, capture_output=True, text=True,
                              check=False, cwd=REPO_ROOT, timeout=300)

    assert "record_assessments: 0" in run("info").stdout
    done = run("assess")
    assert done.returncode == 0, done.stderr
    assert "assessed 1 record(s), 0 already assessed, 0 failed" in done.stdout
    assert "record_assessments: 1" in run("info").stdout
