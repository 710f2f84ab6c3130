"""Sign-in, first-start administrator, session checks, reload-proof sessions, password changes.

Passwords, roles and the rules about them live in :mod:`db.users`; this module only keeps the
browser session in step with the account:

* every page run reads the account again, so a role change, deactivation, deletion or password
  reset (each bumps the account's ``session_epoch``) signs the session out at once;
* a signed, expiring token in a cookie (:mod:`db.session_tokens`) lets a reload (F5) resume the
  session; it expires after the idle time-out and is renewed while the user works;
* signing out ends the user's sessions everywhere (other tabs, stolen cookies).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import streamlit as st

from db import config, session_tokens, settings, users
from db.errors import DBError
from db.session import Database

SESSION_KEY = "signed_in"
COOKIE_NAME = "ecg_session"
_COOKIE_CHECKED = "_session_cookie_checked"  # only the first run of a browser session reads the cookie
_COOKIE_RENEW_FRACTION = 0.25  # renew the cookie once this fraction of its lifetime has passed


@dataclass(frozen=True)
class SessionUser:
    name: str
    role: str
    demo: bool = False  # the read-only demo visitor: a viewer with no account
    must_change_password: bool = False

    @property
    def actor(self) -> str | None:
        """The name to record as acting user; the demo visitor acts as nobody."""
        return None if self.demo else self.name


def timeout_s() -> float:
    return config.session_timeout_s()


def _end(db: Database, notice: str, reason: str = "signed out") -> None:
    sign_out(db, reason=reason, everywhere=False)
    st.session_state["notice"] = notice


def _account_changed_notice(db: Database, state: dict) -> str | None:
    """Why the signed-in account may no longer use this session, or None when it still may."""
    account = users.session_account(db, state["user_id"])
    if account is None or account.deleted_at is not None:
        return "Your account was deleted; you have been signed out."
    if not account.active:
        return "Your account was deactivated; you have been signed out."
    if (account.session_epoch or 0) != state["epoch"]:
        return ("Your account was changed (role, status or password) since you signed in; please sign in again."
                if account.role == state["role"] else
                f"Your role changed from {state['role']} to {account.role}; please sign in again.")
    return None


def _restore_from_cookie(db: Database) -> None:
    """At a browser session's first run (a new tab or a reload), resume a valid signed session."""
    if st.session_state.get(_COOKIE_CHECKED):
        return
    st.session_state[_COOKIE_CHECKED] = True
    user = session_tokens.verify(db, st.context.cookies.get(COOKIE_NAME))
    if user is not None:
        _start_session(user)


def current_user(db: Database) -> SessionUser | None:
    """The signed-in user, or None; a session past the idle time-out, or whose account changed, is
    signed out with a notice saying why."""
    _restore_from_cookie(db)
    state = st.session_state.get(SESSION_KEY)
    if state is None:
        return None
    if time.time() - state["last_active"] > timeout_s():
        _end(db, "Your session timed out; please sign in again.", reason="session timed out")
        return None
    if state.get("demo"):
        if not settings.get(db, settings.DEMO_MODE):
            _end(db, "The demo mode was switched off.")
            return None
    else:
        notice = _account_changed_notice(db, state)
        if notice is not None:
            _end(db, notice, reason="account changed")
            return None
    state["last_active"] = time.time()
    return SessionUser(state["name"], state["role"], demo=bool(state.get("demo")),
                       must_change_password=bool(state.get("must_change_password")))


def _cookie_script(value: str, max_age_s: int) -> str:
    secure = "(location.protocol === 'https:' ? '; Secure' : '')"
    return (f"<script>document.cookie = {json.dumps(COOKIE_NAME)} + '=' + {json.dumps(value)} + "
            f"'; Max-Age={max_age_s}; Path=/; SameSite=Strict' + {secure};</script>")


def keep_session_cookie(db: Database) -> None:
    """Write (or renew) the signed session cookie when it is due; call once per page run."""
    state = st.session_state.get(SESSION_KEY)
    if state is None or state.get("demo") or state.get("must_change_password"):
        return
    lifetime_s = timeout_s()
    if time.time() - state.get("cookie_at", 0.0) < _COOKIE_RENEW_FRACTION * lifetime_s:
        return
    account = users.session_account(db, state["user_id"])
    if account is None:
        return
    st.html(_cookie_script(session_tokens.issue(db, account, lifetime_s), int(lifetime_s)),
            unsafe_allow_javascript=True, width="content")
    state["cookie_at"] = time.time()


def clear_session_cookie() -> None:
    """Forget the cookie in this browser (the sign-in page calls it after a sign-out)."""
    if st.session_state.pop("_clear_cookie", False):
        st.html(_cookie_script("", 0), unsafe_allow_javascript=True, width="content")


def sign_out(db: Database, reason: str = "signed out", *, everywhere: bool = True) -> None:
    """End this session; an explicit sign-out (``everywhere``) also revokes the user's other sessions."""
    state = st.session_state.pop(SESSION_KEY, None)
    if state is not None and not state.get("demo"):
        try:
            users.record_logout(db, state["name"], reason=reason, everywhere=everywhere)
        except DBError:
            pass  # a user deleted meanwhile: nothing to audit against
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[_COOKIE_CHECKED] = True  # a stale cookie must not sign the user back in
    st.session_state["_clear_cookie"] = True


def _start_session(user) -> None:  # noqa: ANN001 - a db.models.User
    st.session_state[SESSION_KEY] = {
        "user_id": user.id, "name": user.name, "role": user.role, "epoch": user.session_epoch or 0,
        "must_change_password": bool(user.must_change_password), "demo": False, "last_active": time.time(),
    }


def _start_demo_session() -> None:
    st.session_state[SESSION_KEY] = {"name": "demo visitor", "role": "viewer", "demo": True,
                                     "last_active": time.time()}


def password_help() -> str:
    return f"At least {users.MIN_PASSWORD_LENGTH} characters, not the user name."


class _PasswordTwice:
    """A new password typed twice; ``value`` is None (with the error shown) when the two differ."""

    def __init__(self, label: str) -> None:
        self.first = st.text_input(f"{label} ({password_help()})", type="password")
        self.again = st.text_input(f"Repeat the {label.lower()}", type="password")

    @property
    def value(self) -> str | None:
        if self.first != self.again:
            st.error("The passwords differ.")
            return None
        return self.first


def _first_start_form(db: Database) -> None:
    st.subheader("First start: create the administrator account")
    with st.form("first_admin"):
        name = st.text_input("Administrator user name", help="Letters, digits, '.', '_' or '-'.")
        typed = _PasswordTwice("Password")
        if st.form_submit_button("Create administrator", type="primary"):
            password = typed.value
            if password is None:
                return
            try:
                _start_session(users.create_first_admin(db, name, password))
            except DBError as exc:
                st.error(str(exc))
                return
            st.rerun()


def sign_in_page(db: Database) -> None:
    """The only page reachable without an account: first-admin creation, then sign-in."""
    clear_session_cookie()
    st.title("ECG review workspace")
    notice = st.session_state.pop("notice", None)
    if notice:
        st.info(notice)
    if users.first_start_open(db):
        _first_start_form(db)
        return
    if not users.has_active_admin(db):
        st.warning("This workspace has no active administrator. The operator can create one on the server: "
                   "`python -m db create-user NAME --role admin`.")
    if settings.get(db, settings.DEMO_MODE):
        st.caption("A read-only demo is open to visitors: records and model output, no changes.")
        if st.button("Open the read-only demo"):
            _start_demo_session()
            st.rerun()
    with st.form("sign_in"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            try:
                user = users.authenticate(db, name.strip(), password)
            except DBError as exc:
                st.error(str(exc))
                return
            _start_session(user)
            st.rerun()


def change_password_form(db: Database, user: SessionUser, *, forced: bool = False) -> None:
    """Change one's own password; after an admin's reset (``forced``) nothing else is reachable first."""
    if forced:
        st.title("Choose a new password")
        st.info("An administrator reset your password. Choose a new one to continue.")
    with st.form("change_password", clear_on_submit=True):
        current = st.text_input("Current password" + (" (the temporary one)" if forced else ""), type="password")
        typed = _PasswordTwice("New password")
        if st.form_submit_button("Change password", type="primary"):
            new = typed.value
            if new is None:
                return
            try:
                account = users.change_password(db, user.name, current, new)
            except DBError as exc:
                st.error(str(exc))
                return
            _start_session(account)  # this session continues under the new epoch; others end
            st.session_state["notice_ok"] = "Password changed. Your other sessions were signed out."
            st.rerun()
    done = st.session_state.pop("notice_ok", None)
    if done:
        st.success(done)
