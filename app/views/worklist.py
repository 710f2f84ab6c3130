"""Worklist: records awaiting review, in the order they should be taken, with filters."""

from __future__ import annotations

import streamlit as st

from app import jobs, services
from app.auth import SessionUser
from db.assessments import QUALITY_PROBLEMS, matches_problems, quality_label, stored_quality
from db.consensus import WAITING_STATUSES, status_label
from db.permissions import BLINDED_ROLES, allowed

UNCERTAINTY_HELP = (
    "How close the latest model run comes to changing one of its calls, over the labels the model "
    "shows (its trained labels): exp(-min |logit(p) - logit(threshold)|), i.e. for the label closest "
    "to its threshold, the ratio of the probability's odds to the threshold's odds. 1: a call sits on "
    "its threshold (a verdict there teaches the model most); 0.5: the closest call is 2-fold off in "
    "odds; 0.1: 10-fold; near 0: every call is clear-cut. Blank: no model run, or hidden until you "
    "save your own reading. The order also weighs the other labels' calls and how far a record lies from "
    "those already reviewed (docs/experiments/active_learning.md)."
)
QUALITY_HELP = (
    "ecgcore.assess on the record's first 10 s, stored at import: ok; not interpretable (the first reason: "
    "a flat or saturated lead, too much noise, too few beats); an electrode reversal (e.g. LA/RA); paced. "
    "Not model output: shown to everyone. 'not assessed': imported before assessments were stored "
    "(python -m db assess fills them in)."
)
SCOPES = {  # what the "Show" choice lists -> db.workspace.worklist(scope=...)
    "records I have not read": "unread",
    "awaiting my adjudication": "adjudication",
    "all waiting records": "all",
}


def page() -> None:
    from db import workspace

    db = services.database()
    user: SessionUser = st.session_state["_user"]
    st.title("Worklist")
    left, mid, right = st.columns(3)
    order = left.selectbox("Order", ["priority", "uncertainty", "oldest"],
                           help="priority: adjudication, then second reviews, then new records; "
                                "uncertainty: where a verdict teaches the model most (the measured acquisition "
                                "order: uncertain calls, away from what was already reviewed; "
                                "docs/experiments/active_learning.md); oldest: by upload")
    scopes = [label for label, scope in SCOPES.items() if scope != "adjudication" or allowed(user.role, "adjudicate")]
    shown = mid.radio("Show", scopes, key="worklist_scope")
    statuses = right.multiselect("Status", list(WAITING_STATUSES), default=list(WAITING_STATUSES),
                                 format_func=status_label, key="worklist_statuses")
    if allowed(user.role, "upload"):
        bulk_import_panel(user)
    problems = st.multiselect("Only records that are", list(QUALITY_PROBLEMS), default=[], key="worklist_quality",
                              help="Filter on the stored signal assessment; empty: every record")
    table = workspace.worklist(db, reviewer=user.name, role=user.role, scope=SCOPES[shown], order=order)
    table = table[table["status"].isin(statuses)]
    stored = stored_quality(db, table["record_id"].tolist())
    table = table[matches_problems(stored, table["record_id"], problems)]
    st.caption(f"{len(table)} record(s)")
    if user.role in BLINDED_ROLES:
        st.caption("You read blinded: a record's model score appears once you saved your own reading of it.")
    if table.empty:
        st.info("Nothing is waiting.")
        return
    quality = [quality_label(stored[int(rid)]) if int(rid) in stored else "not assessed" for rid in table["record_id"]]
    st.dataframe(
        table.drop(columns=["unresolved"]).assign(status=table["status"].map(status_label), Quality=quality),
        hide_index=True, width="stretch",
        column_config={"uncertainty": st.column_config.ProgressColumn(
            "model uncertainty", min_value=0.0, max_value=1.0, format="%.3f", help=UNCERTAINTY_HELP),
            "Quality": st.column_config.TextColumn("Quality", help=QUALITY_HELP)},
    )
    chosen = st.selectbox("Open record", table["record_id"].tolist(),
                          format_func=lambda rid: f"{rid}: {table.set_index('record_id').loc[rid, 'name']}")
    if st.button("Open in Review", type="primary"):
        st.session_state["record_id"] = int(chosen)
        st.switch_page(st.session_state["_pages"]["review"])


def bulk_import_panel(user: SessionUser) -> None:
    """Upload a zip of many ECGs; the import runs in the background with a progress bar."""
    from db import workspace

    with st.expander("Bulk import (a .zip of many ECG files)"):
        limit_mb = services.upload_limit_mb()
        archive = st.file_uploader(f"Zip archive (up to {limit_mb} MB, ECG_MAX_FILE_MB)", type=["zip"], key="bulk_zip",
                                   max_upload_size=limit_mb)
        if archive is not None and st.button("Start import"):
            data, db, predictor_for = archive.getvalue(), services.database(), services.predictor_for_background_job()
            st.session_state["bulk_job"] = jobs.start(
                "bulk-import",
                lambda report: workspace.import_archive(db, data, predictor_for=predictor_for,
                                                        uploader=user.name, on_progress=report),
            )
        if "bulk_job" in st.session_state:
            _bulk_progress()


@st.fragment(run_every=1.0)
def _bulk_progress() -> None:
    job = jobs.get(st.session_state["bulk_job"])
    if job is None:
        return
    report = job.result or job.progress
    if report is not None and report.total:
        st.progress(report.done / report.total, text=f"{report.done} of {report.total} files")
    if job.error:
        st.error(f"The import stopped: {job.error}")
    elif job.done and report is not None:
        st.success(f"Imported {report.new} new record(s); {report.duplicates} already in the store; "
                   f"{len(report.errors)} file(s) skipped.")
        for line in report.error_lines():
            st.text(line)
