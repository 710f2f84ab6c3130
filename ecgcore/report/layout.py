"""The report's paper in millimetres: page sizes, margins, the ECG grid and where each lead goes.

Everything here is plain numbers, so a test (or a ruler) can check them: a printed page must
measure 25 mm per second and 10 mm per millivolt. The PDF (``ecgcore.report.pdf``) draws in page
millimetres with exactly these values; the workspace's on-screen ECG paper (``app/figures.py``)
reads its speed, gain and 3x4 lead layout from here too.

The sheet: a 1 mV calibration pulse (0.1 s gap, 0.2 s pulse, 0.1 s gap: 10 mm) at the start of
each row, then 10 s of signal (250 mm); rows I/aVR/V1/V4, II/aVL/V2/V5, III/aVF/V3/V6 of 2.5 s
per column, and a 10-s rhythm strip of lead II. Rows are 30 mm (3 mV) apart. Grid: minor lines
every 1 mm (0.04 s, 0.1 mV), major every 5 mm (0.2 s, 0.5 mV). The grid is 260 x 120 mm, so it
fits A4 landscape (297 x 210 mm) and US Letter landscape (279.4 x 215.9 mm) with the header above.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ecgcore.errors import ECGValidationError

MM_PER_INCH = 25.4
PT_PER_MM = 72.0 / MM_PER_INCH  # PDF user space: 1 pt = 1/72 inch

# -- paper ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperSize:
    """A landscape page."""

    name: str
    width_mm: float
    height_mm: float

    @property
    def size_in(self) -> tuple[float, float]:
        """(width, height) in inches: the matplotlib figure size."""
        return self.width_mm / MM_PER_INCH, self.height_mm / MM_PER_INCH

    @property
    def size_pt(self) -> tuple[float, float]:
        """(width, height) in PDF points."""
        return self.width_mm * PT_PER_MM, self.height_mm * PT_PER_MM


PAPERS: dict[str, PaperSize] = {
    "A4": PaperSize("A4", 297.0, 210.0),  # ISO 216, landscape
    "Letter": PaperSize("Letter", 279.4, 215.9),  # US Letter 11 x 8.5 in, landscape
}
DEFAULT_PAPER = "A4"

# -- the ECG paper ----------------------------------------------------------------------------
MM_PER_S = 25.0  # paper speed
MM_PER_MV = 10.0  # gain
MINOR_GRID_MM = 1.0  # 0.04 s, 0.1 mV
MAJOR_GRID_MM = 5.0  # 0.2 s, 0.5 mV
SHEET_DURATION_S = 10.0  # the window printed: 4 columns of 2.5 s, a 10-s rhythm strip
SHEET_COLUMN_S = 2.5
SHEET_COLUMNS: tuple[tuple[str, ...], ...] = (("I", "II", "III"), ("aVR", "aVL", "aVF"), ("V1", "V2", "V3"),
                                              ("V4", "V5", "V6"))
RHYTHM_LEAD = "II"  # the rhythm strip's lead (the first lead present when the record has no II)
ROW_SPACING_MV = 3.0  # vertical distance between row baselines
ROW_PITCH_MM = ROW_SPACING_MV * MM_PER_MV
N_ROWS = 4  # three rows of leads and the rhythm strip
CALIBRATION_MV = 1.0
CALIBRATION_S = 0.2
CALIBRATION_GAP_S = 0.1
CALIBRATION_BLOCK_MM = (2 * CALIBRATION_GAP_S + CALIBRATION_S) * MM_PER_S  # 10 mm before each row's signal
GRID_WIDTH_MM = CALIBRATION_BLOCK_MM + SHEET_DURATION_S * MM_PER_S  # 260 mm
GRID_HEIGHT_MM = N_ROWS * ROW_PITCH_MM  # 120 mm
MAX_DRAW_HZ = 500.0  # traces are drawn at this rate at most (0.05 mm per point at 25 mm/s)

# -- the page around the grid -------------------------------------------------------------------
TOP_MARGIN_MM = 8.0
BOTTOM_MARGIN_MM = 7.0
MIN_SIDE_MARGIN_MM = 8.0
FOOTER_HEIGHT_MM = 11.0  # speed/gain line, versions, the disclaimer
GAP_MM = 3.0  # between header, grid and footer


@dataclass(frozen=True)
class PageLayout:
    """Where things go on one page, in millimetres from the page's bottom-left corner."""

    paper: PaperSize
    left_mm: float  # left edge of the grid and of the text
    grid_bottom_mm: float

    @property
    def right_mm(self) -> float:
        return self.left_mm + GRID_WIDTH_MM

    @property
    def grid_top_mm(self) -> float:
        return self.grid_bottom_mm + GRID_HEIGHT_MM

    @property
    def trace_left_mm(self) -> float:
        """Where the signal (time 0 of the window) starts: after the calibration block."""
        return self.left_mm + CALIBRATION_BLOCK_MM

    @property
    def header_top_mm(self) -> float:
        return self.paper.height_mm - TOP_MARGIN_MM

    @property
    def header_bottom_mm(self) -> float:
        return self.grid_top_mm + GAP_MM

    @property
    def footer_top_mm(self) -> float:
        return self.grid_bottom_mm - GAP_MM

    @property
    def footer_bottom_mm(self) -> float:
        return BOTTOM_MARGIN_MM

    def baseline_mm(self, row: int) -> float:
        """The 0 mV line of row ``row`` (0: top row, ``N_ROWS - 1``: the rhythm strip), on a major line."""
        return self.grid_top_mm - (row + 0.5) * ROW_PITCH_MM

    def x_mm(self, t_s: float) -> float:
        """Page x of ``t_s`` seconds after the window's start."""
        return self.trace_left_mm + t_s * MM_PER_S


def page_layout(paper: str | PaperSize = DEFAULT_PAPER) -> PageLayout:
    """The layout of one page: the grid centred horizontally, above the footer."""
    size = paper if isinstance(paper, PaperSize) else paper_size(paper)
    left = (size.width_mm - GRID_WIDTH_MM) / 2
    if left < MIN_SIDE_MARGIN_MM:
        raise ValueError(f"{size.name} ({size.width_mm:g} mm wide) is too narrow for the {GRID_WIDTH_MM:g}-mm grid")
    return PageLayout(paper=size, left_mm=left, grid_bottom_mm=BOTTOM_MARGIN_MM + FOOTER_HEIGHT_MM + GAP_MM)


def paper_size(name: str) -> PaperSize:
    """``"A4"`` or ``"Letter"`` (any case)."""
    for key, size in PAPERS.items():
        if key.lower() == str(name).strip().lower():
            return size
    raise ValueError(f"Unknown paper {name!r}; choose one of {', '.join(PAPERS)}.")


# -- the window and the panels ---------------------------------------------------------------------


def report_window(n_samples: int, fs: float, start_s: float | None = None) -> tuple[int, int]:
    """Samples ``[i0, i1)`` of the printed window: ``SHEET_DURATION_S`` from ``start_s`` (default 0).

    A record no longer than the window is printed whole (valid ``start_s``: 0 or None). As for the
    model's window, a start outside ``[0, duration - 10 s]`` raises ECGValidationError (an
    overshoot of less than half a sample is rounding and is clamped).
    """
    window_n = min(int(round(SHEET_DURATION_S * fs)), n_samples)
    max_start = n_samples - window_n
    start = 0.0 if start_s is None else float(start_s)
    if not (-0.5 / fs <= start <= max_start / fs + 0.5 / fs):  # also False for NaN
        raise ECGValidationError(
            f"start_s={start_s!r} is outside the record: a {SHEET_DURATION_S:g}-s window must start between 0 and "
            f"{max_start / fs:.3f} s (record length {n_samples / fs:.3f} s).")
    i0 = min(max(int(round(start * fs)), 0), max_start)
    return i0, i0 + window_n


@dataclass(frozen=True)
class Panel:
    """One lead drawn on one row: samples ``[i0, i1)`` of the record, starting ``t0_s`` after the window's start."""

    lead: str
    row: int
    i0: int
    i1: int
    t0_s: float


def sheet_panels(leads: Sequence[str], fs: float, window: tuple[int, int]) -> list[Panel]:
    """The panels of the standard sheet for the leads a record has.

    Twelve leads (or any several): the 3x4 layout, each lead in its place (absent leads leave their
    cell empty), plus the 10-s rhythm strip of lead II (or the first lead present). One lead: the
    rhythm strip only, on the top row.
    """
    i0, i1 = window
    present = list(leads)
    if not present:
        raise ValueError("no leads to print")
    if len(present) == 1:
        return [Panel(present[0], 0, i0, i1, 0.0)]
    n_col = int(round(SHEET_COLUMN_S * fs))
    panels = []
    for row in range(N_ROWS - 1):
        for col, column in enumerate(SHEET_COLUMNS):
            lead = column[row]
            a, b = min(i0 + col * n_col, i1), min(i0 + (col + 1) * n_col, i1)
            if lead in present and b > a:
                panels.append(Panel(lead, row, a, b, (a - i0) / fs))
    rhythm = RHYTHM_LEAD if RHYTHM_LEAD in present else present[0]
    return panels + [Panel(rhythm, N_ROWS - 1, i0, i1, 0.0)]


def draw_step(fs: float) -> int:
    """Keep one min-max pair per this many samples so a trace is drawn at ``MAX_DRAW_HZ`` points/s at most."""
    return max(1, math.ceil(2 * fs / MAX_DRAW_HZ)) if fs > MAX_DRAW_HZ else 1


__all__ = [
    "CALIBRATION_BLOCK_MM",
    "CALIBRATION_GAP_S",
    "CALIBRATION_MV",
    "CALIBRATION_S",
    "DEFAULT_PAPER",
    "GRID_HEIGHT_MM",
    "GRID_WIDTH_MM",
    "MAJOR_GRID_MM",
    "MAX_DRAW_HZ",
    "MINOR_GRID_MM",
    "MM_PER_MV",
    "MM_PER_S",
    "N_ROWS",
    "PAPERS",
    "PT_PER_MM",
    "RHYTHM_LEAD",
    "ROW_PITCH_MM",
    "ROW_SPACING_MV",
    "SHEET_COLUMNS",
    "SHEET_COLUMN_S",
    "SHEET_DURATION_S",
    "PageLayout",
    "Panel",
    "PaperSize",
    "draw_step",
    "page_layout",
    "paper_size",
    "report_window",
    "sheet_panels",
]
