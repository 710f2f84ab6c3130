"""The review workspace through Streamlit's AppTest: first start, sign-in, roles, review, upload, pages."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.models import AuditEvent, Review, StoredRecord, User
from db.session import Database
from tests.app.conftest import app, sign_in, view_as
from tests.conftest import SAMPLES_DIR


def _count(db: Database, model, *where) -> int:  # noqa: ANN001
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _nav_titles(at) -> list[str]:  # noqa: ANN001
    return [page.title for page in at.session_state["_pages"].values()]


def test_first_start_creates_the_admin_and_preloads_demo_records(env: dict) -> None:
    at = app().run()
    assert not at.exception
    assert any("First start" in s.value for s in at.subheader)
    name, password, confirm = at.text_input
    name.input("root")
    password.input("root-password")
    confirm.input("root-password")
    at.button[0].click().run()
    assert not at.exception
    assert "Admin" in _nav_titles(at)
    db = Database(env["url"], data_dir_path=env["tmp"] / "data")
    assert _count(db, User, User.role == "admin") == 1
    assert _count(db, StoredRecord) == 2  # the demo records, with the default model's predictions


def test_nothing_is_reachable_without_signing_in(team: Database) -> None:
    at = app().run()
    assert "_pages" not in at.session_state
    at.text_input[0].input("carla")
    at.text_input[1].input("wrong-password")
    at.button[0].click().run()
    assert at.error and "wrong password" in at.error[0].value
    assert "_pages" not in at.session_state
    assert _count(team, AuditEvent, AuditEvent.action == "login_failed") == 1


def test_cardiologist_reviews_the_next_record(team: Database) -> None:
    at = sign_in("carla")
    assert _nav_titles(at) == ["Review", "Patient timeline", "Worklist", "Agreement", "Models", "My account"]
    next_button = [b for b in at.button if b.label == "Open next record"][0]
    next_button.click().run()
    assert not at.exception
    assert at.get("plotly_chart"), "the ECG is drawn"
    findings = at.dataframe[0].value
    assert len(findings) == 3 and findings["Probability"].between(0, 1).all()
    at.text_area[0].input("<script>alert(1)</script> borderline QT")
    for radio in at.radio:  # the verdict form pre-selects nothing: every answer is the reviewer's own
        if str(radio.key).startswith("v_"):
            radio.set_value("absent")
    [b for b in at.button if b.label == "Save verdict"][0].click().run()
    assert not at.exception
    assert at.success and "version 1" in at.success[0].value
    with team.transaction() as session:
        review = session.scalars(select(Review)).one()
        assert review.comment == "<script>alert(1)</script> borderline QT"  # stored as text
        assert review.saw_model_output is True
        assert len(review.verdicts) == 3


def test_annotator_reads_blinded_first(team: Database) -> None:
    at = sign_in("anna")
    [b for b in at.button if b.label == "Open next record"][0].click().run()
    assert at.info and "Blinded reading" in at.info[0].value
    assert len(at.dataframe) == 0  # no model output before the annotator's own verdict
    at.multiselect[0].select("NORMAL ECG")
    [b for b in at.button if b.label == "Save verdict"][0].click().run()
    assert not at.exception and at.success
    at.run()
    assert len(at.dataframe) == 1  # now the model's findings are shown
    with team.transaction() as session:
        assert session.scalars(select(Review.saw_model_output)).one() is False


def test_viewer_can_look_but_not_write(team: Database) -> None:
    at = sign_in("vince")
    assert len(at.get("file_uploader")) == 0
    [b for b in at.button if b.label == "Open next record"][0].click().run()
    assert len(at.dataframe) == 1
    assert not [b for b in at.button if b.label == "Save verdict"]
    assert "Admin" not in _nav_titles(at)


def test_upload_imports_a_record_and_a_corrupt_file_stores_nothing(team: Database) -> None:
    at = sign_in("carla")
    before = _count(team, StoredRecord)
    at.file_uploader[0].set_value(("scan.edf", b"0       this is not an EDF file", "application/octet-stream")).run()
    [b for b in at.button if b.label == "Import upload"][0].click().run()
    assert at.error and "cannot be used" in at.error[0].value
    assert _count(team, StoredRecord) == before
    hea = SAMPLES_DIR / "cinc2021" / "E07500.hea"
    at.file_uploader[0].set_value(
        [(p.name, p.read_bytes(), "application/octet-stream") for p in (hea, hea.with_suffix(".mat"))]
    ).run()
    [b for b in at.button if b.label == "Import upload"][0].click().run()
    assert not at.exception and at.success
    assert _count(team, StoredRecord) == before + 1
    assert len(at.dataframe) == 1


def test_session_times_out(team: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    at = sign_in("carla")
    monkeypatch.setenv("ECG_SESSION_TIMEOUT_MIN", "0")
    at.run()
    assert "_pages" not in at.session_state
    assert at.info and "timed out" in at.info[0].value
    assert _count(team, AuditEvent, AuditEvent.action == "logout") == 1


def test_admin_creates_a_user(team: Database) -> None:
    at = sign_in("root")
    assert "Admin" in _nav_titles(at)

    page = view_as("admin", "root", "admin").run()
    assert not page.exception
    page.text_input[0].input("newbie")
    page.text_input[1].input("newbie-password")
    page.button[0].click().run()
    assert page.success and "Created newbie" in page.success[0].value
    assert _count(team, User, User.name == "newbie") == 1
    assert len(page.dataframe) == 2  # users and audit log


def test_worklist_and_models_pages(team: Database) -> None:
    sign_in("carla")  # the store is created and demo records preloaded by the first run
    worklist = view_as("worklist", "carla", "cardiologist").run()
    assert not worklist.exception
    assert len(worklist.dataframe[0].value) == 2
    models = view_as("model_card", "carla", "cardiologist").run()
    assert not models.exception
    assert any("tiny-test" in m.value for m in models.subheader)


def test_agreement_dashboard_and_exports(team: Database) -> None:

    from db.reviews import save_review

    sign_in("carla")  # creates the store and preloads the two demo records
    with team.transaction() as session:
        record_ids = session.scalars(select(StoredRecord.id)).all()
    users_for = {"carla": "present", "root": "present", "anna": "absent"}
    for name, verdict in users_for.items():
        save_review(team, record_ids[0], name, {"NORMAL ECG": verdict}, saw_model_output=name != "anna")
    page = view_as("dashboard", "carla", "cardiologist").run()
    assert not page.exception
    assert len(page.get("plotly_chart")) >= 3
    assert [b.label for b in page.button] == ["Prepare the expert-review test set"]
    page.button[0].click().run()
    assert not page.exception and not page.error
    annotator = view_as("dashboard", "anna", "annotator").run()
    assert not annotator.exception
    assert not annotator.button  # annotators cannot export the test set


def test_saliency_is_drawn_on_the_trace_and_listed_in_words(team: Database) -> None:
    at = sign_in("carla")
    [b for b in at.button if b.label == "Open next record"][0].click().run()
    at.selectbox(key="explain_method").select("gradcam").run()
    at.toggle(key="explain_on").set_value(True).run()
    assert not at.exception and not at.error
    assert any("evidence in" in m.value for m in at.markdown)
    spec = at.get("plotly_chart")[0].proto.spec
    assert '"type":"rect"' in spec.replace(" ", "")  # the top segments shaded behind their leads


def test_read_only_demo_mode(team: Database) -> None:
    from db import settings

    at = app().run()
    assert not [b for b in at.button if b.label == "Open the read-only demo"]  # off by default
    settings.set_value(team, settings.DEMO_MODE, True, actor="root")
    at = app().run()
    [b for b in at.button if b.label == "Open the read-only demo"][0].click().run()
    assert not at.exception
    assert _nav_titles(at) == ["Review", "Patient timeline", "Worklist", "Models"]
    [b for b in at.button if b.label == "Open next record"][0].click().run()
    assert not at.exception and len(at.dataframe) == 1  # model output visible
    assert not [b for b in at.button if b.label == "Save verdict"] and not at.get("file_uploader")
    settings.set_value(team, settings.DEMO_MODE, False, actor="root")
    at.run()
    assert "_pages" not in at.session_state
    assert at.info and "switched off" in at.info[0].value


def _models_then_review_as_carla() -> None:
    import streamlit as st

    from app import services
    from app.auth import SessionUser
    from app.views import model_card

    st.session_state["_user"] = SessionUser("carla", "cardiologist")
    model_card.page()
    chosen = st.session_state.get(services.ACTIVE_KEY, {})
    st.text(f"active={chosen}")


def test_models_page_switches_the_bundle_for_the_session(team: Database, env: dict) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.ecgcore.helpers import tiny_bundle

    tiny_bundle(env["tmp"] / "models" / "other", seed=3)  # a second, non-default 12-lead bundle
    sign_in("carla")
    page = AppTest.from_function(_models_then_review_as_carla, default_timeout=120).run()
    page.selectbox[0].select("other").run()
    [b for b in page.button if b.label.startswith("Use this model")][0].click().run()
    assert not page.exception
    assert any("other" in t.value for t in page.text)
    assert page.success and "In use" in page.success[0].value
    [b for b in page.button if b.label == "Back to the default model"][0].click().run()
    assert any(t.value == "active={}" for t in page.text)


def _upload_single_lead_csv(at) -> None:  # noqa: ANN001
    csv = SAMPLES_DIR / "demo" / "cinc2017_A00054_lead_I.csv"
    at.file_uploader[0].set_value((csv.name, csv.read_bytes(), "text/csv")).run()
    [b for b in at.button if b.label == "Import upload"][0].click().run()
    assert not at.exception, at.exception


def test_single_lead_upload_goes_to_the_single_lead_model(team: Database, env: dict) -> None:
    from tests.ecgcore.helpers import tiny_bundle

    tiny_bundle(env["tmp"] / "models" / "tiny-1lead", in_leads=("I",), default=True, name="tiny-single-lead")
    at = sign_in("carla")
    _upload_single_lead_csv(at)
    assert at.success and "Model findings" in [s.value for s in at.subheader]
    assert any("Model: tiny-single-lead" in c.value for c in at.caption)


def test_single_lead_upload_without_a_single_lead_model_says_so(team: Database) -> None:
    at = sign_in("carla")
    _upload_single_lead_csv(at)
    assert any("No trained single-lead model is installed" in w.value for w in at.warning)
    assert "Model findings" not in [s.value for s in at.subheader]
