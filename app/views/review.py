"""Review: open a record (next in the worklist, or an upload), read it on ECG paper, see the model's
ranked findings, record a verdict. Annotators label blinded: the model's output stays hidden until
they have saved their own reading of the record.

Above the sheet, the record's measurements as a cart prints them (measured on the window the model
scores, stored once per algorithm version), with the measurement-based statements beside the
model's findings and the median beats with their fiducial marks below the sheet. Calipers: a box
drawn on the trace reads as an interval, a rate and an amplitude difference. A reviewer can correct
any global measurement. Measurements are not model output: blinded reviewers see them too.

A hospital file's own reading (the device's measurements and interpretation statements, edited and
original) is shown as the third source, apart from the model's findings and from our
measurement-based statements: its cart line under ours, and a panel with ours against the device's,
measurement by measurement, and its statements. Each source has its own colour (the model blue, our
measurements green, the device orange). The device's reading is not model output either: every
role sees it. Under the title, the acquisition (time, device, site) with age and sex; the store
holds no patient identifier, so none is ever shown.

The verdict form asks; it does not suggest. Every listed finding starts unanswered (or at the
reviewer's own answer of their last saved version), with the model's call beside its name
("model: present, p = 0.82 ≥ 0.35"), and saving needs an answer for each. Agreement with the model
is recorded by the review's ``prediction_id`` (the run the reviewer saw, whose stored probabilities
and thresholds give the model's call; db.dashboard_data.reviewer_model_confusion counts it) -- no
extra column, so no migration. Answers that contradict each other (ecgcore.consistency, e.g.
NORMAL ECG and ABNORMAL ECG both absent) are warned about, and saved only when saved again
unchanged. Labels are shown in sentence case (ecgcore.labels.display_label); statement fragments
('ACUTE', 'OR DIGITALIS EFFECT', ...) are not offered as findings to add.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from app import overread, services
from app.auth import SessionUser
from app.figures import Highlight, describe_hidden, hidden_highlights, median_beats_figure, rows_figure, sheet_figure
from db import workspace
from db.errors import DBError
from db.measurements import MAX_NOTE_LENGTH, correct_measurement, corrections_for
from db.overread import patient_timeline
from db.permissions import allowed, sees_model_output
from db.records import load_ecg
from db.reviews import review_history, save_review
from ecgcore.consistency import contradictions
from ecgcore.acquisition import DeviceReading
from ecgcore.assessment import ASSESSMENT_VERSION, Assessment, assess
from ecgcore.ood import SCORE_LIMIT, DistributionCheck, check_distribution
from ecgcore.errors import ECGError
from ecgcore.explain import METHODS, Explanation, explain
from ecgcore.explain_display import ALL_LEADS
from ecgcore.io import upload_help, upload_label
from ecgcore.labels import display_label, finding_labels
from ecgcore.measure_display import (
    COMPARISON_HEADINGS,
    MISSING,
    acquisition_line,
    cart_line,
    device_comparison,
    device_reading_title,
    flags,
    reasons_by_text,
    statements_edited,
    values_line,
)
from ecgcore.measurements import (
    ALGORITHM_VERSION,
    DEFAULT_PARAMS,
    GLOBAL_MEASURE_BY_NAME,
    GLOBAL_MEASURE_NAMES,
    Measurements,
    measure,
)
from ecgcore.measurements.calipers import Caliper, caliper_from_box
from ecgcore.measurements.statements import statements
from ecgcore.predict import Finding, Prediction, Predictor
from ecgcore.preprocessing import filter_mv
from ecgcore.reversal import CORRECTABLE_REVERSALS, correct_reversal

VERDICT_CHOICES = ("present", "absent", "uncertain")
NEXT_RECORD_KEY = "Alt+N"     # Streamlit reserves C and R; Ctrl+N opens a browser window
SAVE_VERDICT_KEY = "Alt+S"
FORM_FINDINGS = 8  # findings offered for a verdict: positives first, then the most probable
METHOD_NAMES = {"ig": "Integrated gradients", "gradcam": "Grad-CAM (fast, coarse)", "occlusion": "Occlusion",
                "saliency": "Gradient saliency"}
CALIPER_HELP = "Calipers: switch them on above the trace, then drag a box on it."
# One colour per source of a reading, on its heading, so the three are told apart at a glance.
MODEL_COLOUR, MEASURED_COLOUR, DEVICE_COLOUR = "blue", "green", "orange"
CALIPER_USE = ("Calipers: drag a box from one point to the other on one lead: its width is the interval, its height "
               "the amplitude difference (the Pan button in the chart's toolbar pans again).")


def _open_record(record_id: int) -> None:
    st.session_state["record_id"] = record_id
    st.session_state["opened_at"] = time.time()


def _record_picker(db, user: SessionUser) -> None:
    """In the sidebar, so the next record and an upload are always one click away, never a scroll."""
    with st.sidebar:
        if st.button("Open next record", type="primary", width="stretch", shortcut=NEXT_RECORD_KEY):
            queue = workspace.worklist(db, reviewer=user.name, role=user.role,
                                       order=st.session_state.get("worklist_order", "priority"))
            if queue.empty:
                st.info("Nothing is waiting for your review.")
            else:
                _open_record(int(queue.iloc[0]["record_id"]))
        if allowed(user.role, "upload"):
            _upload_box(db, user)
        st.selectbox("Worklist order", ["priority", "uncertainty", "oldest"], key="worklist_order",
                     help="priority: adjudication, then second reviews, then new records")
        st.caption(f"Keyboard: **{NEXT_RECORD_KEY}** next record, **{SAVE_VERDICT_KEY}** save the verdict.")


def _upload_box(db, user: SessionUser) -> None:
    flash = st.session_state.pop("upload_flash", None)
    if flash:
        st.success(flash)
    limit_mb = services.upload_limit_mb()
    upload_round = st.session_state.get("upload_round", 0)  # a new key empties the uploader
    uploads = st.file_uploader(
        upload_label(limit_mb),
        accept_multiple_files=True,
        max_upload_size=limit_mb,
        help=upload_help(limit_mb),
        key=f"upload_{upload_round}",
    )
    if uploads:
        st.button("Import upload", width="stretch", on_click=_import_upload,
                  args=(db, user, [(u.name, u.getvalue()) for u in uploads], upload_round))
    error = st.session_state.pop("upload_error", None)
    if error:
        st.error(error)


def _import_upload(db, user: SessionUser, files: list[tuple[str, bytes]], upload_round: int) -> None:
    """Button callback: runs before the page script, so the import and the new page take one run."""
    st.session_state["upload_round"] = upload_round + 1  # a new key empties the uploader, after a failure too,
    try:                                                  # so a bad file is never combined with the next one
        result, _ = workspace.import_upload(db, files, predictor_for=services.predictor_for, uploader=user.actor)
    except (ECGError, DBError) as exc:
        st.session_state["upload_error"] = f"This file cannot be used: {exc}"
        return
    _open_record(result.record_id)
    st.session_state["upload_flash"] = "Imported." if result.created else "This ECG is already in the store; opened it."


def _draw_ecg(ecg, highlights: list[Highlight], scored_window_s: tuple[float, float] | None,
              marked_leads: dict[str, str] | None = None) -> None:
    """The trace on ECG paper. The sheet shows the 10 s the model read; the rows view any window,
    with the model's window shaded when the record is longer than it. Saliency segments outside the
    view are listed in words, never silently dropped. A box drawn on the trace is read as calipers."""
    view_col, signal_col, window_col = st.columns([1, 1, 2])
    sheet_ok = ecg.is_12_lead
    with view_col:
        view = st.radio("Layout", ["12-lead sheet", "One lead per row"] if sheet_ok else ["One lead per row"],
                        horizontal=True, key="layout")
    with signal_col:
        filtered = st.toggle("Filtered (as the model sees it)", value=True, key="filtered")
        calipers = st.toggle("Calipers", key="calipers",
                             help="Dragging on the trace draws a box that reads as calipers: interval (ms), rate "
                                  "(bpm) and amplitude difference (mV).")
    signal = filter_mv(ecg.signal, ecg.fs) if filtered else ecg.signal
    sheet_start_s = scored_window_s[0] if scored_window_s else 0.0
    shade = scored_window_s if scored_window_s and ecg.duration_s > scored_window_s[1] - scored_window_s[0] else None
    if view == "12-lead sheet":
        fig = sheet_figure(ecg, signal, start_s=sheet_start_s, highlights=highlights, marked_leads=marked_leads)
        hidden = hidden_highlights(ecg, highlights, layout="sheet", start_s=sheet_start_s)
    else:
        with window_col:
            longest = max(ecg.duration_s - 2.5, 0.0)
            start = st.slider("Display from (s)", 0.0, float(longest), 0.0, 0.5, key="window",
                              help="Where the rows view starts; short windows are drawn at full resolution.") \
                if longest else 0.0
            span = st.select_slider("Display length (s)", [2.5, 5.0, 10.0], value=10.0, key="span")
        fig = rows_figure(ecg, signal, start_s=start, duration_s=span, highlights=highlights, scored_window_s=shade,
                          marked_leads=marked_leads)
        hidden = hidden_highlights(ecg, highlights, layout="rows", start_s=start, duration_s=span)
    if shade is not None:
        st.caption(f"The model read {shade[0]:.1f}-{shade[1]:.1f} s of this {ecg.duration_s:.1f}-s record"
                   + (" (shown on the sheet)." if view == "12-lead sheet" else " (shaded blue)."))
    if calipers:  # a drag draws a selection box (Plotly's box select works over lines too)
        fig.update_layout(dragmode="select")
    event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode="box", key=f"trace_{view}",
                            config={"displaylogo": False, "scrollZoom": True})
    if hidden:
        st.caption(describe_hidden(hidden))
    reading = _caliper_reading(event) if calipers else None
    if reading is not None:
        st.markdown(f"**Calipers:** {reading.describe()}")
    else:
        st.caption(CALIPER_USE if calipers else CALIPER_HELP)


def _caliper_reading(event) -> Caliper | None:
    """The last box drawn on the trace as calipers, or None when there is none."""
    selection = event.get("selection") if isinstance(event, dict) else None
    boxes = (selection or {}).get("box") or []
    for box in reversed(boxes):
        try:
            return caliper_from_box(box["x"], box["y"])
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _scored_window(ecg, predictor: Predictor | None, record_id: int) -> float:
    """The start (s) of the 10 s the model reads (and the measurements measure); on a longer record
    the reviewer chooses it. Without a model, the window measured."""
    window_s = predictor.preprocess_config.window_s if predictor is not None else DEFAULT_PARAMS.max_window_s
    latest_start = math.floor((ecg.duration_s - window_s) * 10) / 10  # never past the record's end
    if latest_start <= 0:
        return 0.0
    if predictor is None:
        return st.slider(f"Window measured: start (s) of {window_s:g} s out of {ecg.duration_s:.1f} s", 0.0,
                         latest_start, 0.0, 0.5, key=f"measured_{record_id}",
                         help="The measurements are made on this stretch of the record.")
    start = st.slider(
        f"Window the model reads: start (s) of {window_s:g} s out of {ecg.duration_s:.1f} s", 0.0, latest_start,
        0.0, 0.5, key=f"scored_{record_id}",
        help="The model reads 10 s. Move this to score another part of the record; the findings, saliency and "
             "your verdict then refer to that window (it is stored with the prediction).")
    return workspace.scored_window_start_s(ecg, predictor, start)


def _prediction(db, record_id: int, ecg, predictor: Predictor, user: SessionUser,
                start_s: float) -> tuple[Prediction, int]:
    prediction_id = workspace.ensure_prediction(db, record_id, ecg, predictor, actor=user.actor, start_s=start_s)
    stored = workspace.stored_scores(db, prediction_id)  # the run's own thresholds, as the worklist and dashboard use
    probabilities = np.array([stored[label][0] for label in predictor.labels])
    thresholds = np.array([stored[label][1] for label in predictor.labels])
    return predictor.rank(ecg.record_name, probabilities, thresholds=thresholds), prediction_id


@st.cache_data(max_entries=256, show_spinner="Measuring...")
def _cached_measurement(content_hash: str, start_s: float | None, algorithm_version: str, *, _ecg) -> Measurements:
    """One measurement per (record, window, algorithm version), shared by every session."""
    return measure(_ecg, start_s=start_s)


def _measurements(db, record_id: int, ecg, start_s: float, user: SessionUser) -> workspace.WindowMeasurements | None:
    """The scored window's measurements, measured once per server (cached) and stored once per version."""
    def cached(record, start_s=None):
        return _cached_measurement(record.content_hash(), start_s, ALGORITHM_VERSION, _ecg=record)

    try:
        return workspace.ensure_window_measurements(db, record_id, ecg, start_s=start_s, actor=user.actor,
                                                    measure_fn=cached)
    except (ECGError, DBError) as exc:
        st.error(f"No measurements: {exc}")
        return None


@st.cache_data(max_entries=256, show_spinner="Checking the signal quality...")
def _cached_assessment(content_hash: str, start_s: float, version: str, *, _ecg, _measured) -> Assessment:
    """One assessment per (record, window, assessment version), shared by every session: of the window
    measured, reusing its measurements (``_measured``; None: assess measures)."""
    return assess(_ecg, start_s=start_s, measurements=_measured)


def _assessment(ecg, start_s: float, measured: Measurements | None) -> Assessment | None:
    try:
        return _cached_assessment(ecg.content_hash(), float(start_s), ASSESSMENT_VERSION, _ecg=ecg, _measured=measured)
    except (ECGError, ValueError) as exc:
        st.caption(f"Signal quality not assessed: {exc}")
        return None


def _assessment_banner(assessed: Assessment) -> None:
    """Above the sheet: whether the record can be interpreted, a likely electrode swap, pacing."""
    if not assessed.interpretable:
        st.error("Not interpretable: " + _escape("; ".join(assessed.reasons)), icon=":material/block:")
    if assessed.reversal:
        st.warning(f"Possible electrode reversal: {assessed.reversal} "
                   f"({_escape(assessed.reversal_criteria.get(assessed.reversal, 'criteria met'))}). "
                   "Check the electrode positions; record again if confirmed.", icon=":material/swap_horiz:")
    if assessed.paced:
        st.warning("Paced rhythm: the model's findings are not validated for paced ECGs.", icon=":material/bolt:")
    if assessed.warnings:
        st.caption("Signal quality: " + "; ".join(_escape(w) for w in assessed.warnings))


def _corrected_view(ecg, assessed: Assessment | None, record_id: int):  # noqa: ANN202 - (Record, bool)
    """With a correctable reversal detected, a toggle to draw the leads with the cables put back
    (``ecgcore.reversal.correct_reversal``). Only the drawing changes: the record stays stored, measured
    and scored as recorded."""
    if assessed is None or assessed.reversal not in CORRECTABLE_REVERSALS:
        return ecg, False
    if not st.toggle(f"View corrected leads ({assessed.reversal} undone)", key=f"corrected_leads_{record_id}",
                     help="Draws the leads as they would read with the electrodes in their places. A view only: "
                          "the record stays stored as recorded; measurements and model findings are of the "
                          "recording."):
        return ecg, False
    st.caption(f"Leads shown with the {assessed.reversal} reversal undone (a view; the record is stored as "
               "recorded). Saliency and lead marks are drawn on the recorded leads only.")
    return correct_reversal(ecg, assessed.reversal), True


def _not_trusted_because(assessed: Assessment | None) -> str | None:
    """Why the model's findings are shown for reference only (None: they are not)."""
    if assessed is None:
        return None
    why = []
    if not assessed.interpretable:
        why.append("not interpretable (" + "; ".join(assessed.reasons) + ")")
    if assessed.paced:
        why.append("paced rhythm, the model is not validated for paced ECGs")
    return "; ".join(why) or None


def _marked_leads(assessed: Assessment | None) -> dict[str, str]:
    """Leads with a quality problem -> its short name ("flat", "saturated", "muscle noise", ...)."""
    if assessed is None:
        return {}
    return {lead: values["problems"][0].split(":")[0] for lead, values in assessed.per_lead.items()
            if values.get("problems")}


def _measurement_line(measured: Measurements) -> None:
    """The cart's line of global measurements, then what a reader must know before trusting it:
    flags (AF, pacing, unreliable values), why a value is missing (it prints as a dash), notes."""
    reasons = reasons_by_text(measured)
    st.markdown(f"**Measurements:** `{cart_line(measured)}`",
                help=f"Measured on this window by algorithm {measured.algorithm_version} (intervals and axes on "
                     "the median beat, the rate over all beats); not the model's output."
                     + ("  \n\nNot measured (" + MISSING + "): " + "; ".join(reasons) if reasons else ""))
    remarks = [f":orange-badge[{flag}]" for flag in flags(measured)]
    if reasons:
        remarks.append(f"{MISSING} not measured: " + "; ".join(reasons))
    remarks += list(measured.notes)
    if remarks:
        st.caption(" · ".join(remarks))


def _device_line(reading: DeviceReading) -> None:
    """The device's measurements as a cart line, right under ours, in the same columns."""
    st.markdown(f"**The device's reading:** `{values_line(reading.measurements)}`",
                help=f"{_escape(device_reading_title(reading.source))}: the measurements stored in the hospital "
                     "file, as the acquiring device or ECG system made them; neither ours nor the model's.")


def _escape(text: str) -> str:
    """File text shown as Markdown literally (a statement such as "QRS area>0 in V2")."""
    return re.sub(r"([\\`*_\[\]<>$~|])", r"\\\1", text)


def _statement_list(texts: Sequence[str]) -> None:
    st.markdown("\n".join(f"- {_escape(text)}" for text in texts))


def _device_panel(reading: DeviceReading, measured: Measurements | None) -> None:
    """The device's reading, apart from the model's findings and from our statements: ours against
    the device's, measurement by measurement, and its interpretation (the original in an expander
    when the file shows it was edited)."""
    st.subheader(_escape(device_reading_title(reading.source)), divider=DEVICE_COLOUR)
    st.caption("Stored in the hospital file by the acquiring device or ECG system: neither the model's findings nor "
               "our measurements.")
    ours = measured.global_values() if measured is not None else {}
    rows = [row.cells() for row in device_comparison(ours, reading.measurements)]
    st.table(pd.DataFrame(rows, columns=list(COMPARISON_HEADINGS)).set_index(COMPARISON_HEADINGS[0]))
    edited = statements_edited(reading.statements, reading.original_statements)
    if reading.statements:
        st.markdown("**The device's statements" + (" (as edited in the ECG system)**" if edited else "**"))
        _statement_list(reading.statements)
    elif not reading.original_statements:
        st.caption("The file holds no interpretation statements.")
    if edited:
        with st.expander("The device's original statements (before editing)"):
            _statement_list(reading.original_statements)


def _statements_panel(measured: Measurements, ecg) -> None:
    """The measurement-based statements, apart from (never merged with) the model's findings."""
    st.subheader("Measurement-based statements", divider=MEASURED_COLOUR)
    st.caption("From the measured intervals, axes and voltages by fixed criteria, not from the model.")
    found = statements(measured, sex=ecg.sex, age=ecg.age)
    if not found:
        st.caption("No statement: no criterion is met, or the values it needs were not measured.")
    for statement in found:
        st.markdown(f"- **{statement.text}**: {statement.criterion_text}")


def _median_beats_panel(measured: Measurements) -> None:
    with st.expander("Median beats with the measurement marks (P on/off, QRS on/off, T end)"):
        if measured.median_beats is None:
            st.caption("No median beat: " + (measured.why_missing("qrs_ms") or "too few beats were found") + ".")
            return
        # one row per lead of the record (a lead left out of the measurements, e.g. a flat one, keeps its row)
        leads = measured.leads if measured.median_beats.shape[0] == len(measured.leads) else measured.measured_leads
        st.plotly_chart(median_beats_figure(measured.median_beats, leads, measured.fs, measured.fiducials),
                        width="stretch", config={"displaylogo": False, "scrollZoom": True})
        st.caption("Each lead's median beat (25 mm/s, 10 mm/mV); the marks are the global fiducials the intervals "
                   "are measured between, drawn on every lead.")


def _value_label(name: str, values: dict[str, float | None]) -> str:
    measure_def, value = GLOBAL_MEASURE_BY_NAME[name], values.get(name)
    return f"{measure_def.label} (ours: {MISSING if value is None else f'{value:.0f}'} {measure_def.unit})"


def _correction_form(db, record_id: int, user: SessionUser, window: workspace.WindowMeasurements) -> None:
    """Correct one global measurement: a value or "cannot be measured", with a note; versioned and audited."""
    st.subheader("Correct a measurement")
    values = window.measurements.global_values()
    with st.form(f"correct_{record_id}", clear_on_submit=True):
        name = st.selectbox("Measurement", GLOBAL_MEASURE_NAMES, format_func=lambda n: _value_label(n, values),
                            key=f"cm_name_{record_id}")
        value = st.number_input("Your value (ms; bpm for the rate; degrees for an axis)", value=None, step=1.0,
                                format="%.0f", key=f"cm_value_{record_id}")
        cannot = st.checkbox("Cannot be measured on this ECG", key=f"cm_none_{record_id}")
        note = st.text_input("Note (optional)", max_chars=MAX_NOTE_LENGTH, key=f"cm_note_{record_id}")
        if st.form_submit_button("Save correction"):
            label = GLOBAL_MEASURE_BY_NAME[name].label
            current = corrections_for(db, record_id).get(user.name, name)
            if value is None and not cannot:
                st.error(f"Enter your {label} value, or tick \"Cannot be measured\".")
            else:
                try:
                    saved = correct_measurement(db, record_id, user.name, name, None if cannot else value,
                                                note or None, measurement_id=window.measurement_id,
                                                expected_version=current.version if current else 0)
                except DBError as exc:
                    st.error(str(exc))
                else:
                    st.success(f"Saved your {label} (version {saved.version}).")
    mine = [c for c in corrections_for(db, record_id).latest if c.reviewer.name == user.name]
    if mine:
        st.caption("Your corrections: " + "; ".join(
            f"{GLOBAL_MEASURE_BY_NAME[c.name].label} "
            + ("cannot be measured" if c.value is None else f"{c.value:g} {GLOBAL_MEASURE_BY_NAME[c.name].unit}")
            + f" (v{c.version}, ours {MISSING if c.measured_value is None else f'{c.measured_value:g}'})"
            for c in mine))


def _findings_table(prediction: Prediction, reference_only: str | None = None) -> None:
    """The finding's name comes last, so a long name never pushes the numbers out of view.
    ``reference_only``: why the findings are not to be trusted; the table is then grey, in a closed expander."""
    table = pd.DataFrame(
        [{"Positive": f.positive, "Probability": f.probability, "Threshold": f.threshold,
          "Finding": display_label(f.label)}
         for f in prediction.findings]
    )
    if reference_only:
        st.caption(_escape(f"Shown for reference only: {reference_only}."))
        with st.expander("Model findings (for reference only)", expanded=False):
            _findings_dataframe(table.style.set_properties(color="#9e9e9e"))
    else:
        _findings_dataframe(table)


@st.cache_data(max_entries=256, show_spinner=False)
def _cached_distribution(content_hash: str, model: str, start_s: float, *, _ecg, _predictor) -> DistributionCheck:
    return check_distribution(_ecg, _predictor, start_s=start_s)


def _distribution_note(ecg, predictor: Predictor, start_s: float) -> None:
    """The out-of-distribution check (:mod:`ecgcore.ood`) beside the findings it qualifies."""
    try:
        checked = _cached_distribution(ecg.content_hash(), predictor.name, float(start_s), _ecg=ecg, _predictor=predictor)
    except ECGError as exc:
        st.caption(f"Not compared with the training data: {_escape(str(exc))}")
        return
    if not checked.in_distribution:
        st.warning("Unlike this model's training data, read the findings with care: "
                   + _escape("; ".join(checked.warnings)) + ".", icon=":material/travel_explore:")
    elif checked.score is not None:
        st.caption(f"Like the training data: further from it than {checked.score:.0%} of held-out training-like "
                   f"records (a warning from {predictor.card.ood.get('score_limit', SCORE_LIMIT):.0%}).")


def _findings_dataframe(table) -> None:
    st.dataframe(
        table, hide_index=True, width="stretch",
        column_config={
            "Positive": st.column_config.CheckboxColumn(width="small"),
            "Probability": st.column_config.ProgressColumn(format="%.3f", min_value=0.0, max_value=1.0, width="small"),
            "Threshold": st.column_config.NumberColumn(format="%.3f", width="small"),
            "Finding": st.column_config.TextColumn(width="large"),
        },
    )


@st.cache_data(max_entries=256, show_spinner="Computing saliency...")
def _cached_explanation(content_hash: str, model: str, label: str, method: str, start_s: float, *, _ecg,
                        _predictor) -> Explanation:
    """One explanation per (record, model, label, method, window), shared by every session."""
    return explain(_predictor, _ecg, label, method, start_s=start_s)


def _saliency_panel(ecg, predictor: Predictor, prediction: Prediction, start_s: float) -> list[Highlight]:
    """Pick a finding and a method; returns the segments to shade on the trace."""
    st.subheader("Why? Saliency")
    label = st.selectbox("Finding", [f.label for f in prediction.findings], format_func=display_label,
                         key="explain_label")
    method_col, toggle_col = st.columns([3, 2])
    method = method_col.selectbox("Method", METHODS, format_func=METHOD_NAMES.get, key="explain_method")
    if not toggle_col.toggle("Show on the trace", key="explain_on"):
        return []
    try:
        result = _cached_explanation(ecg.content_hash(), predictor.name, label, method, start_s, _ecg=ecg,
                                     _predictor=predictor)
    except ECGError as exc:
        st.error(f"No explanation: {exc}")
        return []
    words = result.describe()
    st.write(f"**{display_label(label)}** (p={result.probability:.2f}): evidence in " + ("; ".join(words) if words else "no clear segment"))
    if result.top_leads():
        st.caption("Leads with most evidence: " + ", ".join(result.top_leads()) + f". Method: {METHOD_NAMES[method]}, "
                   f"{result.seconds:.2f} s.")
    leads_for = (lambda lead: list(ecg.leads)) if method == "gradcam" else (lambda lead: [lead])
    return [
        Highlight(name, seg.start_s + result.window_start_s, seg.end_s + result.window_start_s, seg.weight / max(
            max(s.weight for s in result.segments), 1e-9))
        for seg in result.segments
        for name in (leads_for(seg.lead) if seg.lead != ALL_LEADS else list(ecg.leads))
    ]


def model_call(finding: Finding) -> str:
    """The model's call on one finding, as shown beside the reviewer's answer."""
    sign = "≥" if finding.probability >= finding.threshold else "<"
    call = "present" if finding.positive else "absent"
    text = f"model: {call}, p = {finding.probability:.2f} {sign} {finding.threshold:.2f}"
    if not finding.positive and finding.probability >= finding.threshold:
        text += " (not called: see the model's notes)"
    return text


def _previous_answers(db, record_id: int, user: SessionUser, version: int) -> dict[str, str]:
    """The reviewer's own answers of their latest saved version (empty for a first reading)."""
    if not version:
        return {}
    history = review_history(db, record_id, user.name)
    return {v.label: v.verdict for v in history[-1].verdicts} if history else {}


def _verdict_form(db, record_id: int, user: SessionUser, prediction: Prediction | None, prediction_id: int | None,
                  blinded: bool, version: int) -> None:
    """``version``: the reviewer's latest saved version of this record (0 = first reading)."""
    st.subheader("Your verdict" + (f" (you saved version {version}; saving adds a new version)" if version else ""))
    offered = list(prediction.findings[:FORM_FINDINGS]) if prediction is not None and not blinded else []
    previous = _previous_answers(db, record_id, user, version)
    with st.form(f"verdict_{record_id}", clear_on_submit=False):
        verdicts: dict[str, str | None] = {}
        for finding in offered:
            own = previous.get(finding.label)
            verdicts[finding.label] = st.radio(
                f"**{display_label(finding.label)}** :gray[{model_call(finding)}]", VERDICT_CHOICES,
                index=VERDICT_CHOICES.index(own) if own in VERDICT_CHOICES else None,
                horizontal=True, key=f"v_{record_id}_{finding.label}",
            )
        shown = set(verdicts)
        added = st.multiselect("Findings the model did not list (present)",
                               [label for label in finding_labels() if label not in shown],
                               format_func=display_label, select_all=False, key=f"add_{record_id}")
        confidence = st.slider("Confidence", 1, 5, 4, key=f"conf_{record_id}")
        comment = st.text_area("Comment", max_chars=2000, key=f"comment_{record_id}")
        adjudicate = False
        if allowed(user.role, "adjudicate"):
            adjudicate = st.checkbox("This is an adjudication (overrides the majority)", key=f"adj_{record_id}")
        if st.form_submit_button("Save verdict", type="primary", shortcut=SAVE_VERDICT_KEY):
            if not verdicts and not added:
                st.error("Nothing to save: give at least one verdict or add a finding.")
                return
            missing = [label for label, answer in verdicts.items() if answer is None]
            if missing:
                st.error("Answer every listed finding before saving; no answer yet for: "
                         + ", ".join(display_label(label) for label in missing) + ".")
                return
            answers = {**verdicts, **{label: "present" for label in added}}
            warnings = contradictions(answers)
            warned_key = f"_warned_{record_id}"
            if warnings and st.session_state.get(warned_key) != answers:
                st.session_state[warned_key] = answers
                st.warning("These answers contradict each other:\n\n"
                           + "\n".join(f"- {w}" for w in warnings)
                           + "\n\nChange them, or save again to keep them as they are.")
                return
            st.session_state.pop(warned_key, None)
            try:
                save_review(
                    db, record_id, user.name, verdicts, added=added, saw_model_output=not blinded,
                    prediction_id=None if blinded else prediction_id, confidence=confidence,
                    comment=comment or None, adjudication=adjudicate, expected_version=version,
                    time_spent_s=max(0.0, time.time() - st.session_state.get("opened_at", time.time())),
                )
            except DBError as exc:
                st.error(str(exc))
            else:
                judged = [f for f in offered if verdicts[f.label] != "uncertain"]
                agree = sum((verdicts[f.label] == "present") == f.positive for f in judged)
                st.success(f"Saved (version {version + 1})."
                           + (f" You agree with the model on {agree} of {len(judged)} finding(s)." if judged else ""))


def page() -> None:
    db = services.database()
    user: SessionUser = st.session_state["_user"]
    _record_picker(db, user)
    record_id = st.session_state.get("record_id")
    if record_id is None:
        st.title("Review")
        st.caption("Open the next record of the worklist or upload an ECG (left).")
        return
    try:
        ecg = load_ecg(db, record_id)
    except DBError as exc:
        st.error(str(exc))
        return
    st.subheader(f"Record {record_id}: {ecg.record_name}")
    st.caption(f"{ecg.n_leads} lead(s), {ecg.fs:g} Hz, {ecg.duration_s:.1f} s")
    acquired = ecg.acquisition
    line = acquisition_line(acquired.acquired_at if acquired else None, acquired.device if acquired else None,
                            acquired.site if acquired else None, ecg.age, ecg.sex)
    if line:
        st.caption(_escape(line))
    timeline = patient_timeline(db, record_id, user.role, user=user.actor, shown_labels=overread.shown_labels())
    _patient_line(db, record_id, user, timeline)
    figure_slot = st.container()
    highlights: list[Highlight] = []
    findings_col, verdict_col = st.columns([3, 2], gap="large")

    predictor = services.predictor_for(ecg)
    version = workspace.latest_review_version(db, record_id, user.name)
    blinded = not sees_model_output(user.role, version)
    start_s = _scored_window(ecg, predictor, record_id)
    prediction = prediction_id = None
    window = _measurements(db, record_id, ecg, start_s, user)
    assessed = _assessment(ecg, start_s, window.measurements if window is not None else None)
    reference_only = _not_trusted_because(assessed)
    with findings_col:
        if predictor is None:
            st.warning(f"No trained {'single' if ecg.n_leads == 1 else '12'}-lead model is installed: no findings are shown.")
        elif blinded:
            st.info("Blinded reading: the model's findings appear after you save your own verdict.")
        else:
            try:
                prediction, prediction_id = _prediction(db, record_id, ecg, predictor, user, start_s)
            except ECGError as exc:
                st.error(f"The model cannot score this record: {exc}")
            else:
                st.subheader("Model findings", divider=MODEL_COLOUR)
                st.caption(f"Model: {predictor.name}. Positives first; probabilities against per-label thresholds.")
                _findings_table(prediction, reference_only)
                _distribution_note(ecg, predictor, start_s)
                for note in prediction.notes:
                    st.caption(_escape(note))
                highlights = _saliency_panel(ecg, predictor, prediction, start_s)
        if window is not None:
            _statements_panel(window.measurements, ecg)
        if ecg.device_reading is not None:
            _device_panel(ecg.device_reading, window.measurements if window is not None else None)
    window_s = predictor.preprocess_config.window_s if predictor is not None else None
    with figure_slot:
        if assessed is not None:
            _assessment_banner(assessed)
        if window is not None:
            _measurement_line(window.measurements)
        if ecg.device_reading is not None:
            _device_line(ecg.device_reading)
        shown, corrected = _corrected_view(ecg, assessed, record_id)
        _draw_ecg(shown, [] if corrected else highlights, (start_s, start_s + window_s) if window_s else None,
                  {} if corrected else _marked_leads(assessed))
        if window is not None:
            _median_beats_panel(window.measurements)
        overread.prior_comparison(db, record_id, user)
    if allowed(user.role, "review"):
        with verdict_col:
            _verdict_form(db, record_id, user, prediction, prediction_id, blinded, version)
    if window is not None and allowed(user.role, "correct_measurements"):
        with verdict_col:
            _correction_form(db, record_id, user, window)
    with verdict_col:
        overread.final_report(db, record_id, user, ecg, blinded=blinded,
                              measured=window.measurements if window is not None else None, prediction=prediction,
                              start_s=start_s, patient_key=timeline.patient_key)


def _open_timeline(record_id: int) -> None:
    st.session_state["timeline_record_id"] = record_id
    st.session_state["_go_timeline"] = True


def _patient_line(db, record_id: int, user: SessionUser, timeline) -> None:
    """Whose ECG (a pseudonym, never for viewers), how many the patient has, the way to the timeline;
    for an unlinked record, the link to a patient (uploaders)."""
    if st.session_state.pop("_go_timeline", False) and "_pages" in st.session_state:
        st.switch_page(st.session_state["_pages"]["timeline"])
    text_col, button_col = st.columns([4, 1])
    if timeline.linked:
        who = f"Patient {overread.pseudonym(timeline.patient_key)}" if timeline.patient_key else "A linked patient"
        text_col.caption(f"{who}: {len(timeline.entries)} ECG(s) in the store.")
        button_col.button("Patient timeline", key="to_timeline", on_click=_open_timeline, args=(record_id,),
                          icon=":material/timeline:")
    else:
        text_col.caption("Not linked to a patient: no prior ECG, no timeline.")
        with button_col:
            overread.link_patient(db, record_id, user)
