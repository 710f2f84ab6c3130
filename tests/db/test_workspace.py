"""Workspace actions: first admin, import with prediction, idempotent preload, worklist ordering."""

from __future__ import annotations

from pathlib import Path

import pytest

from db import dashboard_data, workspace
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
    fresh = table[table["status"] == "needs_first_review"]["record_id"].tolist()
    ranks = workspace.acquisition_ranks(db, table["record_id"].tolist())  # the acquisition order (issue 21)
    assert fresh == sorted(fresh, key=ranks.get)
    # alice already read ids[0] and ids[1]; she still sees the adjudication, not her own second review
    mine = workspace.worklist(db, reviewer="alice")
    assert ids[0] not in set(mine["record_id"]) and ids[1] in set(mine["record_id"])
    by_acquisition = workspace.worklist(db, order="uncertainty")["record_id"].tolist()
    assert by_acquisition == sorted(by_acquisition, key=ranks.get)
    with pytest.raises(ValueError, match="order must be"):
        workspace.worklist(db, order="random")


def test_upload_keeps_originals_and_bad_uploads_store_nothing(db: Database, team: dict, predictor: Predictor) -> None:
    from sqlalchemy import func, select

    from db.models import StoredRecord
    from ecgcore.errors import ECGError

    hea = SAMPLES_DIR / "ptbxl" / "00001_hr.hea"
    files = [(hea.name, hea.read_bytes()), ("00001_hr.dat", hea.with_suffix(".dat").read_bytes())]
    result, ecg = workspace.import_upload(db, files, predictor_for=lambda r: predictor, uploader="dan")
    assert result.created and result.prediction_id is not None and ecg.n_leads == 12
    with db.transaction() as session:
        row = session.get(StoredRecord, result.record_id)
        stored = sorted(p.name for p in (db.data_dir / row.storage_path / "original").iterdir())
    assert "00001_hr.hea" in stored and "00001_hr.dat" in stored
    with pytest.raises(ECGError):
        workspace.import_upload(db, [("scan.edf", b"not an edf")], predictor_for=lambda r: predictor, uploader="dan")
    with pytest.raises(ECGError, match="missing"):
        workspace.import_upload(db, files[:1], predictor_for=lambda r: predictor, uploader="dan")  # .hea alone
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(StoredRecord)) == 1


def test_preload_skips_unreadable_records(db: Database, predictor: Predictor, tmp_path: Path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text("I,II\n1,2\n")
    with pytest.warns(UserWarning, match="Demo record skipped: .*broken.csv"):
        assert workspace.preload_records(db, [bad, *_ptbxl_paths()[:1]], lambda r: predictor, read) == 1


def test_stored_prediction_round_trip_and_review_versions(db: Database, team: dict, predictor: Predictor) -> None:
    path = _ptbxl_paths()[1]
    ecg = read(path)
    result = workspace.import_ecg(db, ecg, predictor=None)
    assert result.prediction_id is None
    pid = workspace.ensure_prediction(db, result.record_id, ecg, predictor)
    assert workspace.ensure_prediction(db, result.record_id, ecg, predictor) == pid
    stored = workspace.stored_scores(db, pid)
    for finding in predictor.predict(ecg, include_untrained=True).findings:
        assert stored[finding.label][0] == pytest.approx(finding.probability, abs=1e-6)
        assert stored[finding.label][1] == pytest.approx(finding.threshold)  # the run keeps its thresholds
    assert workspace.latest_review_version(db, result.record_id, "alice") == 0
    save_review(db, result.record_id, "alice", {"NORMAL ECG": "present"}, saw_model_output=True)
    save_review(db, result.record_id, "alice", {"NORMAL ECG": "absent"}, saw_model_output=True)
    assert workspace.latest_review_version(db, result.record_id, "alice") == 2


def test_dashboard_tables_and_export_zip(db: Database, team: dict, predictor: Predictor) -> None:
    import io
    import zipfile

    ids = [workspace.import_ecg(db, read(p), predictor=predictor).record_id for p in _ptbxl_paths()[:2]]
    pid = workspace.latest_prediction_id(db, ids[0])
    p_normal, threshold_normal = workspace.stored_scores(db, pid)["NORMAL ECG"]
    model_says_normal = p_normal >= threshold_normal
    for reviewer in ("alice", "bob"):  # record 0 reaches consensus and is exported
        save_review(db, ids[0], reviewer, {"NORMAL ECG": "present"}, saw_model_output=True, prediction_id=pid)
    save_review(db, ids[1], "alice", {"NORMAL ECG": "absent"}, saw_model_output=False)
    save_review(db, ids[1], "carol", {"NORMAL ECG": "absent", "ATRIAL FIBRILLATION": "uncertain"}, saw_model_output=True)
    table = dashboard_data.reviewer_model_confusion(db)
    alice = table[(table["reviewer"] == "alice") & (table["label"] == "NORMAL ECG")].iloc[0]
    assert int(alice[["both_present", "reviewer_only", "model_only", "both_absent"]].sum()) == 2
    assert alice["both_present"] + alice["reviewer_only"] == 1  # one "present" verdict
    assert alice["both_present"] == int(model_says_normal)  # against the prediction she saw
    assert "ATRIAL FIBRILLATION" not in set(table["label"])  # uncertain verdicts are left out
    csv_text = dashboard_data.verdicts_csv(db, actor="alice")
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


# -- worklist: the model score, who sees it, what is listed (issue 15, item 12) -------------
NORMAL, AFIB, LAD, BRADY = "NORMAL ECG", "ATRIAL FIBRILLATION", "LEFT AXIS DEVIATION", "SINUS BRADYCARDIA"


def _scored_records(db: Database, runs: list[dict[str, tuple[float, float]]]) -> list[int]:
    """One PTB-XL sample record per run, uploaded in this order, each with a model run of
    ``{label: (probability, threshold)}`` by model ``m`` version ``1``."""
    from db.records import add_prediction

    ids = []
    for path, run in zip(_ptbxl_paths(), runs, strict=False):
        record_id = workspace.import_ecg(db, read(path), predictor=None).record_id
        add_prediction(db, record_id, "m", "1", {k: p for k, (p, _) in run.items()},
                       {k: t for k, (_, t) in run.items()})
        ids.append(record_id)
    return ids


def test_model_uncertainty_is_the_odds_ratio_to_the_nearest_threshold_of_a_shown_label(db: Database) -> None:
    import math

    ids = _scored_records(db, [
        {NORMAL: (0.09, 0.05), AFIB: (0.001, 0.2), BRADY: (0.5, 0.5)},   # BRADY untrained, on its threshold
        {NORMAL: (0.65, 0.5), AFIB: (0.999, 0.9), BRADY: (0.51, 0.5)},
        {NORMAL: (0.3, 0.3), AFIB: (0.0, 0.0), BRADY: (0.9, 0.5)},       # NORMAL exactly on its threshold
    ])
    shown = {("m", "1"): (NORMAL, AFIB, LAD)}
    score = workspace.model_uncertainty(db, shown_labels=shown)

    def odds(x: float) -> float:
        return x / (1 - x)

    assert score[ids[0]] == pytest.approx(odds(0.05) / odds(0.09))  # 0.53, BRADY's 0.5 left out
    assert score[ids[1]] == pytest.approx(odds(0.5) / odds(0.65))   # 0.54: as close a call as record 0
    assert score[ids[2]] == pytest.approx(1.0)
    assert all(0 <= v <= 1 and math.isfinite(v) for v in score)  # thresholds of 0 are clipped, not infinite
    # a model not found among the shown labels counts every label it scored: BRADY on its threshold
    assert workspace.model_uncertainty(db, shown_labels={})[ids[0]] == pytest.approx(1.0)


def test_installed_trained_labels_reads_the_cards(tmp_path: Path, predictor: Predictor) -> None:
    from tests.ecgcore.helpers import TINY_LABELS

    tiny_bundle(tmp_path / "models" / "tiny", name="tiny-a")
    found = workspace.installed_trained_labels(tmp_path / "models")
    assert list(found) == [("tiny-a", predictor.card.version)]
    assert found[("tiny-a", predictor.card.version)] == tuple(TINY_LABELS[:3])


@pytest.fixture(scope="module")
def shipped_models() -> dict[int, Predictor]:
    from tests.conftest import REPO_ROOT

    return {n: Predictor(REPO_ROOT / "models" / f"net1d-small-{n}lead-default") for n in (1, 12)}


def test_demo_worklist_holds_each_ecg_once_with_scores_that_spread(db: Database,
                                                                    shipped_models: dict[int, Predictor]) -> None:
    """The preloaded demo records (app.services.database) with the shipped default models."""
    import numpy as np

    from db.records import list_records, load_ecg
    from ecgcore.demo import demo_records, samples_dir

    names = demo_records()
    assert not [n for n in names if n.startswith("demo/")]  # the format copies of PTB-XL 00001 / CinC A00054
    models = shipped_models
    new = workspace.preload_records(db, [samples_dir() / n for n in names],
                                    lambda ecg: models[1 if ecg.n_leads == 1 else 12], read)
    assert new == len(names)  # no two demo files hash alike ...
    signals = [load_ecg(db, row) for row in list_records(db)]
    for i, a in enumerate(signals):  # ... nor are two of them the same ECG up to a format's rounding
        for b in signals[i + 1:]:
            same_shape = (a.fs, a.leads, a.signal.shape) == (b.fs, b.leads, b.signal.shape)
            assert not (same_shape and np.abs(a.signal - b.signal).max() < 1e-3), (a.record_name, b.record_name)
    table = workspace.worklist(db, order="uncertainty")
    assert len(table) == len(names) and table["record_id"].is_unique
    scores = table["uncertainty"]
    assert scores.notna().all() and scores.between(0, 1).all()
    # The former score read 0.993-1.000 for every demo record; this one must tell records apart.
    assert scores.max() - scores.min() > 0.5 and scores.std() > 0.15, scores.round(3).tolist()
    assert scores.round(2).nunique() >= len(scores) - 2


def test_only_unread_means_unread_and_adjudicators_get_their_own_list(db: Database, team: dict) -> None:
    from db.errors import PermissionDeniedError

    ids = _scored_records(db, [{NORMAL: (0.5, 0.5)}] * 3)
    save_review(db, ids[0], "alice", {NORMAL: "present"}, saw_model_output=True)
    save_review(db, ids[0], "bob", {NORMAL: "absent"}, saw_model_output=True)  # needs adjudication
    save_review(db, ids[1], "dan", {NORMAL: "present"}, saw_model_output=False)
    save_review(db, ids[0], "dan", {NORMAL: "uncertain"}, saw_model_output=False)  # still unresolved

    def listed(**kwargs) -> list[int]:  # noqa: ANN003
        return sorted(workspace.worklist(db, **kwargs)["record_id"])

    assert listed(reviewer="alice", scope="unread") == [ids[1], ids[2]]  # not the adjudication she read
    assert listed(reviewer="alice", scope="adjudication") == [ids[0]]
    assert listed(reviewer="alice") == ids  # her tasks (the review page's "next"): unread + adjudication
    assert listed(reviewer="dan", scope="unread") == [ids[2]]
    assert listed(reviewer="dan") == [ids[2]]  # an annotator cannot adjudicate: not among his tasks
    with pytest.raises(PermissionDeniedError):
        workspace.worklist(db, reviewer="dan", scope="adjudication")
    assert listed(reviewer="dan", scope="all") == listed() == ids
    assert listed(reviewer="demo visitor", role="viewer", scope="unread") == ids  # no account: read nothing
    with pytest.raises(ValueError, match="needs a reviewer"):
        workspace.worklist(db, scope="unread")
    with pytest.raises(ValueError, match="scope must be"):
        workspace.worklist(db, reviewer="alice", scope="mine")


def test_blinded_annotator_sees_no_score_of_unread_records_nor_its_order(db: Database, team: dict) -> None:
    # uploaded in this order; the model is least sure about the last one
    ids = _scored_records(db, [{NORMAL: (0.01, 0.5)}, {NORMAL: (0.2, 0.5)}, {NORMAL: (0.45, 0.5)}])
    cardiologist = workspace.worklist(db, reviewer="alice", order="uncertainty")
    ranks = workspace.acquisition_ranks(db, ids)  # the acquisition order (issue 21): least sure first
    assert cardiologist["record_id"].tolist() == sorted(ids, key=ranks.get) and cardiologist["record_id"][0] == ids[2]
    assert cardiologist["uncertainty"].notna().all()
    for order in ("uncertainty", "priority"):
        annotator = workspace.worklist(db, reviewer="dan", order=order)
        assert annotator["uncertainty"].isna().all()
        assert annotator["record_id"].tolist() == ids  # by upload time: the order tells nothing either
    assert workspace.worklist(db, role="annotator")["uncertainty"].isna().all()
    save_review(db, ids[0], "dan", {NORMAL: "absent"}, saw_model_output=False)
    mine = workspace.worklist(db, reviewer="dan", scope="all", order="uncertainty").set_index("record_id")
    assert mine.loc[ids[0], "uncertainty"] > 0  # his own reading saved: the score is his to see
    assert mine.loc[ids[1:], "uncertainty"].isna().all()


def test_bulk_import_names_a_bad_file_once(db: Database, team: dict, predictor: Predictor) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("batch/textnums.csv", "I,II\na,b\nc,d\n")
    report = workspace.import_archive(db, buffer.getvalue(), predictor_for=lambda r: predictor, uploader="dan")
    [line] = report.error_lines()
    assert line.startswith("textnums.csv: column 'I' has a non-numeric value") and line.count("textnums.csv") == 1
    report.errors.append(("other.csv", "the file is empty"))  # a message that does not name its file
    assert report.error_lines()[-1] == "other.csv: the file is empty"
