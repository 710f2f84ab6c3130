"""The Worklist page through AppTest: statuses in words, blinded model scores, the bulk import job."""

from __future__ import annotations

import io
import logging
import time
import zipfile
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from app import jobs
from db.session import Database
from tests.app.conftest import sign_in, view_as
from tests.conftest import SAMPLES_DIR


def _page(user: tuple[str, str]) -> AppTest:
    sign_in("carla")  # the first run creates the store and preloads the demo records
    at = view_as('worklist', *user).run()
    assert not at.exception, at.exception
    return at


def test_statuses_in_words_and_a_model_score_per_record(team: Database) -> None:
    at = _page(("carla", "cardiologist"))
    table = at.dataframe[0].value
    assert set(table["status"]) == {"awaiting first review"}
    assert table["uncertainty"].between(0, 1).all()
    assert table["uncertainty"].nunique() == len(table)  # a number per record, not one value for all
    assert at.multiselect(key="worklist_statuses").options == [
        "awaiting adjudication", "awaiting second review", "awaiting first review"]


def test_annotator_sees_no_model_score_before_reading(team: Database) -> None:
    from sqlalchemy import select

    from db.models import StoredRecord
    from db.reviews import save_review

    at = _page(("anna", "annotator"))
    assert at.dataframe[0].value["uncertainty"].isna().all()
    with team.transaction() as session:
        first = session.scalars(select(StoredRecord.id).order_by(StoredRecord.id)).first()
    save_review(team, first, "anna", {"NORMAL ECG": "present"}, saw_model_output=False)
    at.radio(key="worklist_scope").set_value("all waiting records").run()
    table = at.dataframe[0].value.set_index("record_id")
    assert table.loc[first, "uncertainty"] >= 0  # read now: her own record's score is shown
    assert table.drop(index=first)["uncertainty"].isna().all()


@pytest.fixture
def streamlit_warnings() -> Iterator[list[str]]:
    """Warnings any ``streamlit.*`` logger emits (they do not propagate to the root logger) from a
    thread other than the test's own: pytest's main thread runs Streamlit bare and warns by design."""
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING and record.threadName != "MainThread":
                seen.append(f"{record.threadName}: {record.getMessage()}")

    handler = Collect()
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.startswith("streamlit")]
    loggers.append(logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context"))
    for logger in loggers:
        logger.addHandler(handler)
    yield seen
    for logger in loggers:
        logger.removeHandler(handler)


def _wait(job_id: str) -> jobs.Job:
    deadline = time.time() + 120
    while time.time() < deadline:
        job = jobs.get(job_id)
        if job is not None and job.done:
            return job
        time.sleep(0.05)
    raise AssertionError("the bulk import did not finish")


def test_bulk_import_runs_without_streamlit_in_its_thread(team: Database, streamlit_warnings: list[str]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((SAMPLES_DIR / "ptbxl").glob("00017_hr.*")):
            archive.write(path, f"batch/{path.name}")
        archive.writestr("batch/textnums.csv", "I,II\na,b\nc,d\n")
    at = _page(("carla", "cardiologist"))
    at.file_uploader(key="bulk_zip").set_value(("batch.zip", buffer.getvalue(), "application/zip")).run()
    [b for b in at.button if b.label == "Start import"][0].click().run()
    assert not at.exception, at.exception
    job = _wait(at.session_state["bulk_job"])
    assert job.error is None
    assert (job.result.new, len(job.result.errors)) == (1, 1)
    at.run()
    assert not at.exception
    assert not [m for m in streamlit_warnings if "ScriptRunContext" in m], streamlit_warnings
    lines = [t.value for t in at.text]
    skipped = [line for line in lines if "textnums.csv" in line]
    assert len(skipped) == 1 and skipped[0].count("textnums.csv") == 1, lines


def test_quality_is_read_from_the_store_and_filters_the_list(team: Database) -> None:
    """The Quality column is the assessment stored at import (the demo records were imported), and
    the filter keeps only records with the chosen problems."""
    from db.assessments import quality_label, quality_problems, stored_quality

    at = _page(("carla", "cardiologist"))
    table = at.dataframe[0].value
    stored = stored_quality(team, table["record_id"].tolist())
    assert set(stored) == set(table["record_id"])  # every imported record was assessed at import
    assert list(table["Quality"]) == [quality_label(stored[rid]) for rid in table["record_id"]]
    assert at.multiselect(key="worklist_quality").options == ["not interpretable", "reversal", "paced"]
    at.multiselect(key="worklist_quality").set_value(["not interpretable"]).run()
    assert not at.exception, at.exception
    expected = {rid for rid, row in stored.items() if "not interpretable" in quality_problems(row)}
    shown = set(at.dataframe[0].value["record_id"]) if at.dataframe else set()
    assert shown == expected and expected != set(stored)  # the filter removed the ok records
