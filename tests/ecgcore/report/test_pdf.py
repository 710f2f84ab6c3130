"""The one-page report, measured in the PDF itself: true scale, page size, fonts, size, text, privacy, CLI.

Scale is measured in the page's own coordinates (PDF points, 1/72 inch, converted to mm here
without the report's constants): the calibration pulses are the six-vertex black paths, a
synthetic record has a sharp spike every second, so the distance between consecutive spike
peaks on the printed trace is what 1 s of signal measures on paper.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pdfplumber
import pytest
from pdfminer.pdftypes import resolve1

from ecgcore.acquisition import Acquisition, DeviceReading
from ecgcore.cli import main
from ecgcore.errors import ECGValidationError
from ecgcore.io import read
from ecgcore.leads import LEADS_12
from ecgcore.measurements import measure, statements
from ecgcore.predict import Finding, Prediction
from ecgcore.record import Record
from ecgcore.report import DISCLAIMER, Confirmation, render_report
from tests.conftest import SAMPLES_DIR
from tests.ecgcore.helpers import tiny_bundle

MM_PER_PT = 25.4 / 72.0
PATIENT_ID = "MRN-12345"
PTBXL = SAMPLES_DIR / "ptbxl" / "00017_hr.hea"  # several measurement-based statements
PAGE_MM = {"A4": (297.0, 210.0), "Letter": (279.4, 215.9)}
DISCLAIMER_START = "Research software, not a medical device."


# -- building records and reading PDFs ---------------------------------------------------------------


def spike_record(fs: float = 500.0, duration_s: float = 10.0, leads: tuple[str, ...] = LEADS_12,
                 first_spike_s: float = 0.5) -> Record:
    """A 1-mV triangular spike (one sample wide at its top) every second from ``first_spike_s``, on every lead."""
    n = int(round(duration_s * fs))
    x = np.zeros(n, dtype=np.float64)
    half = max(2, int(round(0.02 * fs)))
    for t in np.arange(first_spike_s, duration_s, 1.0):
        i = int(round(t * fs))
        lo, hi = max(0, i - half), min(n, i + half + 1)
        x[lo:hi] = np.maximum(x[lo:hi], 1.0 - np.abs(np.arange(lo, hi) - i) / half)
    signal = np.tile(x, (len(leads), 1))
    return Record(signal=signal, fs=fs, leads=leads, record_name=f"{PATIENT_ID}_ecg", age=64, sex="F",
                  acquisition=Acquisition(patient_id=PATIENT_ID, acquired_at=datetime(2026, 3, 4, 9, 30, 0),
                                          device="TestCart 1", site="Ward 7"))


def page_of(data: bytes):
    pdf = pdfplumber.open(io.BytesIO(data))
    assert len(pdf.pages) == 1
    return pdf, pdf.pages[0]


def text_of(data: bytes) -> str:
    pdf, page = page_of(data)
    with pdf:
        return re.sub(r"\s+", " ", page.extract_text())


def black(obj: dict) -> bool:
    color = obj.get("stroking_color")
    values = color if isinstance(color, tuple) else (color,)
    return all(v is not None and abs(float(v)) < 1e-6 for v in values)


def pulses(page) -> list[list[tuple[float, float]]]:
    """The calibration pulses: black paths of six vertices shaped _|‾|_ (pdfplumber's y grows downwards)."""
    found = []
    for curve in page.curves:
        pts = curve["pts"]
        if not black(curve) or len(pts) != 6:
            continue
        (_, b0), (x1, b1), (x2, top), (x3, top2), (x4, b4), (_, b5) = pts
        if (abs(x1 - x2) < 1e-3 and abs(x3 - x4) < 1e-3 and abs(top - top2) < 1e-3
                and max(b0, b1, b4, b5) - min(b0, b1, b4, b5) < 1e-3 and top < b0):
            found.append(pts)
    return found


def traces(page) -> list[np.ndarray]:
    """The signal paths (black, more than six vertices: matplotlib drops collinear ones) as (n, 2) arrays of
    page mm, x right and y up."""
    height = float(page.height)
    out = []
    for curve in page.curves:
        if black(curve) and len(curve["pts"]) > 6:  # pulses have 6, column ticks are 2-point lines
            pts = np.asarray(curve["pts"], dtype=float)
            out.append(np.column_stack([pts[:, 0], height - pts[:, 1]]) * MM_PER_PT)
    return out


def spike_peaks_mm(trace: np.ndarray) -> np.ndarray:
    """x (mm) of the trace's local maxima above half the spike height (5 mm above its baseline)."""
    y = trace[:, 1]
    base = np.median(y)
    tops = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > base + 5.0)) + 1
    return trace[tops, 0]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spike_pdf() -> bytes:
    return render_report(spike_record(), measurements={}, statements=(), pseudonym="3f9a1c2e")


@pytest.fixture(scope="module")
def ptbxl_record() -> Record:
    record = read(PTBXL)
    reading = DeviceReading(measurements={"heart_rate_bpm": 71, "pr_ms": 118, "qrs_ms": 92},
                            statements=("Sinus rhythm", f"Short PR interval; compare with {PATIENT_ID}'s ECG"),
                            source="TestCart 1 (analysis 9)")
    return record.replace(record_name=PATIENT_ID, acquisition=Acquisition(patient_id=PATIENT_ID, device="TestCart 1"),
                          device_reading=reading)


PREDICTION = Prediction(record_name=PATIENT_ID, model="ecgfounder-test v1.2.3", findings=(
    Finding("ATRIAL FIBRILLATION", 0.934, 0.40, True),
    Finding("LEFT AXIS DEVIATION", 0.612, 0.50, True),
    Finding("SINUS BRADYCARDIA", 0.05, 0.50, False),
    Finding("UNTRAINED THING", 0.99, 0.50, True, trained=False),
))


@pytest.fixture(scope="module")
def ptbxl_pdf(ptbxl_record: Record) -> bytes:
    return render_report(ptbxl_record, prediction=PREDICTION)


# -- true scale -------------------------------------------------------------------------------------


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_page_is_landscape_a4_or_letter_and_the_pulse_is_10_mm_tall(paper: str) -> None:
    data = render_report(spike_record(), measurements={}, statements=(), paper=paper)
    pdf, page = page_of(data)
    with pdf:
        width, height = float(page.width) * MM_PER_PT, float(page.height) * MM_PER_PT
        assert (width, height) == pytest.approx(PAGE_MM[paper], abs=0.1)
        found = pulses(page)
        assert len(found) == 4  # three rows and the rhythm strip
        for pts in found:
            tall = (pts[1][1] - pts[2][1]) * MM_PER_PT
            wide = (pts[3][0] - pts[2][0]) * MM_PER_PT
            assert tall == pytest.approx(10.0, abs=0.2)  # 1 mV at 10 mm/mV
            assert wide == pytest.approx(5.0, abs=0.2)  # 0.2 s at 25 mm/s
            assert pts[0][0] * MM_PER_PT >= 8.0 and (page.width - pts[-1][0]) * MM_PER_PT >= 8.0  # inside the margins


@pytest.mark.parametrize("fs", [500.0, 1000.0, 257.0])
def test_one_second_of_signal_is_25_mm(fs: float) -> None:
    data = render_report(spike_record(fs=fs), measurements={}, statements=())
    pdf, page = page_of(data)
    with pdf:
        found = traces(page)
        pulse_bases = sorted({round((page.height - p[0][1]) * MM_PER_PT, 3) for p in pulses(page)})
    assert len(found) == 13  # 12 panels of 2.5 s and the 10-s rhythm strip
    rhythm = max(found, key=lambda t: np.ptp(t[:, 0]))
    assert np.ptp(rhythm[:, 0]) == pytest.approx((10.0 - 1 / fs) * 25.0, abs=0.2)  # the whole strip: 10 s
    peaks = spike_peaks_mm(rhythm)
    assert len(peaks) == 10
    assert np.diff(peaks) == pytest.approx(np.full(9, 25.0), abs=0.2)  # 1 s = 25 mm, every second
    # The trace's baseline is the pulse's: 0 mV on the same line, and the spike is 1 mV = 10 mm tall.
    base = float(np.median(rhythm[:, 1]))
    assert min(abs(base - b) for b in pulse_bases) < 0.05
    assert rhythm[:, 1].max() - base == pytest.approx(10.0, abs=0.2)
    # Drawn at 500 points per second at most (min-max decimated above it).
    assert len(rhythm) <= 500 * 10 + 2
    # A 2.5-s column starts where its time is: the first spike of the aVR column (2.5-5 s) lies at 3.5 s.
    columns = sorted((t for t in found if np.ptp(t[:, 0]) < 100), key=lambda t: (t[0, 0], -t[0, 1]))
    starts = sorted({round(float(t[0, 0]), 2) for t in columns})
    assert np.diff(starts) == pytest.approx(np.full(3, 62.5), abs=0.2)  # columns every 2.5 s
    second_column = next(t for t in columns if abs(t[0, 0] - starts[1]) < 0.01)
    assert spike_peaks_mm(second_column)[0] - starts[0] == pytest.approx(3.5 * 25.0, abs=0.2)


def test_grid_lines_are_1_and_5_mm_apart(spike_pdf: bytes) -> None:
    pdf, page = page_of(spike_pdf)
    with pdf:
        colors = {}
        for line in page.lines:
            if abs(line["x0"] - line["x1"]) < 1e-6 and not black(line):  # vertical grid lines
                colors.setdefault(line["stroking_color"], []).append(line["x0"] * MM_PER_PT)
    assert len(colors) == 2
    steps = sorted(np.median(np.diff(sorted(xs))) for xs in colors.values())
    assert steps == pytest.approx([1.0, 5.0], abs=0.01)


def test_long_records_print_the_window_from_start_s() -> None:
    record = spike_record(duration_s=30.0, first_spike_s=0.3)
    data = render_report(record, measurements={}, statements=(), start_s=12.0)
    text = text_of(data)
    assert "10.0 s from 12.0 s of a 30.0-s record" in text
    pdf, page = page_of(data)
    with pdf:
        rhythm = max(traces(page), key=lambda t: np.ptp(t[:, 0]))
    # Spikes at 12.3, 13.3 ... s: the first 0.3 s into the window, i.e. 7.5 mm after the trace's start.
    assert spike_peaks_mm(rhythm)[0] - rhythm[0, 0] == pytest.approx(0.3 * 25.0, abs=0.2)
    with pytest.raises(ECGValidationError, match="outside the record"):
        render_report(record, measurements={}, statements=(), start_s=25.0)


# -- the file --------------------------------------------------------------------------------------


def test_small_vector_and_fonts_embedded(ptbxl_pdf: bytes) -> None:
    worst = render_report(spike_record(fs=1000.0), measurements={}, statements=())
    for data in (ptbxl_pdf, worst):
        assert data.startswith(b"%PDF-") and len(data) < 1_000_000
        pdf, page = page_of(data)
        with pdf:
            assert page.images == []  # nothing rasterized
            fonts = resolve1(resolve1(page.page_obj.resources)["Font"])
            assert fonts
            for ref in fonts.values():
                font = resolve1(ref)
                described = [resolve1(d) for d in resolve1(font.get("DescendantFonts", []))] or [font]
                for d in described:
                    descriptor = resolve1(d["FontDescriptor"])
                    assert any(k in descriptor for k in ("FontFile", "FontFile2", "FontFile3")), font


def test_png_of_the_same_page() -> None:
    data = render_report(spike_record(), measurements={}, statements=(), format="png")
    assert data.startswith(b"\x89PNG")


# -- what it says ----------------------------------------------------------------------------------


def test_text_layer_has_measurements_statements_model_device_and_disclaimer(ptbxl_record: Record,
                                                                            ptbxl_pdf: bytes) -> None:
    text = text_of(ptbxl_pdf)
    m = measure(ptbxl_record)
    values = m.global_values()
    assert f"Vent. rate {values['heart_rate_bpm']:.0f} bpm" in text
    assert f"PR {values['pr_ms']:.0f} ms" in text and f"QRS {values['qrs_ms']:.0f} ms" in text
    assert f"QT/QTc Bazett {values['qt_ms']:.0f}/{values['qtc_bazett_ms']:.0f} ms" in text
    made = statements(m, sex=ptbxl_record.sex, age=ptbxl_record.age)
    assert made
    for s in made:
        assert s.text in text
    assert "UNCONFIRMED" in text
    assert "ecgfounder-test v1.2.3" in text
    assert "ATRIAL FIBRILLATION 0.93" in text and "LEFT AXIS DEVIATION 0.61" in text
    assert "UNTRAINED THING" not in text  # labels the model was not trained on are not findings
    assert "The device's reading (TestCart 1 (analysis 9))" in text and "Sinus rhythm" in text
    assert "Vent. rate 71 bpm PR 118 ms QRS 92 ms" in text
    assert DISCLAIMER_START in text and DISCLAIMER.startswith(DISCLAIMER_START)
    assert "25 mm/s · 10 mm/mV" in text


def test_confirmed_report_names_the_confirmer_and_time(ptbxl_record: Record) -> None:
    confirmation = Confirmation(statements=("Sinus rhythm", "Short PR, no delta wave"), confirmed_by="dr.ada",
                                role="cardiologist", confirmed_at=datetime(2026, 7, 1, 14, 3, tzinfo=UTC),
                                version=2, conclusion="Abnormal ECG")
    corrected = {"heart_rate_bpm": 140.0, "pr_ms": 150.0, "qrs_ms": None}  # the store's confirmed values, by name
    text = text_of(render_report(ptbxl_record, confirmation=confirmation, measurements=corrected, statements=(),
                                 paper="Letter"))
    assert "Measurements: Vent. rate 140 bpm PR 150 ms QRS — QT/QTc Bazett —" in text
    assert confirmation.line() == "Confirmed by dr.ada (cardiologist), 2026-07-01 14:03 UTC, report version 2"
    assert "Confirmed by dr.ada (cardiologist), 2026-07-01 14:03 UTC," in text and "report version 2" in text
    assert "Short PR, no delta wave" in text and "Conclusion: Abnormal ECG" in text
    assert "UNCONFIRMED" not in text
    assert "Model: not run for this report" in text  # no model: the report says so
    assert DISCLAIMER_START in text


def test_no_identifier_or_file_name_is_printed(ptbxl_pdf: bytes, spike_pdf: bytes, ptbxl_record: Record) -> None:
    for data in (ptbxl_pdf, spike_pdf):
        text = text_of(data)
        assert "12345" not in text and "MRN" not in text
        pdf, _ = page_of(data)
        with pdf:
            assert not any("12345" in str(v) for v in pdf.metadata.values())
    assert "[identifier removed]'s ECG" in text_of(ptbxl_pdf)  # the device statement that quoted it
    assert "Patient — · age" in text_of(ptbxl_pdf)  # no pseudonym given
    assert "Patient 3f9a1c2e · age 64 · sex F" in text_of(spike_pdf)
    assert "Acquired 2026-03-04 09:30:00 · device TestCart 1 · site Ward 7" in text_of(spike_pdf)
    with pytest.raises(ValueError, match="patient identifier"):
        render_report(ptbxl_record, pseudonym=" mrn-12345 ")


def test_fewer_leads_print_what_exists_and_say_so() -> None:
    one = render_report(spike_record(leads=("I",)), measurements={}, statements=())
    pdf, page = page_of(one)
    with pdf:
        assert len(pulses(page)) == 1 and len(traces(page)) == 1
    assert "single-lead record (I): rhythm strip only" in text_of(one)
    limb = render_report(spike_record(leads=LEADS_12[:6]), measurements={}, statements=())
    pdf, page = page_of(limb)
    with pdf:
        assert len(traces(page)) == 6 + 1
    assert "6 leads; not in the file: V1, V2, V3, V4, V5, V6" in text_of(limb)


def test_out_path_and_file_object(tmp_path: Path) -> None:
    path = render_report(spike_record(), measurements={}, statements=(), out=tmp_path / "sub" / "r.pdf")
    assert path == tmp_path / "sub" / "r.pdf" and path.read_bytes().startswith(b"%PDF-")
    buffer = io.BytesIO()
    data = render_report(spike_record(), measurements={}, statements=(), out=buffer)
    assert buffer.getvalue() == data


# -- ecg report ------------------------------------------------------------------------------------


def test_cli_writes_the_report_with_the_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bundle = tiny_bundle(tmp_path / "bundle")
    out = tmp_path / "report.pdf"
    assert main(["report", str(PTBXL), "-o", str(out), "--model", str(bundle), "--paper", "Letter"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    data = out.read_bytes()
    assert len(data) < 1_000_000
    text = text_of(data)
    assert "tiny-test v0.1.0" in text and "UNCONFIRMED" in text and DISCLAIMER_START in text
    pdf, page = page_of(data)
    with pdf:
        assert (float(page.width) * MM_PER_PT, float(page.height) * MM_PER_PT) == pytest.approx(PAGE_MM["Letter"],
                                                                                                abs=0.1)


def test_cli_no_model_and_the_app_entry(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from app.cli import COMMANDS
    from app.cli import main as ecg

    assert "report" in COMMANDS
    out = tmp_path / "r.pdf"
    assert ecg(["report", str(PTBXL), "-o", str(out), "--no-model", "--start-s", "0"]) == 0
    assert "Model: not run for this report" in text_of(out.read_bytes())
    assert "signal as recorded" in text_of(out.read_bytes())


def test_filtered_traces_are_the_models_view_at_the_same_scale() -> None:
    record = read(PTBXL)
    raw, filtered = (render_report(record, measurements={}, statements=(), filtered=f) for f in (False, True))
    assert "filtered as the model sees it (0.67-40 Hz, 50 Hz notch, baseline removed)" in text_of(filtered)
    shapes = []
    for data in (raw, filtered):
        pdf, page = page_of(data)
        with pdf:
            assert [round((p[1][1] - p[2][1]) * MM_PER_PT, 2) for p in pulses(page)] == [10.0] * 4
            found = traces(page)
            shapes.append([np.ptp(t[:, 0]) for t in found])
            rhythm = max(found, key=lambda t: np.ptp(t[:, 0]))
            assert not np.allclose(rhythm[:, 1], np.median(rhythm[:, 1]))
    assert shapes[0] == pytest.approx(shapes[1], abs=0.2)  # same panels, same widths


def test_cli_bad_inputs_exit_1_or_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    garbage = tmp_path / "garbage.edf"
    garbage.write_bytes(b"this is not an EDF file at all")
    out = tmp_path / "r.pdf"
    assert main(["report", str(garbage), "-o", str(out), "--no-model"]) == 1
    assert f"error: {garbage}" in capsys.readouterr().err and not out.exists()
    assert main(["report", str(tmp_path / "missing.hea"), "-o", str(out), "--no-model"]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["report", str(PTBXL), "-o", str(tmp_path / "r.txt"), "--no-model"]) == 2
    assert "must end in .pdf or .png" in capsys.readouterr().err
    assert main(["report", str(PTBXL), "-o", str(out), "--no-model", "--start-s", "3"]) == 2
    assert "outside the record" in capsys.readouterr().err
    assert not out.exists()
