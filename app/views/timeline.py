"""Patient timeline: the ECGs of the patient of the record open on the review page, newest first,
each with its key measurements and its confirmed statements (or "unconfirmed"), and a button to
open it in review. What a role sees is the store's decision (``db.overread.patient_timeline``):
viewers never get the patient key, blinded annotators no confirmed report of a record they have
not read."""

from __future__ import annotations

import time

import streamlit as st

from app import overread, services
from app.auth import SessionUser
from db.errors import DBError
from db.overread import TIMELINE_MEASURES, TimelineEntry, patient_timeline
from ecgcore.measurements import GLOBAL_MEASURE_BY_NAME

# The values a timeline row prints (rate, PR, QRS, QTc; the store gives QT and the axis too).
SHOWN = ("heart_rate_bpm", "pr_ms", "qrs_ms", "qtc_bazett_ms")
assert set(SHOWN) <= set(TIMELINE_MEASURES)


def _open_in_review(record_id: int) -> None:
    st.session_state["record_id"] = record_id
    st.session_state["opened_at"] = time.time()
    st.session_state["_go_review"] = True


def _values(entry: TimelineEntry) -> str:
    cells = []
    for name in SHOWN:
        measure_def, value = GLOBAL_MEASURE_BY_NAME[name], entry.measurements.get(name)
        cells.append(f"{measure_def.label} " + ("—" if value is None else f"{value:.0f} {measure_def.unit}"))
    return " · ".join(cells)


def _entry(entry: TimelineEntry) -> None:
    with st.container(border=True):
        text_col, button_col = st.columns([5, 1])
        with text_col:
            current = " (this record)" if entry.is_current else ""
            st.markdown(f"**{overread.when_text(entry.acquired_at, entry.acquired_at_is_upload_time)}** · "
                        f"record {entry.record_id}: {entry.record_name}{current}")
            where = " · ".join(x for x in (entry.device, entry.site) if x)
            if where:
                st.caption(where)
            st.markdown(f"`{_values(entry)}`")
            if entry.confirmed:
                st.markdown(f"Confirmed statements ({entry.confirmed}, version {entry.report_version}): "
                            + (", ".join(entry.statements) or "none"))
                if entry.conclusion:
                    st.caption(f"Conclusion: {entry.conclusion}")
            else:
                st.markdown("*unconfirmed*")
        button_col.button("Open in review", key=f"open_{entry.record_id}", on_click=_open_in_review,
                          args=(entry.record_id,))


def page() -> None:
    db = services.database()
    user: SessionUser = st.session_state["_user"]
    if st.session_state.pop("_go_review", False) and "_pages" in st.session_state:
        st.switch_page(st.session_state["_pages"]["review"])
    st.title("Patient timeline")
    record_id = st.session_state.get("timeline_record_id", st.session_state.get("record_id"))
    if record_id is None:
        st.caption("Open a record on the Review page first; its patient's ECGs are listed here.")
        return
    try:
        timeline = patient_timeline(db, record_id, user.role, user=user.actor, shown_labels=overread.shown_labels())
    except DBError as exc:
        st.error(str(exc))
        return
    if not timeline.linked:
        st.caption(f"Record {record_id} is not linked to a patient: its timeline is itself.")
    elif timeline.patient_key:
        st.caption(f"Patient {overread.pseudonym(timeline.patient_key)}: {len(timeline.entries)} ECG(s), newest first.")
    else:
        st.caption(f"{len(timeline.entries)} ECG(s) of this patient, newest first.")
    for entry in timeline.entries:
        _entry(entry)
