"""Measurement-based statements: every criterion on its boundary, missing and unreliable inputs,
pacing, atrial fibrillation and age, on Measurements built directly (no signal processing)."""

from __future__ import annotations

import pytest

from ecgcore.labels import label_index
from ecgcore.measurements import STATEMENT_RULES, LeadAmplitudes, Measurements, statements
from ecgcore.measurements.statements import (
    STATEMENT_RULE_BY_CODE,
    Statement,
    assess_statements,
    normalise_sex,
)

PACED_UNRELIABLE = ("p_duration_ms", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms",
                    "qrs_axis_deg", "t_axis_deg")
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def amp(r: float = 1.0, s: float = -0.5, q: float = 0.0) -> LeadAmplitudes:
    return LeadAmplitudes(p_mv=0.1, q_mv=q, r_mv=r, s_mv=s, st_j60_mv=0.0, t_mv=0.2)


def normal_amplitudes(**overrides: LeadAmplitudes) -> dict[str, LeadAmplitudes]:
    """Ordinary voltages (no low voltage, no LVH), with some leads replaced."""
    out = {lead: amp(1.0, -0.5) for lead in LEADS}
    out.update(overrides)
    return out


def make(**values) -> Measurements:
    """A normal adult ECG (sinus 72 bpm, PR 160, QRS 90, QTc 420, axis +60), with ``values`` changed."""
    base = {
        "algorithm_version": "test", "fs": 500.0, "leads": LEADS, "window_start_s": 0.0, "window_s": 10.0,
        "heart_rate_bpm": 72.0, "rr_ms": 833.0, "p_duration_ms": 100.0, "pr_ms": 160.0, "qrs_ms": 90.0,
        "qt_ms": 380.0, "qtc_bazett_ms": 420.0, "qtc_fridericia_ms": 410.0, "p_axis_deg": 50.0,
        "qrs_axis_deg": 60.0, "t_axis_deg": 40.0, "amplitudes": normal_amplitudes(), "p_waves_precede_qrs": True,
        "rr_irregular": False,
    }
    base.update(values)
    return Measurements(**base)


def codes(m: Measurements, sex: str | None = None, age: float | None = None) -> list[str]:
    return [s.code for s in statements(m, sex=sex, age=age)]


def made(m: Measurements, code: str, sex: str | None = None, age: float | None = None) -> Statement | None:
    return next((s for s in statements(m, sex=sex, age=age) if s.code == code), None)


def outcome(m: Measurements, code: str, sex: str | None = None, age: float | None = None):
    return next(a for a in assess_statements(m, sex=sex, age=age) if a.code == code)


# -- the table -----------------------------------------------------------------------------------


def test_rule_table_codes_unique_and_labels_are_ecgfounder_labels() -> None:
    assert len({r.code for r in STATEMENT_RULES}) == len(STATEMENT_RULES)
    for rule in STATEMENT_RULES:
        if rule.ecgfounder_label is not None:
            label_index(rule.ecgfounder_label)  # raises on a misspelt label
        assert rule.criterion and rule.reference and rule.text
    assert STATEMENT_RULE_BY_CODE["wide_qrs"].ecgfounder_label is None
    assert STATEMENT_RULE_BY_CODE["first_degree_av_block"].ecgfounder_label == "WITH 1ST DEGREE AV BLOCK"


def test_normal_ecg_gives_only_sinus_rhythm_labelled_as_measurement() -> None:
    out = statements(make(), sex="M", age=50)
    assert [s.code for s in out] == ["sinus_rhythm"]
    s = out[0]
    assert s.source == "measurement" and s.ecgfounder_label == "SINUS RHYTHM"
    assert s.criterion_text == ("rate 72 bpm within 60-100 bpm, a P wave before every QRS, "
                                "P axis +50° within 0 to +90°")
    assert s.to_dict()["source"] == "measurement"


def test_statements_come_in_table_order() -> None:
    m = make(pr_ms=250.0, qrs_ms=140.0, qrs_axis_deg=-60.0, qtc_bazett_ms=500.0)
    order = [r.code for r in STATEMENT_RULES]
    got = codes(m)
    assert got == sorted(got, key=order.index)
    assert got == ["sinus_rhythm", "first_degree_av_block", "wide_qrs", "left_axis_deviation", "prolonged_qtc"]


# -- rate and rhythm -----------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "expected"), [
    (59.0, "sinus_bradycardia"), (60.0, "sinus_rhythm"), (100.0, "sinus_rhythm"), (101.0, "sinus_tachycardia"),
    (59.4, "sinus_bradycardia"), (100.4, "sinus_rhythm"),  # decided on the printed (whole) rate
])
def test_sinus_rate_boundaries(rate: float, expected: str) -> None:
    sinus = [c for c in codes(make(heart_rate_bpm=rate)) if c.startswith("sinus")]
    assert sinus == [expected]


def test_sinus_criterion_texts_show_the_rate() -> None:
    assert made(make(heart_rate_bpm=52.0), "sinus_bradycardia").criterion_text.startswith("rate 52 bpm < 60 bpm")
    assert made(make(heart_rate_bpm=118.0), "sinus_tachycardia").criterion_text.startswith("rate 118 bpm > 100 bpm")


@pytest.mark.parametrize(("p_axis", "sinus"), [(0.0, True), (90.0, True), (-1.0, False), (91.0, False),
                                               (-60.0, False)])
def test_sinus_needs_p_axis_0_to_90(p_axis: float, sinus: bool) -> None:
    assert ("sinus_rhythm" in codes(make(p_axis_deg=p_axis))) is sinus


def test_no_sinus_statement_without_a_p_wave_before_every_qrs() -> None:
    m = make(p_waves_precede_qrs=False)
    assert not [c for c in codes(m) if c.startswith("sinus")]
    assert outcome(m, "sinus_rhythm").assessable  # applied: the criterion is simply not met


def test_no_sinus_statements_in_atrial_fibrillation() -> None:
    m = make(atrial_fibrillation=True, rr_irregular=True, heart_rate_bpm=120.0, qrs_ms=130.0)
    got = codes(m)
    assert not [c for c in got if c.startswith("sinus")]
    assert "wide_qrs" in got  # other statements are still made
    assert "atrial fibrillation" in outcome(m, "sinus_tachycardia").not_assessable


# -- PR, QRS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pr", "block"), [(200.0, False), (201.0, True), (200.4, False), (236.0, True)])
def test_first_degree_av_block_boundary(pr: float, block: bool) -> None:
    s = made(make(pr_ms=pr), "first_degree_av_block")
    assert (s is not None) is block
    if block:
        assert s.criterion_text == f"PR {round(pr)} ms > 200 ms"
        assert s.ecgfounder_label == "WITH 1ST DEGREE AV BLOCK"


@pytest.mark.parametrize(("pr", "short"), [(120.0, False), (119.0, True)])
def test_short_pr_boundary(pr: float, short: bool) -> None:
    s = made(make(pr_ms=pr), "short_pr")
    assert (s is not None) is short
    if short:
        assert s.criterion_text == "PR 119 ms < 120 ms"


@pytest.mark.parametrize(("qrs", "wide"), [(119.0, False), (120.0, True)])
def test_wide_qrs_boundary(qrs: float, wide: bool) -> None:
    s = made(make(qrs_ms=qrs), "wide_qrs")
    assert (s is not None) is wide
    if wide:
        assert s.criterion_text == "QRS 120 ms ≥ 120 ms" and s.ecgfounder_label is None


# -- axis ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("axis", "expected"), [
    (-30.0, None), (-31.0, "left_axis_deviation"), (-90.0, "left_axis_deviation"),
    (-91.0, "extreme_axis_deviation"), (-179.0, "extreme_axis_deviation"),
    (90.0, None), (91.0, "right_axis_deviation"), (180.0, "right_axis_deviation"), (-180.0, "right_axis_deviation"),
    (0.0, None),
])
def test_axis_boundaries(axis: float, expected: str | None) -> None:
    got = [c for c in codes(make(qrs_axis_deg=axis)) if c.endswith("axis_deviation")]
    assert got == ([expected] if expected else [])


def test_axis_criterion_texts() -> None:
    assert made(make(qrs_axis_deg=-31.0), "left_axis_deviation").criterion_text == "QRS axis -31° < -30°"
    assert made(make(qrs_axis_deg=110.0), "right_axis_deviation").criterion_text == "QRS axis +110° > +90°"


# -- QTc -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sex", "qtc", "prolonged"), [
    ("M", 449.0, False), ("M", 450.0, True), ("F", 459.0, False), ("F", 460.0, True),
    (None, 449.0, False), (None, 450.0, True), ("male", 450.0, True), ("Female", 455.0, False),
    ("U", 450.0, True),  # unknown sex: the men's limit
])
def test_prolonged_qtc_sex_limits(sex: str | None, qtc: float, prolonged: bool) -> None:
    s = made(make(qtc_bazett_ms=qtc), "prolonged_qtc", sex=sex)
    assert (s is not None) is prolonged


def test_prolonged_qtc_text_names_the_limit_used() -> None:
    assert made(make(qtc_bazett_ms=472.0), "prolonged_qtc", sex="F").criterion_text == \
        "QTc (Bazett) 472 ms ≥ 460 ms (women)"
    assert made(make(qtc_bazett_ms=452.0), "prolonged_qtc", sex="M").criterion_text == \
        "QTc (Bazett) 452 ms ≥ 450 ms (men)"
    assert "sex unknown" in made(make(qtc_bazett_ms=452.0), "prolonged_qtc").criterion_text


# -- voltage -------------------------------------------------------------------------------------


def test_sokolow_lyon_boundary() -> None:
    below = normal_amplitudes(V1=amp(0.2, -1.5), V5=amp(1.99, -0.2), V6=amp(1.5, -0.1))
    at = normal_amplitudes(V1=amp(0.2, -1.5), V5=amp(2.0, -0.2), V6=amp(1.5, -0.1))
    assert made(make(amplitudes=below), "lvh_sokolow_lyon") is None
    s = made(make(amplitudes=at), "lvh_sokolow_lyon")
    assert s is not None and s.ecgfounder_label == "VOLTAGE CRITERIA FOR LEFT VENTRICULAR HYPERTROPHY"
    assert s.criterion_text == "S V1 1.50 mV + R V5 2.00 mV = 3.50 mV ≥ 3.5 mV"


def test_sokolow_lyon_takes_the_larger_of_r_v5_and_r_v6() -> None:
    a = normal_amplitudes(V1=amp(0.2, -1.2), V5=amp(1.5, -0.2), V6=amp(2.4, -0.1))
    assert made(make(amplitudes=a), "lvh_sokolow_lyon").criterion_text == \
        "S V1 1.20 mV + R V6 2.40 mV = 3.60 mV ≥ 3.5 mV"


@pytest.mark.parametrize(("sex", "r_avl", "lvh"), [
    ("M", 1.8, False), ("M", 1.81, True), ("F", 1.0, False), ("F", 1.01, True),
    (None, 1.8, False), (None, 1.81, True),  # unknown sex: the men's 2.8 mV
])
def test_cornell_sex_limits(sex: str | None, r_avl: float, lvh: bool) -> None:
    a = normal_amplitudes(aVL=amp(r_avl, -0.1), V3=amp(0.5, -1.0))  # S V3 = 1.0 mV
    s = made(make(amplitudes=a), "lvh_cornell", sex=sex)
    assert (s is not None) is lvh
    if s is not None and sex == "F":
        assert s.criterion_text == "R aVL 1.01 mV + S V3 1.00 mV = 2.01 mV > 2 mV (women)"


def test_low_voltage_in_limb_leads() -> None:
    limb = {lead: amp(0.3, -0.15) for lead in ("I", "II", "III", "aVR", "aVL", "aVF")}
    limb["II"] = amp(0.4, -0.09)  # 0.49 mV peak to peak: still low
    s = made(make(amplitudes=normal_amplitudes(**limb)), "low_voltage")
    assert s is not None and s.ecgfounder_label == "LOW VOLTAGE QRS"
    assert s.criterion_text == "QRS amplitude < 0.5 mV in every limb lead (largest 0.49 mV, II)"
    limb["II"] = amp(0.4, -0.1)  # 0.50 mV: not low
    assert made(make(amplitudes=normal_amplitudes(**limb)), "low_voltage") is None


def test_low_voltage_in_precordial_leads_and_q_counts_in_peak_to_peak() -> None:
    prec = {lead: amp(0.5, -0.4) for lead in ("V1", "V2", "V3", "V4", "V5", "V6")}
    assert made(make(amplitudes=normal_amplitudes(**prec)), "low_voltage") is not None
    prec["V4"] = amp(0.5, -0.1, q=-0.5)  # a deep Q: 1.0 mV peak to peak
    assert made(make(amplitudes=normal_amplitudes(**prec)), "low_voltage") is None


def test_low_voltage_needs_every_lead_of_a_group() -> None:
    limb = {lead: amp(0.3, -0.1) for lead in ("I", "II", "III", "aVR", "aVL", "aVF")}
    a = normal_amplitudes(**limb)
    del a["aVF"]  # left out (noisy): the limb criterion cannot be applied
    assert made(make(amplitudes=a), "low_voltage") is None
    assert outcome(make(amplitudes=a), "low_voltage").assessable  # the precordial group was checked
    only_limb = {lead: a[lead] for lead in ("I", "II", "III", "aVR", "aVL")}
    assert "not measured" in outcome(make(amplitudes=only_limb), "low_voltage").not_assessable


# -- missing, unreliable, paced, age ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "code", "value"), [
    ("pr_ms", "first_degree_av_block", 250.0), ("pr_ms", "short_pr", 100.0), ("qrs_ms", "wide_qrs", 140.0),
    ("qrs_axis_deg", "left_axis_deviation", -60.0), ("qtc_bazett_ms", "prolonged_qtc", 500.0),
    ("heart_rate_bpm", "sinus_rhythm", 72.0), ("p_axis_deg", "sinus_rhythm", 50.0),
    ("p_waves_precede_qrs", "sinus_rhythm", True),
])
def test_none_input_gives_no_statement_and_says_why(name: str, code: str, value) -> None:
    assert made(make(**{name: value}), code) is not None
    m = make(**{name: None}, reasons={name: "no P wave found before the QRS"} if name != "p_waves_precede_qrs" else {})
    assert made(m, code) is None
    why = outcome(m, code).not_assessable
    assert why is not None and "not measured" in why
    if name == "pr_ms":
        assert "no P wave found" in why


def test_impossible_intervals_give_no_statement() -> None:
    m = make(pr_ms=-28.0)
    assert "short_pr" not in codes(m)
    assert outcome(m, "short_pr").not_assessable == "PR -28 ms is not a valid value (a measurement error)"
    assert "short_pr" in codes(make(pr_ms=1.0))  # implausibly short but positive: stated, with its number


def test_no_amplitudes_no_voltage_statements() -> None:
    m = make(amplitudes={})
    assert not {"low_voltage", "lvh_sokolow_lyon", "lvh_cornell"} & set(codes(m))
    assert outcome(m, "lvh_cornell").not_assessable == "amplitudes not measured"
    no_s_v1 = normal_amplitudes(V1=LeadAmplitudes(None, None, None, None, None, None))
    assert "S in V1" in outcome(make(amplitudes=no_s_v1), "lvh_sokolow_lyon").not_assessable


def test_paced_rhythm_gives_no_interval_axis_rhythm_or_voltage_statements() -> None:
    lvh = normal_amplitudes(V1=amp(0.2, -2.0), V5=amp(2.5, -0.2), aVL=amp(2.0, -0.1), V3=amp(0.3, -1.5))
    values = {"pr_ms": 250.0, "qrs_ms": 160.0, "qtc_bazett_ms": 520.0, "qrs_axis_deg": -70.0, "amplitudes": lvh}
    unpaced = codes(make(**values))
    assert {"sinus_rhythm", "first_degree_av_block", "wide_qrs", "left_axis_deviation", "prolonged_qtc",
            "lvh_sokolow_lyon", "lvh_cornell"} <= set(unpaced)
    paced = make(**values, paced=True, unreliable=PACED_UNRELIABLE,
                 reasons={"unreliable": "paced rhythm: pacing spikes precede the beats"})
    assert statements(paced) == []
    why = outcome(paced, "first_degree_av_block").not_assessable
    assert why.startswith("PR unreliable: paced rhythm")
    assert outcome(paced, "sinus_rhythm").not_assessable == "paced rhythm"


def test_adult_only_rules_are_not_applied_to_children() -> None:
    m = make(heart_rate_bpm=110.0, pr_ms=210.0, qrs_axis_deg=100.0)
    assert {"sinus_tachycardia", "first_degree_av_block", "right_axis_deviation"} <= set(codes(m, age=40))
    child = codes(m, age=8)
    assert "first_degree_av_block" in child  # PR > 200 ms is long at any age
    assert not {"sinus_tachycardia", "right_axis_deviation"} & set(child)
    assert "adult criterion" in outcome(m, "sinus_tachycardia", age=8).not_assessable
    assert "sinus_tachycardia" in codes(m, age=None)  # unknown age: applied


def test_normalise_sex() -> None:
    assert [normalise_sex(s) for s in ("M", "m", "Male", " female ", "F", None, "", "Unknown")] == \
        ["M", "M", "M", "F", "F", None, None, None]
