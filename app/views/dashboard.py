"""Agreement page: reviewer counts, Cohen/Fleiss kappa, model vs consensus AUROC, our measurements
against the reviewers' corrections, exports.

It only arranges :func:`db.dashboard_data.agreement_view`, which already applies who sees what
(pseudonyms, no model-vs-reviewer sections for blinded annotators, exports for exporters).
"""

from __future__ import annotations

import streamlit as st

from app import charts, services
from app.auth import SessionUser
from db import dashboard_data, workspace
from db.agreement import AUROC_SIZE_NOTE, SAMPLE_SIZE_NOTE
from db.errors import DBError


def page() -> None:
    db = services.database()
    user: SessionUser = st.session_state["_user"]
    st.title("Agreement")
    view = dashboard_data.agreement_view(db, user.role)
    st.caption(SAMPLE_SIZE_NOTE)
    left, right = st.columns(2)
    with left:
        st.subheader("Reviews per reviewer")
        st.plotly_chart(charts.reviews_per_reviewer(view.records_per_reviewer), width="stretch")
    with right:
        st.subheader("Agreement per label (Fleiss)")
        st.plotly_chart(charts.kappa_by_label(view.labels), width="stretch")
        with st.expander("As a table"):
            st.dataframe(charts.statistics_table(view.labels), hide_index=True, width="stretch")
    st.subheader("Agreement per reviewer pair (Cohen)")
    if view.pairs.empty:
        st.caption("No two reviewers have read the same record yet.")
    else:
        st.dataframe(charts.statistics_table(view.pairs), hide_index=True, width="stretch")

    if view.auroc is not None:
        st.subheader("Model vs the reviewers' consensus")
        st.caption(AUROC_SIZE_NOTE)
        st.plotly_chart(charts.auroc_with_ci(view.auroc), width="stretch")
        with st.expander("As a table"):
            st.dataframe(charts.statistics_table(view.auroc), hide_index=True, width="stretch")
    if view.confusion is not None and not view.confusion.empty:
        st.subheader("Each reviewer vs the model")
        label = st.selectbox("Reviewer vs model on", sorted(view.confusion["label"].unique()))
        st.plotly_chart(charts.reviewer_vs_model(view.confusion, label), width="stretch")

    _measurements_section(db, user)

    if view.can_export:
        st.subheader("Export")
        st.download_button("Verdicts (CSV)", lambda: dashboard_data.verdicts_csv(db, actor=user.actor),
                           file_name="verdicts.csv", mime="text/csv")
        if st.button("Prepare the expert-review test set"):
            try:
                st.session_state["export_zip"] = workspace.export_zip(db, user.actor)
            except DBError as exc:
                st.error(str(exc))
        if "export_zip" in st.session_state:
            st.download_button("Download expert-review set (zip)", st.session_state["export_zip"],
                               file_name="expert-review.zip", mime="application/zip")


def _measurements_section(db, user: SessionUser) -> None:
    """Our interval measurements against the reviewers' corrections (:func:`db.dashboard_data.measurement_agreement`)."""
    st.subheader("Measurements: ours vs the reviewers' corrections")
    agreement = dashboard_data.measurement_agreement(db, user.role)
    if agreement.rows.empty:
        st.caption("No reviewer has corrected a measurement yet (the Review page has the form).")
        return
    st.caption("Difference = reviewer minus ours (axes: the signed angle), over each reviewer's current correction. "
               "Only corrected values count, so this describes the corrections, not every measurement.")
    st.dataframe(charts.measurement_agreement_table(agreement.summary), hide_index=True, width="stretch")
    corrected = [name for name in agreement.summary["name"] if name in set(agreement.rows["name"])]
    labels = dict(zip(agreement.summary["name"], agreement.summary["label"], strict=True))
    name = st.selectbox("Scatter of", corrected, format_func=labels.get, key="measurement_scatter")
    st.plotly_chart(charts.measurement_scatter(agreement.rows, name), width="stretch")
