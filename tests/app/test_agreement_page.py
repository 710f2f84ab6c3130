"""The Agreement page through AppTest: who sees the model sections, reviewers' names and the downloads."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from db.models import StoredRecord
from db.reviews import save_review
from db.session import Database
from tests.app.conftest import sign_in, view_as

NAMES = re.compile(r"\b(carla|root|anna|vince)\b")
MODEL_SECTIONS = ("Model vs the reviewers' consensus", "Each reviewer vs the model")


@pytest.fixture()
def reviewed(team: Database) -> Database:
    sign_in("carla")  # the first run creates the store and preloads the two demo records (scored)
    with team.transaction() as session:
        record_ids = session.scalars(select(StoredRecord.id)).all()
    for rid in record_ids:
        for name, verdict in (("carla", "present"), ("root", "present"), ("anna", "absent")):
            save_review(team, rid, name, {"NORMAL ECG": verdict}, saw_model_output=name != "anna")
    return team


def _page(user: tuple[str, str]) -> AppTest:
    at = view_as('dashboard', *user).run()
    assert not at.exception, at.exception
    return at


def _shown_text(at: AppTest) -> str:
    """Everything the page shows: headings, text, table cells, chart specs, widget labels and options."""
    parts = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "error") for e in at.get(kind)]
    parts += [df.value.to_csv() for df in at.dataframe]
    parts += [chart.proto.spec for chart in at.get("plotly_chart")]
    parts += [str(box.options) for box in at.selectbox]
    return "\n".join(parts)


def _downloads(at: AppTest) -> list[str]:
    return [element.proto.label for element in at.get("download_button")]


def test_annotator_sees_no_model_section_and_no_names(reviewed: Database) -> None:
    at = _page(("anna", "annotator"))
    headings = [s.value for s in at.subheader]
    assert "Agreement per reviewer pair (Cohen)" in headings  # reviewer-vs-reviewer agreement is theirs to see
    assert not set(MODEL_SECTIONS) & set(headings)
    assert not at.selectbox  # no reviewer-vs-model picker
    text = _shown_text(at)
    assert "AUROC" not in text
    assert not NAMES.search(text), NAMES.search(text)
    assert "reviewer 1" in text and "reviewer 3" in text
    pairs = at.dataframe[-1].value
    assert set(pairs["reviewer_a"]) | set(pairs["reviewer_b"]) == {"reviewer 1", "reviewer 2", "reviewer 3"}
    assert (pairs["n_records"] == 2).all() and "n too small" in pairs["note"].iloc[0]  # 2 records: greyed, n shown
    assert not _downloads(at) and not at.button


def test_viewer_sees_the_model_with_pseudonyms_and_gets_no_download(reviewed: Database) -> None:
    at = _page(("vince", "viewer"))
    assert "Model vs the reviewers' consensus" in [s.value for s in at.subheader]
    assert not NAMES.search(_shown_text(at))
    assert not _downloads(at) and not at.button
    assert "Export" not in [s.value for s in at.subheader]


def test_cardiologist_sees_names_and_downloads_the_verdicts(reviewed: Database) -> None:
    at = _page(("carla", "cardiologist"))
    assert set(MODEL_SECTIONS) <= {s.value for s in at.subheader}
    assert "carla" in _shown_text(at)
    assert _downloads(at) == ["Verdicts (CSV)"]
