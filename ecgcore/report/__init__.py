"""The one-page ECG report (issue 19): ECG paper at true scale with the header a reader needs.

    from ecgcore.report import render_report, Confirmation
    render_report(record, prediction=prediction, out="report.pdf")

``layout``: the paper in millimetres (A4/Letter landscape, 25 mm/s, 10 mm/mV, the 3x4 sheet);
``content``: what the header prints (``ReportContent``, ``Confirmation``); ``pdf``: the page drawn
with matplotlib's PDF backend. Names load on first use, so importing the package (or its
``layout``, as the command line's parser and the app's figures do) loads neither the measurements
nor matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DISCLAIMER": "content", "UNCONFIRMED": "content", "Confirmation": "content", "ReportContent": "content",
    "report_content": "content", "PAPERS": "layout", "PaperSize": "layout", "page_layout": "layout",
    "render_report": "pdf", "report_figure": "pdf",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"ecgcore.report.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'ecgcore.report' has no attribute {name!r}")


__all__ = [
    "DISCLAIMER",
    "PAPERS",
    "UNCONFIRMED",
    "Confirmation",
    "PaperSize",
    "ReportContent",
    "page_layout",
    "render_report",
    "report_content",
    "report_figure",
]
