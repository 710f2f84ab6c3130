"""The one-page ECG report as a PDF (or PNG): ECG paper at true scale under a header of text.

    from ecgcore.report import render_report, Confirmation
    render_report(record, prediction=prediction, out="report.pdf")            # -> Path
    pdf_bytes = render_report(record, confirmation=Confirmation(...), paper="Letter")

Drawn with matplotlib's object API (no pyplot: safe in the app's threads) and its PDF backend.
The figure is exactly the page (A4 or Letter landscape) and one axes covers it with limits in
millimetres, so one data unit is one millimetre on paper: 25 mm per second and 10 mm per
millivolt hold in the PDF's own coordinates (``tests/ecgcore/report/test_pdf.py`` measures them
there) and on a printout made at 100 % ("actual size", not "fit to page").

Kept small and vector: the grid is two stroked paths (minor and major lines), never patches or
an image; each trace is one path of at most ``MAX_DRAW_HZ`` points per second (min-max decimated
above it, so QRS peaks and pacing spikes survive); nothing is rasterized. Fonts are DejaVu Sans,
embedded as TrueType subsets (``pdf.fonttype`` 42), so the text layer can be searched and copied.
Pixel snapping is off: it would move the grid and the calibration pulse by up to a point.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextToPath

from ecgcore.acquisition import DeviceReading
from ecgcore.record import Record
from ecgcore.report.content import Confirmation, Line, ReportContent, report_content
from ecgcore.report.layout import (
    CALIBRATION_GAP_S,
    CALIBRATION_MV,
    CALIBRATION_S,
    DEFAULT_PAPER,
    GRID_HEIGHT_MM,
    GRID_WIDTH_MM,
    MAJOR_GRID_MM,
    MINOR_GRID_MM,
    MM_PER_MV,
    MM_PER_S,
    N_ROWS,
    PT_PER_MM,
    SHEET_COLUMN_S,
    SHEET_COLUMNS,
    PageLayout,
    PaperSize,
    draw_step,
    page_layout,
    report_window,
    sheet_panels,
)

if TYPE_CHECKING:
    from ecgcore.measurements import Measurements, Statement
    from ecgcore.predict import Prediction

# -- look --------------------------------------------------------------------------------------
MINOR_GRID_COLOR = "#f5b8c2"
MAJOR_GRID_COLOR = "#e0707f"
TRACE_COLOR = "#000000"
TEXT_COLOR = "#111111"
SMALL_TEXT_COLOR = "#555555"
ALERT_COLOR = "#b00020"
MINOR_GRID_LW_PT = 0.25
MAJOR_GRID_LW_PT = 0.6
TRACE_LW_PT = 0.6
FONT_FAMILY = "DejaVu Sans"  # ships with matplotlib: the same glyphs everywhere
FONT_PT: dict[str, float] = {"title": 12.0, "patient": 10.0, "strong": 7.2, "normal": 7.2, "small": 6.4,
                             "alert": 8.5, "lead": 8.0}
LINE_SPACING = 1.22  # line height / font size
COLUMN_GAP_MM = 4.0
COLUMN_WIDTHS_MM = (92.0, 78.0, 78.0)  # interpretation | model | device reading (sum + gaps = grid width)
BULLET = "• "
LEAD_LABEL_ABOVE_MM = 10.0  # a lead's name sits this far above its baseline, at its column's start
PNG_DPI = 130
RC = {
    "pdf.fonttype": 42,  # TrueType, embedded (subset)
    "pdf.compression": 9,
    "path.snap": False,
    "path.simplify": True,
    "font.family": FONT_FAMILY,
    "text.usetex": False,
    "axes.unicode_minus": True,
}
PDF_METADATA = {"Title": "ECG report", "Subject": "ECG at 25 mm/s, 10 mm/mV", "Author": None}


# -- traces ------------------------------------------------------------------------------------


def trace_points(samples: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """(time from the first sample in s, mV) to draw: every sample up to ``MAX_DRAW_HZ``, else each
    bucket's minimum and maximum in time order (at most ``MAX_DRAW_HZ`` points per second)."""
    y = np.asarray(samples, dtype=np.float64)
    t = np.arange(y.size) / fs
    step = draw_step(fs)
    if step == 1 or y.size <= 2:
        return t, y
    n_buckets = -(-y.size // step)
    padded = np.full(n_buckets * step, np.nan)
    padded[: y.size] = y
    buckets = padded.reshape(n_buckets, step)
    filled = np.where(np.isnan(buckets), np.inf, buckets)
    i_min = np.argmin(filled, axis=1)
    i_max = np.argmax(np.where(np.isnan(buckets), -np.inf, buckets), axis=1)
    first, second = np.minimum(i_min, i_max), np.maximum(i_min, i_max)
    base = np.arange(n_buckets) * step
    keep = np.stack([base + first, base + second], axis=1).ravel()
    keep = keep[keep < y.size]
    keep = np.unique(keep)  # a bucket whose minimum and maximum are one sample keeps it once
    return t[keep], y[keep]


def calibration_pulse(page: PageLayout, row: int) -> tuple[list[float], list[float]]:
    """The 1 mV x 0.2 s pulse at a row's start, in page mm (six vertices)."""
    x0, base = page.left_mm, page.baseline_mm(row)
    x1 = x0 + CALIBRATION_GAP_S * MM_PER_S
    x2 = x1 + CALIBRATION_S * MM_PER_S
    x3 = x2 + CALIBRATION_GAP_S * MM_PER_S
    top = base + CALIBRATION_MV * MM_PER_MV
    return [x0, x1, x1, x2, x2, x3], [base, base, top, top, base, base]


def _grid_path(page: PageLayout, spacing_mm: float, skip_every: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Vertical and horizontal grid lines as one NaN-separated polyline (one PDF path)."""
    xs, ys = [], []
    n_x = int(round(GRID_WIDTH_MM / spacing_mm))
    n_y = int(round(GRID_HEIGHT_MM / spacing_mm))
    bottom, top = page.grid_bottom_mm, page.grid_top_mm
    left, right = page.left_mm, page.right_mm
    for k in range(n_x + 1):
        if skip_every and k % skip_every == 0:
            continue
        x = left + k * spacing_mm
        xs += [x, x, np.nan]
        ys += [bottom, top, np.nan]
    for k in range(n_y + 1):
        if skip_every and k % skip_every == 0:
            continue
        y = bottom + k * spacing_mm
        xs += [left, right, np.nan]
        ys += [y, y, np.nan]
    return np.asarray(xs), np.asarray(ys)


def _line(ax, x, y, color: str, lw_pt: float, **kw) -> Line2D:
    line = Line2D(x, y, color=color, linewidth=lw_pt, solid_joinstyle="miter", solid_capstyle="butt",
                  antialiased=True, snap=False, **kw)
    ax.add_line(line)
    return line


def _draw_paper(ax, page: PageLayout) -> None:
    ratio = int(round(MAJOR_GRID_MM / MINOR_GRID_MM))
    _line(ax, *_grid_path(page, MINOR_GRID_MM, skip_every=ratio), MINOR_GRID_COLOR, MINOR_GRID_LW_PT)
    _line(ax, *_grid_path(page, MAJOR_GRID_MM, skip_every=None), MAJOR_GRID_COLOR, MAJOR_GRID_LW_PT)


FILTER_PAD_S = 2.0  # filtered display: the window is filtered with this much signal either side (no edge effects)


def display_signal(record: Record, window: tuple[int, int], filtered: bool) -> tuple[np.ndarray, int]:
    """The samples to draw (leads x samples, mV) and the record index of their first column.

    Raw: the record's signal. Filtered: the model's filters (:func:`ecgcore.preprocessing.filter_mv`)
    over the window and ``FILTER_PAD_S`` around it only, so a 24-h record costs no more than 14 s.
    """
    if not filtered:
        return record.signal, 0
    from ecgcore.preprocessing import filter_mv

    pad = int(round(FILTER_PAD_S * record.fs))
    lo, hi = max(0, window[0] - pad), min(record.n_samples, window[1] + pad)
    return filter_mv(record.signal[:, lo:hi], record.fs), lo


def _draw_traces(ax, page: PageLayout, record: Record, window: tuple[int, int], filtered: bool = False) -> None:
    signal, offset = display_signal(record, window, filtered)
    clip = Rectangle((page.left_mm, page.grid_bottom_mm), GRID_WIDTH_MM, GRID_HEIGHT_MM, transform=ax.transData)
    panels = sheet_panels(record.leads, record.fs, window)
    rows = sorted({p.row for p in panels})
    for row in rows:
        _line(ax, *calibration_pulse(page, row), TRACE_COLOR, TRACE_LW_PT, gid=f"calibration-{row}")
    for panel in panels:
        row = signal[record.leads.index(panel.lead)]
        t, mv = trace_points(row[panel.i0 - offset: panel.i1 - offset], record.fs)
        x = page.x_mm(panel.t0_s + t)
        y = page.baseline_mm(panel.row) + mv * MM_PER_MV
        _line(ax, x, y, TRACE_COLOR, TRACE_LW_PT, gid=f"trace-{panel.lead}-{panel.row}").set_clip_path(clip)
        ax.text(page.x_mm(panel.t0_s) + 1.0, page.baseline_mm(panel.row) + LEAD_LABEL_ABOVE_MM, panel.lead,
                fontsize=FONT_PT["lead"], fontweight="bold", color=TEXT_COLOR, ha="left", va="bottom")
    if len(record.leads) > 1:  # column boundaries: short ticks on the three lead rows
        for row in range(N_ROWS - 1):
            base = page.baseline_mm(row)
            for col in range(1, len(SHEET_COLUMNS)):
                x = page.x_mm(col * SHEET_COLUMN_S)
                _line(ax, [x, x], [base - 2.5, base + 2.5], TRACE_COLOR, TRACE_LW_PT)


# -- text --------------------------------------------------------------------------------------
_TEXT_TO_PATH = TextToPath()


def _font(style: str) -> FontProperties:
    weight = "bold" if style in ("title", "patient", "strong", "alert", "lead") else "normal"
    return FontProperties(family=FONT_FAMILY, size=FONT_PT[style], weight=weight)


def text_width_mm(text: str, style: str) -> float:
    width, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(text, _font(style), ismath=False)
    return width / PT_PER_MM


def line_height_mm(style: str) -> float:
    return FONT_PT[style] * LINE_SPACING / PT_PER_MM


def wrap(text: str, style: str, width_mm: float) -> list[str]:
    """Greedy word wrap to ``width_mm`` with the real glyph widths, keeping the spaces between words
    (the cart line's double spaces); an over-long word stays whole."""
    tokens = re.split(r"(\s+)", text.strip())
    words, gaps = tokens[0::2], ["", *tokens[1::2]]
    lines, current = [], ""
    for gap, word in zip(gaps, words):
        candidate = current + gap + word if current else word
        if current and text_width_mm(candidate, style) > width_mm:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    return lines


def _layout_lines(lines: Sequence[Line], width_mm: float) -> list[tuple[float, str, str]]:
    """(x indent in mm, text, style) per printed line."""
    out = []
    for line in lines:
        if line.bullet:
            indent = text_width_mm(BULLET, line.style)
            wrapped = wrap(line.text, line.style, width_mm - indent)
            out.append((0.0, BULLET + wrapped[0], line.style))
            out += [(indent, rest, line.style) for rest in wrapped[1:]]
        else:
            out += [(0.0, part, line.style) for part in wrap(line.text, line.style, width_mm)]
    return out


def _color(style: str) -> str:
    return {"small": SMALL_TEXT_COLOR, "alert": ALERT_COLOR}.get(style, TEXT_COLOR)


def _put(ax, x: float, y: float, text: str, style: str, ha: str = "left") -> None:
    ax.text(x, y, text, fontproperties=_font(style), color=_color(style), ha=ha, va="top")


def _draw_block(ax, lines: Sequence[Line], x: float, top: float, width: float, bottom: float) -> float:
    """Print ``lines`` from ``top`` down, wrapped to ``width``; what does not fit above ``bottom`` is
    counted in a last line. Returns the y below the last line."""
    laid = _layout_lines(lines, width)
    y = top
    for k, (indent, text, style) in enumerate(laid):
        h = line_height_mm(style)
        rest = len(laid) - k
        if rest > 1 and y - h - line_height_mm("small") < bottom:
            _put(ax, x, y, f"… {rest} more line(s) not printed: see the workspace", "small")
            return y - line_height_mm("small")
        _put(ax, x + indent, y, text, style)
        y -= h
    return y


def _draw_header(ax, page: PageLayout, content: ReportContent, title: str) -> None:
    left, right, top = page.left_mm, page.right_mm, page.header_top_mm
    _put(ax, left, top, title, "title")
    _put(ax, right, top + 0.3, content.patient_line(), "patient", ha="right")
    y = top - line_height_mm("title") - 0.5
    y = _draw_block(ax, content.top_lines(), left, y, GRID_WIDTH_MM, page.header_bottom_mm)
    y -= 0.8
    _line(ax, [left, right], [y, y], "#999999", 0.4)
    y -= 1.2
    columns = (content.interpretation_lines(), content.model_lines(), content.device_lines())
    x = left
    for lines, width in zip(columns, COLUMN_WIDTHS_MM):
        _draw_block(ax, lines, x, y, width, page.header_bottom_mm)
        x += width + COLUMN_GAP_MM


def _draw_footer(ax, page: PageLayout, content: ReportContent) -> None:
    _draw_block(ax, content.footer_lines(), page.left_mm, page.footer_top_mm, GRID_WIDTH_MM, page.footer_bottom_mm - 2)


def _title(record: Record) -> str:
    if len(record.leads) == 1:
        return "ECG report · single lead"
    return "12-lead ECG report" if len(record.leads) == 12 else f"ECG report · {len(record.leads)} leads"


# -- the page ------------------------------------------------------------------------------------


def report_figure(record: Record, content: ReportContent, *, paper: str | PaperSize = DEFAULT_PAPER,
                  start_s: float | None = None, filtered: bool = False) -> Figure:
    """The page as a matplotlib Figure the size of the paper, one axes over it in millimetres.

    Draw and save it inside ``matplotlib.rc_context(RC)`` (``render_report`` does), so fonts are
    embedded and nothing is snapped to pixels.
    """
    page = page_layout(paper)
    window = report_window(record.n_samples, record.fs, start_s)
    fig = Figure(figsize=page.paper.size_in, dpi=72)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, page.paper.width_mm)
    ax.set_ylim(0.0, page.paper.height_mm)
    ax.set_axis_off()
    _draw_paper(ax, page)
    _draw_traces(ax, page, record, window, filtered)
    _draw_header(ax, page, content, _title(record))
    _draw_footer(ax, page, content)
    return fig


def render_report(
    record: Record,
    *,
    measurements: Measurements | Mapping[str, float | None] | None = None,
    statements: Sequence[Statement | str] | None = None,
    prediction: Prediction | None = None,
    model: str | None = None,
    confirmation: Confirmation | None = None,
    device_reading: DeviceReading | None = None,
    pseudonym: str | None = None,
    paper: str = DEFAULT_PAPER,
    start_s: float | None = None,
    filtered: bool = False,
    out: str | os.PathLike[str] | io.IOBase | None = None,
    format: str | None = None,
    content: ReportContent | None = None,
) -> bytes | Path:
    """The one-page report of ``record``: a PDF (or a PNG of the same page).

    ``measurements`` (None: measured here on the printed window), ``statements`` (None: derived
    from them), ``prediction`` and ``model`` (the model's findings, name and version; None: the
    report says no model was run), ``confirmation`` (None: UNCONFIRMED), ``device_reading``
    (None: the record's own), ``pseudonym`` (the store's keyed-hash prefix; None prints ``—``):
    see :func:`ecgcore.report.content.report_content`, or pass ``content`` ready-made.
    ``start_s``: the 10-s window of a longer record (default: its start). ``filtered``: draw the
    traces through the model's filters, as the review page's "Filtered" view (default: as recorded).

    ``out``: a path (the file is written, its Path returned), a binary file object (written,
    bytes returned) or None (bytes returned). ``format``: "pdf" or "png"; default from ``out``'s
    suffix, else "pdf".
    """
    if content is None:
        content = report_content(record, measurements=measurements, statements=statements, prediction=prediction,
                                 model=model, confirmation=confirmation, device_reading=device_reading,
                                 pseudonym=pseudonym, start_s=start_s, filtered=filtered)
    path = Path(out) if isinstance(out, (str, os.PathLike)) else None
    fmt = (format or (path.suffix.lstrip(".") if path is not None and path.suffix else "pdf")).lower()
    if fmt not in ("pdf", "png"):
        raise ValueError(f"A report is a PDF or a PNG; got format {fmt!r}.")
    buffer = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig = report_figure(record, content, paper=paper, start_s=start_s, filtered=filtered)
        if fmt == "pdf":
            fig.savefig(buffer, format="pdf", metadata=PDF_METADATA | {"Creator": content.software or "ecgcore"})
        else:
            fig.savefig(buffer, format="png", dpi=PNG_DPI, facecolor="white")
    data = buffer.getvalue()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path
    if out is not None:
        out.write(data)
    return data


__all__ = ["RC", "calibration_pulse", "display_signal", "render_report", "report_figure", "trace_points", "wrap"]
