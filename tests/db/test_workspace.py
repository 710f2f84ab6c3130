"""Workspace actions: first admin, import with prediction, idempotent preload, worklist ordering."""

from __future__ import annotations

from pathlib import Path

import pytest

from db import workspace
from db.records import predictions_for
from db.reviews import save_review
from db.session import Database
from ecgcore.io import read
from ecgcore.predict import Predictor
from tests.conftest import SAMPLES_DIR
from tests.ecgcore.helpers import tiny_bundle


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    return Predictor(tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny"))


def _ptbxl_paths() -> list[Path]:
    return sorted((SAMPLES_DIR / "ptbxl").glob("*.hea"))


def test_import_stores_record_and_one_prediction_per_model(db: Database, team: dict, predictor: Predictor) -> None:
    path = _ptbxl_paths()[0]
    ecg = read(path)
    first = workspace.import_ecg(db, ecg, predictor=predictor, files=[path, path.with_suffix(".dat")], uploader="alice")
    again = workspace.import_ecg(db, ecg, predictor=predictor, uploader="bob")
    assert first.created and not again.created
    assert first.record_id == again.record_id and first.prediction_id == again.prediction_id
    runs = predictions_for(db, first.record_id)
    assert len(runs) == 1
    scores = {s.label: s for s in runs[0].scores}
    expected = predictor.predict(ecg, include_untrained=True)
    for finding in expected.findings:
        assert scores[finding.label].probability == pytest.approx(finding.probability, abs=1e-6)
        assert scores[finding.label].threshold == pytest.approx(finding.threshold)


def test_preload_is_idempotent(db: Database, predictor: Predictor) -> None:
    paths = _ptbxl_paths()
    assert workspace.preload_records(db, paths, lambda r: predictor, read) == len(paths)
    assert workspace.preload_records(db, paths, lambda r: predictor, read) == 0


def test_worklist_orders_by_need_then_uncertainty(db: Database, team: dict, predictor: Predictor) -> None:
    paths = _ptbxl_paths()
    ids = [workspace.import_ecg(db, read(p), predictor=predictor).record_id for p in paths]
    save_review(db, ids[0], "alice", {"NORMAL ECG": "present"}, saw_model_output=True)  # needs a second review
    save_review(db, ids[1], "alice", {"NORMAL ECG": "present"}, saw_model_output=True)
    save_review(db, ids[1], "bob", {"NORMAL ECG": "absent"}, saw_model_output=True)  # disagreement
    table = workspace.worklist(db)
    assert table["status"].tolist()[:2] == ["needs_adjudication", "needs_second_review"]
    assert table["record_id"].tolist()[:2] == [ids[1], ids[0]]
    assert set(table["record_id"]) == set(ids)
    assert table["uncertainty"].between(0, 1).all()
    fresh = table[table["status"] == "needs_first_review"]["uncertainty"].tolist()
    assert fresh == sorted(fresh, reverse=True)
    # alice already read ids[0] and ids[1]; she still sees the adjudication, not her own second review
    mine = workspace.worklist(db, reviewer="alice")
    assert ids[0] not in set(mine["record_id"]) and ids[1] in set(mine["record_id"])
    by_uncertainty = workspace.worklist(db, order="uncertainty")["uncertainty"].tolist()
    assert by_uncertainty == sorted(by_uncertainty, reverse=True)
    with pytest.raises(ValueError, match="order must be"):
        workspace.worklist(db, order="random")


def test_upload_keeps_originals_and_bad_uploads_store_nothing(db: Database, team: dict, predictor: Predictor) -> None:
    from sqlalchemy import func, select

    from db.models import Record
    from ecgcore.errors import ECGError

    hea = SAMPLES_DIR / "ptbxl" / "00001_hr.hea"
    files = [(hea.name, hea.read_bytes()), ("00001_hr.dat", hea.with_suffix(".dat").read_bytes())]
    result, ecg = workspace.import_upload(db, files, predictor_for=lambda r: predictor, uploader="dan")
    assert result.created and result.prediction_id is not None and ecg.n_leads == 12
    with db.transaction() as session:
        row = session.get(Record, result.record_id)
        stored = sorted(p.name for p in (db.data_dir / row.storage_path / "original").iterdir())
    assert "00001_hr.hea" in stored and "00001_hr.dat" in stored
    with pytest.raises(ECGError):
        workspace.import_upload(db, [("scan.edf", b"not an edf")], predictor_for=lambda r: predictor, uploader="dan")
    with pytest.raises(ECGError, match="missing"):
        workspace.import_upload(db, files[:1], predictor_for=lambda r: predictor, uploader="dan")  # .hea alone
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Record)) == 1


def test_preload_skips_unreadable_records(db: Database, predictor: Predictor, tmp_path: Path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text("I,II\n1,2\n")
    with pytest.warns(UserWarning, match="broken.csv skipped"):
        assert workspace.preload_records(db, [bad, *_ptbxl_paths()[:1]], lambda r: predictor, read) == 1


def test_stored_prediction_round_trip_and_review_versions(db: Database, team: dict, predictor: Predictor) -> None:
    path = _ptbxl_paths()[1]
    ecg = read(path)
    result = workspace.import_ecg(db, ecg, predictor=None)
    assert result.prediction_id is None
    pid = workspace.ensure_prediction(db, result.record_id, ecg, predictor)
    assert workspace.ensure_prediction(db, result.record_id, ecg, predictor) == pid
    stored = workspace.stored_probabilities(db, pid)
    for finding in predictor.predict(ecg, include_untrained=True).findings:
        assert stored[finding.label] == pytest.approx(finding.probability, abs=1e-6)
    assert workspace.latest_review_version(db, result.record_id, "alice") == 0
    save_review(db, result.record_id, "alice", {"NORMAL ECG": "present"}, saw_model_output=True)
    save_review(db, result.record_id, "alice", {"NORMAL ECG": "absent"}, saw_model_output=True)
    assert workspace.latest_review_version(db, result.record_id, "alice") == 2


def test_dashboard_tables_and_export_zip(db: Database, team: dict, predictor: Predictor) -> None:
    import io
    import zipfile

    ids = [workspace.import_ecg(db, read(p), predictor=predictor).record_id for p in _ptbxl_paths()[:2]]
    pid = workspace.latest_prediction_id(db, ids[0])
    probs = workspace.stored_probabilities(db, pid)
    model_says_normal = probs["NORMAL ECG"] >= 0.5  # tiny bundle's threshold for NORMAL ECG
    for reviewer in ("alice", "bob"):  # record 0 reaches consensus and is exported
        save_review(db, ids[0], reviewer, {"NORMAL ECG": "present"}, saw_model_output=True, prediction_id=pid)
    save_review(db, ids[1], "alice", {"NORMAL ECG": "absent"}, saw_model_output=False)
    save_review(db, ids[1], "carol", {"NORMAL ECG": "absent", "ATRIAL FIBRILLATION": "uncertain"}, saw_model_output=True)
    table = workspace.reviewer_model_confusion(db)
    alice = table[(table["reviewer"] == "alice") & (table["label"] == "NORMAL ECG")].iloc[0]
    assert int(alice[["both_present", "reviewer_only", "model_only", "both_absent"]].sum()) == 2
    assert alice["both_present"] + alice["reviewer_only"] == 1  # one "present" verdict
    assert alice["both_present"] == int(model_says_normal)  # against the prediction she saw
    assert "ATRIAL FIBRILLATION" not in set(table["label"])  # uncertain verdicts are left out
    csv_text = workspace.verdicts_csv(db)
    assert csv_text.splitlines()[0] == "record_id,reviewer,role,label,verdict,is_adjudication,blinded,version"
    assert len(csv_text.strip().splitlines()) == 1 + 5
    archive = zipfile.ZipFile(io.BytesIO(workspace.export_zip(db, "alice")))
    names = archive.namelist()
    assert "expert-review/labels.csv" in names and "expert-review/manifest.json" in names
    assert any(n.startswith("expert-review/waveforms/") and n.endswith(".hea") for n in names)


def test_bulk_import_of_a_zip_reports_progress_and_bad_files(db: Database, team: dict, predictor: Predictor) -> None:
    import io
    import zipfile

    from ecgcore.errors import ECGFormatError

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((SAMPLES_DIR / "ptbxl").glob("*_hr.*")):
            archive.write(path, f"batch/{path.name}")
        archive.writestr("batch/garbage.edf", b"not an edf")
    progress = []
    report = workspace.import_archive(db, buffer.getvalue(), predictor_for=lambda r: predictor, uploader="dan",
                                      on_progress=lambda r: progress.append(r.done))
    assert (report.total, report.new, report.duplicates) == (4, 3, 0)
    assert [name for name, _ in report.errors] == ["garbage.edf"]
    assert progress == [1, 2, 3, 4]
    again = workspace.import_archive(db, buffer.getvalue(), predictor_for=lambda r: predictor, uploader="dan")
    assert (again.new, again.duplicates) == (0, 3)
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape.csv", "I,II\n1,2\n")
    with pytest.raises(ECGFormatError, match="unsafe path"):
        workspace.import_archive(db, evil.getvalue(), predictor_for=lambda r: predictor, uploader="dan")
