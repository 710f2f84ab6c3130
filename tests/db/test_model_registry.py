"""The model registry (issue #21 part 4): who decides which model serves, the refusal rule, rollback."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from db import audit, model_registry
from db.errors import ImmutableHistoryError, InvalidInputError, NotFoundError, PermissionDeniedError
from db.model_registry import BundleChangedError, PromotionRefusedError
from db.models import ModelPromotion
from ecgcore.bundle import load_card, update_card
from tests.train.loop_helpers import tiny_base_bundle

CLAIMED, UNCLAIMED = "NORMAL ECG", "LEFT AXIS DEVIATION"  # the tiny model's first and untrained labels


def _row(label: str, diff: float, ci: tuple[float, float], set_name: str = "holdout") -> dict:
    return {"set": set_name, "label": label, "n": 40, "positives": 10, "auroc_base": 0.8, "auroc_base_ci": [0.7, 0.9],
            "auroc_candidate": 0.8 + diff, "auroc_candidate_ci": [0.6, 0.9], "diff": diff, "diff_ci": list(ci)}


def _candidate(path, rows: list[dict], seed: int = 1):
    """A tiny bundle whose card carries a comparison with ``rows`` (as train.compare writes it)."""
    tiny_base_bundle(path, seed=seed, default=False)
    update_card(path, version="1.1.0", metrics={"comparison": {
        "base": {"name": "tiny-loop", "version": "1.0.0"}, "claimed_labels": [CLAIMED], "per_label": rows,
        "sets": {"holdout": {"n_records": 40}}}})
    return path


@pytest.fixture
def models(tmp_path, monkeypatch, team):
    monkeypatch.setenv("ECG_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("ECG_DEFAULT_MODEL", raising=False)
    shipped = tiny_base_bundle(tmp_path / "models" / "shipped")
    return {"shipped": shipped, "candidates": tmp_path / "models" / "candidates"}


def test_worse_on_a_claimed_label_is_refused_without_an_override_stated_in_the_card(db, models):
    candidate = _candidate(models["candidates"] / "tiny-loop-1.1.0", [_row(CLAIMED, -0.2, (-0.35, -0.05)),
                                                                     _row("ABNORMAL ECG", 0.05, (-0.02, 0.1))])
    assert [r["label"] for r in model_registry.worse_claimed_labels(load_card(candidate))] == [CLAIMED]
    with pytest.raises(PromotionRefusedError, match=r"NORMAL ECG on holdout \(-0.200, CI -0.350 to -0.050\)"):
        model_registry.promote(db, candidate, actor="erin")
    assert model_registry.history(db) == [] and load_card(candidate).version == "1.1.0"
    assert model_registry.default_bundle(db, 12) == models["shipped"]

    decision = model_registry.promote(db, candidate, actor="erin", override_reason="AF sensitivity matters more here")
    card = load_card(candidate)
    assert card.training["promotion_override"]["reason"] == "AF sensitivity matters more here"
    assert card.training["promotion_override"]["by"] == "erin"
    assert card.training["promotion_override"]["worse_labels"] == [f"{CLAIMED} (holdout)"]
    assert card.version == decision.model_version == "1.1.1"  # the card changed: a patch version, same weights
    assert decision.override_reason == "AF sensitivity matters more here" and decision.user == "erin"
    assert decision.comparison["worse_labels"] == [f"{CLAIMED} (holdout)"]
    assert model_registry.default_bundle(db, 12) == candidate
    event = audit.events(db, action="model_promote")[0]
    assert event.details["override_reason"] == "AF sensitivity matters more here"
    assert event.target == "model:tiny-loop:1.1.1"


def test_worse_only_on_an_unclaimed_label_or_within_the_ci_is_promoted(db, models):
    candidate = _candidate(models["candidates"] / "c", [_row(UNCLAIMED, -0.3, (-0.4, -0.2)),
                                                        _row(CLAIMED, -0.1, (-0.3, 0.05), "reference")])
    assert model_registry.worse_claimed_labels(load_card(candidate)) == []
    with pytest.raises(InvalidInputError, match="only taken when the refusal rule applies"):
        model_registry.promote(db, candidate, actor="erin", override_reason="not needed")
    decision = model_registry.promote(db, candidate, actor="erin")
    assert decision.override_reason is None and decision.model_version == "1.1.0"
    with pytest.raises(InvalidInputError, match="already the default"):
        model_registry.promote(db, candidate, actor="erin")


@pytest.mark.parametrize("who", ["alice", "dan", "vic"])
def test_only_an_admin_decides(db, models, who):
    candidate = _candidate(models["candidates"] / "c", [])
    for decide in (lambda: model_registry.promote(db, candidate, actor=who),
                   lambda: model_registry.reject(db, candidate, actor=who),
                   lambda: model_registry.rollback(db, actor=who, to=1)):
        with pytest.raises(PermissionDeniedError, match="only admin"):
            decide()
    assert model_registry.history(db) == []


def test_reject_and_rollback_keep_every_step(db, models):
    first = _candidate(models["candidates"] / "first", [], seed=1)
    second = _candidate(models["candidates"] / "second", [], seed=2)
    with pytest.raises(InvalidInputError, match="nothing to roll back"):
        model_registry.rollback(db, actor="erin")
    model_registry.reject(db, second, actor="erin", reason="trained on too few records")
    assert model_registry.status_of(db, second, 12) == "rejected"
    assert model_registry.status_of(db, first, 12) == "awaiting decision"
    promoted = model_registry.promote(db, first, actor="erin")
    with pytest.raises(InvalidInputError, match="roll back to another version first"):
        model_registry.reject(db, first, actor="erin")
    model_registry.promote(db, second, actor="erin")
    assert model_registry.status_of(db, first, 12) == "promoted earlier"
    assert [t.id for t in model_registry.rollback_targets(db, 12)] == [promoted.id]
    with pytest.raises(NotFoundError, match="No earlier default with decision id 999"):
        model_registry.rollback(db, actor="erin", to=999)
    model_registry.rollback(db, actor="erin", to=promoted.id)
    assert model_registry.default_bundle(db, 12) == first
    model_registry.rollback(db, actor="erin")
    assert model_registry.default_bundle(db, 12) == models["shipped"]
    assert [d.action for d in model_registry.history(db)] == ["rollback", "rollback", "promote", "promote", "reject"]
    assert model_registry.history(db)[-1].override_reason == "trained on too few records"
    assert [e.action for e in audit.events(db) if e.action.startswith("model_")] == [
        "model_rollback", "model_rollback", "model_promote", "model_promote", "model_reject"]
    with pytest.raises(ImmutableHistoryError), db.transaction() as session:
        session.execute(update(ModelPromotion).values(model_version="9.9.9"))


def test_replaced_weights_are_never_served(db, models):
    candidate = _candidate(models["candidates"] / "c", [])
    model_registry.promote(db, candidate, actor="erin")
    weights = candidate / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(BundleChangedError, match="replaced after promotion"):
        model_registry.default_bundle(db, 12)
    with pytest.raises(InvalidInputError, match="do not match the sha256"):
        model_registry.promote(db, candidate, actor="erin")
    model_registry.rollback(db, actor="erin")  # the way out: back to the shipped default
    assert model_registry.default_bundle(db, 12) == models["shipped"]


def test_a_store_without_decisions_serves_the_shipped_default(db, models):
    assert model_registry.registered_default(db, 12) is None
    assert model_registry.default_bundle(db, 12) == models["shipped"] == model_registry.default_bundle(None, 12)
    assert model_registry.candidates(models["candidates"]) == []
