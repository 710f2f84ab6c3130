"""The verdict form asks without suggesting (issue 20): no answer pre-selected, the model's call beside
each finding, an answer needed for each, contradictions warned about, no fragments to add."""

from __future__ import annotations

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from db.models import Review
from db.records import add_record
from db.session import Database
from ecgcore.io import read
from ecgcore.labels import is_fragment
from tests.app.conftest import view_as
from tests.conftest import SAMPLES_DIR


def _open(db: Database) -> tuple[AppTest, int]:
    record_id = add_record(db, read(SAMPLES_DIR / "ptbxl" / "00001_hr.hea"), uploader="carla")[0].id
    at = view_as("review", "carla", "cardiologist")
    at.session_state["record_id"] = record_id
    at.run()
    assert not at.exception, at.exception
    return at, record_id


def _save(at: AppTest) -> None:
    [b for b in at.button if b.label == "Save verdict"][0].click().run()
    assert not at.exception, at.exception


def _verdict_radios(at: AppTest, record_id: int) -> list:
    return [r for r in at.radio if str(r.key).startswith(f"v_{record_id}_")]


def test_nothing_is_preselected_and_the_model_call_is_beside_each_label(team: Database) -> None:
    at, record_id = _open(team)
    radios = _verdict_radios(at, record_id)
    assert radios and all(r.value is None for r in radios)
    assert all("model: " in r.label and "p = " in r.label for r in radios)
    assert any(r.label.startswith("**Normal ECG**") for r in radios)  # sentence case
    _save(at)
    assert at.error and "no answer yet for" in at.error[0].value and "Normal ECG" in at.error[0].value
    with team.transaction() as session:
        assert session.scalars(select(Review)).all() == []
    for radio in _verdict_radios(at, record_id):
        radio.set_value("absent")
    _save(at)
    assert at.success, [e.value for e in at.error]
    assert "version 1" in at.success[0].value and "agree with the model" in at.success[0].value
    # editing: the form starts from the reviewer's own saved answers
    at.run()
    assert all(r.value == "absent" for r in _verdict_radios(at, record_id))


def test_contradicting_answers_are_warned_about_before_saving(team: Database) -> None:
    at, record_id = _open(team)
    for radio in _verdict_radios(at, record_id):
        radio.set_value("present")  # NORMAL ECG present beside ATRIAL FIBRILLATION
    _save(at)
    assert at.warning and "contradict" in at.warning[0].value and "NORMAL ECG" in at.warning[0].value
    with team.transaction() as session:
        assert session.scalars(select(Review)).all() == []
    _save(at)  # saved again unchanged: kept as they are
    with team.transaction() as session:
        assert len(session.scalars(select(Review)).all()) == 1


def test_the_add_a_finding_list_has_no_fragments(team: Database) -> None:
    at, record_id = _open(team)
    added = at.multiselect(key=f"add_{record_id}")
    assert "Acute MI" in added.options and "Left ventricular hypertrophy" in added.options
    assert not [o for o in added.options if o in ("Acute", "Blocked", "R in aVL", "Or digitalis effect",
                                                  "Otherwise normal ECG")]
    assert not any(is_fragment(o) for o in added.options)
