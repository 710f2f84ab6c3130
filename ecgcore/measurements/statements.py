"""Measurement-based statements: what the classic interpretation programs print from the numbers.

    m = ecgcore.measure(record)
    for s in statements(m, sex="F", age=64):
        print(s.text, "-", s.criterion_text)        # "1st degree AV block - PR 236 ms > 200 ms"

Each statement comes from one row of ``STATEMENT_RULES`` (one table, like the measurement
parameters in ``params.py``): a code, the text shown, the ECGFounder label it maps to (or None),
the criterion as a documented threshold, the measurements it reads, and a function of the
measurements (+ sex and age) that says whether the criterion is met and with which numbers.
These statements are a list of their own, ``source="measurement"``: they are not the model's
findings and are never merged with them.

How a rule decides (``StatementRule.assess``):

1. It is **not assessable** (no statement, with the reason in words) when a measurement it reads
   is None (the reason is ``Measurements.why_missing``), an interval or rate of 0 or less (a
   delineation error, not a finding), or listed in ``Measurements.unreliable``
   (a paced rhythm: intervals and the QRS axis include the paced complex), when the rhythm is
   paced and the rule reads the rhythm or the QRS voltages (``not_when_paced``), in atrial
   fibrillation for the sinus rules, and below ``min_age`` for the rules whose adult threshold
   would call normal values of children abnormal (rates, short PR, axis, LVH voltage).
2. Otherwise the criterion is checked **on the values as printed** (whole ms, bpm and degrees;
   amplitudes to 0.01 mV), so that the criterion text never contradicts itself ("PR 200 ms >
   200 ms" cannot happen), and the statement says the numbers: "PR 236 ms > 200 ms".

Thresholds and where they come from (all adult criteria):

- Rate and rhythm (conventional adult limits): sinus rhythm when a P wave precedes every QRS and
  the P axis is within 0..+90 degrees (upright in I and aVF: from the sinus node); sinus
  bradycardia below 60 bpm, sinus tachycardia above 100 bpm, sinus rhythm 60-100 bpm.
- PR (conventional adult limits): 1st degree AV block when PR > 200 ms; short PR when PR < 120 ms.
- QRS: wide when QRS >= 120 ms, the duration of complete bundle branch block in adults
  (AHA/ACCF/HRS 2009 recommendations for the standardization and interpretation of the ECG,
  part III, Surawicz et al.). No ECGFounder label means "QRS >= 120 ms" as such (its "WITH QRS
  WIDENING" qualifies an LVH statement), so the rule maps to none.
- Frontal QRS axis (conventional adult limits): left axis deviation -30 > axis >= -90 degrees,
  right axis deviation +90 < axis <= +180, extreme ("northwest") axis -90 > axis > -180.
- QTc (Bazett, what carts print): prolonged when QTc >= 450 ms in men and >= 460 ms in women
  (AHA/ACCF/HRS 2009 recommendations, part IV, Rautaharju et al., J Am Coll Cardiol
  2009;53:982-991: a QTc of 450 ms or more in men and 460 ms or more in women is prolonged).
  When the sex is unknown the men's limit (450 ms) is used. The same recommendations prefer a
  linear rate correction to Bazett's, which over-corrects at fast rates (above about 85 bpm): a
  prolonged QTc at a fast rate deserves a look at QTc Fridericia (also measured).
- Low QRS voltage (conventional definition): peak-to-peak QRS amplitude (R to the deepest Q or S)
  < 0.5 mV in every limb lead, or < 1.0 mV in every precordial lead; a group counts only when
  all six of its leads were measured.
- LVH voltage: Sokolow-Lyon S V1 + max(R V5, R V6) >= 3.5 mV (Sokolow & Lyon, Am Heart J 1949);
  Cornell R aVL + S V3 > 2.8 mV in men, > 2.0 mV in women (Casale et al., Circulation 1987);
  with the sex unknown, the men's limit. Both are voltage criteria only (no repolarization or
  QRS-duration criterion) and over-call LVH in young, thin adults.

Sex is "M"/"F" (or "male"/"female", any case); anything else is unknown. Age in years.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ecgcore.measurements.types import GLOBAL_MEASURE_BY_NAME, Measurements

SOURCE = "measurement"

# -- thresholds (adult), in the units printed --------------------------------------------------------
SINUS_P_AXIS_DEG = (0, 90)  # P axis of a sinus P wave, inclusive
SINUS_RATE_BPM = (60, 100)  # sinus rhythm, inclusive; below: bradycardia, above: tachycardia
FIRST_DEGREE_AV_BLOCK_PR_MS = 200  # PR > 200 ms
SHORT_PR_MS = 120  # PR < 120 ms
WIDE_QRS_MS = 120  # QRS >= 120 ms
LEFT_AXIS_DEG = -30  # -30 > axis >= -90
RIGHT_AXIS_DEG = 90  # +90 < axis <= +180
EXTREME_AXIS_DEG = -90  # -90 > axis > -180
QTC_LIMIT_MS = {"M": 450, "F": 460}  # prolonged when QTc (Bazett) >= the limit; unknown sex: men's
LOW_VOLTAGE_LIMB_MV = 0.5  # every limb lead's QRS peak-to-peak < 0.5 mV
LOW_VOLTAGE_PRECORDIAL_MV = 1.0  # every precordial lead's QRS peak-to-peak < 1.0 mV
SOKOLOW_LYON_MV = 3.5  # S V1 + max(R V5, R V6) >= 3.5 mV
CORNELL_MV = {"M": 2.8, "F": 2.0}  # R aVL + S V3 > limit; unknown sex: men's
ADULT_AGE = 18  # min_age of the rules whose adult threshold misreads children's normal values

LIMB_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF")
PRECORDIAL_LEADS: tuple[str, ...] = ("V1", "V2", "V3", "V4", "V5", "V6")

# Intervals and the rate cannot be zero or negative; such a value is a delineation error, never a finding.
_POSITIVE_ONLY = frozenset({"heart_rate_bpm", "rr_ms", "p_duration_ms", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms",
                            "qtc_fridericia_ms"})

_SEX_WORDS = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}


@dataclass(frozen=True)
class Statement:
    """One measurement-based statement with the numbers that made it."""

    code: str  # the rule's code, e.g. "first_degree_av_block"
    text: str  # what is shown: "1st degree AV block"
    criterion_text: str  # the criterion with this ECG's numbers: "PR 236 ms > 200 ms"
    ecgfounder_label: str | None  # the ECGFounder label it maps to, None where none exists
    source: str = SOURCE  # always "measurement": never one of the model's findings

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NotAssessable(Exception):
    """Raised by a rule's function when a value it needs is missing (the message says which)."""


@dataclass(frozen=True)
class RuleOutcome:
    """What one rule concluded for one ECG: a statement, or no statement and why not."""

    code: str
    statement: Statement | None = None
    not_assessable: str | None = None  # why the rule could not be applied; None: it was applied

    @property
    def made(self) -> bool:
        return self.statement is not None

    @property
    def assessable(self) -> bool:
        return self.not_assessable is None


Check = Callable[[Measurements, str | None, float | None], str | None]


@dataclass(frozen=True)
class StatementRule:
    """One row of the statement table. ``check`` returns the criterion text when the criterion is
    met, None when it is not, and raises NotAssessable when a value it needs is missing."""

    code: str
    text: str
    ecgfounder_label: str | None
    criterion: str  # the threshold in words, as documented
    reference: str  # where the threshold comes from
    inputs: tuple[str, ...]  # Measurements attributes read (None or unreliable -> not assessable)
    check: Check
    sinus: bool = False  # a sinus-rhythm statement: never in atrial fibrillation
    not_when_paced: bool = False  # not made in a paced rhythm (rhythm and QRS-voltage rules)
    min_age: float | None = None  # not made below this age (adult-only threshold)

    def assess(self, m: Measurements, sex: str | None = None, age: float | None = None) -> RuleOutcome:
        sex = normalise_sex(sex)
        if self.min_age is not None and age is not None and age < self.min_age:
            return RuleOutcome(self.code, not_assessable=f"adult criterion; not applied at age {age:g}")
        if self.sinus and m.atrial_fibrillation:
            return RuleOutcome(self.code, not_assessable="atrial fibrillation: no sinus statement")
        if self.not_when_paced and m.paced:
            return RuleOutcome(self.code, not_assessable="paced rhythm")
        for name in self.inputs:
            if name in m.unreliable:
                why = m.reasons.get("unreliable", "marked unreliable")
                return RuleOutcome(self.code, not_assessable=f"{_label(name)} unreliable: {why}")
            value = getattr(m, name)
            if value is None or (name == "amplitudes" and not value):
                why = m.why_missing(name) if name in GLOBAL_MEASURE_BY_NAME else None
                why = f"{_label(name)} not measured" + (f": {why}" if why else "")
                return RuleOutcome(self.code, not_assessable=why)
            if name in _POSITIVE_ONLY and _whole(value) <= 0:
                unit = GLOBAL_MEASURE_BY_NAME[name].unit
                return RuleOutcome(self.code, not_assessable=f"{_label(name)} {_whole(value)} {unit} is not a valid "
                                                            "value (a measurement error)")
        try:
            criterion_text = self.check(m, sex, age)
        except NotAssessable as exc:
            return RuleOutcome(self.code, not_assessable=str(exc))
        if criterion_text is None:
            return RuleOutcome(self.code)
        return RuleOutcome(self.code, Statement(self.code, self.text, criterion_text, self.ecgfounder_label))


def normalise_sex(sex: object) -> str | None:
    """"M", "F" or None (unknown) from "M"/"male"/"F"/"female" in any case."""
    if sex is None:
        return None
    return _SEX_WORDS.get(str(sex).strip().lower())


def _label(name: str) -> str:
    if name in GLOBAL_MEASURE_BY_NAME:
        return GLOBAL_MEASURE_BY_NAME[name].label
    return {"p_waves_precede_qrs": "P before every QRS", "amplitudes": "amplitudes"}.get(name, name)


# -- values as printed -----------------------------------------------------------------------------


def _whole(value: float) -> int:
    """A global value as a cart prints it (whole ms, bpm, degrees; as ``Measurements.global_values``)."""
    return round(float(value))


def _mv(value: float) -> float:
    """An amplitude as printed: 0.01 mV."""
    return round(float(value), 2)


def _axis(value: float) -> int:
    """A printed axis in (-180, 180]."""
    a = _whole(value)
    a = (a + 180) % 360 - 180
    return 180 if a == -180 else a


def _signed(deg: int) -> str:
    return f"+{deg}" if deg > 0 else str(deg)


def _sex_note(sex: str | None) -> str:
    return {"M": "men", "F": "women"}.get(sex or "", "sex unknown: men's limit")


def _lead_amplitude(m: Measurements, lead: str, name: str) -> float | None:
    amplitudes = m.amplitudes.get(lead)
    value = getattr(amplitudes, name) if amplitudes is not None else None
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def _peak_to_peak(m: Measurements, lead: str) -> float | None:
    """QRS peak-to-peak on one lead: R to the deepest of Q and S (mV), None if not measured."""
    r, s = _lead_amplitude(m, lead, "r_mv"), _lead_amplitude(m, lead, "s_mv")
    if r is None or s is None:
        return None
    q = _lead_amplitude(m, lead, "q_mv") or 0.0
    return _mv(max(r, 0.0) - min(q, s, 0.0))


# -- the rules' checks ------------------------------------------------------------------------------


def _sinus_context(m: Measurements) -> str | None:
    """The sinus part of the criterion text, or None when the P waves are not sinus."""
    if not m.p_waves_precede_qrs:
        return None
    p_axis = _axis(m.p_axis_deg)
    low, high = SINUS_P_AXIS_DEG
    if not low <= p_axis <= high:
        return None
    return f"a P wave before every QRS, P axis {_signed(p_axis)}° within {low} to +{high}°"


def _sinus_rhythm(m: Measurements, sex: str | None, age: float | None) -> str | None:
    sinus, rate = _sinus_context(m), _whole(m.heart_rate_bpm)
    low, high = SINUS_RATE_BPM
    if sinus is None or not low <= rate <= high:
        return None
    return f"rate {rate} bpm within {low}-{high} bpm, {sinus}"


def _sinus_bradycardia(m: Measurements, sex: str | None, age: float | None) -> str | None:
    sinus, rate = _sinus_context(m), _whole(m.heart_rate_bpm)
    if sinus is None or not rate < SINUS_RATE_BPM[0]:
        return None
    return f"rate {rate} bpm < {SINUS_RATE_BPM[0]} bpm, {sinus}"


def _sinus_tachycardia(m: Measurements, sex: str | None, age: float | None) -> str | None:
    sinus, rate = _sinus_context(m), _whole(m.heart_rate_bpm)
    if sinus is None or not rate > SINUS_RATE_BPM[1]:
        return None
    return f"rate {rate} bpm > {SINUS_RATE_BPM[1]} bpm, {sinus}"


def _first_degree_av_block(m: Measurements, sex: str | None, age: float | None) -> str | None:
    pr = _whole(m.pr_ms)
    return f"PR {pr} ms > {FIRST_DEGREE_AV_BLOCK_PR_MS} ms" if pr > FIRST_DEGREE_AV_BLOCK_PR_MS else None


def _short_pr(m: Measurements, sex: str | None, age: float | None) -> str | None:
    pr = _whole(m.pr_ms)
    return f"PR {pr} ms < {SHORT_PR_MS} ms" if pr < SHORT_PR_MS else None


def _wide_qrs(m: Measurements, sex: str | None, age: float | None) -> str | None:
    qrs = _whole(m.qrs_ms)
    return f"QRS {qrs} ms ≥ {WIDE_QRS_MS} ms" if qrs >= WIDE_QRS_MS else None


def _left_axis(m: Measurements, sex: str | None, age: float | None) -> str | None:
    axis = _axis(m.qrs_axis_deg)
    if EXTREME_AXIS_DEG <= axis < LEFT_AXIS_DEG:
        return f"QRS axis {_signed(axis)}° < {LEFT_AXIS_DEG}°"
    return None


def _right_axis(m: Measurements, sex: str | None, age: float | None) -> str | None:
    axis = _axis(m.qrs_axis_deg)
    return f"QRS axis {_signed(axis)}° > +{RIGHT_AXIS_DEG}°" if axis > RIGHT_AXIS_DEG else None


def _extreme_axis(m: Measurements, sex: str | None, age: float | None) -> str | None:
    axis = _axis(m.qrs_axis_deg)
    return f"QRS axis {_signed(axis)}° < {EXTREME_AXIS_DEG}°" if axis < EXTREME_AXIS_DEG else None


def _prolonged_qtc(m: Measurements, sex: str | None, age: float | None) -> str | None:
    qtc = _whole(m.qtc_bazett_ms)
    limit = QTC_LIMIT_MS.get(sex or "", QTC_LIMIT_MS["M"])
    return f"QTc (Bazett) {qtc} ms ≥ {limit} ms ({_sex_note(sex)})" if qtc >= limit else None


def _low_voltage(m: Measurements, sex: str | None, age: float | None) -> str | None:
    parts, missing = [], []
    for group, leads, limit in (("limb", LIMB_LEADS, LOW_VOLTAGE_LIMB_MV),
                                ("precordial", PRECORDIAL_LEADS, LOW_VOLTAGE_PRECORDIAL_MV)):
        values = {lead: _peak_to_peak(m, lead) for lead in leads}
        absent = [lead for lead, v in values.items() if v is None]
        if absent:
            missing.append(f"{group} lead{'s' if len(absent) > 1 else ''} {', '.join(absent)}")
            continue
        lead, largest = max(values.items(), key=lambda item: item[1])
        if largest < limit:
            parts.append(f"QRS amplitude < {limit:g} mV in every {group} lead (largest {largest:.2f} mV, {lead})")
    if parts:
        return "; ".join(parts)
    if len(missing) == 2:
        raise NotAssessable(f"QRS amplitudes not measured on {' and '.join(missing)}")
    return None


def _sokolow_lyon(m: Measurements, sex: str | None, age: float | None) -> str | None:
    s_v1 = _lead_amplitude(m, "V1", "s_mv")
    if s_v1 is None:
        raise NotAssessable("S in V1 not measured")
    r = {lead: _lead_amplitude(m, lead, "r_mv") for lead in ("V5", "V6")}
    r = {lead: _mv(v) for lead, v in r.items() if v is not None}
    if not r:
        raise NotAssessable("R in V5 and V6 not measured")
    lead, r_max = max(r.items(), key=lambda item: item[1])
    s = _mv(abs(s_v1))
    total = _mv(s + r_max)
    if total >= SOKOLOW_LYON_MV:
        return f"S V1 {s:.2f} mV + R {lead} {r_max:.2f} mV = {total:.2f} mV ≥ {SOKOLOW_LYON_MV:g} mV"
    return None


def _cornell(m: Measurements, sex: str | None, age: float | None) -> str | None:
    r_avl, s_v3 = _lead_amplitude(m, "aVL", "r_mv"), _lead_amplitude(m, "V3", "s_mv")
    if r_avl is None or s_v3 is None:
        raise NotAssessable(" and ".join(w for w, v in (("R in aVL", r_avl), ("S in V3", s_v3)) if v is None)
                            + " not measured")
    r, s = _mv(r_avl), _mv(abs(s_v3))
    total = _mv(r + s)
    limit = CORNELL_MV.get(sex or "", CORNELL_MV["M"])
    if total > limit:
        return f"R aVL {r:.2f} mV + S V3 {s:.2f} mV = {total:.2f} mV > {limit:g} mV ({_sex_note(sex)})"
    return None


_SINUS_INPUTS = ("heart_rate_bpm", "p_waves_precede_qrs", "p_axis_deg")
_AHA_2009 = "AHA/ACCF/HRS 2009 ECG standardization and interpretation recommendations"
_CONVENTIONAL = "conventional adult limit"

STATEMENT_RULES: tuple[StatementRule, ...] = (
    StatementRule("sinus_rhythm", "Sinus rhythm", "SINUS RHYTHM",
                  "rate 60-100 bpm, a P wave before every QRS, P axis 0 to +90°", _CONVENTIONAL,
                  _SINUS_INPUTS, _sinus_rhythm, sinus=True, not_when_paced=True, min_age=ADULT_AGE),
    StatementRule("sinus_bradycardia", "Sinus bradycardia", "SINUS BRADYCARDIA",
                  "rate < 60 bpm, a P wave before every QRS, P axis 0 to +90°", _CONVENTIONAL,
                  _SINUS_INPUTS, _sinus_bradycardia, sinus=True, not_when_paced=True, min_age=ADULT_AGE),
    StatementRule("sinus_tachycardia", "Sinus tachycardia", "SINUS TACHYCARDIA",
                  "rate > 100 bpm, a P wave before every QRS, P axis 0 to +90°", _CONVENTIONAL,
                  _SINUS_INPUTS, _sinus_tachycardia, sinus=True, not_when_paced=True, min_age=ADULT_AGE),
    StatementRule("first_degree_av_block", "1st degree AV block", "WITH 1ST DEGREE AV BLOCK",
                  "PR > 200 ms", _CONVENTIONAL, ("pr_ms",), _first_degree_av_block),
    StatementRule("short_pr", "Short PR interval", "WITH SHORT PR",
                  "PR < 120 ms", _CONVENTIONAL, ("pr_ms",), _short_pr, min_age=ADULT_AGE),
    StatementRule("wide_qrs", "Wide QRS", None,
                  "QRS ≥ 120 ms", f"{_AHA_2009}, part III (complete BBB duration)", ("qrs_ms",), _wide_qrs),
    StatementRule("left_axis_deviation", "Left axis deviation", "LEFT AXIS DEVIATION",
                  "QRS axis -30° > axis ≥ -90°", _CONVENTIONAL, ("qrs_axis_deg",), _left_axis,
                  min_age=ADULT_AGE),
    StatementRule("right_axis_deviation", "Right axis deviation", "RIGHT AXIS DEVIATION",
                  "QRS axis +90° < axis ≤ +180°", _CONVENTIONAL, ("qrs_axis_deg",), _right_axis,
                  min_age=ADULT_AGE),
    StatementRule("extreme_axis_deviation", "Extreme axis deviation (northwest axis)",
                  "RIGHT SUPERIOR AXIS DEVIATION", "QRS axis -90° > axis > -180°", _CONVENTIONAL,
                  ("qrs_axis_deg",), _extreme_axis, min_age=ADULT_AGE),
    StatementRule("prolonged_qtc", "Prolonged QTc", "PROLONGED QT",
                  "QTc (Bazett) ≥ 450 ms men, ≥ 460 ms women (sex unknown: 450 ms)",
                  f"{_AHA_2009}, part IV (Rautaharju et al. 2009)", ("qtc_bazett_ms",), _prolonged_qtc),
    StatementRule("low_voltage", "Low QRS voltage", "LOW VOLTAGE QRS",
                  "QRS peak-to-peak < 0.5 mV in every limb lead, or < 1.0 mV in every precordial lead",
                  "conventional definition", ("amplitudes",), _low_voltage, not_when_paced=True),
    StatementRule("lvh_sokolow_lyon", "LVH by voltage (Sokolow-Lyon)",
                  "VOLTAGE CRITERIA FOR LEFT VENTRICULAR HYPERTROPHY", "S V1 + max(R V5, R V6) ≥ 3.5 mV",
                  "Sokolow & Lyon, Am Heart J 1949", ("amplitudes",), _sokolow_lyon, not_when_paced=True,
                  min_age=ADULT_AGE),
    StatementRule("lvh_cornell", "LVH by voltage (Cornell)", "VOLTAGE CRITERIA FOR LEFT VENTRICULAR HYPERTROPHY",
                  "R aVL + S V3 > 2.8 mV men, > 2.0 mV women (sex unknown: 2.8 mV)",
                  "Casale et al., Circulation 1987", ("amplitudes",), _cornell, not_when_paced=True,
                  min_age=ADULT_AGE),
)
STATEMENT_RULE_BY_CODE: dict[str, StatementRule] = {rule.code: rule for rule in STATEMENT_RULES}


def assess_statements(measurements: Measurements, sex: str | None = None,
                      age: float | None = None) -> list[RuleOutcome]:
    """Every rule's outcome for one ECG, in table order: a statement, none, or why it could not be applied."""
    return [rule.assess(measurements, sex, age) for rule in STATEMENT_RULES]


def statements(measurements: Measurements, sex: str | None = None, age: float | None = None) -> list[Statement]:
    """The measurement-based statements of one ECG, in table order (see the module docstring)."""
    return [a.statement for a in assess_statements(measurements, sex, age) if a.statement is not None]


__all__ = [
    "STATEMENT_RULES",
    "STATEMENT_RULE_BY_CODE",
    "RuleOutcome",
    "NotAssessable",
    "Statement",
    "StatementRule",
    "assess_statements",
    "normalise_sex",
    "statements",
]
