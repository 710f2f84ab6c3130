"""Admin: users and roles, audit log."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import services
from app.auth import SessionUser
from db import audit, settings, users
from db.errors import DBError
from db.models import ROLES


def page() -> None:
    db = services.database()
    me: SessionUser = st.session_state["_user"]
    st.title("Administration")
    st.subheader("Users")
    rows = [{"name": u.name, "role": u.role, "active": u.active, "deleted": u.deleted_at is not None}
            for u in users.list_users(db, include_deleted=True)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    with st.form("new_user", clear_on_submit=True):
        st.markdown("**Add a user**")
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("User name")
        role = c2.selectbox("Role", ROLES)
        password = c3.text_input("Initial password", type="password")
        if st.form_submit_button("Create user"):
            try:
                users.create_user(db, name, role, password, actor=me.name)
                st.success(f"Created {name} ({role}).")
            except DBError as exc:
                st.error(str(exc))
    with st.form("change_user"):
        st.markdown("**Change a user**")
        active_names = [r["name"] for r in rows if not r["deleted"]]
        c1, c2, c3 = st.columns(3)
        target = c1.selectbox("User", active_names)
        new_role = c2.selectbox("New role", ROLES)
        action = c3.selectbox("Action", ["set role", "deactivate", "reactivate", "delete"])
        if st.form_submit_button("Apply"):
            try:
                if action == "set role":
                    users.set_role(db, target, new_role, actor=me.name)
                elif action in ("deactivate", "reactivate"):
                    users.set_active(db, target, action == "reactivate", actor=me.name)
                else:
                    users.delete_user(db, target, actor=me.name)
                st.success(f"{action}: {target}")
            except DBError as exc:
                st.error(str(exc))
    st.subheader("Read-only demo mode")
    demo_on = settings.get(db, settings.DEMO_MODE)
    wanted = st.toggle("Let visitors browse records and model output without an account (no changes possible)",
                       value=bool(demo_on), key="demo_mode")
    if wanted != demo_on:
        settings.set_value(db, settings.DEMO_MODE, wanted, actor=me.name)
        st.success("Demo mode " + ("on" if wanted else "off") + ".")
    st.subheader("Audit log")
    names = {u.id: u.name for u in users.list_users(db, include_deleted=True)}
    log = [{"at": e.at, "user": names.get(e.user_id, ""), "action": e.action, "target": e.target or "",
            "details": "" if e.details is None else str(e.details)} for e in audit.events(db, limit=200)]
    st.caption("The 200 most recent events, newest first. Entries can never be edited or deleted.")
    st.dataframe(pd.DataFrame(log), hide_index=True, width="stretch")
