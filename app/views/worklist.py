"""Worklist: records awaiting review, in the order they should be taken, with filters."""

from __future__ import annotations

import streamlit as st

from app import services
from app.auth import SessionUser


def page() -> None:
    from db import workspace

    db = services.database()
    user: SessionUser = st.session_state["_user"]
    st.title("Worklist")
    left, mid, right = st.columns(3)
    order = left.selectbox("Order", ["priority", "uncertainty", "oldest"],
                           help="priority: adjudication, then second reviews, then new records; "
                                "uncertainty: where a verdict teaches the model most")
    mine = mid.toggle("Only records I have not read", value=True)
    statuses = right.multiselect("Status", ["needs_adjudication", "needs_second_review", "needs_first_review"],
                                 default=["needs_adjudication", "needs_second_review", "needs_first_review"])
    table = workspace.worklist(db, reviewer=user.name if mine else None, order=order)
    table = table[table["status"].isin(statuses)]
    st.caption(f"{len(table)} record(s)")
    if table.empty:
        st.info("Nothing is waiting.")
        return
    st.dataframe(
        table.drop(columns=["unresolved"]), hide_index=True, width="stretch",
        column_config={"uncertainty": st.column_config.ProgressColumn("model uncertainty", min_value=0.0, max_value=1.0)},
    )
    chosen = st.selectbox("Open record", table["record_id"].tolist(),
                          format_func=lambda rid: f"{rid}: {table.set_index('record_id').loc[rid, 'name']}")
    if st.button("Open in Review", type="primary"):
        st.session_state["record_id"] = int(chosen)
        st.switch_page(st.session_state["_pages"]["review"])
