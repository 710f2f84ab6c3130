"""Consistency rules (ecgcore/consistency.py) on small fixed examples, and their use by Predictor.rank."""

from __future__ import annotations

from ecgcore.consistency import RULES, consistent_findings, contradictions, validated_labels
from ecgcore.labels import ecgfounder_labels
from ecgcore.predict import Finding, Prediction

NORMAL, ABNORMAL, SR, AF = "NORMAL ECG", "ABNORMAL ECG", "SINUS RHYTHM", "ATRIAL FIBRILLATION"


def _prediction(**probabilities: float) -> Prediction:
    labels = {"normal": NORMAL, "abnormal": ABNORMAL, "sr": SR, "af": AF, "lvh": "LEFT VENTRICULAR HYPERTROPHY"}
    findings = [Finding(labels[k], p, 0.5, p >= 0.5) for k, p in probabilities.items()]
    return Prediction("r", "m", tuple(sorted(findings, key=lambda f: (not f.positive, -f.probability))))


def _positives(findings) -> set[str]:  # noqa: ANN001
    return {f.label for f in findings if f.positive}


def test_rule_table_labels_are_model_labels() -> None:
    labels = set(ecgfounder_labels())
    for rule in RULES:
        assert rule.yields in labels and set(rule.beside) <= labels and rule.reason


def test_normal_ecg_is_not_positive_beside_atrial_fibrillation() -> None:
    findings, notes = consistent_findings(_prediction(normal=0.9, af=0.7, lvh=0.1))
    assert _positives(findings) == {AF}
    assert findings[0].label == AF  # positives first: NORMAL ECG now ranks among the negatives
    assert [f.probability for f in findings if f.label == NORMAL] == [0.9]  # probability kept
    assert len(notes) == 1 and NORMAL in notes[0] and AF in notes[0]


def test_sinus_rhythm_yields_to_atrial_fibrillation() -> None:
    findings, notes = consistent_findings(_prediction(sr=0.95, af=0.6, abnormal=0.8))
    assert _positives(findings) == {AF, ABNORMAL}
    assert any(SR in note and "atrial fibrillation" in note for note in notes)


def test_consistent_findings_are_left_alone() -> None:
    prediction = _prediction(normal=0.9, sr=0.8, af=0.1)
    findings, notes = consistent_findings(prediction)
    assert findings == prediction.findings and notes == ()


def test_a_label_without_validated_threshold_is_never_positive() -> None:
    findings, notes = consistent_findings(_prediction(abnormal=0.99, lvh=0.8), validated={ABNORMAL})
    assert _positives(findings) == {ABNORMAL}
    assert notes and "LEFT VENTRICULAR HYPERTROPHY" in notes[0] and "not validated" in notes[0]


def test_validated_labels_from_the_card() -> None:
    card = {"metrics": {"per_label": {
        "A": {"threshold": 0.3, "positives": 50, "auroc_ci": [0.8, 0.9]},
        "B": {"threshold": 0.3, "positives": 50, "auroc_ci": [0.45, 0.7]},  # CI includes 0.5
        "C": {"threshold": 0.3, "positives": 3, "auroc_ci": [0.8, 0.99]},   # too few positives
        "D": {"threshold": None, "positives": 50, "auroc_ci": [0.8, 0.9]},  # no threshold
        "E": {"threshold": 0.3, "positives": 50},                            # no CI
    }}}
    assert validated_labels(card) == {"A"}
    assert validated_labels({"metrics": {}}) is None  # unevaluated card: nothing to say


def test_contradictions_in_answers() -> None:
    assert contradictions({NORMAL: "absent", ABNORMAL: "absent"}) == [
        "NORMAL ECG and ABNORMAL ECG are both absent: one of them should be present."]
    assert contradictions({NORMAL: "absent", ABNORMAL: "present", AF: "present"}) == []
    assert contradictions({NORMAL: "absent", ABNORMAL: "absent", "BORDERLINE ECG": "present"}) == []
    warnings = contradictions({NORMAL: "present", AF: "present", SR: "present"})
    assert any(w.startswith(NORMAL) and AF in w for w in warnings)
    assert any(w.startswith(SR) and AF in w for w in warnings)
    assert contradictions({NORMAL: "absent"}) == []  # unanswered labels are not judged
