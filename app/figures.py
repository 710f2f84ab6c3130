"""Plotly figures of an ECG as clinicians read it: ECG paper, 25 mm/s, 10 mm/mV.

Layouts: the standard 12-lead sheet (3 rows x 4 columns of 2.5 s, I/II/III | aVR/aVL/aVF |
V1-V3 | V4-V6, plus a 10 s lead II rhythm strip) of the 10 s from ``start_s`` (``sheet_figure``),
and one lead per row over any window (``rows_figure``). Axes are in record seconds and millivolts
with the y axis locked to the x axis at 10 mm/mV : 25 mm/s (``scaleratio`` 0.4), so zooming keeps
the paper's proportions. Grid: minor 1 mm (0.04 s, 0.1 mV), major 5 mm (0.2 s, 0.5 mV). Each row
starts with a 1 mV x 0.2 s calibration pulse.

Traces are SVG (``go.Scatter``), never WebGL: a browser keeps only ~16 WebGL contexts, Plotly opens
several per WebGL chart, and Chromium then drops the oldest ones (the trace "disappears" on
scrolling, issue 15 item 9). To keep SVG fast and the figure JSON small, overview traces are min-max
decimated (each bucket keeps its minimum and maximum, so QRS peaks and pacing spikes survive):
600 points per 2.5-s sheet column, 2400 for the 10-s rhythm strip, 2000 per row in the rows view.
A rows window of up to ``FULL_RESOLUTION_S`` (2.5 s) is drawn at full resolution. Voltages are
sent as float32 (1 nV steps), times as float64 (exact sample times even on 24-h records).

Highlights (e.g. saliency segments) are in record seconds and are shaded behind their lead
wherever that lead and time are shown: on the sheet a lead-II segment appears in the lead II
column (0-2.5 s of the sheet) and anywhere on the 10-s rhythm strip. ``hidden_highlights`` lists
those drawn nowhere in a view, and ``describe_hidden`` words them for the page. The window the
model scored can be shaded in a light blue band labelled "model window" (``scored_window_s``),
distinct from the orange highlights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import plotly.graph_objects as go

from ecgcore.leads import LEADS_12
from ecgcore.measurements.types import BeatFiducials
from ecgcore.record import Record

# The paper's speed, gain and 3x4 sheet are the printed report's (one table: ecgcore/report/layout.py).
from ecgcore.report.layout import (  # re-exported: the app and its tests read them here
    CALIBRATION_GAP_S,
    CALIBRATION_S,
    MM_PER_MV,
    MM_PER_S,
    ROW_SPACING_MV,
    SHEET_COLUMN_S,
    SHEET_COLUMNS,
    SHEET_DURATION_S,
)

PAPER_PINK = "#fbe3e6"
MINOR_GRID = "#f4c2c9"
MAJOR_GRID = "#e58a97"
TRACE_COLOR = "#1a1a1a"
RHYTHM_BASELINE_MV = -3 * ROW_SPACING_MV
FULL_RESOLUTION_S = 2.5  # rows windows up to this long are drawn sample by sample
ROWS_MAX_POINTS = 2000  # per row of a longer rows window (min-max decimated)
HIGHLIGHT_HALF_HEIGHT_MV = 1.4
SCORED_WINDOW_FILL = "rgba(66,133,244,0.14)"  # light blue: unlike the orange saliency highlights
SCORED_WINDOW_TEXT = "#1f4e9c"
SCORED_WINDOW_LABEL = "model window"
Layout = Literal["sheet", "rows"]


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


@dataclass(frozen=True)
class _Panel:
    """Where one lead is drawn: samples ``[i0, i1)`` around ``baseline`` (mV); empty when ``i1 <= i0``."""

    lead: str
    baseline: float
    i0: int
    i1: int
    fs: float

    def shown(self, h: Highlight) -> tuple[float, float] | None:
        """The part of ``h`` this panel shows (record seconds), or None."""
        if h.lead != self.lead:
            return None
        start, end = max(h.start_s, self.i0 / self.fs), min(h.end_s, self.i1 / self.fs)
        return (start, end) if end > start else None


def _window(record: Record, start_s: float, duration_s: float) -> tuple[int, int]:
    """Samples ``[i0, i1)`` of ``[start_s, start_s + duration_s)``; ValueError when nothing of it is recorded."""
    i0 = max(0, int(round(start_s * record.fs)))
    i1 = min(record.n_samples, i0 + int(round(duration_s * record.fs)))
    if i1 <= i0:
        raise ValueError(
            f"Window {start_s:g}-{start_s + duration_s:g} s is outside the record ({record.duration_s:.1f} s)")
    return i0, i1


def _sheet_panels(record: Record, start_s: float) -> list[_Panel]:
    """The 12 columns' panels (row by row, I aVR V1 V4 first), then the lead II rhythm strip's."""
    missing = [lead for lead in LEADS_12 if lead not in record.leads]
    if missing:
        raise ValueError(f"The 12-lead sheet needs all 12 leads; {record.record_name} lacks {', '.join(missing)}")
    i0, i_end = _window(record, start_s, SHEET_DURATION_S)
    n_col = int(round(SHEET_COLUMN_S * record.fs))
    panels = [
        _Panel(leads[row], -row * ROW_SPACING_MV, min(i0 + col * n_col, i_end), min(i0 + (col + 1) * n_col, i_end),
               record.fs)
        for row in range(3) for col, leads in enumerate(SHEET_COLUMNS)
    ]
    return panels + [_Panel("II", RHYTHM_BASELINE_MV, i0, i_end, record.fs)]


def _rows_panels(record: Record, start_s: float, duration_s: float) -> list[_Panel]:
    i0, i1 = _window(record, start_s, duration_s)
    return [_Panel(lead, -row * ROW_SPACING_MV, i0, i1, record.fs) for row, lead in enumerate(record.leads)]


def _paper_layout(fig: go.Figure, x_range: tuple[float, float], y_range: tuple[float, float], height_px: int,
                  top_margin_px: int = 10) -> None:
    grid = dict(showgrid=True, gridcolor=MAJOR_GRID, gridwidth=1, zeroline=False, showline=False,
                minor=dict(showgrid=True, gridcolor=MINOR_GRID, gridwidth=0.5))
    fig.update_layout(
        height=height_px,
        margin=dict(l=10, r=10, t=top_margin_px, b=30),
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


def _add_line(fig: go.Figure, x, y) -> None:  # noqa: ANN001 - lists or arrays
    """An SVG line (never ``Scattergl``: see the module docstring)."""
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color=TRACE_COLOR, width=1.1)))


def _add_panel_trace(fig: go.Figure, panel: _Panel, signal: np.ndarray, lead_index: int, max_points: int) -> None:
    y = np.nan_to_num(signal[lead_index, panel.i0 : max(panel.i0, panel.i1)]).astype(np.float32)
    y += np.float32(panel.baseline)
    t = (panel.i0 + np.arange(y.size)) / panel.fs
    _add_line(fig, *minmax_decimate(t, y, max_points))


def _add_highlights(fig: go.Figure, highlights: list[Highlight], panels: list[_Panel]) -> None:
    """Shade each highlight behind its lead in every panel that shows part of it."""
    for h in highlights:
        alpha = 0.15 + 0.45 * min(max(h.weight, 0.0), 1.0)
        for panel in panels:
            span = panel.shown(h)
            if span is not None:
                fig.add_shape(type="rect", x0=span[0], x1=span[1], y0=panel.baseline - HIGHLIGHT_HALF_HEIGHT_MV,
                              y1=panel.baseline + HIGHLIGHT_HALF_HEIGHT_MV, layer="below", line=dict(width=0),
                              fillcolor=f"rgba(255,140,0,{alpha:.2f})")


def _add_scored_window(fig: go.Figure, scored_window_s: tuple[float, float] | None, view: tuple[float, float],
                       y_range: tuple[float, float]) -> bool:
    """A light blue band behind every lead over the scored window's part of ``view``; True when drawn."""
    if scored_window_s is None:
        return False
    start, end = max(scored_window_s[0], view[0]), min(scored_window_s[1], view[1])
    if end <= start:
        return False
    fig.add_shape(type="rect", x0=start, x1=end, y0=y_range[0], y1=y_range[1], layer="below", line=dict(width=0),
                  fillcolor=SCORED_WINDOW_FILL)
    fig.add_annotation(x=end, y=1.0, xref="x", yref="paper", xanchor="right", yanchor="bottom", showarrow=False,
                       text=SCORED_WINDOW_LABEL, font=dict(size=10, color=SCORED_WINDOW_TEXT))
    return True


MARKED_LEAD_COLOUR = "#d62728"


def _lead_label(lead: str, marked: dict[str, str] | None) -> str:
    """A lead's name on the trace; a lead with a quality problem gets it in brackets, e.g. "V2 (flat)"."""
    problem = (marked or {}).get(lead)
    return f"<b>{lead}</b>" + (f" ({problem})" if problem else "")


def _lead_font(lead: str, marked: dict[str, str] | None, size: int | None = None) -> dict:
    font = {"size": size} if size else {}
    if lead in (marked or {}):
        font["color"] = MARKED_LEAD_COLOUR
    return font


def sheet_figure(record: Record, signal_mv: np.ndarray | None = None, *, start_s: float = 0.0,
                 max_points_per_trace: int = 600, highlights: list[Highlight] | None = None,
                 scored_window_s: tuple[float, float] | None = None,
                 marked_leads: dict[str, str] | None = None) -> go.Figure:
    """The standard 12-lead sheet (3x4 + lead II rhythm strip) of the 10 s from ``start_s`` (record seconds).

    ``signal_mv`` replaces the record's raw signal (e.g. the filtered one); same shape. Requires the
    12 standard leads. The x axis is in record seconds: column ``c`` shows ``start_s + 2.5 c`` to
    ``start_s + 2.5 (c + 1)``, the rhythm strip all 10 s. ``highlights`` (record seconds) are shaded
    wherever their lead and time are shown (``hidden_highlights`` lists the others);
    ``scored_window_s`` = (start, end) of the window the model read, shaded in light blue.
    Traces are decimated to ``max_points_per_trace`` per column, 4x that for the rhythm strip.
    """
    signal = record.signal if signal_mv is None else signal_mv
    panels = _sheet_panels(record, start_s)
    t0 = panels[-1].i0 / record.fs
    fig = go.Figure()
    for row in range(3):
        _add_line(fig, *_calibration_pulse(t0 - 0.5, -row * ROW_SPACING_MV))
        for col in range(len(SHEET_COLUMNS)):
            panel = panels[row * len(SHEET_COLUMNS) + col]
            _add_panel_trace(fig, panel, signal, record.leads.index(panel.lead), max_points_per_trace)
            fig.add_annotation(x=t0 + col * SHEET_COLUMN_S + 0.05, y=panel.baseline + 1.2,
                               text=_lead_label(panel.lead, marked_leads), showarrow=False, xanchor="left",
                               font=_lead_font(panel.lead, marked_leads, size=12))
    rhythm = panels[-1]
    _add_line(fig, *_calibration_pulse(t0 - 0.5, rhythm.baseline))
    _add_panel_trace(fig, rhythm, signal, record.leads.index("II"), 4 * max_points_per_trace)
    fig.add_annotation(x=t0 + 0.05, y=rhythm.baseline + 1.2, text=_lead_label("II", marked_leads), showarrow=False,
                       xanchor="left", font=_lead_font("II", marked_leads))
    _add_highlights(fig, highlights or [], panels)
    y_range = (rhythm.baseline - 1.6, 1.6)
    banded = _add_scored_window(fig, scored_window_s, (t0, t0 + SHEET_DURATION_S), y_range)
    _paper_layout(fig, (t0 - 0.6, t0 + SHEET_DURATION_S + 0.05), y_range, height_px=560 + (14 if banded else 0),
                  top_margin_px=24 if banded else 10)
    return fig


def rows_figure(record: Record, signal_mv: np.ndarray | None = None, *, start_s: float = 0.0,
                duration_s: float = 10.0, max_points_per_trace: int | None = None,
                highlights: list[Highlight] | None = None,
                scored_window_s: tuple[float, float] | None = None,
                marked_leads: dict[str, str] | None = None) -> go.Figure:
    """One lead per row over ``[start_s, start_s + duration_s)`` (record seconds).

    ``max_points_per_trace`` None: full resolution for windows up to ``FULL_RESOLUTION_S``, else
    ``ROWS_MAX_POINTS`` per row (min-max decimated). ``highlights`` as in ``sheet_figure``;
    ``scored_window_s`` = (start, end) of the window the model read, shaded in light blue behind all
    leads with a "model window" label, so a reviewer moving this window sees which 10 s were scored.
    """
    signal = record.signal if signal_mv is None else signal_mv
    panels = _rows_panels(record, start_s, duration_s)
    i0, i1 = panels[0].i0, panels[0].i1
    if max_points_per_trace is None:
        max_points_per_trace = i1 - i0 if duration_s <= FULL_RESOLUTION_S else ROWS_MAX_POINTS
    t_first, t_last = i0 / record.fs, (i1 - 1) / record.fs
    fig = go.Figure()
    for row, panel in enumerate(panels):
        _add_line(fig, *_calibration_pulse(t_first - 0.5, panel.baseline))
        _add_panel_trace(fig, panel, signal, row, max_points_per_trace)
        fig.add_annotation(x=t_first + 0.02, y=panel.baseline + 1.2, text=_lead_label(panel.lead, marked_leads),
                           showarrow=False, xanchor="left", font=_lead_font(panel.lead, marked_leads))
    _add_highlights(fig, highlights or [], panels)
    y_range = (panels[-1].baseline - 1.6, 1.6)
    banded = _add_scored_window(fig, scored_window_s, (t_first, i1 / record.fs), y_range)
    height = max(220, 95 * record.n_leads) + (14 if banded else 0)
    _paper_layout(fig, (t_first - 0.6, t_last + 0.05), y_range, height_px=height, top_margin_px=24 if banded else 10)
    return fig


def hidden_highlights(record: Record, highlights: list[Highlight], *, layout: Layout, start_s: float = 0.0,
                      duration_s: float = SHEET_DURATION_S) -> list[Highlight]:
    """The highlights drawn nowhere in a view, in their order (so the page can say where they are).

    ``layout``: "sheet" (``sheet_figure(record, start_s=start_s)``; always 10 s, ``duration_s`` is
    ignored) or "rows" (``rows_figure(record, start_s=start_s, duration_s=duration_s)``). A highlight
    partly shown counts as shown; one on a lead the view does not draw is hidden.
    """
    if layout == "sheet":
        panels = _sheet_panels(record, start_s)
    elif layout == "rows":
        panels = _rows_panels(record, start_s, duration_s)
    else:
        raise ValueError(f"Unknown layout {layout!r}; expected 'sheet' or 'rows'")
    return [h for h in highlights if not any(panel.shown(h) for panel in panels)]


def _time_range(start_s: float, end_s: float) -> str:
    """'3.1–3.4 s' (as the saliency words print it); two decimals when one would print an empty range."""
    digits = 1 if round(start_s, 1) != round(end_s, 1) else 2
    return f"{start_s:.{digits}f}–{end_s:.{digits}f} s"


def describe_hidden(hidden: list[Highlight]) -> str:
    """'2 segments lie outside the view: lead V2 at 3.1–3.4 s, ...' ('' when none).

    Highlights of the same span are grouped ("leads I, II, III at 12.0–12.4 s"), e.g. Grad-CAM's
    all-lead segments.
    """
    if not hidden:
        return ""
    spans: dict[tuple[float, float], list[str]] = {}
    for h in hidden:
        leads = spans.setdefault((h.start_s, h.end_s), [])
        if h.lead not in leads:
            leads.append(h.lead)
    parts = [f"{'lead' if len(leads) == 1 else 'leads'} {', '.join(leads)} at {_time_range(*span)}"
             for span, leads in spans.items()]
    count = len(hidden)
    verb = "segment lies" if count == 1 else "segments lie"
    return f"{count} {verb} outside the view: " + ", ".join(parts)


def figure_size_bytes(fig: go.Figure) -> int:
    """Size of the figure's JSON as sent to the browser: the number that decides responsiveness."""
    return len(fig.to_json().encode())


# -- median beats ---------------------------------------------------------------------------------
MEDIAN_ROWS = 3  # leads column by column, three to a column: the 12 standard leads as on the sheet
MEDIAN_GAP_S = 0.2
MEDIAN_MARK_HALF_HEIGHT_MV = 1.3
# (legend name, colour, the global fiducials it marks as (wave, "onset" | "offset"))
FIDUCIAL_MARKS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("P on/off", "#2e7d32", (("p", "onset"), ("p", "offset"))),
    ("QRS on/off", "#1f4e9c", (("qrs", "onset"), ("qrs", "offset"))),
    ("T end", "#7b1fa2", (("t", "offset"),)),
)


def fiducial_marks(fiducials: BeatFiducials | None) -> list[tuple[str, str, int]]:
    """The vertical marks of the median-beat panel: (legend name, colour, sample on the median beat),
    for each of P onset/offset, QRS onset/offset and T end that was found."""
    if fiducials is None:
        return []
    marks = []
    for name, colour, points in FIDUCIAL_MARKS:
        for wave_name, edge in points:
            wave = getattr(fiducials, wave_name)
            sample = None if wave is None else getattr(wave, edge)
            if sample is not None:
                marks.append((name, colour, int(sample)))
    return marks


def median_beats_figure(median_beats_mv: np.ndarray, leads: Sequence[str], fs: float,
                        fiducials: BeatFiducials | None = None) -> go.Figure:
    """Each lead's median beat on ECG paper with the global fiducials as vertical marks.

    ``median_beats_mv`` (n_leads, n) as ``Measurements.median_beats`` with ``leads`` its lead names
    (``Measurements.measured_leads``); ``fiducials`` the global ones on the median beat (sample
    indices), drawn on every lead as a cart draws its measurement lines: P onset and offset, QRS
    onset and offset, T end, one colour and legend entry per wave. Leads go column by column, three
    to a column (the 12 standard leads as on the sheet: I-III, aVR-aVF, V1-V3, V4-V6), each column
    starting on a major grid line; each row starts with a 1 mV calibration pulse. The x axis has no
    record time (the beats are representative, not a stretch of the record): no tick labels.
    """
    beats = np.asarray(median_beats_mv, dtype=np.float32)
    if beats.ndim != 2 or beats.shape[0] != len(leads) or beats.shape[1] < 2:
        raise ValueError(f"median beats must be (n_leads, n) with one row per lead; got {beats.shape} "
                         f"for {len(leads)} lead(s)")
    n_rows = min(MEDIAN_ROWS, len(leads))
    beat_s = beats.shape[1] / fs
    column_s = math.ceil((beat_s + MEDIAN_GAP_S) / 0.2 - 1e-9) * 0.2  # columns start on major lines
    n_cols = math.ceil(len(leads) / n_rows)
    t = np.arange(beats.shape[1]) / fs
    fig = go.Figure()
    marks = fiducial_marks(fiducials)
    segments: dict[str, tuple[str, list[float | None], list[float | None]]] = {}
    for i, lead in enumerate(leads):
        col, row = divmod(i, n_rows)
        x0, baseline = col * column_s, -row * ROW_SPACING_MV
        if col == 0:
            _add_line(fig, *_calibration_pulse(-0.5, baseline))
        _add_line(fig, x0 + t, np.nan_to_num(beats[i]) + np.float32(baseline))
        # bold by the font, not <b>: the browser tests find the sheet by its "<b>V6</b>" label
        fig.add_annotation(x=x0 + 0.02, y=baseline + 1.2, text=lead, showarrow=False, xanchor="left",
                           font=dict(size=12, weight="bold"))
        for name, colour, sample in marks:
            xs, ys = segments.setdefault(name, (colour, [], []))[1:]
            x = x0 + sample / fs
            xs += [x, x, None]
            ys += [baseline - MEDIAN_MARK_HALF_HEIGHT_MV, baseline + MEDIAN_MARK_HALF_HEIGHT_MV, None]
    fig.update_traces(showlegend=False)  # the legend names the marks only
    for name, (colour, xs, ys) in segments.items():
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name, showlegend=True,
                                 line=dict(color=colour, width=1.2, dash="dash")))
    y_range = (-(n_rows - 1) * ROW_SPACING_MV - 1.6, 1.6)
    _paper_layout(fig, (-0.6, n_cols * column_s - MEDIAN_GAP_S + 0.05), y_range, height_px=120 + 130 * n_rows,
                  top_margin_px=30 if segments else 10)
    fig.update_layout(showlegend=bool(segments), legend=dict(orientation="h", x=0, y=1.0, xanchor="left",
                                                            yanchor="bottom", bgcolor="rgba(255,255,255,0)"))
    fig.update_xaxes(showticklabels=False, title=None)
    return fig
