"""Plotly figures of an ECG as clinicians read it: ECG paper, 25 mm/s, 10 mm/mV.

Layouts: the standard 12-lead sheet (3 rows x 4 columns of 2.5 s, I/II/III | aVR/aVL/aVF |
V1-V3 | V4-V6, plus a 10 s lead II rhythm strip) and one lead per row. Axes are in seconds and
millivolts with the y axis locked to the x axis at 10 mm/mV : 25 mm/s (``scaleratio`` 0.4), so
zooming keeps the paper's proportions. Grid: minor 1 mm (0.04 s, 0.1 mV), major 5 mm (0.2 s,
0.5 mV). Each row starts with a 1 mV x 0.2 s calibration pulse.

Overview traces are min-max decimated (each bucket keeps its minimum and maximum, so QRS peaks
and pacing spikes survive) to keep the browser responsive; a window of a few seconds is drawn at
full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ecgcore.leads import LEADS_12
from ecgcore.record import Record

PAPER_PINK = "#fbe3e6"
MINOR_GRID = "#f4c2c9"
MAJOR_GRID = "#e58a97"
TRACE_COLOR = "#1a1a1a"
MM_PER_S = 25.0
MM_PER_MV = 10.0
ROW_SPACING_MV = 3.0  # vertical distance between row baselines on the sheet
CALIBRATION_S = 0.2
CALIBRATION_GAP_S = 0.1
SHEET_COLUMNS: tuple[tuple[str, ...], ...] = (("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"), ("V4", "V5", "V6"))


@dataclass(frozen=True)
class Highlight:
    """A time span of one lead to shade on the trace (e.g. a top attribution segment)."""

    lead: str
    start_s: float
    end_s: float
    weight: float = 1.0  # 0..1, drives the opacity


def minmax_decimate(t: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points keeping each bucket's min and max, in time order.

    Plain striding would drop narrow peaks (a QRS is ~40 samples at 500 Hz); min-max keeps the
    envelope exactly, which is what the eye reads at overview scale.
    """
    n = y.size
    if n <= max_points or max_points < 4:
        return t, y
    n_buckets = max_points // 2
    edges = np.linspace(0, n, n_buckets + 1).astype(int)
    keep = np.empty(2 * n_buckets, dtype=int)
    for k in range(n_buckets):
        lo, hi = edges[k], edges[k + 1]
        segment = y[lo:hi]
        i_min, i_max = lo + int(np.argmin(segment)), lo + int(np.argmax(segment))
        keep[2 * k], keep[2 * k + 1] = sorted((i_min, i_max))
    return t[keep], y[keep]


def _calibration_pulse(x0: float, baseline: float) -> tuple[list[float], list[float]]:
    x1 = x0 + CALIBRATION_GAP_S
    return [x0, x1, x1, x1 + CALIBRATION_S, x1 + CALIBRATION_S, x1 + CALIBRATION_S + CALIBRATION_GAP_S], [
        baseline, baseline, baseline + 1.0, baseline + 1.0, baseline, baseline]


def _paper_layout(fig: go.Figure, x_range: tuple[float, float], y_range: tuple[float, float], height_px: int) -> None:
    grid = dict(showgrid=True, gridcolor=MAJOR_GRID, gridwidth=1, zeroline=False, showline=False,
                minor=dict(showgrid=True, gridcolor=MINOR_GRID, gridwidth=0.5))
    fig.update_layout(
        height=height_px,
        margin=dict(l=10, r=10, t=10, b=30),
        plot_bgcolor=PAPER_PINK,
        paper_bgcolor="white",
        showlegend=False,
        dragmode="pan",
        hovermode=False,
        xaxis=dict(range=list(x_range), dtick=0.2, ticklabelstep=5, constrain="domain",
                   minor=dict(dtick=0.04, **grid["minor"]), title="s",
                   **{k: v for k, v in grid.items() if k != "minor"}),
        yaxis=dict(range=list(y_range), dtick=0.5, minor=dict(dtick=0.1, **grid["minor"]),
                   scaleanchor="x", scaleratio=MM_PER_MV / MM_PER_S, showticklabels=False,
                   **{k: v for k, v in grid.items() if k != "minor"}),
    )


def _add_trace(fig: go.Figure, t: np.ndarray, y: np.ndarray, max_points: int) -> None:
    td, yd = minmax_decimate(t, y, max_points)
    fig.add_trace(go.Scattergl(x=td, y=yd, mode="lines", line=dict(color=TRACE_COLOR, width=1.1)))


def _add_highlights(fig: go.Figure, highlights: list[Highlight], rows: dict[str, tuple[float, float, float]]) -> None:
    """Shade each highlight behind its lead: ``rows`` maps lead -> (baseline_mv, t_start, t_end) drawn."""
    for h in highlights:
        if h.lead not in rows:
            continue
        baseline, t0, t1 = rows[h.lead]
        start, end = max(h.start_s, t0), min(h.end_s, t1)
        if end <= start:
            continue
        fig.add_shape(type="rect", x0=start, x1=end, y0=baseline - 1.4, y1=baseline + 1.4, layer="below",
                      line=dict(width=0), fillcolor=f"rgba(255,140,0,{0.15 + 0.45 * min(max(h.weight, 0), 1):.2f})")


def sheet_figure(record: Record, signal_mv: np.ndarray | None = None, *, max_points_per_trace: int = 600,
                 highlights: list[Highlight] | None = None) -> go.Figure:
    """The standard 12-lead sheet (3x4 + lead II rhythm strip) of the first 10 s.

    ``signal_mv`` replaces the record's raw signal (e.g. the filtered one); same shape.
    Requires the 12 standard leads.
    """
    signal = record.signal if signal_mv is None else signal_mv
    missing = [lead for lead in LEADS_12 if lead not in record.leads]
    if missing:
        raise ValueError(f"The 12-lead sheet needs all 12 leads; {record.record_id} lacks {', '.join(missing)}")
    fs = record.fs
    column_s = 2.5
    n_col = int(round(column_s * fs))
    fig = go.Figure()
    drawn: dict[str, tuple[float, float, float]] = {}
    for row in range(3):
        baseline = -row * ROW_SPACING_MV
        cal_x, cal_y = _calibration_pulse(-0.5, baseline)
        fig.add_trace(go.Scatter(x=cal_x, y=cal_y, mode="lines", line=dict(color=TRACE_COLOR, width=1.1)))
        for col, leads in enumerate(SHEET_COLUMNS):
            lead = leads[row]
            start = col * n_col
            y = np.nan_to_num(signal[record.leads.index(lead), start : start + n_col])
            t = (start + np.arange(y.size)) / fs
            _add_trace(fig, t, y + baseline, max_points_per_trace)
            drawn[lead] = (baseline, t[0] if t.size else 0.0, t[-1] if t.size else 0.0)
            fig.add_annotation(x=col * column_s + 0.05, y=baseline + 1.2, text=f"<b>{lead}</b>", showarrow=False,
                               xanchor="left", font=dict(size=12))
    rhythm_base = -3 * ROW_SPACING_MV
    cal_x, cal_y = _calibration_pulse(-0.5, rhythm_base)
    fig.add_trace(go.Scatter(x=cal_x, y=cal_y, mode="lines", line=dict(color=TRACE_COLOR, width=1.1)))
    n10 = int(round(10 * fs))
    y = np.nan_to_num(signal[record.leads.index("II"), :n10])
    _add_trace(fig, np.arange(y.size) / fs, y + rhythm_base, 4 * max_points_per_trace)
    fig.add_annotation(x=0.05, y=rhythm_base + 1.2, text="<b>II</b>", showarrow=False, xanchor="left")
    _add_highlights(fig, highlights or [], drawn)
    _paper_layout(fig, (-0.6, 10.05), (rhythm_base - 1.6, 1.6), height_px=560)
    return fig


def rows_figure(record: Record, signal_mv: np.ndarray | None = None, *, start_s: float = 0.0,
                duration_s: float = 10.0, max_points_per_trace: int = 2000,
                highlights: list[Highlight] | None = None) -> go.Figure:
    """One lead per row over ``[start_s, start_s + duration_s)``; full resolution for short windows."""
    signal = record.signal if signal_mv is None else signal_mv
    fs = record.fs
    i0 = max(0, int(round(start_s * fs)))
    i1 = min(record.n_samples, i0 + int(round(duration_s * fs)))
    if i1 <= i0:
        raise ValueError(f"Window {start_s:g}-{start_s + duration_s:g} s is outside the record ({record.duration_s:.1f} s)")
    fig = go.Figure()
    drawn: dict[str, tuple[float, float, float]] = {}
    t = np.arange(i0, i1) / fs
    for row, lead in enumerate(record.leads):
        baseline = -row * ROW_SPACING_MV
        cal_x, cal_y = _calibration_pulse(t[0] - 0.5, baseline)
        fig.add_trace(go.Scatter(x=cal_x, y=cal_y, mode="lines", line=dict(color=TRACE_COLOR, width=1.1)))
        y = np.nan_to_num(signal[row, i0:i1])
        _add_trace(fig, t, y + baseline, max_points_per_trace)
        drawn[lead] = (baseline, t[0], t[-1])
        fig.add_annotation(x=t[0] + 0.02, y=baseline + 1.2, text=f"<b>{lead}</b>", showarrow=False, xanchor="left")
    _add_highlights(fig, highlights or [], drawn)
    n = record.n_leads
    _paper_layout(fig, (t[0] - 0.6, t[-1] + 0.05), (-(n - 1) * ROW_SPACING_MV - 1.6, 1.6), height_px=max(220, 95 * n))
    return fig


def figure_size_bytes(fig: go.Figure) -> int:
    """Size of the figure's JSON as sent to the browser: the number that decides responsiveness."""
    return len(fig.to_json().encode())
