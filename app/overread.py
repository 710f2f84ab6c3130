"""The overread workflow on the review page (issue 19): the final report a cardiologist confirms and
signs, its PDF, the comparison with the patient's prior ECG and the link to a patient.

Only arrangement: the store (``db.confirmed_reports``, ``db.overread``) decides who may confirm, what
changed between versions, which statements a side has and what a role may see (viewers never get
the patient key; names per ``see_reviewer_names``); ``ecgcore.report`` draws the PDF.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.auth import SessionUser
from app.figures import sheet_figure
from db import workspace
from db.confirmed_reports import ReportVersion, confirm_report, report_draft, report_history
from db.errors import DBError
from db.overread import PriorComparison, compare_with_prior, set_patient
from db.permissions import allowed
from db.records import load_ecg
from db.report_pdf import confirmation_of, pseudonym, report_measurements
from ecgcore.errors import ECGError
from ecgcore.labels import ecgfounder_labels
from ecgcore.measure_display import values_line
from ecgcore.measurements import GLOBAL_MEASURE_BY_NAME, GLOBAL_MEASURE_NAMES, Measurements
from ecgcore.predict import Prediction
from ecgcore.preprocessing import filter_mv
from ecgcore.report.content import UNCONFIRMED, format_time

REPORT_COLOUR = "violet"


def when_text(when, is_upload_time: bool) -> str:
    if when is None:
        return "date unknown"
    return format_time(when) + (" (upload time)" if is_upload_time else "")


@st.cache_resource(ttl=300, show_spinner=False)
def shown_labels() -> dict[tuple[str, str], tuple[str, ...]]:
    """The labels of the installed models (model cards only), so retired labels' scores never count."""
    return workspace.installed_trained_labels()


# -- the final report ----------------------------------------------------------------------------------
def _show_version(version: ReportVersion) -> None:
    st.markdown(f"**Confirmed (version {version.version})** by {version.signature()}")
    if version.statements:
        st.markdown("\n".join(f"- {s}" for s in version.statements))
    if version.measurements:
        st.markdown(f"Measurements: `{values_line(version.measurements)}`")
    if version.conclusion:
        st.markdown(f"**Conclusion:** {version.conclusion}")


def _history(history: list[ReportVersion]) -> None:
    with st.expander(f"Report history ({len(history)} version{'s' if len(history) != 1 else ''})"):
        for version in reversed(history):
            changed = "; ".join(version.what_changed) if version.what_changed else "first confirmation"
            st.markdown(f"**Version {version.version}**, {version.signature()}: {changed}")


def _confirm_form(db, record_id: int, user: SessionUser) -> None:
    draft = report_draft(db, record_id, user.name)
    tag = f"{record_id}_{draft.expected_version}"  # a new version opens a fresh form, prefilled from it
    labels = ecgfounder_labels()
    with st.form(f"confirm_{tag}", clear_on_submit=False):
        st.markdown("**Confirm the final report**" + (" (editing makes a new version)" if draft.from_report else
                                                      " (prefilled from your verdict and corrections)"))
        chosen = st.multiselect("Statements", labels, default=[s for s in draft.statements if s in labels],
                                key=f"fr_statements_{tag}")
        st.caption("Measurements you accept or correct (empty: cannot be measured).")
        values: dict[str, float | None] = {}
        columns = st.columns(4)
        for i, name in enumerate(GLOBAL_MEASURE_NAMES):
            measure_def = GLOBAL_MEASURE_BY_NAME[name]
            value = draft.measurements.get(name)
            values[name] = columns[i % 4].number_input(
                f"{measure_def.label} ({measure_def.unit})", value=None if value is None else float(value), step=1.0,
                format="%.0f", key=f"fr_{name}_{tag}")
        conclusion = st.text_area("Conclusion", value=draft.conclusion or "", max_chars=2000, key=f"fr_conclusion_{tag}")
        if st.form_submit_button("Confirm and sign", type="primary"):
            try:
                saved = confirm_report(db, record_id, user.name, chosen, values, conclusion or None,
                                       expected_version=draft.expected_version, measurement_id=draft.measurement_id)
            except DBError as exc:
                st.error(str(exc))
            else:
                st.session_state["report_flash"] = f"Confirmed and signed: version {saved.version}."
                st.rerun()


@st.cache_data(max_entries=64, show_spinner="Drawing the report...")
def _report_pdf(content_hash: str, report_id: int | None, signer: str | None, prediction_key: str | None,
                start_s: float, pseudonym_text: str | None, *, _ecg, _measurements, _prediction,
                _confirmation) -> bytes:
    """One PDF per (record, report version, signer as shown, prediction, window, pseudonym)."""
    from ecgcore.report import render_report

    return render_report(_ecg, measurements=_measurements, prediction=_prediction, confirmation=_confirmation,
                         pseudonym=pseudonym_text, start_s=start_s)


def _download(ecg, version: ReportVersion | None, measured: Measurements | None, prediction: Prediction | None,
              start_s: float, patient_key: str | None) -> None:
    measurements = report_measurements(version, measured)
    prediction_key = None if prediction is None else f"{prediction.model}:{start_s}"
    try:
        data = _report_pdf(ecg.content_hash(), version.id if version else None, version.signed_by if version else None,
                           prediction_key, start_s, pseudonym(patient_key), _ecg=ecg, _measurements=measurements,
                           _prediction=prediction, _confirmation=confirmation_of(version))
    except (ECGError, ValueError) as exc:
        st.error(f"No report: {exc}")
        return
    st.download_button("Download report (PDF)", data, file_name=f"{ecg.record_name}_report.pdf",
                       mime="application/pdf", key="report_pdf", icon=":material/download:")


def final_report(db, record_id: int, user: SessionUser, ecg, *, blinded: bool, measured: Measurements | None,
                 prediction: Prediction | None, start_s: float, patient_key: str | None) -> None:
    """The record's final report: the current confirmed version with its history, the form for
    cardiologists, and the PDF. A blinded annotator sees the report after their own reading."""
    st.subheader("Final report", divider=REPORT_COLOUR)
    flash = st.session_state.pop("report_flash", None)
    if flash:
        st.success(flash)
    if blinded:
        st.info("Blinded reading: the confirmed report appears after you save your own verdict.")
        version = None
    else:
        history = report_history(db, record_id, role=user.role)
        version = history[-1] if history else None
        if version is None:
            st.markdown(f"**{UNCONFIRMED}**: no cardiologist has confirmed this record's report yet.")
        else:
            _show_version(version)
            _history(history)
    if allowed(user.role, "confirm_reports"):
        _confirm_form(db, record_id, user)
    _download(ecg, version, measured, prediction, start_s, patient_key)


# -- the prior ECG --------------------------------------------------------------------------------------
def _change_table(found: PriorComparison) -> pd.DataFrame:
    def cell(value: float | None) -> str:
        return "—" if value is None else f"{value:.0f}"

    rows = [{"Measurement": f"{row.label} ({row.unit})", "Prior": cell(row.prior), "Now": cell(row.current),
             "Difference": "—" if row.difference is None else f"{row.difference:+.0f}",
             "Changed": "yes" if row.changed else "", "Threshold": f"{row.threshold:g}",
             "Prior from": row.prior_source or "", "Now from": row.current_source or ""}
            for row in found.comparison.measurements]
    return pd.DataFrame(rows).set_index("Measurement")


def prior_comparison(db, record_id: int, user: SessionUser) -> PriorComparison | None:
    """An expander with the comparison with the patient's prior ECG, when there is one."""
    try:
        found = compare_with_prior(db, record_id, user.role, user=user.actor, shown_labels=shown_labels())
    except DBError as exc:
        st.error(f"No comparison with the prior ECG: {exc}")
        return None
    if found is None:
        return None
    title = f"Compared with the prior ECG ({when_text(found.prior_acquired_at, found.prior_acquired_at_is_upload_time)})"
    with st.expander(title, expanded=True):
        changes = found.changes(with_sources=True)
        st.markdown("**Changes:**\n" + "\n".join(f"- {c}" for c in changes) if changes
                    else "**No change** in the measurements or statements compared.")
        st.caption(f"Now: {found.comparison.current_basis}. Prior ECG (record {found.prior_record_id}, "
                   f"{found.prior_record_name}): {found.comparison.prior_basis}.")
        st.table(_change_table(found))
        try:
            prior = load_ecg(db, found.prior_record_id)
        except DBError as exc:
            st.caption(f"The prior ECG's trace cannot be shown: {exc}")
        else:
            if prior.is_12_lead:
                st.markdown(f"**The prior ECG** (record {found.prior_record_id}), filtered, under the current one:")
                st.plotly_chart(sheet_figure(prior, filter_mv(prior.signal, prior.fs)), width="stretch",
                                key=f"prior_sheet_{found.prior_record_id}", config={"displaylogo": False})
            else:
                st.caption("The prior ECG has no 12-lead sheet.")
    return found


def link_patient(db, record_id: int, user: SessionUser) -> None:
    """For uploaders, when the record is linked to no patient: type the identifier (hashed at once)."""
    if not allowed(user.role, "upload"):
        return
    with st.popover("Link to patient", icon=":material/link:"), st.form(f"link_{record_id}", clear_on_submit=True):
        identifier = st.text_input("Patient identifier (MRN)", type="password", key=f"mrn_{record_id}",
                                   help="Hashed with the installation key at once; never stored or shown.")
        if st.form_submit_button("Link"):
            try:
                set_patient(db, record_id, user.name, identifier or "")
            except DBError as exc:
                st.error(str(exc))
            else:
                st.session_state["report_flash"] = "Linked to the patient."
                st.rerun()
