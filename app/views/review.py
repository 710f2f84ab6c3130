"""Review: open a record (next in the worklist, or an upload), read it on ECG paper, see the model's
ranked findings, record a verdict. Annotators label blinded: the model's output stays hidden until
they have saved their own reading of the record.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import streamlit as st

from app import services
from app.auth import SessionUser
from app.figures import Highlight, describe_hidden, hidden_highlights, rows_figure, sheet_figure
from db import workspace
from db.errors import DBError
from db.permissions import allowed, sees_model_output
from db.records import load_ecg
from db.reviews import save_review
from ecgcore.errors import ECGError
from ecgcore.explain import METHODS, Explanation, explain
from ecgcore.explain_display import ALL_LEADS
from ecgcore.io import upload_help, upload_label
from ecgcore.labels import ecgfounder_labels
from ecgcore.predict import Prediction, Predictor
from ecgcore.preprocessing import filter_mv

VERDICT_CHOICES = ("present", "absent", "uncertain")
NEXT_RECORD_KEY = "Alt+N"     # Streamlit reserves C and R; Ctrl+N opens a browser window
SAVE_VERDICT_KEY = "Alt+S"
FORM_FINDINGS = 8  # findings offered for a verdict: positives first, then the most probable
METHOD_NAMES = {"ig": "Integrated gradients", "gradcam": "Grad-CAM (fast, coarse)", "occlusion": "Occlusion",
                "saliency": "Gradient saliency"}


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


def _draw_ecg(ecg, highlights: list[Highlight], scored_window_s: tuple[float, float] | None) -> None:
    """The trace on ECG paper. The sheet shows the 10 s the model read; the rows view any window,
    with the model's window shaded when the record is longer than it. Saliency segments outside the
    view are listed in words, never silently dropped."""
    view_col, signal_col, window_col = st.columns([1, 1, 2])
    sheet_ok = ecg.is_12_lead
    with view_col:
        view = st.radio("Layout", ["12-lead sheet", "One lead per row"] if sheet_ok else ["One lead per row"],
                        horizontal=True, key="layout")
    with signal_col:
        filtered = st.toggle("Filtered (as the model sees it)", value=True, key="filtered")
    signal = filter_mv(ecg.signal, ecg.fs) if filtered else ecg.signal
    sheet_start_s = scored_window_s[0] if scored_window_s else 0.0
    shade = scored_window_s if scored_window_s and ecg.duration_s > scored_window_s[1] - scored_window_s[0] else None
    if view == "12-lead sheet":
        fig = sheet_figure(ecg, signal, start_s=sheet_start_s, highlights=highlights)
        hidden = hidden_highlights(ecg, highlights, layout="sheet", start_s=sheet_start_s)
    else:
        with window_col:
            longest = max(ecg.duration_s - 2.5, 0.0)
            start = st.slider("Display from (s)", 0.0, float(longest), 0.0, 0.5, key="window",
                              help="Where the rows view starts; short windows are drawn at full resolution.") \
                if longest else 0.0
            span = st.select_slider("Display length (s)", [2.5, 5.0, 10.0], value=10.0, key="span")
        fig = rows_figure(ecg, signal, start_s=start, duration_s=span, highlights=highlights, scored_window_s=shade)
        hidden = hidden_highlights(ecg, highlights, layout="rows", start_s=start, duration_s=span)
    if shade is not None:
        st.caption(f"The model read {shade[0]:.1f}-{shade[1]:.1f} s of this {ecg.duration_s:.1f}-s record"
                   + (" (shown on the sheet)." if view == "12-lead sheet" else " (shaded blue)."))
    st.plotly_chart(fig, width="stretch", config={"displaylogo": False, "scrollZoom": True})
    if hidden:
        st.caption(describe_hidden(hidden))


def _scored_window(ecg, predictor: Predictor | None, record_id: int) -> float:
    """The start (s) of the 10 s the model reads; on a longer record the reviewer chooses it."""
    window_s = predictor.preprocess_config.window_s if predictor is not None else 10.0
    latest_start = math.floor((ecg.duration_s - window_s) * 10) / 10  # never past the record's end
    if predictor is None or latest_start <= 0:
        return 0.0
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


def _findings_table(prediction: Prediction) -> None:
    """The finding's name comes last, so a long name never pushes the numbers out of view."""
    table = pd.DataFrame(
        [{"Positive": f.positive, "Probability": f.probability, "Threshold": f.threshold, "Finding": f.label}
         for f in prediction.findings]
    )
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
    label = st.selectbox("Finding", [f.label for f in prediction.findings], key="explain_label")
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
    st.write(f"**{label}** (p={result.probability:.2f}): evidence in " + ("; ".join(words) if words else "no clear segment"))
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


def _verdict_form(db, record_id: int, user: SessionUser, prediction: Prediction | None, prediction_id: int | None,
                  blinded: bool, version: int) -> None:
    """``version``: the reviewer's latest saved version of this record (0 = first reading)."""
    st.subheader("Your verdict" + (f" (you saved version {version}; saving adds a new version)" if version else ""))
    offered = list(prediction.findings[:FORM_FINDINGS]) if prediction is not None and not blinded else []
    with st.form(f"verdict_{record_id}", clear_on_submit=False):
        verdicts: dict[str, str] = {}
        for finding in offered:
            default = 0 if finding.positive else 1
            verdicts[finding.label] = st.radio(
                f"{finding.label}  (model p={finding.probability:.2f})", VERDICT_CHOICES, index=default,
                horizontal=True, key=f"v_{record_id}_{finding.label}",
            )
        shown = set(verdicts)
        added = st.multiselect("Findings the model did not list (present)",
                               [label for label in ecgfounder_labels() if label not in shown], key=f"add_{record_id}")
        confidence = st.slider("Confidence", 1, 5, 4, key=f"conf_{record_id}")
        comment = st.text_area("Comment", max_chars=2000, key=f"comment_{record_id}")
        adjudicate = False
        if allowed(user.role, "adjudicate"):
            adjudicate = st.checkbox("This is an adjudication (overrides the majority)", key=f"adj_{record_id}")
        if st.form_submit_button("Save verdict", type="primary", shortcut=SAVE_VERDICT_KEY):
            if not verdicts and not added:
                st.error("Nothing to save: give at least one verdict or add a finding.")
                return
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
                st.success(f"Saved (version {version + 1}).")


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
    st.caption(
        f"{ecg.n_leads} lead(s), {ecg.fs:g} Hz, {ecg.duration_s:.1f} s"
        + (f", age {ecg.age:g}" if ecg.age is not None else "") + (f", sex {ecg.sex}" if ecg.sex else "")
    )
    figure_slot = st.container()
    highlights: list[Highlight] = []
    findings_col, verdict_col = st.columns([3, 2], gap="large")

    predictor = services.predictor_for(ecg)
    version = workspace.latest_review_version(db, record_id, user.name)
    blinded = not sees_model_output(user.role, version)
    start_s = _scored_window(ecg, predictor, record_id)
    prediction = prediction_id = None
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
                st.subheader("Model findings")
                st.caption(f"Model: {predictor.name}. Positives first; probabilities against per-label thresholds.")
                _findings_table(prediction)
                highlights = _saliency_panel(ecg, predictor, prediction, start_s)
    window_s = predictor.preprocess_config.window_s if predictor is not None else None
    with figure_slot:
        _draw_ecg(ecg, highlights, (start_s, start_s + window_s) if window_s else None)
    if allowed(user.role, "review"):
        with verdict_col:
            _verdict_form(db, record_id, user, prediction, prediction_id, blinded, version)
