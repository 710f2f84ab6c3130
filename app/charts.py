"""Plotly charts of the agreement dashboard, built from the tables db/ computes."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

ACCENT = "#b22222"


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(height=160, xaxis_visible=False, yaxis_visible=False, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def reviews_per_reviewer(counts: pd.Series) -> go.Figure:
    if counts.empty:
        return _empty("No reviews yet")
    fig = go.Figure(go.Bar(x=counts.index.tolist(), y=counts.values.tolist(), marker_color=ACCENT))
    fig.update_layout(height=260, yaxis_title="records reviewed", margin=dict(l=10, r=10, t=10, b=10))
    return fig


def kappa_by_label(fleiss: pd.DataFrame) -> go.Figure:
    """Fleiss' kappa per label, with the number of records behind each bar in the hover."""
    data = fleiss.dropna(subset=["kappa"]).sort_values("kappa")
    if data.empty:
        return _empty("Agreement needs at least two reviews of the same record")
    fig = go.Figure(go.Bar(x=data["kappa"], y=data["label"], orientation="h", marker_color=ACCENT,
                           customdata=data["n_records"], hovertemplate="%{y}: kappa %{x:.2f} (%{customdata} records)"))
    fig.update_layout(height=max(220, 28 * len(data)), xaxis=dict(range=[-1, 1], title="Fleiss' kappa"),
                      margin=dict(l=10, r=10, t=10, b=10))
    return fig


def auroc_with_ci(auroc: pd.DataFrame) -> go.Figure:
    """Model AUROC against the reviewers' consensus, per label, with bootstrap 95% intervals."""
    if auroc.empty:
        return _empty("Model AUROC needs records with a final consensus that has both classes")
    data = auroc.sort_values("auroc")
    fig = go.Figure(go.Scatter(
        x=data["auroc"], y=data["label"], mode="markers", marker=dict(color=ACCENT, size=9),
        error_x=dict(type="data", symmetric=False, array=data["ci_high"] - data["auroc"],
                     arrayminus=data["auroc"] - data["ci_low"]),
        customdata=data[["n_records", "n_positive"]],
        hovertemplate="%{y}: AUROC %{x:.2f} (n=%{customdata[0]}, positives %{customdata[1]})"))
    fig.add_vline(x=0.5, line_dash="dot", line_color="grey")
    fig.update_layout(height=max(220, 30 * len(data)), xaxis=dict(range=[0, 1.02], title="AUROC (95% CI)"),
                      margin=dict(l=10, r=10, t=10, b=10))
    return fig


def reviewer_vs_model(confusion: pd.DataFrame, label: str) -> go.Figure:
    """Stacked bars per reviewer: agreement and disagreement with the model on one label."""
    data = confusion[confusion["label"] == label]
    if data.empty:
        return _empty(f"No verdicts on {label}")
    fig = go.Figure()
    parts = (("both_present", "both present", "#2e7d32"), ("both_absent", "both absent", "#81c784"),
             ("reviewer_only", "reviewer only", "#ef6c00"), ("model_only", "model only", "#c62828"))
    for column, name, color in parts:
        fig.add_trace(go.Bar(x=data["reviewer"], y=data[column], name=name, marker_color=color))
    fig.update_layout(barmode="stack", height=280, yaxis_title="verdicts", margin=dict(l=10, r=10, t=10, b=10))
    return fig
