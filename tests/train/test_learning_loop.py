"""The learning loop end to end (issue #21): reviews in a store -> candidate bundle -> comparison ->
promotion -> the Predictor serves it -> rollback, with a tiny network on real PTB-XL records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from db import audit, model_registry
from db.export import export_expert_review, load_expert_review_export
from db.records import add_prediction, load_ecg, predictions_for
from db.session import Database
from ecgcore.bundle import load_bundle, load_card
from ecgcore.predict import Predictor
from tests.train.loop_helpers import (
    LOOP_LABELS,
    TRAINED,
    labelled_ptbxl,
    reference_set,
    rehearsal_set,
    reviewed_store,
    tiny_base_bundle,
)
from train.augment import NO_AUGMENT
from train.candidate import CandidateCancelled, CandidateConfig, holdout_split, train_candidate
from train.compare import comparison_table, expected_calibration_error

FAST = {"epochs": 2, "batch_size": 8, "lr": 1e-3, "n_boot": 40, "augment": NO_AUGMENT}


def _store_prediction(db: Database, predictor: Predictor, record_id: int):
    """Run ``predictor`` on a stored record and store the run under the predictor's name and version."""
    probabilities = predictor.probabilities(predictor.prepare(load_ecg(db, record_id))[np.newaxis])[0]
    return add_prediction(db, record_id, predictor.card.name, predictor.card.version,
                          dict(zip(predictor.labels, probabilities)), dict(zip(predictor.labels, predictor.thresholds)))


@pytest.fixture
def loop(tmp_path, ptbxl_root, monkeypatch):
    """A store with 16 reviewed real records of 8 patients, the tiny shipped default, a reference and a
    rehearsal set, and the export of the reviews."""
    models = tmp_path / "models"
    monkeypatch.setenv("ECG_MODEL_DIR", str(models))
    monkeypatch.delenv("ECG_DEFAULT_MODEL", raising=False)
    base = tiny_base_bundle(models / "tiny-loop-default")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("ECG_DB_URL", url)
    monkeypatch.setenv("ECG_DATA_DIR", str(tmp_path / "data"))
    for var in ("ECG_CANDIDATES_DIR", "ECG_REHEARSAL_SET", "ECG_REFERENCE_TEST_SET"):
        monkeypatch.delenv(var, raising=False)
    db = Database(url, data_dir_path=tmp_path / "data")
    ids = reviewed_store(db, labelled_ptbxl(ptbxl_root, 0, 16))
    export = export_expert_review(db, tmp_path / "export", exported_by="alice")
    yield {"db": db, "ids": ids, "base": base, "export": export, "candidates": models / "candidates",
           "reference": reference_set(ptbxl_root, tmp_path / "reference"),
           "rehearsal": rehearsal_set(ptbxl_root, tmp_path / "rehearsal").path}
    db.dispose()


@pytest.mark.slow
def test_reviews_to_candidate_to_promotion_to_rollback(loop):
    db = loop["db"]
    stages = []
    result = train_candidate(loop["export"], loop["base"], loop["candidates"], rehearsal_set=loop["rehearsal"],
                             reference_set=loop["reference"], config=CandidateConfig(**FAST), started_by="alice",
                             on_progress=lambda fraction, stage: stages.append((fraction, stage)))

    # the candidate bundle: next minor version, in the candidates folder, loadable, not the default
    assert result.bundle_dir == loop["candidates"] / "tiny-loop-1.1.0"
    candidate = load_bundle(result.bundle_dir)
    assert candidate.card.version == "1.1.0" and not candidate.card.default
    assert candidate.card.labels == LOOP_LABELS and candidate.card.trained_labels == TRAINED
    base = load_bundle(loop["base"])
    changed = [k for k in base.model.state_dict() if not np.array_equal(base.model.state_dict()[k].numpy(),
                                                                         candidate.model.state_dict()[k].numpy())]
    assert changed, "fine-tuning changed no weight"
    assert [f for f, _ in stages] == sorted(f for f, _ in stages) and stages[-1][0] == 1.0
    assert any("fine-tuning" in stage for _, stage in stages)

    # lineage: the reviews (their versions), the base, the code, the data sets, the patient-disjoint hold-out
    lineage = candidate.card.training["lineage"]
    manifest = json.loads((loop["export"] / "manifest.json").read_text())
    assert lineage["reviews"]["review_versions"] == manifest["reviews"] and len(manifest["reviews"]) == 32
    assert {r["reviewer"] for r in manifest["reviews"]} == {"alice", "bob"}
    assert lineage["base_model"]["name"] == "tiny-loop" and lineage["base_model"]["version"] == "1.0.0"
    assert lineage["base_model"]["weights_sha256"] == base.card.weights_sha256
    assert lineage["code_version"] and lineage["started_by"] == "alice"
    assert lineage["rehearsal_set"]["n_records"] == 10 and lineage["reference_test_set"]["n_records"] == 10
    assert "PTB-XL records 41-50" in lineage["reference_test_set"]["description"]
    holdout = lineage["holdout"]
    assert holdout["patient_disjoint"] and 0 < len(holdout["records"]) < 16
    table = pd.read_csv(loop["export"] / "labels.csv", dtype=str)
    held_patients = set(table[table["record"].isin(holdout["records"])]["patient_key"])
    train_patients = set(table[~table["record"].isin(holdout["records"])]["patient_key"])
    assert held_patients and train_patients and not held_patients & train_patients
    assert candidate.card.training["n_train"] == candidate.card.training["n_train_reviewed"] + 10

    # the comparison: both sets, per-label AUROC with CIs and paired differences, calibration, changed calls
    comparison = candidate.card.metrics["comparison"]
    assert set(comparison["sets"]) == {"holdout", "reference"}
    assert "embedding" not in candidate.card.ood  # the base's feature space is not the candidate's
    assert comparison["sets"]["holdout"]["n_records"] == len(holdout["records"])
    assert comparison["sets"]["reference"]["n_records"] == 10
    rows = comparison["per_label"]
    assert rows and {r["label"] for r in rows} <= set(TRAINED)
    for row in rows:
        assert row["diff_ci"][0] <= row["diff"] <= row["diff_ci"][1]
        assert row["diff"] == pytest.approx(row["auroc_candidate"] - row["auroc_base"])
        assert 0 <= row["brier_base"] <= 1 and 0 <= row["ece_candidate"] <= 1
    display = comparison_table(comparison)
    assert list(display["set"].unique()) == sorted({r["set"] for r in rows})
    for call in comparison["changed_calls"]:
        assert call["call_base"] != call["call_candidate"]
        assert call["outcome"] in ("fixed", "broken", "no consensus")
    assert comparison["sets"]["reference"]["n_changed_calls"] == sum(
        c["set"] == "reference" for c in comparison["changed_calls"])

    # before promotion the shipped default serves; its predictions are stored under its version
    record_id = loop["ids"][0]
    assert model_registry.default_bundle(db, 12) == loop["base"]
    before = Predictor(model_registry.default_bundle(db, 12))
    old = _store_prediction(db, before, record_id)

    # promotion (by an admin only; the refusal rule applies), then the Predictor serves the candidate
    with pytest.raises(Exception, match="only admin"):
        model_registry.promote(db, result.bundle_dir, actor="alice")
    worse = model_registry.worse_claimed_labels(candidate.card)
    decision = model_registry.promote(db, result.bundle_dir, actor="erin",
                                      override_reason="accepted in the test" if worse else None)
    served = Predictor(model_registry.default_bundle(db, 12))
    assert served.card.name == "tiny-loop" and served.card.version == decision.model_version
    assert decision.model_version == ("1.1.1" if worse else "1.1.0")
    new = _store_prediction(db, served, record_id)
    runs = predictions_for(db, record_id)
    assert [(r.id, r.model_version) for r in runs] == [(new.id, decision.model_version), (old.id, "1.0.0")]
    assert model_registry.status_of(db, result.bundle_dir, 12) == "default"

    # rollback to the shipped default, then to the candidate again: every step a row and an audit event
    model_registry.rollback(db, actor="erin")
    assert model_registry.default_bundle(db, 12) == loop["base"]
    assert Predictor(model_registry.default_bundle(db, 12)).card.version == "1.0.0"
    [target] = model_registry.rollback_targets(db, 12)
    assert target.id == decision.id
    model_registry.rollback(db, actor="erin", to=decision.id)
    assert Predictor(model_registry.default_bundle(db, 12)).card.version == decision.model_version
    assert [d.action for d in model_registry.history(db)] == ["rollback", "rollback", "promote"]
    assert [e.action for e in audit.events(db) if e.action.startswith("model_")] == [
        "model_rollback", "model_rollback", "model_promote"]
    assert len(load_expert_review_export(loop["export"])) == 16


def test_holdout_split_keeps_patients_apart_and_needs_two():
    patients = ["a", "a", "b", "b", "c", "d", "d", "e", "f", "f"]
    train, held = holdout_split(patients, 0.3, seed=1)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(10))
    assert not {patients[i] for i in train} & {patients[i] for i in held}
    with pytest.raises(ValueError, match="at least two patients"):
        holdout_split(["a", "a", "a"], 0.3)
    with pytest.raises(ValueError, match="holdout_fraction"):
        CandidateConfig(holdout_fraction=1.0)


def test_calibration_error_is_zero_when_rates_match_and_large_when_reversed():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    p = np.array([0.05] * 3 + [0.95] * 4 + [0.95])
    assert expected_calibration_error(np.array([0, 1] * 5), np.full(10, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, p) < expected_calibration_error(y, 1 - p)


@pytest.mark.slow
def test_cancelled_candidate_leaves_nothing(loop):
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(CandidateCancelled):
        train_candidate(loop["export"], loop["base"], loop["candidates"], config=CandidateConfig(**FAST),
                        should_stop=stop)
    assert list(loop["candidates"].iterdir()) == []
    assert load_card(loop["base"]).version == "1.0.0"


@pytest.mark.slow
def test_command_line_from_reviews_to_promotion_and_rollback(loop, capsys, monkeypatch):
    from db.__main__ import main as db_main
    from train.__main__ import main as train_main

    monkeypatch.setenv("ECG_REFERENCE_TEST_SET", str(loop["reference"]))
    assert train_main(["from-reviews", "--by", "dan"]) == 1  # nobody of that name
    assert train_main(["from-reviews", "--by", "vic", "--epochs", "1"]) == 1
    assert "only cardiologist, admin may train a candidate" in capsys.readouterr().err
    assert train_main(["from-reviews", "--by", "alice", "--epochs", "1", "--batch-size", "8", "--n-boot", "20",
                       "--rehearsal-set", str(loop["rehearsal"])]) == 0
    out = capsys.readouterr().out
    bundle = loop["candidates"] / "tiny-loop-1.1.0"
    assert f"candidate: {bundle}" in out and "reference: macro AUROC" in out and "difference 95% CI" in out
    card = load_card(bundle)
    assert card.training["lineage"]["reference_test_set"]["path"] == str(loop["reference"])
    assert card.training["lineage"]["reviews"]["exported_by"] == "alice"
    assert Path(card.training["lineage"]["reviews"]["export"]).parent == loop["candidates"] / "exports"
    assert audit.events(loop["db"], action="model_candidate")[0].target == "model:tiny-loop:1.1.0"

    assert db_main(["models", "promote", str(bundle), "--by", "alice"]) == 1
    assert "only admin may promote" in capsys.readouterr().err
    override = ["--override-reason", "CLI test"] if model_registry.worse_claimed_labels(card) else []
    assert db_main(["models", "promote", str(bundle), "--by", "erin", *override]) == 0
    assert "is now the default 12-lead model" in capsys.readouterr().out
    assert db_main(["models", "default"]) == 0
    assert capsys.readouterr().out.strip() == str(bundle)
    assert db_main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "candidate tiny-loop v1.1" in listing and ": default" in listing and "erin promote" in listing
    assert db_main(["models", "rollback", "--by", "erin"]) == 0
    assert db_main(["models", "default"]) == 0
    assert capsys.readouterr().out.strip().endswith(str(loop["base"]))


@pytest.mark.slow
def test_a_seed_ensemble_is_fine_tuned_member_by_member(loop, tmp_path):
    import torch

    from ecgcore.bundle import make_card, save_bundle
    from ecgcore.model import create_model

    members = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        members.append(create_model("net1d-tiny", n_classes=len(LOOP_LABELS)))
    card = make_card("tiny-ensemble", members[0], LOOP_LABELS, version="2.0.0", trained_labels=TRAINED)
    base = save_bundle(members, card, tmp_path / "ensemble")
    torch.set_num_threads(2)
    result = train_candidate(loop["export"], base, tmp_path / "candidates", config=CandidateConfig(**FAST))
    assert torch.get_num_threads() == 2  # fine-tuned on one thread; the process (the app) gets its threads back
    candidate = load_bundle(result.bundle_dir)
    assert candidate.card.n_networks == 2 and candidate.card.version == "2.1.0"
    for before, after in zip(load_bundle(base).networks, candidate.networks, strict=True):
        assert not torch.equal(before.dense.weight, after.dense.weight)
    assert candidate.card.metrics["comparison"]["sets"]["holdout"]["n_records"] > 0


@pytest.mark.slow
def test_the_single_lead_default_learns_from_lead_i_of_the_reviews(loop):
    from train.candidate import candidate_from_store

    single = tiny_base_bundle(loop["base"].parent / "tiny-loop-1lead", in_leads=("I",))
    assert model_registry.default_bundle(loop["db"], 1) == single
    result = candidate_from_store(loop["db"], actor="alice", n_leads=1, config=CandidateConfig(**FAST))
    candidate = load_bundle(result.bundle_dir)
    assert candidate.card.input_leads == ["I"] and candidate.card.training["lineage"]["base_model"]["path"] == str(single)
    assert model_registry.status_of(loop["db"], result.bundle_dir, 1) == "awaiting decision"


def test_a_candidate_card_keeps_the_base_models_validated_labels(tmp_path: Path) -> None:
    """Which labels a candidate may call positive follows its base model's evaluation (as its thresholds
    and calibration do); the base's embedding reference, which describes other weights, is dropped."""
    from ecgcore.consistency import validated_labels
    from train.candidate import _candidate_card

    base = load_bundle(Path(__file__).resolve().parents[2] / "models" / "net1d-small-12lead-default")
    (tmp_path / "manifest.json").write_text(json.dumps({"created_at": "now", "reviews": []}))
    card = _candidate_card(base, "9.0.0", tmp_path, CandidateConfig(), "carla", n_train=10, n_train_reviewed=10,
                           holdout=["a"], patient_disjoint=True, rehearsal=None, reference=None)
    assert validated_labels(card) == validated_labels(base.card) and len(validated_labels(card)) == 12
    assert card.calibration == base.card.calibration and card.thresholds == base.card.thresholds
    assert "embedding" not in card.ood and card.ood["fs_hz"] == base.card.ood["fs_hz"]
