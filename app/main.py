"""Streamlit entry point: upload an ECG (or open a demo record) and see the model's ranked diagnoses.

The page only arranges things: reading, preprocessing and scoring live in ecgcore and are
tested there. The full review workspace (verdicts, worklist, dashboards) builds on this page.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run app/main.py` from anywhere

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from ecgcore.demo import demo_records, read_demo  # noqa: E402
from ecgcore.errors import ECGError, NoDefaultModelError  # noqa: E402
from ecgcore.io import SUPPORTED_FORMATS, read_upload  # noqa: E402
from ecgcore.predict import Predictor  # noqa: E402


@st.cache_resource(show_spinner="Loading model...")
def load_predictor(n_leads: int) -> Predictor:
    return Predictor.default(n_leads)


def findings_table(predictor: Predictor, record, show_untrained: bool) -> pd.DataFrame:
    prediction = predictor.predict(record, include_untrained=show_untrained)
    return pd.DataFrame(
        [
            {"Finding": f.label, "Probability": f.probability, "Threshold": f.threshold, "Positive": f.positive}
            for f in prediction.findings
        ]
    )


def main() -> None:
    st.set_page_config(page_title="ECG review", page_icon=":anatomical_heart:", layout="wide")
    st.title("ECG diagnosis")
    st.caption("ECGFounder-compatible Net1D model. Research use: every finding needs a clinician's review.")

    source = st.radio("Record", ["Upload a file", "Demo record"], horizontal=True)
    record = None
    try:
        if source == "Upload a file":
            uploads = st.file_uploader(
                "ECG file(s): one file, a .zip, or a WFDB .hea with its .dat/.mat",
                accept_multiple_files=True,
                help="Accepted: " + ", ".join(SUPPORTED_FORMATS),
            )
            if uploads:
                record = read_upload([(u.name, u.getvalue()) for u in uploads])
        else:
            names = demo_records()
            if names:
                record = read_demo(st.selectbox("Demo record", names))
            else:
                st.info("No demo records are installed.")
    except ECGError as exc:
        st.error(f"This file cannot be used: {exc}")
        return
    if record is None:
        return

    st.subheader(f"Record {record.record_id}")
    st.write(
        f"{record.n_leads} lead(s) ({', '.join(record.leads)}), {record.fs:g} Hz, {record.duration_s:.1f} s"
        + (f", age {record.age:g}" if record.age is not None else "")
        + (f", sex {record.sex}" if record.sex else "")
    )
    n_leads = 1 if record.n_leads == 1 else 12
    try:
        predictor = load_predictor(n_leads)
    except NoDefaultModelError as exc:
        st.warning(str(exc))
        return
    show_untrained = st.toggle("Show labels the model was not trained on", value=False)
    try:
        table = findings_table(predictor, record, show_untrained)
    except ECGError as exc:
        st.error(f"The model cannot score this record: {exc}")
        return
    st.write(f"Model: **{predictor.name}**")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "Probability": st.column_config.ProgressColumn(format="%.3f", min_value=0.0, max_value=1.0),
            "Threshold": st.column_config.NumberColumn(format="%.3f"),
        },
    )


main()
