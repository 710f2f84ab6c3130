"""Streamlit entry point of the review workspace: sign-in gate, then pages by role.

Run with ``ecg app`` or ``streamlit run app/main.py`` (the package installed: ``pip install -e .``). Pages only arrange what db/ and ecgcore/ do; see
``app/views``. Everything is behind sign-in.
"""

from __future__ import annotations

import streamlit as st

from app import auth, services
from app.views import account, admin, dashboard, model_card, review, timeline, worklist
from db.permissions import allowed


def main() -> None:
    st.set_page_config(page_title="ECG review workspace", page_icon=":anatomical_heart:", layout="wide")
    services.apply_upload_limit()
    db = services.database()
    user = auth.current_user(db)
    if user is None:
        st.navigation([st.Page(lambda: auth.sign_in_page(db), title="Sign in", url_path="signin")], position="hidden").run()
        return
    if user.must_change_password:
        st.navigation([st.Page(lambda: auth.change_password_form(db, user, forced=True), title="New password",
                               url_path="password")], position="hidden").run()
        return
    auth.keep_session_cookie(db)
    st.session_state["_user"] = user
    pages = {
        "review": st.Page(review.page, title="Review", icon=":material/ecg_heart:", url_path="review", default=True),
        "timeline": st.Page(timeline.page, title="Patient timeline", icon=":material/timeline:",
                            url_path="timeline"),
        "worklist": st.Page(worklist.page, title="Worklist", icon=":material/list:", url_path="worklist"),
        "agreement": st.Page(dashboard.page, title="Agreement", icon=":material/insights:", url_path="agreement"),
        "models": st.Page(model_card.page, title="Models", icon=":material/model_training:", url_path="models"),
    }
    if user.demo:  # visitors see records and model output, not reviewers' names and verdicts
        del pages["agreement"]
    if not user.demo:
        pages["account"] = st.Page(lambda: account.page(db, user), title="My account", icon=":material/person:",
                                   url_path="account")
    if allowed(user.role, "manage_users"):
        pages["admin"] = st.Page(admin.page, title="Admin", icon=":material/admin_panel_settings:", url_path="admin")
    st.session_state["_pages"] = pages
    with st.sidebar:
        st.markdown("**Read-only demo**" if user.demo else f"Signed in as **{user.name}** ({user.role})")
        if st.button("Leave the demo" if user.demo else "Sign out"):
            auth.sign_out(db)
            st.rerun()
        st.caption("Research software: model output is not a diagnosis.")
    st.navigation(list(pages.values())).run()


main()
