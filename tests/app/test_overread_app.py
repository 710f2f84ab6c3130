"""The overread workflow on the pages (issue 19), through AppTest: the final report a cardiologist
confirms (versions, what changed, who sees the form), its PDF, the comparison with the prior ECG,
linking a record to a patient, and the patient timeline."""

from __future__ import annotations

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from db.confirmed_reports import confirm_report, latest_report, report_history
from db.measurements import store_measurements
from db.overread import set_patient
from db.records import add_record
from db.reviews import save_review
from db.session import Database
from ecgcore.io import read
from ecgcore.measurements import Measurements
from ecgcore.measurements.types import BeatFiducials, Wave
from tests.app.conftest import sign_in, view_as
from tests.conftest import SAMPLES_DIR

LBBB, SR = "LEFT BUNDLE BRANCH BLOCK", "SINUS RHYTHM"
MRN = "MRN-4410"


def _record(db: Database, name: str = "00001_hr") -> int:
    return add_record(db, read(SAMPLES_DIR / "ptbxl" / f"{name}.hea"), uploader="carla")[0].id


def _review(name: str, role: str, record_id: int) -> AppTest:
    at = view_as("review", name, role)
    at.session_state["record_id"] = record_id
    at.run()
    assert not at.exception, at.exception
    return at


def _text(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def _confirm_button(at: AppTest):
    return [b for b in at.button if b.label == "Confirm and sign"]


def test_a_cardiologist_confirms_and_amends_the_final_report(team: Database) -> None:
    record_id = _record(team)
    save_review(team, record_id, "carla", {SR: "present"}, saw_model_output=False)
    at = _review("carla", "cardiologist", record_id)
    assert "**UNCONFIRMED**" in _text(at)
    assert at.multiselect(key=f"fr_statements_{record_id}_0").value == [SR]  # from the verdict
    at.text_area(key=f"fr_conclusion_{record_id}_0").input("Normal ECG.")
    _confirm_button(at)[0].click().run()
    assert not at.exception, at.exception
    stored = latest_report(team, record_id)
    assert stored.version == 1 and stored.statements == (SR,) and stored.conclusion == "Normal ECG."
    assert stored.measurements["qrs_ms"] is not None  # the measurements shown were accepted
    assert any("Confirmed and signed: version 1" in s.value for s in at.success)
    assert f"**Confirmed (version 1)** by {stored.signature()}" in _text(at)
    # a change makes version 2, which says what changed
    at.multiselect(key=f"fr_statements_{record_id}_1").set_value([SR, LBBB])
    at.number_input(key=f"fr_qrs_ms_{record_id}_1").set_value(150.0)
    _confirm_button(at)[0].click().run()
    assert not at.exception, at.exception
    history = report_history(team, record_id)
    assert [v.version for v in history] == [1, 2]
    assert history[1].statements == (SR, LBBB) and history[1].measurements["qrs_ms"] == 150.0
    assert history[1].what_changed
    [expander] = [e for e in at.expander if e.label.startswith("Report history (2 versions)")]
    assert "; ".join(history[1].what_changed) in "\n".join(m.value for m in expander.markdown)
    # confirming the same again changes nothing: refused, no version 3
    _confirm_button(at)[0].click().run()
    assert at.error and "Nothing changed" in at.error[0].value
    assert latest_report(team, record_id).version == 2


def test_annotators_and_viewers_see_the_report_but_no_form(team: Database) -> None:
    record_id = _record(team)
    confirm_report(team, record_id, "carla", [SR], None, "Normal ECG.")
    viewer = _review("vince", "viewer", record_id)
    assert not _confirm_button(viewer)
    text = _text(viewer)
    assert "**Confirmed (version 1)** by a cardiologist (cardiologist)" in text and "carla" not in text
    annotator = _review("anna", "annotator", record_id)  # blinded: not before their own reading
    assert not _confirm_button(annotator)
    assert "**Confirmed" not in _text(annotator)
    assert any("confirmed report appears after" in i.value for i in annotator.info)
    save_review(team, record_id, "anna", {SR: "present"}, saw_model_output=False)
    annotator.run()
    assert "**Confirmed (version 1)**" in _text(annotator) and not _confirm_button(annotator)


def test_the_report_downloads_as_a_pdf(team: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[bytes, str]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        served.append((path_or_data, mimetype))
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    record_id = _record(team)
    confirm_report(team, record_id, "carla", [SR], None, "Normal ECG.")
    at = _review("carla", "cardiologist", record_id)
    buttons = [d for d in at.get("download_button") if d.proto.label == "Download report (PDF)"]
    assert len(buttons) == 1 and buttons[0].proto.url
    pdfs = [data for data, mimetype in served if mimetype == "application/pdf"]
    assert pdfs and all(isinstance(p, bytes) and p.startswith(b"%PDF") for p in pdfs)
    assert len(pdfs[-1]) > 10_000


def _linked_pair(db: Database) -> tuple[int, int]:
    prior, current = _record(db, "00008_hr"), _record(db, "00001_hr")
    for record_id in (prior, current):
        set_patient(db, record_id, "carla", MRN)
    fiducials = BeatFiducials(p=Wave(100, 125, 150), qrs=Wave(180, 200, 225), t=Wave(300, 380, 400))
    store_measurements(db, prior, Measurements(
        algorithm_version="0.9", fs=500.0, leads=("I", "II"), window_start_s=0.0, window_s=10.0, heart_rate_bpm=62.0,
        pr_ms=160.0, qrs_ms=200.0, qt_ms=400.0, qtc_bazett_ms=407.0, beat_samples=(250, 750, 1250),
        dominant=(True,) * 3, fiducials=fiducials))
    confirm_report(db, prior, "carla", [LBBB], None, None)
    return prior, current


def test_the_prior_ecg_is_compared_on_the_review_page(team: Database) -> None:
    _, current = _linked_pair(team)
    at = _review("carla", "cardiologist", current)
    [expander] = [e for e in at.expander if e.label.startswith("Compared with the prior ECG (")]
    assert "(upload time)" in expander.label
    text = "\n".join(m.value for m in expander.markdown)
    assert "QRS narrowed by" in text  # the prior's 200 ms against ours
    assert "left bundle branch block: no longer present (prior ECG: confirmed by carla" in text
    [table] = expander.table
    assert table.value.loc["QRS (ms)", "Changed"] == "yes"
    assert len(at.get("plotly_chart")) == 3  # the sheet, the median beats, the prior ECG's sheet
    assert any(e.label.startswith("Compared with the prior") for e in _review("vince", "viewer", current).expander)
    viewer_text = _text(_review("vince", "viewer", current))
    assert "Patient " not in viewer_text.replace("Patient timeline", "")  # no key for viewers


def test_an_uploader_links_a_record_to_a_patient(team: Database) -> None:
    first, second = _record(team, "00008_hr"), _record(team, "00001_hr")
    set_patient(team, first, "carla", MRN)
    at = _review("carla", "cardiologist", second)
    assert "Not linked to a patient" in _text(at)
    assert not any(e.label.startswith("Compared with the prior") for e in at.expander)
    at.text_input(key=f"mrn_{second}").input(MRN)
    next(b for b in at.button if b.label == "Link").click().run()
    assert not at.exception, at.exception
    assert any(e.label.startswith("Compared with the prior") for e in at.expander)
    assert MRN not in _text(at)
    assert _review("vince", "viewer", second).text_input.len == 0  # viewers cannot link


def test_the_patient_timeline_lists_the_patients_ecgs(team: Database) -> None:
    prior, current = _linked_pair(team)
    at = view_as("timeline", "carla", "cardiologist")
    at.session_state["timeline_record_id"] = current
    at.run()
    assert not at.exception, at.exception
    text = _text(at)
    assert text.index(f"record {current}:") < text.index(f"record {prior}:")  # newest first
    assert "(this record)" in text and "(upload time)" in text
    assert "Confirmed statements (confirmed by carla" in text and LBBB in text and "*unconfirmed*" in text
    assert "QRS 200 ms" in text
    assert "Patient " in text
    opens = [b for b in at.button if b.label == "Open in review"]
    assert len(opens) == 2
    opens[1].click().run()
    assert at.session_state["record_id"] == prior
    viewer = view_as("timeline", "vince", "viewer")
    viewer.session_state["timeline_record_id"] = current
    viewer.run()
    assert "Patient " not in _text(viewer) and "carla" not in _text(viewer)


def test_the_review_page_leads_to_the_timeline_and_back(team: Database) -> None:
    prior, current = _linked_pair(team)
    at = sign_in("carla")
    at.session_state["record_id"] = current
    at.run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.label == "Patient timeline").click().run()
    assert not at.exception, at.exception
    assert any(t.value == "Patient timeline" for t in at.title)
    assert f"record {prior}:" in _text(at)
    [b for b in at.button if b.label == "Open in review"][1].click().run()
    assert not at.exception, at.exception
    assert at.session_state["record_id"] == prior
    assert any(s.value.startswith(f"Record {prior}:") for s in at.subheader)
