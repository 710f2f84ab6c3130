"""ECG paper figures: layout, calibration, proportions, decimation that keeps peaks, figure size, SVG (not
WebGL) traces, highlights wherever their lead and time are shown, hidden highlights, the scored window."""

from __future__ import annotations

import numpy as np
import pytest

from app.figures import (
    MM_PER_MV,
    MM_PER_S,
    SCORED_WINDOW_LABEL,
    Highlight,
    describe_hidden,
    figure_size_bytes,
    hidden_highlights,
    minmax_decimate,
    rows_figure,
    sheet_figure,
)
from ecgcore.io import read
from ecgcore.preprocessing import filter_mv
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
    lines = [tr for tr in fig.data if tr.type == "scatter" and len(tr.x) > 6]
    assert len(lines) == 13  # 12 leads + rhythm strip
    labels = [a.text for a in fig.layout.annotations]
    assert labels[:4] == ["<b>I</b>", "<b>aVR</b>", "<b>V1</b>", "<b>V4</b>"] and labels[-1] == "<b>II</b>"
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.yaxis.scaleratio == pytest.approx(MM_PER_MV / MM_PER_S)
    assert fig.layout.xaxis.dtick == 0.2 and fig.layout.xaxis.minor.dtick == 0.04
    assert fig.layout.yaxis.dtick == 0.5 and fig.layout.yaxis.minor.dtick == 0.1
    # calibration pulses: 1 mV high, 0.2 s wide
    pulse = next(tr for tr in fig.data if len(tr.x) == 6)
    assert max(pulse.y) - min(pulse.y) == pytest.approx(1.0)
    assert pulse.x[3] - pulse.x[2] == pytest.approx(0.2)
    # the lead V1 segment covers 5.0-7.5 s and shows the record's own samples (offset by its row)
    v1 = lines[2 * 1 + 0]  # row 0: I, aVR, V1, V4 -> third trace of row 0 is V1
    assert min(v1.x) == pytest.approx(5.0) and max(v1.x) < 7.5


def test_sheet_figure_is_small_enough_for_a_browser(record) -> None:
    overview = figure_size_bytes(sheet_figure(record))
    assert overview < 250_000  # measured 0.18 MB; full resolution would be ~3x larger
    full = figure_size_bytes(sheet_figure(record, max_points_per_trace=10_000))
    assert full > 1.5 * overview
    assert figure_size_bytes(rows_figure(record)) < 500_000  # measured 0.44 MB: 12 x 2000 points


def test_rows_window_full_resolution_and_filtered_signal(record) -> None:
    filtered = filter_mv(record.signal, record.fs)
    fig = rows_figure(record, filtered, start_s=2.0, duration_s=2.5)
    lines = [tr for tr in fig.data if tr.type == "scatter" and len(tr.x) > 6]
    assert len(lines) == 12
    assert len(lines[0].x) == 1250  # 2.5 s at 500 Hz, not decimated
    assert lines[0].x[0] == pytest.approx(2.0)
    np.testing.assert_allclose(np.asarray(lines[0].y), filtered[0, 1000:2250], atol=1e-5)
    with pytest.raises(ValueError, match="outside the record"):
        rows_figure(record, start_s=30.0, duration_s=2.0)


def _shapes_at(fig, baseline: float) -> list:  # noqa: ANN001
    """The highlight rectangles centred on a row's baseline (mV)."""
    return [s for s in fig.layout.shapes if (s.y0 + s.y1) / 2 == pytest.approx(baseline)]


def test_highlights_are_drawn_behind_their_lead(record) -> None:
    fig = sheet_figure(record, highlights=[Highlight("V2", 5.5, 6.0, 1.0), Highlight("V2", 0.0, 1.0, 1.0)])
    shapes = fig.layout.shapes
    assert len(shapes) == 1  # the second span is outside V2's 5.0-7.5 s column
    assert shapes[0].x0 == pytest.approx(5.5) and shapes[0].x1 == pytest.approx(6.0)
    assert shapes[0].y0 == pytest.approx(-3.0 - 1.4) and shapes[0].layer == "below"  # row 1 (II, aVF, V2, V5)


def test_lead_ii_highlights_reach_the_rhythm_strip(record) -> None:
    """The rhythm strip shows lead II over all 10 s: a lead-II segment anywhere in them is shaded there."""
    early, late, across = Highlight("II", 1.0, 1.3), Highlight("II", 7.2, 7.6), Highlight("II", 2.3, 2.8)
    fig = sheet_figure(record, highlights=[early, late, across])
    rhythm = sorted((s.x0, s.x1) for s in _shapes_at(fig, -9.0))
    assert rhythm == [pytest.approx((1.0, 1.3)), pytest.approx((2.3, 2.8)), pytest.approx((7.2, 7.6))]
    column = sorted((s.x0, s.x1) for s in _shapes_at(fig, -3.0))  # lead II's own column: 0-2.5 s
    assert column == [pytest.approx((1.0, 1.3)), pytest.approx((2.3, 2.5))]
    assert hidden_highlights(record, [early, late, across], layout="sheet") == []


def test_every_listed_segment_is_drawn_or_reported_hidden(record) -> None:
    """Five Grad-CAM-like segments over all leads: each shows somewhere or is listed as outside the view."""
    spans = [(0.4, 0.6), (3.1, 3.4), (5.2, 5.5), (8.0, 8.3), (9.6, 9.9)]
    highlights = [Highlight(lead, a, b, 0.5) for a, b in spans for lead in record.leads]
    fig = sheet_figure(record, highlights=highlights)
    for a, b in spans:  # each segment is on the rhythm strip and in the 3 leads of its column
        assert [(s.x0, s.x1) for s in _shapes_at(fig, -9.0) if s.x0 == pytest.approx(a)] == [pytest.approx((a, b))]
        assert len([s for s in fig.layout.shapes if s.x0 == pytest.approx(a)]) == 4
    hidden = hidden_highlights(record, highlights, layout="sheet")
    # shown: the 3 leads of the segment's column and lead II (its rhythm strip); 0.4-0.6 s is in II's own column
    assert len(hidden) == len(highlights) - (3 + 4 * 4)
    assert {(h.lead, h.start_s) for h in hidden} >= {("V2", 3.1), ("I", 5.2)}  # V2 shows 5-7.5 s, I shows 0-2.5 s
    assert not {(h.lead, h.start_s) for h in hidden} & {("II", s[0]) for s in spans}  # rhythm strip shows all
    # the rows view of the whole 10 s shows everything; a 2.5-s window only its own part
    assert hidden_highlights(record, highlights, layout="rows", start_s=0.0, duration_s=10.0) == []
    short = hidden_highlights(record, highlights, layout="rows", start_s=3.0, duration_s=2.5)
    assert {h.start_s for h in short} == {0.4, 8.0, 9.6}  # 3.1-3.4 and 5.2-5.5 lie in 3.0-5.5 s
    assert len(short) == 3 * record.n_leads
    with pytest.raises(ValueError, match="layout"):
        hidden_highlights(record, highlights, layout="grid")  # type: ignore[arg-type]


def test_hidden_highlights_of_a_lead_the_view_does_not_draw(record) -> None:
    stray = [Highlight("all leads", 1.0, 2.0), Highlight("V7", 1.0, 2.0), Highlight("I", 12.0, 13.0)]
    assert hidden_highlights(record, stray, layout="sheet") == stray
    assert hidden_highlights(record, stray, layout="rows", start_s=0, duration_s=10) == stray


def test_describe_hidden_groups_leads_of_one_span() -> None:
    assert describe_hidden([]) == ""
    assert describe_hidden([Highlight("V2", 3.1, 3.4)]) == "1 segment lies outside the view: lead V2 at 3.1–3.4 s"
    text = describe_hidden([Highlight("V2", 3.1, 3.4), Highlight("I", 5.2, 5.25), Highlight("II", 5.2, 5.25)])
    assert text == "3 segments lie outside the view: lead V2 at 3.1–3.4 s, leads I, II at 5.20–5.25 s"


def test_sheet_from_a_later_start_keeps_record_seconds(record) -> None:
    long = record.replace(signal=np.concatenate([record.signal, record.signal * 0.5], axis=1))  # 20 s
    fig = sheet_figure(long, start_s=7.0, highlights=[Highlight("V2", 12.5, 13.0), Highlight("II", 16.0, 16.5),
                                                      Highlight("V2", 1.0, 2.0)])
    lines = [tr for tr in fig.data if tr.type == "scatter" and len(tr.x) > 6]
    v1 = lines[2]  # row 0: I, aVR, V1, V4
    assert min(v1.x) == pytest.approx(12.0) and max(v1.x) < 14.5  # 7 + 5.0 to 7 + 7.5 s
    np.testing.assert_allclose(np.asarray(lines[-1].x)[[0, -1]], [7.0, 17.0], atol=0.02)  # rhythm strip
    assert list(fig.layout.xaxis.range) == pytest.approx([6.4, 17.05])
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [pytest.approx((12.5, 13.0)), pytest.approx((16.0, 16.5))]
    assert hidden_highlights(long, [Highlight("V2", 1.0, 2.0)], layout="sheet", start_s=7.0) == [
        Highlight("V2", 1.0, 2.0)]
    pulse = fig.data[0]
    assert pulse.x[0] == pytest.approx(6.5)
    with pytest.raises(ValueError, match="outside the record"):
        sheet_figure(long, start_s=25.0)


def test_default_sheet_is_unchanged_by_the_new_options(record) -> None:
    assert sheet_figure(record).to_json() == sheet_figure(record, start_s=0.0, scored_window_s=None).to_json()


def test_scored_window_band_behind_all_leads(record) -> None:
    long = record.replace(signal=np.concatenate([record.signal, record.signal], axis=1))  # 20 s
    fig = rows_figure(long, start_s=6.0, duration_s=10.0, scored_window_s=(10.0, 20.0),
                      highlights=[Highlight("V2", 11.0, 11.5)])
    band = [s for s in fig.layout.shapes if "255,140,0" not in s.fillcolor]
    assert len(band) == 1 and band[0].layer == "below"
    assert (band[0].x0, band[0].x1) == pytest.approx((10.0, 16.0))  # clipped to the view
    assert band[0].y0 <= -(long.n_leads - 1) * 3.0 - 1.4 and band[0].y1 >= 1.4  # behind every row
    orange = [s for s in fig.layout.shapes if "255,140,0" in s.fillcolor]
    assert len(orange) == 1 and orange[0].fillcolor != band[0].fillcolor
    assert [a.text for a in fig.layout.annotations].count(SCORED_WINDOW_LABEL) == 1
    outside = rows_figure(long, start_s=0.0, duration_s=5.0, scored_window_s=(10.0, 20.0))
    assert not outside.layout.shapes and SCORED_WINDOW_LABEL not in [a.text for a in outside.layout.annotations]
    sheet = sheet_figure(long, start_s=10.0, scored_window_s=(10.0, 20.0))
    assert [(s.x0, s.x1) for s in sheet.layout.shapes] == [pytest.approx((10.0, 20.0))]


def test_traces_are_svg_never_webgl(record) -> None:
    """One WebGL context per chart exhausted Chromium's limit and traces vanished on scrolling (issue 15)."""
    for fig in (sheet_figure(record), rows_figure(record), rows_figure(record, start_s=1.0, duration_s=2.5)):
        assert {tr.type for tr in fig.data} == {"scatter"}


def test_sheet_needs_twelve_leads(record) -> None:
    single = record.replace(signal=record.lead("I")[None], leads=("I",))
    with pytest.raises(ValueError, match="lacks II"):
        sheet_figure(single)
    assert len([tr for tr in rows_figure(single).data if tr.type == "scatter" and len(tr.x) > 6]) == 1
