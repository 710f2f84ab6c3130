"""Findings that make sense together: the one table of consistency rules, applied to the model's
positives and checked on a reviewer's answers.

The model scores each of its 150 labels independently, so nothing stops it from calling NORMAL ECG
and ATRIAL FIBRILLATION positive on the same record, and nothing stopped a reviewer from saving
NORMAL ECG and ABNORMAL ECG both absent. :data:`RULES` says which findings cannot be positive
together and which one yields:

- NORMAL ECG is not positive beside ABNORMAL ECG, BORDERLINE ECG or any abnormal finding (every
  label except those in :data:`NOT_ABNORMAL`): MUSE's verdict NORMAL ECG means nothing abnormal
  was found, so an abnormal positive wins.
- A sinus rhythm (SINUS RHYTHM, NORMAL SINUS RHYTHM, SINUS BRADYCARDIA, SINUS TACHYCARDIA,
  MARKED SINUS BRADYCARDIA) is not positive beside ATRIAL FIBRILLATION or ATRIAL FLUTTER: the
  atria are driven by the sinus node or they fibrillate/flutter, not both. The arrhythmia wins, as
  the finding that must not be missed.

And for a reviewer's answers, :data:`VERDICT_PAIR`: exactly one of NORMAL ECG / ABNORMAL ECG should
be present (BORDERLINE ECG counts as a not-normal verdict, so NORMAL absent + BORDERLINE present is
fine).

Labels without a validated threshold are never positive (:func:`validated_labels`): a label whose
card evaluation has no threshold, fewer than :data:`MIN_POSITIVES` positives, or an AUROC 95 % CI
that includes 0.5. A card with no per-label evaluation at all (a freshly trained or converted
model) cannot say which labels are validated; then no label is dropped by this rule (the model
card page shows that the model is unevaluated).

:func:`consistent_findings` is applied by :meth:`ecgcore.predict.Predictor.rank`, so every caller
(``ecg predict``, the app, batch runs) gets the same positives; the demoted findings keep their
probability and rank among the negatives, and the prediction's ``notes`` say why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ecgcore.labels import ABNORMAL_ECG, NORMAL_ECG, ecgfounder_labels

if TYPE_CHECKING:
    from ecgcore.predict import Finding, Prediction

MIN_POSITIVES = 10
"""Fewer positives in the evaluation than this: the label's threshold is not validated."""

SINUS_RHYTHMS: tuple[str, ...] = ("SINUS RHYTHM", "NORMAL SINUS RHYTHM", "SINUS BRADYCARDIA", "SINUS TACHYCARDIA",
                                  "MARKED SINUS BRADYCARDIA")
ATRIAL_ARRHYTHMIAS: tuple[str, ...] = ("ATRIAL FIBRILLATION", "ATRIAL FLUTTER")

NOT_ABNORMAL: frozenset[str] = frozenset({
    NORMAL_ECG, "NORMAL SINUS RHYTHM", "SINUS RHYTHM", "otherwise normal ecg", "WITH SINUS ARRHYTHMIA",
    "PEDIATRIC ECG ANALYSIS",
})
"""Labels that do not contradict NORMAL ECG (normal rhythms, the 'otherwise normal' modifier, context)."""


@dataclass(frozen=True)
class Rule:
    """``yields`` is not positive when any label of ``beside`` is; ``reason`` is said in the note."""

    yields: str
    beside: tuple[str, ...]
    reason: str


RULES: tuple[Rule, ...] = (
    Rule(NORMAL_ECG, tuple(label for label in ecgfounder_labels() if label not in NOT_ABNORMAL),
         "a normal ECG has no abnormal finding"),
    *(Rule(sinus, ATRIAL_ARRHYTHMIAS, "sinus rhythm and atrial fibrillation/flutter exclude each other")
      for sinus in SINUS_RHYTHMS),
)
"""The one table of consistency rules (see the module docstring)."""

VERDICT_PAIR: tuple[str, str] = (NORMAL_ECG, ABNORMAL_ECG)
"""Exactly one of these should be present in a reviewer's answers (BORDERLINE ECG stands in for ABNORMAL)."""


def validated_labels(card: Any) -> frozenset[str] | None:
    """Labels of ``card`` (a :class:`ecgcore.bundle.ModelCard` or its dict) whose threshold is validated.

    None when the card holds no per-label evaluation (nothing can be said; no label is dropped).
    """
    metrics = card.get("metrics") if isinstance(card, Mapping) else getattr(card, "metrics", None)
    per_label = metrics.get("per_label") if isinstance(metrics, Mapping) else None
    if not isinstance(per_label, Mapping) or not per_label:
        return None
    return frozenset(label for label, m in per_label.items() if isinstance(m, Mapping) and _validated(m))


def _validated(m: Mapping[str, Any]) -> bool:
    if m.get("threshold") is None or (m.get("positives") or 0) < MIN_POSITIVES:
        return False
    ci = m.get("auroc_ci")
    if not ci or None in ci:
        return False
    return not (float(ci[0]) <= 0.5 <= float(ci[1]))


def _rank(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda f: (not f.positive, -f.probability)))


def consistent_findings(prediction: Prediction | Iterable[Finding],
                        validated: Iterable[str] | None = None) -> tuple[tuple[Finding, ...], tuple[str, ...]]:
    """``(findings, notes)``: the findings with positives that make sense together, re-ranked.

    A positive label outside ``validated`` (when given) stops being positive; then every rule of
    :data:`RULES` whose ``yields`` label is positive beside a positive of its ``beside`` labels
    demotes it. Each change gives one note, e.g. "NORMAL ECG not called positive (p = 0.81 >= 0.35)
    beside ATRIAL FIBRILLATION: a normal ECG has no abnormal finding."
    """
    findings = list(prediction.findings if hasattr(prediction, "findings") else prediction)
    notes: list[str] = []
    if validated is not None:
        keep = set(validated)
        for i, f in enumerate(findings):
            if f.positive and f.label not in keep:
                findings[i] = replace(f, positive=False)
                notes.append(f"{f.label} not called positive (p = {f.probability:.2f} >= {f.threshold:.2f}): "
                             "its threshold is not validated on the model card.")
    positives = {f.label for f in findings if f.positive}
    for rule in RULES:
        if rule.yields not in positives:
            continue
        against = [label for label in rule.beside if label in positives and label != rule.yields]
        if not against:
            continue
        for i, f in enumerate(findings):
            if f.label == rule.yields:
                findings[i] = replace(f, positive=False)
                notes.append(f"{f.label} not called positive (p = {f.probability:.2f} >= {f.threshold:.2f}) beside "
                             f"{', '.join(against[:3])}{' ...' if len(against) > 3 else ''}: {rule.reason}.")
    return _rank(findings), tuple(notes)


def contradictions(answers: Mapping[str, str]) -> list[str]:
    """Warnings for a reviewer's answers (label -> 'present' / 'absent' / 'uncertain') that contradict
    each other; empty when they make sense together. Unanswered labels are not judged."""
    present = {label for label, answer in answers.items() if answer == "present"}
    warnings = []
    for rule in RULES:
        if rule.yields in present:
            against = [label for label in rule.beside if label in present and label != rule.yields]
            if against:
                warnings.append(f"{rule.yields} is present beside {', '.join(against)}: {rule.reason}.")
    normal, abnormal = VERDICT_PAIR
    if answers.get(normal) == "absent" and answers.get(abnormal) == "absent" and "BORDERLINE ECG" not in present:
        warnings.append(f"{normal} and {abnormal} are both absent: one of them should be present.")
    return warnings


__all__ = ["MIN_POSITIVES", "NOT_ABNORMAL", "RULES", "Rule", "VERDICT_PAIR", "consistent_findings", "contradictions",
           "validated_labels"]
