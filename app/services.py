"""Long-lived objects shared by every session: the store and the loaded models.

Created once per server process (``st.cache_resource``); tests clear the cache after changing
``ECG_DB_URL`` / ``ECG_DATA_DIR`` / ``ECG_MODEL_DIR``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import streamlit as st

from db import model_registry, workspace
from db.session import Database
from ecgcore import config
from ecgcore.demo import demo_records, read_demo, samples_dir
from ecgcore.errors import NoDefaultModelError
from ecgcore.predict import Predictor
from ecgcore.record import Record
from ecgcore.routing import model_lead_count


@st.cache_resource(show_spinner="Opening the review store...")
def database() -> Database:
    """The store (created and migrated on first use), with the env admin and demo records in it."""
    db = Database()
    workspace.bootstrap_admin_from_env(db)
    paths = [samples_dir() / name for name in demo_records()]
    workspace.preload_records(db, paths, lambda record: predictor_for(record, db), read_demo_path)
    return db


def read_demo_path(path) -> Record:  # noqa: ANN001 - a Path under the samples folder
    return read_demo(str(path.relative_to(samples_dir())))


def predictor(n_leads: int, db: Database | None = None) -> Predictor | None:
    """The default model for ``n_leads``-lead records: the one an admin promoted in the store
    (:mod:`db.model_registry`, one small query per page run), else the shipped default; None when
    there is none. A promotion or rollback takes effect at the next page run of every session."""
    decision = model_registry.current_default(db or database(), n_leads)
    if decision is None:
        return _shipped_predictor(n_leads)
    return _promoted_predictor(decision)


@st.cache_resource(show_spinner="Loading model...")
def _shipped_predictor(n_leads: int) -> Predictor | None:
    try:
        return Predictor.default(n_leads)
    except NoDefaultModelError:
        return None


@st.cache_resource(show_spinner="Loading the promoted model...", max_entries=4,
                   hash_funcs={model_registry.Decision: lambda d: (d.id, d.weights_sha256)})
def _promoted_predictor(decision: model_registry.Decision) -> Predictor:
    """Loaded once per decision; its weights are checked against the sha256 recorded at promotion."""
    return Predictor(model_registry.verified_bundle(decision))


@st.cache_resource(show_spinner="Loading model...", max_entries=4)
def predictor_at(path: str) -> Predictor:
    """A bundle directory or an official checkpoint, loaded once per server process."""
    return Predictor(path)


ACTIVE_KEY = "active_bundles"  # session choice: {n_leads: bundle path}


def choose_bundle(n_leads: int, path: str | None) -> None:
    """Use ``path`` for ``n_leads``-lead records in this session (None: back to the default)."""
    chosen = st.session_state.setdefault(ACTIVE_KEY, {})
    if path is None:
        chosen.pop(n_leads, None)
    else:
        chosen[n_leads] = path


def predictor_for_leads(n_leads: int, db: Database | None = None) -> Predictor | None:
    """The model for ``n_leads``-lead records (1 or 12): the session's choice from the Models page
    when there is one, else the default (:func:`predictor`)."""
    chosen = st.session_state.get(ACTIVE_KEY, {}).get(n_leads)
    return predictor_at(chosen) if chosen else predictor(n_leads, db)


def predictor_for(record: Record, db: Database | None = None) -> Predictor | None:
    """The model for this record, by the one routing rule (:func:`ecgcore.routing.model_lead_count`)."""
    return predictor_for_leads(model_lead_count(record), db)


def predictor_for_background_job() -> Callable[[Record], Predictor | None]:
    """This session's models, resolved now on the script thread, as a plain function for a job thread.

    A background thread has no Streamlit session: reading ``st.session_state`` or
    ``st.cache_resource`` there only logs "missing ScriptRunContext" (and would miss the session's
    model choice), so the page resolves both models before the thread starts.
    """
    models = {n_leads: predictor_for_leads(n_leads) for n_leads in (1, 12)}
    return lambda record: models[model_lead_count(record)]


def upload_limit_mb() -> int:
    """The upload box's limit in MB: ``ECG_MAX_FILE_MB``, the same limit the readers enforce."""
    return max(1, math.ceil(config.megabytes(config.MAX_FILE_BYTES)))


def apply_upload_limit() -> None:
    """Make Streamlit's own upload limit (``server.maxUploadSize``, checked by its upload endpoint
    on every request) the one ``ECG_MAX_FILE_MB`` setting, instead of a second number in config.toml."""
    from streamlit import config as streamlit_config

    if streamlit_config.get_option("server.maxUploadSize") != upload_limit_mb():
        streamlit_config.set_option("server.maxUploadSize", upload_limit_mb())
