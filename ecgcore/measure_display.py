"""Measurements as text: the cart line, table cells and CSV columns of ``ecg measure`` and ``ecg predict --measure``.

Every value comes from :meth:`Measurements.global_values` (rounded as a cart prints them) and every
column name from ``GLOBAL_MEASURES``: nothing here names a measurement again. A value that could
not be measured prints as ``—`` in tables and as an empty cell in CSV; why it is missing is in the
table's notes and in the CSV ``reasons`` column (``name: reason; ...``). The measurement-based
statements (:func:`ecgcore.measurements.statements`) print as their text, with the criterion and
this ECG's numbers where there is room ("1st degree AV block (PR 236 ms > 200 ms)").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ecgcore.measurements import GLOBAL_MEASURE_BY_NAME, GLOBAL_MEASURE_NAMES, Measurements, Statement

MISSING = "—"

# Extra CSV columns after one column per GLOBAL_MEASURES name.
EXTRA_COLUMNS: tuple[str, ...] = ("statements", "flags", "reasons", "notes", "algorithm_version")
MEASUREMENT_COLUMNS: tuple[str, ...] = (*GLOBAL_MEASURE_NAMES, *EXTRA_COLUMNS)


def _number(value: float | None, missing: str = MISSING) -> str:
    return missing if value is None else f"{value:.0f}"


def _label(name: str) -> str:
    return GLOBAL_MEASURE_BY_NAME[name].label


# The cart's columns: (heading, unit, cell from the rounded global values). Headings are the
# GLOBAL_MEASURES labels, joined where a cart prints several values under one heading.
CART_COLUMNS: tuple[tuple[str, str, Callable[[dict[str, float | None]], str]], ...] = (
    (_label("heart_rate_bpm"), GLOBAL_MEASURE_BY_NAME["heart_rate_bpm"].unit, lambda v: _number(v["heart_rate_bpm"])),
    (_label("pr_ms"), "ms", lambda v: _number(v["pr_ms"])),
    (_label("qrs_ms"), "ms", lambda v: _number(v["qrs_ms"])),
    (f"{_label('qt_ms')}/{_label('qtc_bazett_ms')}", "ms",
     lambda v: MISSING if v["qt_ms"] is None else f"{_number(v['qt_ms'])}/{_number(v['qtc_bazett_ms'])}"),
    ("P-R-T axes", "deg", lambda v: " ".join(_number(v[n]) for n in ("p_axis_deg", "qrs_axis_deg", "t_axis_deg"))),
)


def flags(m: Measurements) -> list[str]:
    """What a reader must know before trusting the numbers: rhythm and pacing findings, unreliable values."""
    out = []
    if m.atrial_fibrillation:
        out.append("atrial fibrillation suspected")
    elif m.rr_irregular:
        out.append("irregular RR")
    if m.paced:
        out.append("paced")
    if m.unreliable:
        out.append("unreliable: " + ", ".join(_label(n) if n in GLOBAL_MEASURE_BY_NAME else n for n in m.unreliable))
    return out


def reasons_by_text(m: Measurements) -> list[str]:
    """Why values are missing, one entry per distinct reason: ``"P, PR, P axis: no P wave found ..."``."""
    grouped: dict[str, list[str]] = {}
    for name, why in m.reasons.items():
        if name in GLOBAL_MEASURE_BY_NAME:
            grouped.setdefault(why, []).append(_label(name))
    return [f"{', '.join(labels)}: {why}" for why, labels in grouped.items()]


def remarks(m: Measurements) -> str:
    """Flags, missing-value reasons and notes in one line, for the table's last column."""
    return "; ".join([*flags(m), *reasons_by_text(m), *(note.rstrip(".") for note in m.notes)])


def statement_texts(statements: Sequence[Statement], criteria: bool = False) -> str:
    """``"Sinus rhythm; 1st degree AV block"``, with each criterion in brackets when ``criteria``."""
    return "; ".join(s.text + (f" ({s.criterion_text})" if criteria else "") for s in statements)


def cart_cells(m: Measurements) -> list[str]:
    """The table cells of ``CART_COLUMNS`` for one record."""
    values = m.global_values()
    return [cell(values) for _, _, cell in CART_COLUMNS]


def cart_line(m: Measurements) -> str:
    """One line as a cart prints it: ``Vent. rate 64 bpm  PR 156 ms  QRS 118 ms  QT/QTc Bazett 418/432 ms ...``."""
    values = m.global_values()
    cells = [(heading, cell(values), unit) for heading, unit, cell in CART_COLUMNS]
    return "  ".join(f"{heading} {text}" + (f" {unit}" if any(c.isdigit() for c in text) else "")
                     for heading, text, unit in cells)


def csv_cells(m: Measurements, statements: Sequence[Statement] = ()) -> list[str]:
    """One cell per ``MEASUREMENT_COLUMNS`` entry: the values (empty when missing), statements, flags,
    reasons, notes, version."""
    values = m.global_values()
    return [
        *(_number(values[name], missing="") for name in GLOBAL_MEASURE_NAMES),
        statement_texts(statements, criteria=True),
        "; ".join(flags(m)),
        "; ".join(f"{name}: {why}" for name, why in m.reasons.items()),
        " ".join(m.notes),
        m.algorithm_version,
    ]


def empty_csv_cells() -> list[str]:
    """The measurement cells of a file that failed."""
    return [""] * len(MEASUREMENT_COLUMNS)
