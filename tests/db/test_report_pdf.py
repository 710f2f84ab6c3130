"""The PDF of a stored record: one function for the review page's download and ``ecg report RECORD_ID``."""

from __future__ import annotations

import io
from pathlib import Path

import pdfplumber
import pytest

import ecgcore
from app.cli import main as ecg_main
from db.confirmed_reports import confirm_report
from db.records import add_record, get_record
from db.report_pdf import PSEUDONYM_CHARS, stored_record_report
from db.session import Database
from tests.conftest import SAMPLES_DIR

MUSE = SAMPLES_DIR / "hospital" / "ge_muse" / "muse_ecg1.xml"


def _text(data: bytes) -> str:
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


@pytest.fixture
def stored(db: Database, team: dict[str, str]) -> int:
    row, _ = add_record(db, ecgcore.read(MUSE))
    return row.id


def test_unconfirmed_then_confirmed_with_signer_statements_and_conclusion(db: Database, stored: int) -> None:
    before = _text(stored_record_report(db, stored, "cardiologist"))
    assert "UNCONFIRMED" in before and "Model: not run" in before
    confirm_report(db, stored, "alice", ["SINUS RHYTHM"], {"qrs_ms": 96.0}, "Normal tracing.")
    after = _text(stored_record_report(db, stored, "cardiologist"))
    assert "UNCONFIRMED" not in after
    assert "alice" in after and "SINUS RHYTHM" in after.upper() and "Normal tracing." in after
    assert "QRS 96 ms" in after  # the cardiologist's corrected value, not the measured one
    assert "not a medical device" in after  # the disclaimer, on every report


def test_the_pseudonym_is_printed_for_reviewers_and_never_for_viewers(db: Database, stored: int) -> None:
    with db.transaction() as session:  # the GE MUSE file's patient id, stored as a keyed hash only
        key = get_record(session, stored).patient_key
    assert key
    assert key[:PSEUDONYM_CHARS] in _text(stored_record_report(db, stored, "cardiologist"))
    viewer = _text(stored_record_report(db, stored, "viewer"))
    assert key[:PSEUDONYM_CHARS] not in viewer


def test_ecg_report_sends_a_record_id_to_the_store_and_a_file_to_the_library(
        db: Database, stored: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("ECG_DB_URL", str(db.url))
    monkeypatch.setenv("ECG_DATA_DIR", str(db.data_dir))
    db.dispose()
    out = tmp_path / "stored.pdf"
    assert ecg_main(["report", "-o", str(out), "--no-model", str(stored)]) == 0
    assert out.read_bytes().startswith(b"%PDF")
    assert ecg_main(["report", str(stored + 1000), "-o", str(tmp_path / "x.pdf"), "--no-model"]) == 1
    assert "No record" in capsys.readouterr().err
    from_file = tmp_path / "file.pdf"
    assert ecg_main(["report", str(MUSE), "-o", str(from_file), "--no-model"]) == 0
    assert from_file.read_bytes().startswith(b"%PDF")
