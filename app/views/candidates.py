"""Models page, "Candidates" section: the learning loop (issue #21) arranged for people.

Cardiologists and admins start a candidate from the reviews (a background job: progress bar,
cancellable, the store stays usable); everyone who sees the Models page sees each candidate's
comparison with the current default; admins promote, reject and roll back. Everything is done by
``train.candidate``, ``train.compare`` and ``db.model_registry``; this module only arranges.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from app import jobs, services
from app.auth import SessionUser
from db import model_registry
from db.errors import DBError
from db.permissions import allowed
from db.session import Database
from ecgcore.bundle import load_card
from ecgcore.errors import ECGError
from train.candidate import CandidateConfig, candidate_from_store
from train.compare import comparison_table

JOB_KEY = "candidate_job"
SUMMARY_COLUMNS = {"n_records": "records", "macro_auroc_base": "macro AUROC current",
                   "macro_auroc_candidate": "macro AUROC candidate", "macro_diff": "difference",
                   "ece_base": "ECE current", "ece_candidate": "ECE candidate", "brier_base": "Brier current",
                   "brier_candidate": "Brier candidate", "n_changed_calls": "calls changed",
                   "n_calls_fixed": "fixed", "n_calls_broken": "broken"}


def section(user: SessionUser) -> None:
    db = services.database()
    st.header("Candidates from the reviews")
    current = model_registry.current_default(db, 12)
    st.write("Default 12-lead model: " + (f"**{current.display_name}**, {current.action}d by {current.user or 'the operator'} "
                                          f"on {current.at:%Y-%m-%d %H:%M}" if current else "**the shipped default**"))
    if allowed(user.role, "train_candidates"):
        _start_panel(db, user)
    paths = model_registry.candidates()
    if not paths:
        st.info("No candidate yet. A cardiologist or admin trains one from the reviewed records here, or with "
                "`ecg train from-reviews`.")
    else:
        labels = {str(p): f"{load_card(p).display_name} ({model_registry.status_of(db, p, len(load_card(p).input_leads))})"
                  for p in paths}
        chosen = Path(st.selectbox("Candidate", list(labels), format_func=labels.get, key="candidate_choice"))
        _candidate(db, user, chosen)
    if allowed(user.role, "manage_models"):
        _rollback_panel(db, user)


def _start_panel(db: Database, user: SessionUser) -> None:
    job = jobs.get(st.session_state.get(JOB_KEY, ""))
    if job is not None and not job.done:
        _progress()
        return
    with st.expander("Train a candidate from the reviewed records"):
        st.caption("Fine-tunes the current default on the records whose consensus is final (a part held out, "
                   "patient by patient), then compares both models. It runs in the background; nothing changes "
                   "for anyone until an admin promotes the candidate.")
        cols = st.columns(3)
        epochs = cols[0].number_input("Epochs", min_value=1, max_value=50, value=5, key="candidate_epochs")
        holdout = cols[1].number_input("Held out for evaluation", min_value=0.1, max_value=0.5, value=0.3, step=0.05,
                                       key="candidate_holdout")
        seed = cols[2].number_input("Seed", min_value=0, value=0, key="candidate_seed")
        if st.button("Train a candidate", type="primary", key="candidate_start"):
            config = CandidateConfig(epochs=int(epochs), holdout_fraction=float(holdout), seed=int(seed))
            name = user.name
            st.session_state[JOB_KEY] = jobs.start(
                "candidate",
                lambda report, should_stop: candidate_from_store(
                    db, actor=name, config=config, should_stop=should_stop,
                    on_progress=lambda fraction, stage: report({"fraction": fraction, "stage": stage})),
                cancellable=True)
            st.rerun()
    if job is not None and job.done:
        if job.error:
            st.error(f"The candidate was not made: {job.error}")
        else:
            st.success(f"Candidate {job.result.card.display_name} is ready: see its comparison below.")


@st.fragment(run_every=1.0)
def _progress() -> None:
    job = jobs.get(st.session_state.get(JOB_KEY, ""))
    if job is None:
        return
    if job.done:
        st.rerun()  # the whole page: the new candidate appears in the list
    progress = job.progress or {"fraction": 0.0, "stage": "starting"}
    st.progress(min(1.0, float(progress["fraction"])), text=f"Candidate: {progress['stage']}")
    if job.cancel_requested.is_set():
        st.caption("Stopping at the next step...")
    elif st.button("Cancel", key="candidate_cancel"):
        jobs.cancel(job.id)


def _candidate(db: Database, user: SessionUser, path: Path) -> None:
    card = load_card(path)
    comparison = card.metrics.get("comparison") or {}
    st.subheader(card.display_name)
    st.write(card.description)
    if not comparison:
        st.warning("This bundle's card holds no comparison: it was not made by the learning loop.")
        return
    base = comparison.get("base", {})
    st.caption(f"Compared with {base.get('name')} v{base.get('version')} on the same records; 95% CIs from "
               f"{comparison.get('n_boot')} bootstrap resamples, paired for the differences.")
    summary = pd.DataFrame([{"set": name, **{label: s.get(key) for key, label in SUMMARY_COLUMNS.items()},
                             "difference 95% CI": _ci(s.get("macro_diff_ci"))}
                            for name, s in comparison.get("sets", {}).items()])
    st.dataframe(summary, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in SUMMARY_COLUMNS.values()
                                if c not in ("records", "calls changed", "fixed", "broken")})
    worse = model_registry.worse_claimed_labels(card)
    if worse:
        st.error("Worse than the current model beyond the CI on claimed label(s): "
                 + ", ".join(f"{r['label']} ({r['set']}, {r['diff']:+.3f})" for r in worse)
                 + ". It can only be promoted with a stated reason, which is written into its card.")
    table = comparison_table(comparison)
    if len(table):
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns
                                    if table[c].dtype.kind == "f"})
    calls = pd.DataFrame(comparison.get("changed_calls", []))
    with st.expander(f"Records whose call changed ({comparison.get('n_changed_calls', 0)})"):
        if len(calls):
            st.dataframe(calls, hide_index=True, width="stretch")
        else:
            st.write("None: both models call every held-out record the same.")
    with st.expander("Lineage"):
        st.json(card.training.get("lineage", {}), expanded=False)
    if allowed(user.role, "train_candidates"):
        n_leads = len(card.input_leads)
        if st.session_state.get(services.ACTIVE_KEY, {}).get(n_leads) == str(path):
            st.success(f"In use for {n_leads}-lead records in this session only (its predictions are stored under "
                       f"its own version). Back to the default model: at the top of this page.")
        elif st.button("Try it in this session", key=f"try_{path.name}",
                       help="Your session reads records with the candidate; nobody else's changes."):
            services.choose_bundle(n_leads, str(path))
            st.rerun()
    if allowed(user.role, "manage_models"):
        _decide(db, user, path, worse)


def _decide(db: Database, user: SessionUser, path: Path, worse: list[dict]) -> None:
    reason = st.text_input("Reason for promoting it anyway (required: it is worse on a claimed label)",
                           key=f"override_{path.name}") if worse else ""
    cols = st.columns(2)
    if cols[0].button("Promote to default", type="primary", key=f"promote_{path.name}", disabled=bool(worse and not reason)):
        _run(lambda: model_registry.promote(db, path, actor=user.name, override_reason=reason or None),
             "is now the default model")
    rejection = cols[1].text_input("Why reject it (optional)", key=f"reject_reason_{path.name}")
    if cols[1].button("Reject", key=f"reject_{path.name}"):
        _run(lambda: model_registry.reject(db, path, actor=user.name, reason=rejection), "was rejected")


def _rollback_panel(db: Database, user: SessionUser) -> None:
    st.subheader("Default model history")
    history = model_registry.history(db)
    if history:
        st.dataframe(pd.DataFrame([{"decision": d.id, "at": d.at, "by": d.user, "action": d.action,
                                    "model": d.display_name, "leads": d.n_leads, "reason": d.override_reason,
                                    "bundle": str(d.bundle_path)} for d in history]),
                     hide_index=True, width="stretch")
    else:
        st.caption("No decision yet: the shipped default serves.")
    if model_registry.current_default(db, 12) is None:
        return
    targets = {d.id: f"{d.display_name} (decision {d.id}, {d.at:%Y-%m-%d})" for d in model_registry.rollback_targets(db, 12)}
    options = [None, *targets]
    to = st.selectbox("Roll back to", options, key="rollback_to",
                      format_func=lambda t: "the shipped default" if t is None else targets[t])
    if st.button("Roll back", key="rollback"):
        _run(lambda: model_registry.rollback(db, actor=user.name, to=to), "is the default model again")


def _run(decide: Callable[[], model_registry.Decision], done: str) -> None:
    try:
        decision = decide()
    except (DBError, ECGError) as error:
        st.error(str(error))
        return
    st.success(f"{decision.display_name} {done}.")
    st.rerun()


def _ci(ci: list | None) -> str:
    return "" if not ci or None in ci else f"{ci[0]:+.3f} to {ci[1]:+.3f}"
