"""The Models page's Candidates section (issue #21) through AppTest: who may start, see, promote, roll back."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from app import jobs, services
from app.views.candidates import JOB_KEY
from db import model_registry
from db.session import Database
from ecgcore.bundle import load_card, update_card
from tests.app.conftest import view_as
from tests.train.loop_helpers import tiny_base_bundle

WORSE = {"set": "holdout", "label": "NORMAL ECG", "n": 30, "positives": 12, "auroc_base": 0.81,
         "auroc_base_ci": [0.7, 0.9], "auroc_candidate": 0.62, "auroc_candidate_ci": [0.5, 0.75], "diff": -0.19,
         "diff_ci": [-0.31, -0.06], "brier_base": 0.2, "brier_candidate": 0.25, "ece_base": 0.1, "ece_candidate": 0.2}
BETTER = {**WORSE, "label": "SINUS RHYTHM", "auroc_candidate": 0.9, "diff": 0.09, "diff_ci": [0.01, 0.17]}


@pytest.fixture()
def candidate(env: dict, team: Database):
    """A candidate bundle in the candidates folder whose card holds a comparison (as train.compare writes it)."""
    path = tiny_base_bundle(env["tmp"] / "models" / "candidates" / "tiny-loop-1.1.0", default=False)
    update_card(path, version="1.1.0", metrics={"comparison": {
        "base": {"name": "tiny-test", "version": "0.1.0"}, "claimed_labels": ["NORMAL ECG", "SINUS RHYTHM"],
        "n_boot": 500, "per_label": [WORSE, BETTER],
        "sets": {"holdout": {"n_records": 30, "macro_auroc_base": 0.8, "macro_auroc_candidate": 0.76,
                             "macro_diff": -0.05, "macro_diff_ci": [-0.12, 0.02], "n_changed_calls": 1}},
        "n_changed_calls": 1,
        "changed_calls": [{"set": "holdout", "record": "ecg000001", "label": "NORMAL ECG", "probability_base": 0.7,
                           "probability_candidate": 0.3, "call_base": True, "call_candidate": False,
                           "consensus": 1, "outcome": "broken"}]}},
        training={"lineage": {"base_model": {"name": "tiny-test", "version": "0.1.0"}}})
    return path


def _page(name: str, role: str) -> AppTest:
    at = view_as("model_card", name, role).run()
    assert not at.exception, at.exception
    return at


def _text(at: AppTest) -> str:
    parts = [e.value for kind in ("header", "subheader", "markdown", "caption", "info", "error", "success", "warning")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts) + "\n".join(df.value.to_csv() for df in at.dataframe)


def _buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def test_annotators_and_viewers_see_candidates_but_cannot_start_or_decide(candidate) -> None:
    for name, role in (("anna", "annotator"), ("vince", "viewer")):
        at = _page(name, role)
        text = _text(at)
        assert "Candidates from the reviews" in text and "the shipped default" in text
        assert "NORMAL ECG" in text and "-0.310 to -0.060" in text  # the comparison, with the paired CI
        assert not {"Train a candidate", "Promote to default", "Reject", "Roll back"} & set(_buttons(at))


def test_a_cardiologist_tries_a_candidate_in_the_session_only(candidate) -> None:
    at = _page("carla", "cardiologist")
    assert "Promote to default" not in _buttons(at)
    at.button(key=f"try_{candidate.name}").click().run()
    assert not at.exception, at.exception
    assert at.session_state["active_bundles"] == {12: str(candidate)}
    assert "In use for 12-lead records in this session only" in _text(at)
    assert "the shipped default" in _text(at)  # nobody else's default changed


def test_a_cardiologist_starts_a_candidate_and_sees_why_it_failed(env: dict, team: Database) -> None:
    at = _page("carla", "cardiologist")
    assert "Train a candidate" in _buttons(at) and "Promote to default" not in _buttons(at)
    at.button(key="candidate_start").click().run()
    job_id = at.session_state[JOB_KEY]
    deadline = time.time() + 60
    while not jobs.get(job_id).done and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    assert not at.exception, at.exception
    # the demo store has no reviewed records yet: the job says so, and the page stays usable
    assert "The candidate was not made" in _text(at) and "no usable records" in _text(at)
    assert "Train a candidate" in _buttons(at)


def test_the_admin_promotes_only_with_a_reason_and_rolls_back(candidate, team: Database) -> None:
    at = _page("root", "admin")
    assert "Worse than the current model beyond the CI on claimed label(s): NORMAL ECG" in _text(at)
    promote = at.button(key=f"promote_{candidate.name}")
    assert promote.disabled  # no reason stated yet
    at.text_input(key=f"override_{candidate.name}").input("local AF cases matter more").run()
    at.button(key=f"promote_{candidate.name}").click().run()
    assert not at.exception, at.exception
    decision = model_registry.current_default(team, 12)
    assert decision.override_reason == "local AF cases matter more" and decision.user == "root"
    assert load_card(candidate).training["promotion_override"]["reason"] == "local AF cases matter more"
    assert services.predictor(12, team).card.version == "1.1.1"  # what every page serves from now on

    at = _page("root", "admin")
    assert "tiny-loop v1.1.1" in _text(at) and "promote" in _text(at)
    at.selectbox(key="rollback_to").set_value(None)
    at.button(key="rollback").click().run()
    assert not at.exception, at.exception
    assert model_registry.current_default(team, 12).action == "rollback"
    assert services.predictor(12, team).card.name == "tiny-test"
