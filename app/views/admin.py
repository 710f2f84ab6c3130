"""Admin: users and roles (changes confirmed before they apply), password resets, demo mode, audit log."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from app import auth, services
from app.auth import SessionUser
from db import audit, settings, users
from db.errors import DBError
from db.models import AUDIT_ACTIONS, ROLES

AUDIT_PAGE_SIZE = 100
_PENDING = "admin_pending_change"
_FLASH = "admin_flash"


def _users_table(db) -> list[dict]:  # noqa: ANN001
    rows = [{"name": u.name, "role": u.role, "active": u.active, "deleted": u.deleted_at is not None,
             "must change password": u.must_change_password}
            for u in users.list_users(db, include_deleted=True)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    return rows


def _describe(change: dict) -> str:
    if change["action"] == "set role":
        return f"change the role of **{change['target']}** from {change['old_role']} to **{change['role']}**"
    return f"**{change['action']}** the account **{change['target']}**"


def _apply(db, me: SessionUser, change: dict) -> None:  # noqa: ANN001
    action, target = change["action"], change["target"]
    if action == "set role":
        users.set_role(db, target, change["role"], actor=me.name)
    elif action in ("deactivate", "reactivate"):
        users.set_active(db, target, action == "reactivate", actor=me.name)
    elif action == "delete":
        users.delete_user(db, target, actor=me.name)
    elif action == "reset password":
        users.reset_password(db, target, change["password"], actor=me.name)


def _change_user_panel(db, me: SessionUser, rows: list[dict]) -> None:  # noqa: ANN001
    """Pick a change, then confirm it: nothing applies on the first click."""
    pending = st.session_state.get(_PENDING)
    if pending is not None:
        st.warning("Please confirm: " + _describe(pending) + "." + (
            " They will be signed out at once." if pending["action"] != "reactivate" else ""))
        confirm_col, cancel_col, _ = st.columns([1, 1, 4])
        if confirm_col.button("Confirm", type="primary"):
            st.session_state.pop(_PENDING)
            try:
                _apply(db, me, pending)
            except DBError as exc:
                st.session_state[_FLASH] = ("error", str(exc))
            else:
                st.session_state[_FLASH] = ("success", f"Done: {_describe(pending).replace('**', '')}.")
            st.rerun()
        if cancel_col.button("Cancel"):
            st.session_state.pop(_PENDING)
            st.rerun()
        return
    with st.form("change_user"):
        st.markdown("**Change a user**")
        current = {r["name"]: r for r in rows if not r["deleted"]}
        c1, c2, c3, c4 = st.columns(4)
        target = c1.selectbox("User", list(current))
        action = c2.selectbox("Action", ["set role", "deactivate", "reactivate", "delete", "reset password"])
        new_role = c3.selectbox("New role (for set role)", ROLES)
        temporary = c4.text_input("Temporary password (for reset)", type="password", help=auth.password_help())
        if st.form_submit_button("Apply…") and target is not None:
            st.session_state[_PENDING] = {"action": action, "target": target, "role": new_role,
                                          "old_role": current[target]["role"], "password": temporary}
            st.rerun()


def _new_user_form(db, me: SessionUser) -> None:  # noqa: ANN001
    with st.form("new_user", clear_on_submit=True):
        st.markdown("**Add a user**")
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("User name", help="Letters, digits, '.', '_' or '-'.")
        role = c2.selectbox("Role", ROLES)
        password = c3.text_input("Initial password", type="password", help=auth.password_help())
        change_first = st.checkbox("Must choose a new password at the first sign-in", value=True)
        if st.form_submit_button("Create user"):
            try:
                users.create_user(db, name, role, password, actor=me.name, must_change_password=change_first)
            except DBError as exc:
                st.session_state[_FLASH] = ("error", str(exc))
            else:
                st.session_state[_FLASH] = ("success", f"Created {name.strip()} ({role}).")
            st.rerun()


def _audit_log(db, me: SessionUser, names: dict[int, str]) -> None:  # noqa: ANN001
    st.subheader("Audit log")
    c1, c2, c3 = st.columns(3)
    by_name = {name: uid for uid, name in names.items()}
    who = c1.selectbox("Events of user", ["everyone", *sorted(by_name)], key="audit_user")
    action = c2.selectbox("Events of action", ["all", *AUDIT_ACTIONS], key="audit_action")
    days = c3.date_input("From - to (UTC)", value=(), key="audit_days")
    filters = {"user_id": by_name.get(who), "action": None if action == "all" else action}
    if isinstance(days, tuple) and len(days) == 2:
        filters["since"] = datetime.combine(days[0], time.min, tzinfo=UTC)
        filters["until"] = datetime.combine(days[1], time.min, tzinfo=UTC) + timedelta(days=1)
    total = audit.count(db, **filters)
    n_pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page_no = st.number_input(f"Page (of {n_pages}; {total} events, newest first)", 1, n_pages, 1, key="audit_page")
    events = audit.events(db, limit=AUDIT_PAGE_SIZE, offset=(int(page_no) - 1) * AUDIT_PAGE_SIZE, **filters)
    log = [{"at": e.at, "user": names.get(e.user_id, ""), "action": e.action, "target": e.target or "",
            "details": "" if e.details is None else str(e.details)} for e in events]
    st.caption("Entries can never be edited or deleted.")
    st.dataframe(pd.DataFrame(log, columns=["at", "user", "action", "target", "details"]), hide_index=True,
                 width="stretch")
    if st.button("Prepare CSV of these events"):
        st.session_state["audit_csv"] = audit.events_csv(db, actor=me.name, **filters)
    if "audit_csv" in st.session_state:
        st.download_button("Download audit log (CSV)", st.session_state["audit_csv"], file_name="audit_log.csv",
                           mime="text/csv")


def page() -> None:
    db = services.database()
    me: SessionUser = st.session_state["_user"]
    st.title("Administration")
    flash = st.session_state.pop(_FLASH, None)
    if flash:
        getattr(st, flash[0])(flash[1])
    st.subheader("Users")
    rows = _users_table(db)
    _new_user_form(db, me)
    _change_user_panel(db, me, rows)
    st.subheader("Read-only demo mode")
    demo_on = settings.get(db, settings.DEMO_MODE)
    wanted = st.toggle("Let visitors browse records and model output without an account (no changes possible)",
                       value=bool(demo_on), key="demo_mode")
    if wanted != demo_on:
        settings.set_value(db, settings.DEMO_MODE, wanted, actor=me.name)
        st.success("Demo mode " + ("on" if wanted else "off") + ".")
    _audit_log(db, me, {u.id: u.name for u in users.list_users(db, include_deleted=True)})
