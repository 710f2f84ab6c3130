"""Agreement dashboard: reviewer counts, Cohen/Fleiss kappa, model vs consensus AUROC, exports."""

from __future__ import annotations

import streamlit as st

from app import charts, services
from app.auth import SessionUser
from db import workspace
from db.agreement import agreement_report
from db.errors import DBError
from db.permissions import allowed
from db.reader_study import model_auroc
from db.reviews import review_table


def page() -> None:
    db = services.database()
    user: SessionUser = st.session_state["_user"]
    st.title("Agreement")
    table = review_table(db)
    counts = table.reviews.groupby("reviewer")["record_id"].nunique() if not table.reviews.empty else table.reviews
    left, right = st.columns(2)
    with left:
        st.subheader("Reviews per reviewer")
        st.plotly_chart(charts.reviews_per_reviewer(counts), width="stretch")
    report = agreement_report(db)
    with right:
        st.subheader("Agreement per label (Fleiss)")
        st.plotly_chart(charts.kappa_by_label(report["labels"]), width="stretch")
    st.subheader("Agreement per reviewer pair (Cohen)")
    st.dataframe(report["pairs"], hide_index=True, width="stretch")

    st.subheader("Model vs the reviewers' consensus")
    auroc = model_auroc(db, n_boot=300)
    st.plotly_chart(charts.auroc_with_ci(auroc), width="stretch")
    confusion = workspace.reviewer_model_confusion(db)
    if not confusion.empty:
        label = st.selectbox("Reviewer vs model on", sorted(confusion["label"].unique()))
        st.plotly_chart(charts.reviewer_vs_model(confusion, label), width="stretch")

    st.subheader("Export")
    st.download_button("Verdicts (CSV)", workspace.verdicts_csv(db), file_name="verdicts.csv", mime="text/csv")
    if allowed(user.role, "export"):
        if st.button("Prepare the expert-review test set"):
            try:
                st.session_state["export_zip"] = workspace.export_zip(db, user.name)
            except DBError as exc:
                st.error(str(exc))
        if "export_zip" in st.session_state:
            st.download_button("Download expert-review set (zip)", st.session_state["export_zip"],
                               file_name="expert-review.zip", mime="application/zip")
