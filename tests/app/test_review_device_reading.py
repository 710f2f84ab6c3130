"""The device's reading on the Review page, through AppTest: a GE MUSE export shows its own measurements
beside ours (a table of both and the difference), its statements (edited, and the original ones), and
the acquisition under the title; blinded readers see it too; a record without one shows none of it."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from db.measurements import latest_measurements
from db.session import Database
from ecgcore.io import read
from ecgcore.measure_display import COMPARISON_HEADINGS, MISSING, device_reading_title
from ecgcore.measurements import GLOBAL_MEASURES
from tests.app.conftest import sign_in, view_as
from tests.conftest import REPO_ROOT

MUSE = REPO_ROOT / "data" / "samples" / "hospital" / "ge_muse" / "muse_ecg1.xml"
DEVICE_LINE = "**The device's reading:**"
# what the MUSE sample holds (its <RestingECGMeasurements>, the edited and the original diagnosis)
FILE_VALUES = {"heart_rate_bpm": "60", "rr_ms": "1000", "p_duration_ms": "78", "pr_ms": "158", "qrs_ms": "78",
               "qt_ms": "364", "qtc_bazett_ms": "364", "qtc_fridericia_ms": "364", "p_axis_deg": "49",
               "qrs_axis_deg": "54", "t_axis_deg": "46"}
ACQUISITION = "Acquired 2021-05-10 13:15:18 · device MAC55 · site Research, FL Research Location · age 60 · sex M"


def _page_text(node: object) -> str:
    """Everything the page put on screen (every element's message), to look for what must not be there."""
    parts = [str(node.proto)] if getattr(node, "proto", None) is not None else []
    for child in getattr(node, "children", {}).values():
        parts.append(_page_text(child))
    return "\n".join(parts)


def _upload_muse() -> tuple[AppTest, int]:
    at = sign_in("carla")
    at.file_uploader[0].set_value((MUSE.name, MUSE.read_bytes(), "application/xml")).run()
    next(b for b in at.button if b.label == "Import upload").click().run()
    assert not at.exception, at.exception
    return at, int(at.session_state["record_id"])


def _device_table(at: AppTest) -> pd.DataFrame:
    tables = [t.value for t in at.table if t.value.index.name == COMPARISON_HEADINGS[0]]
    assert len(tables) == 1, [t.value for t in at.table]
    return tables[0]


def _assert_device_reading_shown(at: AppTest) -> None:
    source = read(MUSE).device_reading.source
    assert any(s.value == device_reading_title(source) for s in at.subheader), [s.value for s in at.subheader]
    assert source == "GE MAC55 (12SL 241) via MUSE 9.0.9.18167"
    table = _device_table(at)
    assert list(table.columns) == list(COMPARISON_HEADINGS[1:])
    assert list(table.index) == [f"{m.label} ({m.unit})" for m in GLOBAL_MEASURES]
    assert list(table["Device"]) == [FILE_VALUES[m.name] for m in GLOBAL_MEASURES]
    lines = [m.value for m in at.markdown if m.value.startswith(DEVICE_LINE)]
    assert lines == [(f"{DEVICE_LINE} `Vent. rate 60 bpm  PR 158 ms  QRS 78 ms  QT/QTc Bazett 364/364 ms  "
                      "P-R-T axes 49 54 46 deg`")]
    markdown = "\n".join(m.value for m in at.markdown)
    assert "**The device's statements (as edited in the ECG system)**" in markdown
    assert "- Ventricular-paced rhythm\n- When compared with ECG of 10-MAY-2021 14:14,\n- No significant change." \
        in markdown
    [original] = [e for e in at.expander if e.label == "The device's original statements (before editing)"]
    originals = "\n".join(m.value for m in original.markdown)
    assert "- Wide QRS rhythm" in originals and "- Lateral infarct, age undetermined" in originals
    assert ACQUISITION in [c.value for c in at.caption]


def test_a_muse_export_shows_the_devices_reading_beside_ours_and_the_models(team: Database) -> None:
    at, record_id = _upload_muse()
    _assert_device_reading_shown(at)
    ours = latest_measurements(team, record_id).global_values
    table = _device_table(at)
    for m in GLOBAL_MEASURES:
        row = table.loc[f"{m.label} ({m.unit})"]
        value = ours.get(m.name)
        assert row["Ours"] == (MISSING if value is None else f"{value:.0f}")
        if value is None:
            assert row["Ours − device"] == MISSING
            continue
        diff = int(row["Ours"]) - int(row["Device"])  # no axis of this ECG is near +-180: no wrap-around
        assert row["Ours − device"] == (f"{diff:+d}" if diff else "0")
    # three sources, each under its own heading in its own colour
    colours = {s.value: s.proto.divider for s in at.subheader}
    assert colours["Model findings"] and colours["Measurement-based statements"]
    assert len({colours["Model findings"], colours["Measurement-based statements"],
                colours[device_reading_title(read(MUSE).device_reading.source)]}) == 3
    assert at.session_state["record_id"] == record_id
    assert "JAX01234" not in _page_text(at._tree)  # the file's patient id: the store does not even have it
    assert "TEST 05" not in _page_text(at._tree)  # nor the patient's name


def test_a_blinded_annotator_sees_the_devices_reading(team: Database) -> None:
    _, record_id = _upload_muse()
    at = view_as("review", "anna", "annotator")
    at.session_state["record_id"] = record_id
    at.run()
    assert not at.exception, at.exception
    assert at.info and "Blinded reading" in at.info[0].value
    assert not any(s.value == "Model findings" for s in at.subheader)
    _assert_device_reading_shown(at)


def test_a_record_without_a_device_reading_shows_none_of_it(team: Database) -> None:
    at = sign_in("carla")
    next(b for b in at.button if b.label == "Open next record").click().run()  # a PTB-XL sample: no device reading
    assert not at.exception, at.exception
    assert any(m.value.startswith("**Measurements:**") for m in at.markdown)
    assert not [m.value for m in at.markdown if m.value.startswith(DEVICE_LINE) or "device's statements" in m.value]
    assert not [s.value for s in at.subheader if s.value.startswith("The device's reading")]
    assert not [t for t in at.table if t.value.index.name == COMPARISON_HEADINGS[0]]
    assert not [e for e in at.expander if "original statements" in e.label]
    assert not [c.value for c in at.caption if c.value.startswith("Acquired") or "device " in c.value]
