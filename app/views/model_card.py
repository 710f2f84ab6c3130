"""Model: the installed bundles' cards (training data, metrics, thresholds), and the candidates trained
from the reviews with their comparison, promotion and rollback (:mod:`app.views.candidates`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import charts, services
from app.views import candidates
from ecgcore.bundle import list_bundles, load_bundle, load_card
from ecgcore.config import models_dir
from ecgcore.errors import ModelError


def page() -> None:
    st.title("Models")
    bundles = list_bundles()
    if not bundles:
        st.warning(f"No model is installed in {models_dir()}. Diagnoses are not shown until one is.")
        return
    installed(bundles)
    candidates.section(st.session_state["_user"])


def installed(bundles: list[Path]) -> None:
    """The installed bundles' cards; the one chosen can serve this session instead of the default."""
    names = [p.name for p in bundles]
    chosen = st.selectbox("Installed bundles and checkpoints", names)
    path = bundles[names.index(chosen)]
    try:
        card = load_card(path) if path.is_dir() else load_bundle(path).card
    except ModelError as exc:
        st.error(f"This model cannot be loaded: {exc}")
        return
    if path.is_file():
        st.info("An official ECGFounder checkpoint: 150 labels, thresholds 0.5 (none published). "
                "Calibrate thresholds on local data before trusting its positives.")
    n_leads = len(card.input_leads)
    active = st.session_state.get(services.ACTIVE_KEY, {}).get(n_leads)
    serving = services.predictor(n_leads) if active is None else None
    in_use = active == str(path) or (serving is not None and serving.bundle.path == path)
    if in_use:
        st.success(f"In use for {n_leads}-lead records in this session.")
    elif st.button(f"Use this model for {n_leads}-lead records"):
        services.choose_bundle(n_leads, str(path))
        st.rerun()
    if active is not None and st.button("Back to the default model"):
        services.choose_bundle(n_leads, None)
        st.rerun()
    st.subheader(card.display_name + ("  (default)" if card.default else ""))
    st.write(card.description or "")
    cols = st.columns(4)
    cols[0].metric("Architecture", card.architecture)
    cols[1].metric("Input leads", len(card.input_leads))
    cols[2].metric("Labels trained", len(card.trained_labels))
    cols[3].metric("Outputs", len(card.labels))
    thresholds = pd.DataFrame({"label": card.labels, "threshold": card.thresholds})
    thresholds["trained"] = thresholds["label"].isin(card.trained_labels)
    rows = card.metrics_table()
    if rows:
        st.subheader("Measured performance")
        summary = card.metrics.get("summary", {}) if isinstance(card.metrics, dict) else {}
        if summary.get("macro_auroc") is not None:
            ci = summary.get("macro_auroc_ci") or [float("nan")] * 2
            st.write(f"Macro AUROC {summary['macro_auroc']:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f}) over "
                     f"{summary.get('n_labels_scored', len(rows))} labels, {summary.get('n_records', '?')} records.")
        if card.metrics.get("evaluation"):
            st.caption(str(card.metrics["evaluation"]))
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.3f")
                                    for c in ("AUROC", "AUPRC", "threshold", "sensitivity", "specificity", "F1",
                                              "ECE before", "ECE after")})
        policy = card.metrics.get("threshold_policy") if isinstance(card.metrics, dict) else None
        if policy:
            st.caption(f"Thresholds: {policy['rule']}.")
        calibration_section(card)
        distribution_section(card)
    st.subheader("Thresholds")
    st.dataframe(thresholds[thresholds["trained"]], hide_index=True, width="stretch")
    with st.expander("Training data and full card"):
        st.json(card.to_dict() | {"labels": f"{len(card.labels)} labels", "thresholds": "see table"})


def calibration_section(card) -> None:  # noqa: ANN001 - ModelCard
    """Reliability diagrams before/after calibration, over all labels or one."""
    summary = (card.metrics.get("summary") or {}).get("calibration") if isinstance(card.metrics, dict) else None
    if not summary:
        st.caption("This card has no calibration: its probabilities are the network's outputs.")
        return
    st.subheader("Calibration")
    per_label = {label: m["calibration"] for label, m in card.metrics["per_label"].items() if m.get("calibration")}
    choice = st.selectbox("Reliability of", ["all labels", *sorted(per_label)], key="calibration_label")
    source = summary if choice == "all labels" else per_label[choice]
    st.plotly_chart(charts.reliability_diagram(source["reliability_before"], source["reliability_after"],
                                               source.get("ece_before"), source.get("ece_after")),
                    key=f"reliability_{choice}")
    st.caption(f"Expected calibration error over all labels {summary['ece_before']:.3f} before, "
               f"{summary['ece_after']:.3f} after (out-of-fold; 'after' calibrated by maps fitted on the other "
               f"folds). Maps chosen by cross-validation: {summary['methods']}.")


def distribution_section(card) -> None:  # noqa: ANN001 - ModelCard
    """What the out-of-distribution warning compares a record with."""
    if not card.ood:
        return
    st.subheader("Training-data reference (out-of-distribution warning)")
    amp = card.ood.get("amplitude_mv") or [None, None]
    st.write(f"Sampling rates in training: {', '.join(f'{f:g} Hz' for f in card.ood.get('fs_hz', []))}; "
             f"typical amplitude {amp[0]}-{amp[1]} mV (0.5-99.5 percentile); embedding reference: "
             f"{card.ood.get('embedding_from', 'none')}. A record is flagged when it is further from the training "
             f"embeddings than {card.ood.get('score_limit', 0.99):.0%} of held-out training-like records.")
