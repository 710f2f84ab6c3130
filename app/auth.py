"""Sign-in, first-start administrator, session time-out, sign-out. Passwords are checked by db.users."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import streamlit as st

from db import settings, users, workspace
from db.errors import DBError
from db.session import Database

SESSION_KEY = "signed_in"
TIMEOUT_ENV = "ECG_SESSION_TIMEOUT_MIN"


@dataclass(frozen=True)
class SessionUser:
    name: str
    role: str
    demo: bool = False  # the read-only demo visitor: a viewer with no account

    @property
    def actor(self) -> str | None:
        """The name to record as acting user; the demo visitor acts as nobody."""
        return None if self.demo else self.name


def timeout_s() -> float:
    return 60.0 * float(os.environ.get(TIMEOUT_ENV, "30"))


def current_user(db: Database) -> SessionUser | None:
    """The signed-in user, or None; an idle session past the time-out is signed out with a notice."""
    state = st.session_state.get(SESSION_KEY)
    if state is None:
        return None
    if time.time() - state["last_active"] > timeout_s():
        sign_out(db, reason="session timed out")
        st.session_state["notice"] = "Your session timed out; please sign in again."
        return None
    if state.get("demo") and not settings.get(db, settings.DEMO_MODE):
        sign_out(db)
        st.session_state["notice"] = "The demo mode was switched off."
        return None
    state["last_active"] = time.time()
    return SessionUser(state["name"], state["role"], demo=bool(state.get("demo")))


def sign_out(db: Database, reason: str = "signed out") -> None:
    state = st.session_state.pop(SESSION_KEY, None)
    if state is not None and not state.get("demo"):
        try:
            users.record_logout(db, state["name"], reason=reason)
        except DBError:
            pass  # a user deleted meanwhile: nothing to audit against
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def _start_session(name: str, role: str, demo: bool = False) -> None:
    st.session_state[SESSION_KEY] = {"name": name, "role": role, "demo": demo, "last_active": time.time()}


def sign_in_page(db: Database) -> None:
    """The only page reachable without an account: first-admin creation, then sign-in."""
    st.title("ECG review workspace")
    notice = st.session_state.pop("notice", None)
    if notice:
        st.info(notice)
    if not workspace.has_admin(db):
        st.subheader("First start: create the administrator account")
        with st.form("first_admin"):
            name = st.text_input("Administrator user name")
            password = st.text_input("Password (at least 8 characters)", type="password")
            confirm = st.text_input("Repeat the password", type="password")
            if st.form_submit_button("Create administrator", type="primary"):
                if password != confirm:
                    st.error("The passwords differ.")
                else:
                    try:
                        workspace.create_first_admin(db, name, password)
                        _start_session(name.strip(), "admin")
                        st.rerun()
                    except DBError as exc:
                        st.error(str(exc))
        return
    if settings.get(db, settings.DEMO_MODE):
        st.caption("A read-only demo is open to visitors: records and model output, no changes.")
        if st.button("Open the read-only demo"):
            _start_session("demo visitor", "viewer", demo=True)
            st.rerun()
    with st.form("sign_in"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            try:
                user = users.authenticate(db, name.strip(), password)
                _start_session(user.name, user.role)
                st.rerun()
            except DBError as exc:
                st.error(str(exc))
