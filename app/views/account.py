"""My account: who I am, and changing my own password."""

from __future__ import annotations

import streamlit as st

from app import auth
from db.session import Database


def page(db: Database, user: auth.SessionUser) -> None:
    st.title("My account")
    st.write(f"Signed in as **{user.name}** ({user.role}).")
    st.subheader("Change my password")
    auth.change_password_form(db, user)
