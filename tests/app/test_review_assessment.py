"""Know when not to trust the model (issue 20): the Review page's quality banner (not interpretable,
electrode reversal, pacing), the bad leads marked on the sheet, the model's findings shown for
reference only, and the worklist's Quality column, through AppTest."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from streamlit.testing.v1 import AppTest

from db.records import add_record
from db.session import Database
from db.workspace import import_ecg
from ecgcore.io import read
from ecgcore.record import Record
from ecgcore.reversal import simulate_reversal
from tests.app.conftest import view_as
from tests.conftest import SAMPLES_DIR


def _sample() -> Record:
    return read(SAMPLES_DIR / "ptbxl" / "00001_hr.hea")


def _flat_v2() -> Record:
    record = _sample()
    signal = record.signal.copy()
    signal[record.leads.index("V2")] = 0.0
    return record.replace(signal=signal, allow_flat_leads=True, record_name="00001_hr_flat_v2")


def _open(db: Database, record: Record, name: str = "carla", role: str = "cardiologist") -> AppTest:
    record_id = add_record(db, record, uploader="carla")[0].id
    at = view_as("review", name, role)
    at.session_state["record_id"] = record_id
    at.run()
    assert not at.exception, at.exception
    return at


def _sheet_labels(at: AppTest) -> list[str]:
    return [a["text"] for a in json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"]]


def test_a_flat_lead_makes_the_record_not_interpretable_and_greys_the_findings(team: Database) -> None:
    at = _open(team, _flat_v2())
    errors = [e.value for e in at.error]
    assert any(e.startswith("Not interpretable: ") and "V2 flat" in e for e in errors), errors
    assert "<b>V2</b> (flat)" in _sheet_labels(at)
    assert any(c.value.startswith("Shown for reference only: not interpretable") for c in at.caption)
    findings = [e for e in at.expander if e.label == "Model findings (for reference only)"]
    assert findings and len(findings[0].dataframe) == 1  # still there, greyed in a closed expander
    assert any(s.value == "Model findings" for s in at.subheader)


def test_a_clean_sample_shows_no_banner(team: Database) -> None:
    at = _open(team, _sample())
    assert not [e.value for e in at.error if e.value.startswith("Not interpretable")]
    assert not [w.value for w in at.warning if "reversal" in w.value or "Paced" in w.value]
    assert not any(c.value.startswith("Shown for reference only") for c in at.caption)
    assert not [e for e in at.expander if e.label == "Model findings (for reference only)"]
    assert len(at.dataframe) >= 1  # the findings table as usual
    assert "<b>V2</b>" in _sheet_labels(at)


def test_an_la_ra_reversal_is_named_in_a_warning(team: Database) -> None:
    reversed_ = simulate_reversal(_sample(), "LA/RA").replace(record_name="00001_hr_la_ra")
    at = _open(team, reversed_)
    assert any(w.value.startswith("Possible electrode reversal: LA/RA") for w in at.warning), \
        [w.value for w in at.warning]


def _sheet_traces(at: AppTest) -> list[np.ndarray]:
    """The y values of the sheet's traces (plotly sends them base64-encoded with their dtype)."""
    traces = []
    for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]:
        y = trace.get("y")
        if isinstance(y, dict):
            y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
        traces.append(np.asarray(y, dtype=np.float64))
    return traces


def test_view_corrected_leads_draws_the_recording_with_the_cables_put_back(team: Database) -> None:
    """The toggle redraws the sheet as the correctly wired recording; the stored record is unchanged."""
    from db.records import load_ecg

    original = _sheet_traces(_open(team, _sample()))
    reversed_ = simulate_reversal(_sample(), "LA/RA").replace(record_name="00001_hr_la_ra")
    at = _open(team, reversed_)
    toggle = next(t for t in at.toggle if t.label == "View corrected leads (LA/RA undone)")
    as_recorded = _sheet_traces(at)
    assert not all(np.allclose(a, b, atol=0.01) for a, b in zip(as_recorded, original))
    toggle.set_value(True).run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("Leads shown with the LA/RA reversal undone") for c in at.caption)
    corrected = _sheet_traces(at)
    assert len(corrected) == len(original)
    for a, b in zip(corrected, original):  # the same within the recording's 1-uV rounding of each lead
        np.testing.assert_allclose(a, b, atol=0.01)
    record_id = at.session_state["record_id"]
    np.testing.assert_array_equal(load_ecg(team, record_id).signal, reversed_.signal)  # stored as recorded
    assert any(w.value.startswith("Possible electrode reversal: LA/RA") for w in at.warning)


def test_no_correction_toggle_without_a_reversal(team: Database) -> None:
    at = _open(team, _sample())
    assert not [t for t in at.toggle if t.label.startswith("View corrected leads")]


def test_a_blinded_annotator_sees_the_banner_but_no_findings(team: Database) -> None:
    at = _open(team, _flat_v2(), "anna", "annotator")
    assert any(e.value.startswith("Not interpretable: ") for e in at.error)
    assert len(at.dataframe) == 0
    assert not [e for e in at.expander if e.label == "Model findings (for reference only)"]


def test_the_worklist_shows_each_records_quality(team: Database) -> None:
    from tests.app.conftest import sign_in

    sign_in("carla")  # creates the store and preloads the demo records (clean PTB-XL samples)
    # imported as uploads are: the assessment is stored at import and the worklist reads it
    flat_id = import_ecg(team, _flat_v2(), predictor=None, uploader="carla").record_id
    reversed_id = import_ecg(team, simulate_reversal(_sample(), "LA/RA").replace(record_name="la_ra"),
                             predictor=None, uploader="carla").record_id
    unassessed_id = add_record(team, _sample().replace(signal=_sample().signal * 1.01, record_name="stored_only"), uploader="carla")[0].id
    at = view_as("worklist", "carla", "cardiologist").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("record_id")
    assert "Quality" in table.columns
    assert table.loc[flat_id, "Quality"].startswith("not interpretable: lead V2 flat")
    assert table.loc[reversed_id, "Quality"] == "reversal LA/RA"
    assert table.loc[unassessed_id, "Quality"] == "not assessed"  # stored without import: python -m db assess
    others = table.drop(index=[flat_id, reversed_id, unassessed_id])
    assert len(others) and (others["Quality"] == "ok").all()


def test_a_paced_record_shows_the_paced_banner_and_findings_for_reference_only(team: Database,
                                                                               shared_data_dir: Path) -> None:
    """LUDB record 95 (ludb.csv: 'Cardiac pacing'; interpretable otherwise): the paced banner, and the model's
    findings greyed as not validated for paced ECGs."""
    record = read(shared_data_dir / "ludb_dev" / "data" / "95.hea", allow_flat_leads=True)
    at = _open(team, record)
    warnings = [w.value for w in at.warning]
    assert "Paced rhythm: the model's findings are not validated for paced ECGs." in warnings, warnings
    assert not [e.value for e in at.error if e.value.startswith("Not interpretable")]  # paced alone is not a reason
    reference = [c.value for c in at.caption if c.value.startswith("Shown for reference only")]
    assert reference and "paced rhythm, the model is not validated for paced ECGs" in reference[0], reference
    findings = [e for e in at.expander if e.label == "Model findings (for reference only)"]
    assert findings and len(findings[0].dataframe) == 1


def test_a_record_unlike_the_training_data_is_flagged_beside_the_findings(team: Database) -> None:
    """A gain error (x10: still a valid ECG, outside the training amplitudes) gets the card's
    out-of-distribution warning with the findings; the record as recorded does not."""
    import os

    import streamlit as st

    from ecgcore.bundle import update_card
    from ecgcore.ood import fit_reference, typical_amplitude_mv

    record = _sample()
    bundle = Path(os.environ["ECG_MODEL_DIR"]) / "tiny"
    amplitude = typical_amplitude_mv(record.signal)  # the "training data" of the tiny bundle: around this record
    update_card(bundle, ood=fit_reference(fs_hz=[500.0], amplitudes_mv=[amplitude * f for f in (0.5, 1.0, 2.0)],
                                          embedding=None))
    st.cache_resource.clear()  # the app loads the bundle again, with its reference
    loud = record.replace(signal=record.signal * 10, record_name="00001_hr_gain10")
    at = _open(team, loud)
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("Unlike this model's training data") and "wrong units or gain" in w for w in warnings), warnings
    at = _open(team, record.replace(record_name="00001_hr_again"))
    assert not any(w.value.startswith("Unlike this model's training data") for w in at.warning)
