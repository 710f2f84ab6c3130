"""Measurements as text: the cart line, table cells and CSV columns of ``ecg measure`` and ``ecg predict --measure``.

Every value comes from :meth:`Measurements.global_values` (rounded as a cart prints them) and every
column name from ``GLOBAL_MEASURES``: nothing here names a measurement again. A value that could
not be measured prints as ``—`` in tables and as an empty cell in CSV; why it is missing is in the
table's notes and in the CSV ``reasons`` column (``name: reason; ...``). The measurement-based
statements (:func:`ecgcore.measurements.statements`) print as their text, with the criterion and
this ECG's numbers where there is room ("1st degree AV block (PR 236 ms > 200 ms)").

A hospital file's own reading (:class:`ecgcore.acquisition.DeviceReading`, keyed by the same
names) prints the same way: :func:`values_line` is the cart line of any values by name, and
:func:`device_comparison` sets ours and the device's side by side with their difference. The
acquisition (when, on what, where; age and sex) prints as one line, :func:`acquisition_line`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ecgcore.measurements import (
    GLOBAL_MEASURE_BY_NAME,
    GLOBAL_MEASURE_NAMES,
    GLOBAL_MEASURES,
    Measurements,
    Statement,
)

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


def values_line(values: Mapping[str, float | None]) -> str:
    """The cart line of values by ``GLOBAL_MEASURES`` name (ours, or a device's): a name absent or
    None prints as ``—``, the unit only after a number."""
    full = {name: values.get(name) for name in GLOBAL_MEASURE_NAMES}
    cells = [(heading, cell(full), unit) for heading, unit, cell in CART_COLUMNS]
    return "  ".join(f"{heading} {text}" + (f" {unit}" if any(c.isdigit() for c in text) else "")
                     for heading, text, unit in cells)


def cart_line(m: Measurements) -> str:
    """One line as a cart prints it: ``Vent. rate 64 bpm  PR 156 ms  QRS 118 ms  QT/QTc Bazett 418/432 ms ...``."""
    return values_line(m.global_values())


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


# -- ours beside the device's reading; the acquisition ------------------------------------------
COMPARISON_HEADINGS: tuple[str, ...] = ("Measurement", "Ours", "Device", "Ours − device")


@dataclass(frozen=True)
class ComparisonRow:
    """One ``GLOBAL_MEASURES`` entry, ours against the device's, as table cells (``—`` where missing)."""

    name: str
    measurement: str  # label and unit: "PR (ms)"
    ours: str
    device: str
    difference: str  # ours minus the device's, signed ("+4", "-12", "0"); axes the short way round

    def cells(self) -> tuple[str, str, str, str]:
        """The cells under :data:`COMPARISON_HEADINGS`."""
        return self.measurement, self.ours, self.device, self.difference


def _rounded(value: float | None) -> int | None:
    """A value as printed (``.0f``), or None when missing or not finite."""
    if value is None or not math.isfinite(value):
        return None
    return int(f"{value:.0f}")


def difference(name: str, ours: float | None, device: float | None) -> int | None:
    """Ours minus the device's, on the values as printed (so the table adds up); None if either is missing.

    An axis difference goes the short way round the circle, in (-180, 180]: ours -170 and the
    device's 170 differ by +20 degrees, not -340.
    """
    a, b = _rounded(ours), _rounded(device)
    if a is None or b is None:
        return None
    diff = a - b
    if GLOBAL_MEASURE_BY_NAME[name].unit == "deg":
        diff = (diff + 180) % 360 - 180
        diff = 180 if diff == -180 else diff
    return diff


def _signed(value: int | None) -> str:
    return MISSING if value is None else f"{value:+d}" if value else "0"


def device_comparison(ours: Mapping[str, float | None], device: Mapping[str, float]) -> list[ComparisonRow]:
    """One row per ``GLOBAL_MEASURES`` entry, in its order: our value, the device's, the difference.

    ``ours`` as :meth:`Measurements.global_values` gives it (``{}`` when nothing was measured),
    ``device`` as :attr:`DeviceReading.measurements` (names it lacks print as ``—``).
    """
    rows = []
    for m in GLOBAL_MEASURES:
        a, b = ours.get(m.name), device.get(m.name)
        rows.append(ComparisonRow(
            name=m.name, measurement=f"{m.label} ({m.unit})",
            ours=_number(_rounded(a)), device=_number(_rounded(b)), difference=_signed(difference(m.name, a, b)),
        ))
    return rows


def device_reading_title(source: str | None) -> str:
    """``"The device's reading (GE MAC55 (12SL 241) via MUSE 9.0.9)"``; without a source, no brackets."""
    return "The device's reading" + (f" ({source.strip()})" if source and source.strip() else "")


def statements_edited(statements: Sequence[str], original: Sequence[str]) -> bool:
    """Whether the file keeps the device's own statements and they differ from the ones it presents
    (a cardiologist confirmed the ECG with changes)."""
    return bool(original) and [s.strip() for s in original] != [s.strip() for s in statements]


def acquisition_line(acquired_at: datetime | None = None, device: str | None = None, site: str | None = None,
                     age: float | None = None, sex: str | None = None) -> str:
    """``"Acquired 2021-05-10 13:15:18 · device MAC55 · site Research · age 60 · sex M"``: what is
    known, in that order; ``""`` when nothing is. Never a patient identifier (it takes none)."""
    parts = []
    if acquired_at is not None:
        parts.append(f"Acquired {acquired_at:%Y-%m-%d %H:%M:%S}")
    if device and device.strip():
        parts.append(f"device {device.strip()}")
    if site and site.strip():
        parts.append(f"site {site.strip()}")
    if age is not None:
        parts.append(f"age {age:g}")
    if sex:
        parts.append(f"sex {sex}")
    text = " · ".join(parts)
    return text[:1].upper() + text[1:]
