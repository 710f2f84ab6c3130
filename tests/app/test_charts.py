"""Dashboard charts from small fixed tables."""

from __future__ import annotations

import pandas as pd

from app import charts


def test_auroc_chart_has_asymmetric_intervals() -> None:
    table = pd.DataFrame({"label": ["A", "B"], "n_records": [20, 20], "n_positive": [5, 8],
                          "auroc": [0.9, 0.7], "ci_low": [0.8, 0.5], "ci_high": [0.95, 0.85]})
    fig = charts.auroc_with_ci(table)
    trace = fig.data[0]
    assert list(trace.y) == ["B", "A"]  # sorted by AUROC
    assert list(trace.error_x.array) == [0.85 - 0.7, 0.95 - 0.9]
    assert [round(v, 6) for v in trace.error_x.arrayminus] == [0.2, 0.1]


def test_kappa_and_confusion_and_empty_states() -> None:
    fleiss = pd.DataFrame({"label": ["A", "B"], "kappa": [0.4, None], "n_records": [3, 1]})
    assert list(charts.kappa_by_label(fleiss).data[0].y) == ["A"]
    confusion = pd.DataFrame({"reviewer": ["r1"], "label": ["A"], "both_present": [2], "reviewer_only": [1],
                              "model_only": [0], "both_absent": [4]})
    assert sum(t.y[0] for t in charts.reviewer_vs_model(confusion, "A").data) == 7
    assert charts.reviewer_vs_model(confusion, "B").layout.annotations[0].text == "No verdicts on B"
    assert charts.auroc_with_ci(pd.DataFrame(columns=["label", "auroc"])).layout.annotations
    assert charts.reviews_per_reviewer(pd.Series(dtype=int)).layout.annotations
