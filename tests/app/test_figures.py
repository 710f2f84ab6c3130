"""ECG paper figures: layout, calibration, proportions, decimation that keeps peaks, figure size."""

from __future__ import annotations

import numpy as np
import pytest

from app.figures import (
    MM_PER_MV,
    MM_PER_S,
    Highlight,
    figure_size_bytes,
    minmax_decimate,
    rows_figure,
    sheet_figure,
)
from ecgcore.io import read
from ecgcore.preprocess import filter_mv
from tests.conftest import SAMPLES_DIR


@pytest.fixture(scope="module")
def record():
    return read(SAMPLES_DIR / "ptbxl" / "00001_hr.hea")


def test_minmax_decimation_keeps_extremes_and_order() -> None:
    rng = np.random.default_rng(0)
    y = rng.standard_normal(5000)
    y[1234] = 9.0  # a one-sample spike (pacing artefact) must survive
    y[4321] = -7.0
    t = np.arange(y.size) / 500
    td, yd = minmax_decimate(t, y, 400)
    assert yd.size <= 400
    assert yd.max() == 9.0 and yd.min() == -7.0
    assert np.all(np.diff(td) >= 0)
    assert minmax_decimate(t[:100], y[:100], 400)[1].size == 100  # short traces untouched


def test_sheet_layout_and_paper_proportions(record) -> None:
    fig = sheet_figure(record)
    lines = [tr for tr in fig.data if tr.type == "scattergl"]
    assert len(lines) == 13  # 12 leads + rhythm strip
    labels = [a.text for a in fig.layout.annotations]
    assert labels[:4] == ["<b>I</b>", "<b>aVR</b>", "<b>V1</b>", "<b>V4</b>"] and labels[-1] == "<b>II</b>"
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.yaxis.scaleratio == pytest.approx(MM_PER_MV / MM_PER_S)
    assert fig.layout.xaxis.dtick == 0.2 and fig.layout.xaxis.minor.dtick == 0.04
    assert fig.layout.yaxis.dtick == 0.5 and fig.layout.yaxis.minor.dtick == 0.1
    # calibration pulses: 1 mV high, 0.2 s wide
    pulse = [tr for tr in fig.data if tr.type == "scatter"][0]
    assert max(pulse.y) - min(pulse.y) == pytest.approx(1.0)
    assert pulse.x[3] - pulse.x[2] == pytest.approx(0.2)
    # the lead V1 segment covers 5.0-7.5 s and shows the record's own samples (offset by its row)
    v1 = lines[2 * 1 + 0]  # row 0: I, aVR, V1, V4 -> third trace of row 0 is V1
    assert min(v1.x) == pytest.approx(5.0) and max(v1.x) < 7.5


def test_sheet_figure_is_small_enough_for_a_browser(record) -> None:
    overview = figure_size_bytes(sheet_figure(record))
    assert overview < 400_000  # measured ~0.2 MB; full resolution would be ~3x larger
    full = figure_size_bytes(sheet_figure(record, max_points_per_trace=10_000))
    assert full > 1.5 * overview


def test_rows_window_full_resolution_and_filtered_signal(record) -> None:
    filtered = filter_mv(record.signal, record.fs)
    fig = rows_figure(record, filtered, start_s=2.0, duration_s=2.5)
    lines = [tr for tr in fig.data if tr.type == "scattergl"]
    assert len(lines) == 12
    assert len(lines[0].x) == 1250  # 2.5 s at 500 Hz, not decimated
    assert lines[0].x[0] == pytest.approx(2.0)
    np.testing.assert_allclose(np.asarray(lines[0].y), filtered[0, 1000:2250], atol=1e-5)
    with pytest.raises(ValueError, match="outside the record"):
        rows_figure(record, start_s=30.0, duration_s=2.0)


def test_highlights_are_drawn_behind_their_lead(record) -> None:
    fig = sheet_figure(record, highlights=[Highlight("V2", 5.5, 6.0, 1.0), Highlight("V2", 0.0, 1.0, 1.0)])
    shapes = fig.layout.shapes
    assert len(shapes) == 1  # the second span is outside V2's 5.0-7.5 s column
    assert shapes[0].x0 == pytest.approx(5.5) and shapes[0].x1 == pytest.approx(6.0)


def test_sheet_needs_twelve_leads(record) -> None:
    single = record.replace(signal=record.lead("I")[None], leads=("I",))
    with pytest.raises(ValueError, match="lacks II"):
        sheet_figure(single)
    assert len([tr for tr in rows_figure(single).data if tr.type == "scattergl"]) == 1
