"""Plotly charts and tables of the Agreement and Models pages, built from the tables db/ computes and
the model cards.

Statistics below the minimum sample size (``enough_data`` False, see :mod:`db.agreement`) are drawn
in light grey and say "n too small"; statistics that are undefined (NaN) say why in grey text at
their label. Every label carries its n, and every point estimate its 95% interval.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler

ACCENT = "#b22222"
GREYED = "#cfcfcf"  # bars and markers of statistics below the minimum sample size
GREYED_TEXT = "#8c8c8c"  # their text, and table rows
TOO_SMALL = "n too small"
_MARGIN = {"l": 10, "r": 10, "t": 10, "b": 10}


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(height=160, xaxis_visible=False, yaxis_visible=False, margin=_MARGIN)
    return fig


def _enough(data: pd.DataFrame, value: str) -> pd.Series:
    """Rows to draw in full colour: enough data and a defined value."""
    enough = data["enough_data"].astype(bool) if "enough_data" in data else pd.Series(True, index=data.index)
    return enough & data[value].notna()


def _interval_traces(fig: go.Figure, data: pd.DataFrame, value: str, ticks: pd.Series, kind: str,
                     hover: str) -> None:
    """One trace in colour (enough data) and one greyed ("n too small"), each with its 95% intervals."""
    full = _enough(data, value)
    for rows, colour, name in ((data[full], ACCENT, value), (data[~full & data[value].notna()], GREYED, TOO_SMALL)):
        if rows.empty:
            continue
        error = {"type": "data", "symmetric": False, "array": (rows["ci_high"] - rows[value]).tolist(),
                 "arrayminus": (rows[value] - rows["ci_low"]).tolist(),
                 "color": GREYED_TEXT if colour == GREYED else "#444444"}
        common = {"x": rows[value].tolist(), "y": ticks[rows.index].tolist(), "name": name, "error_x": error,
                  "customdata": rows[["ci_low", "ci_high", "note"]].fillna("").to_numpy().tolist(),
                  "hovertemplate": hover + "<extra></extra>"}
        if colour == GREYED:
            common.update(text=[TOO_SMALL] * len(rows), textfont={"color": GREYED_TEXT})
        if kind == "bar":
            fig.add_trace(go.Bar(orientation="h", marker_color=colour, textposition="inside",
                                 insidetextanchor="start", **common))
        else:
            fig.add_trace(go.Scatter(mode="markers+text" if colour == GREYED else "markers", textposition="middle right",
                                     marker={"color": colour, "size": 9}, **common))
    for i in data.index[data[value].isna()]:  # undefined: no bar or point, the reason instead
        fig.add_annotation(x=0, xref="paper", xanchor="left", y=ticks[i], yref="y", showarrow=False,
                           text=str(data.at[i, "note"]).split("; ")[-1] or "undefined",  # the reason, not n again
                           font={"color": GREYED_TEXT, "size": 11})


def _ordered(data: pd.DataFrame, value: str) -> pd.DataFrame:
    """Undefined values at the bottom, then ascending (plotly draws the first category at the bottom)."""
    return data.assign(_undefined=data[value].isna()).sort_values(["_undefined", value], ascending=[False, True],
                                                                   kind="stable").drop(columns="_undefined")


def reviews_per_reviewer(counts: pd.Series) -> go.Figure:
    if counts.empty:
        return _empty("No reviews yet")
    fig = go.Figure(go.Bar(x=counts.index.tolist(), y=counts.values.tolist(), marker_color=ACCENT))
    fig.update_layout(height=260, yaxis_title="records reviewed", margin=_MARGIN)
    return fig


def kappa_by_label(fleiss: pd.DataFrame) -> go.Figure:
    """Fleiss' kappa per label with its 95% interval; n (records rated twice or more) beside each label."""
    rated = fleiss[fleiss["n_records"] > 0] if "n_records" in fleiss else fleiss  # the table lists n = 0 too
    if rated.empty:
        return _empty("Agreement needs at least two reviews of the same record")
    data = _ordered(rated.reset_index(drop=True), "kappa")
    ticks = data["label"] + " (n=" + data["n_records"].astype(str) + ")"
    fig = go.Figure()
    _interval_traces(fig, data, "kappa", ticks, "bar",
                     "%{y}: kappa %{x:.2f} (95% CI %{customdata[0]:.2f} to %{customdata[1]:.2f}) %{customdata[2]}")
    fig.update_layout(height=120 + 32 * len(data), xaxis={"range": [-1, 1], "title": "Fleiss' kappa (95% CI)"},
                      yaxis={"type": "category", "categoryorder": "array", "categoryarray": ticks.tolist()},
                      barmode="overlay",
                      legend={"orientation": "h", "y": -0.25}, margin=_MARGIN)
    return fig


def auroc_with_ci(auroc: pd.DataFrame) -> go.Figure:
    """Model AUROC against the reviewers' consensus, per label, with bootstrap 95% intervals and n."""
    if auroc.empty:
        return _empty("Model AUROC needs records with a final consensus and a model score")
    data = _ordered(auroc.reset_index(drop=True), "auroc")
    ticks = (data["label"] + " (n=" + data["n_records"].astype(str) + ": " + data["n_positive"].astype(str) + " pos, "
             + data["n_negative"].astype(str) + " neg)")
    fig = go.Figure()
    _interval_traces(fig, data, "auroc", ticks, "scatter",
                     "%{y}: AUROC %{x:.2f} (95% CI %{customdata[0]:.2f} to %{customdata[1]:.2f}) %{customdata[2]}")
    fig.add_vline(x=0.5, line_dash="dot", line_color="grey")
    fig.update_layout(height=120 + 32 * len(data), xaxis={"range": [0, 1.02], "title": "AUROC (95% CI)"},
                      yaxis={"type": "category", "categoryorder": "array", "categoryarray": ticks.tolist()},
                      legend={"orientation": "h", "y": -0.25}, margin=_MARGIN)
    return fig


def statistics_table(frame: pd.DataFrame) -> Styler:
    """A statistics table (kappa or AUROC rows) with every n and interval, rows below the minimum greyed."""
    value = next((c for c in ("kappa", "auroc") if c in frame), None)

    def grey(row: pd.Series) -> list[str]:
        small = not bool(row.get("enough_data", True)) or (value is not None and pd.isna(row[value]))
        return [f"color: {GREYED_TEXT}" if small else ""] * len(row)

    decimals = {c: "{:.2f}" for c in ("observed_agreement", "kappa", "auroc", "ci_low", "ci_high") if c in frame}
    return frame.style.apply(grey, axis=1).format(decimals, na_rep="–")


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
    fig.update_layout(barmode="stack", height=280, yaxis_title="verdicts", margin=_MARGIN)
    return fig


MEASUREMENT_TABLE_COLUMNS = {"label": "Measurement", "unit": "Unit", "n_corrected": "n corrected",
                             "n_compared": "n compared", "n_not_measurable": "n not measurable",
                             "mean_diff": "Mean difference", "sd_diff": "SD", "loa_low": "95% limits from",
                             "loa_high": "95% limits to", "note": "Note"}


def measurement_agreement_table(summary: pd.DataFrame) -> Styler:
    """Per measurement (``db.dashboard_data.measurement_agreement``'s summary): n, and the mean and SD
    of reviewer minus ours with the Bland-Altman limits; measurements nobody corrected are greyed."""
    table = summary[list(MEASUREMENT_TABLE_COLUMNS)].rename(columns=MEASUREMENT_TABLE_COLUMNS)

    def grey(row: pd.Series) -> list[str]:
        return [f"color: {GREYED_TEXT}" if row["n compared"] < 2 else ""] * len(row)

    decimals = {c: "{:+.1f}" for c in ("Mean difference", "95% limits from", "95% limits to")} | {"SD": "{:.1f}"}
    return table.style.apply(grey, axis=1).format(decimals, na_rep="–")


def measurement_scatter(rows: pd.DataFrame, name: str) -> go.Figure:
    """Ours (x) against the reviewer's value (y) for one measurement, with the line of identity."""
    data = rows[(rows["name"] == name) & rows["ours"].notna() & rows["reviewer_value"].notna()]
    if data.empty:
        return _empty("No correction of this measurement with both values")
    label, unit = data["label"].iloc[0], data["unit"].iloc[0]
    low = float(min(data["ours"].min(), data["reviewer_value"].min()))
    high = float(max(data["ours"].max(), data["reviewer_value"].max()))
    pad = max(1.0, 0.05 * (high - low))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[low - pad, high + pad], y=[low - pad, high + pad], mode="lines", name="identity",
                             line={"color": "grey", "dash": "dot"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=data["ours"], y=data["reviewer_value"], mode="markers", name="corrections",
        marker={"color": ACCENT, "size": 9},
        customdata=data[["record_id", "reviewer"]].astype(str).to_numpy().tolist(),
        hovertemplate="record %{customdata[0]}, %{customdata[1]}: ours %{x:.0f}, reviewer %{y:.0f}<extra></extra>"))
    fig.update_layout(height=320, margin=_MARGIN, showlegend=False,
                      xaxis={"title": f"{label}, ours ({unit})"}, yaxis={"title": f"{label}, reviewer ({unit})"})
    return fig


def reliability_diagram(before: list[dict], after: list[dict], ece_before: float | None = None,
                        ece_after: float | None = None) -> go.Figure:
    """Observed frequency against mean predicted probability per bin (a card's reliability bins), before
    and after calibration; the diagonal is perfect calibration; hover shows each bin's record count."""
    if not before and not after:
        return _empty("no calibration data on this card")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"color": GREYED, "dash": "dash"},
                             name="perfect", hoverinfo="skip"))
    for bins, name, colour, ece in ((before, "network", GREYED_TEXT, ece_before),
                                    (after, "calibrated (cross-fitted)", ACCENT, ece_after)):
        if bins:
            fig.add_trace(go.Scatter(
                x=[b["mean_predicted"] for b in bins], y=[b["observed"] for b in bins], mode="lines+markers",
                name=name + (f": ECE {ece:.3f}" if ece is not None else ""), line={"color": colour},
                customdata=[b["count"] for b in bins],
                hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>n = %{customdata}<extra></extra>"))
    fig.update_layout(height=340, margin=_MARGIN, xaxis={"title": "predicted probability", "range": [0, 1]},
                      yaxis={"title": "observed frequency", "range": [0, 1]}, legend={"x": 0.01, "y": 0.99})
    return fig
