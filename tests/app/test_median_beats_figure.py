"""The median-beat panel: each lead's median beat on ECG paper with the global fiducials as marks."""

from __future__ import annotations

import numpy as np
import pytest

from app.figures import MM_PER_MV, MM_PER_S, fiducial_marks, median_beats_figure
from ecgcore.leads import LEADS_12
from ecgcore.measurements.types import BeatFiducials, Wave

FS = 500.0
FIDUCIALS = BeatFiducials(p=Wave(150, 190, 220), qrs=Wave(230, 250, 280), t=Wave(None, 390, 430))


def _beats(n_leads: int = 12, n: int = 600) -> np.ndarray:
    t = np.arange(n)
    return np.stack([np.exp(-((t - 250) / 6.0) ** 2) * (1 + i / 10) for i in range(n_leads)])


def _marks(fig) -> dict[str, list[float]]:  # noqa: ANN001
    """Legend name -> the x of each vertical mark."""
    return {tr.name: [x for x in tr.x[::3]] for tr in fig.data if tr.showlegend}


def test_every_lead_is_drawn_with_the_five_marks_on_it() -> None:
    fig = median_beats_figure(_beats(), LEADS_12, FS, FIDUCIALS)
    leads = [a.text for a in fig.layout.annotations]
    assert leads == list(LEADS_12)  # bold by the font: only the sheet's labels are "<b>V6</b>" (browser tests)
    assert all(a.font.weight == "bold" for a in fig.layout.annotations)
    assert fig.layout.showlegend
    marks = _marks(fig)
    assert list(marks) == ["P on/off", "QRS on/off", "T end"]
    # lead I is in the first column from x = 0: P on 150/500 s, P off 220/500, QRS 230 and 280, T end 430
    assert marks["P on/off"][:2] == pytest.approx([0.30, 0.44])
    assert marks["QRS on/off"][:2] == pytest.approx([0.46, 0.56])
    assert marks["T end"][0] == pytest.approx(0.86)
    assert len(marks["P on/off"]) == len(marks["QRS on/off"]) == 2 * 12 and len(marks["T end"]) == 12


def test_leads_go_column_by_column_as_on_the_sheet() -> None:
    fig = median_beats_figure(_beats(), LEADS_12, FS, FIDUCIALS)
    where = {a.text: (a.x, a.y) for a in fig.layout.annotations}
    column = 1.4  # a 1.2-s beat and a 0.2-s gap, on a major grid line
    assert where["I"][0] == where["II"][0] == where["III"][0] == pytest.approx(0.02)
    assert where["aVR"][0] == pytest.approx(column + 0.02) and where["V4"][0] == pytest.approx(3 * column + 0.02)
    assert where["I"][1] > where["II"][1] > where["III"][1] and where["I"][1] == where["aVR"][1]


def test_paper_proportions_and_calibration() -> None:
    fig = median_beats_figure(_beats(), LEADS_12, FS, FIDUCIALS)
    assert fig.layout.yaxis.scaleratio == pytest.approx(MM_PER_MV / MM_PER_S)
    assert fig.layout.xaxis.showticklabels is False
    pulses = [tr for tr in fig.data if not tr.showlegend and len(tr.x) == 6]
    assert len(pulses) == 3 and all(max(p.y) - min(p.y) == pytest.approx(1.0) for p in pulses)
    assert all(tr.type == "scatter" for tr in fig.data)  # SVG, never WebGL


def test_missing_waves_have_no_marks() -> None:
    af = BeatFiducials(p=None, qrs=Wave(230, 250, None), t=None)
    assert fiducial_marks(af) == [("QRS on/off", "#1f4e9c", 230)]
    assert fiducial_marks(None) == []
    fig = median_beats_figure(_beats(1), ("II",), FS, None)
    assert not _marks(fig) and not fig.layout.showlegend
    assert [a.text for a in fig.layout.annotations] == ["II"]


def test_the_beats_must_match_the_leads() -> None:
    with pytest.raises(ValueError, match="one row per lead"):
        median_beats_figure(_beats(12), LEADS_12[:6], FS, FIDUCIALS)
