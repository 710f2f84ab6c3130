"""Dashboard charts from small fixed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app import charts


def _auroc_table() -> pd.DataFrame:
    return pd.DataFrame({"label": ["A", "B", "C", "D"], "n_records": [20, 20, 4, 3], "n_positive": [5, 8, 2, 3],
                         "n_negative": [15, 12, 2, 0], "auroc": [0.9, 0.7, 0.0, np.nan],
                         "ci_low": [0.8, 0.5, 0.0, np.nan], "ci_high": [0.95, 0.85, 0.5, np.nan],
                         "enough_data": [True, True, False, False],
                         "note": ["", "", "n too small (2 positive, 2 negative records; minimum 5 and 5)",
                                  "n too small (...); undefined: the consensus has no negative record"]})


def test_auroc_chart_has_asymmetric_intervals_and_n() -> None:
    fig = charts.auroc_with_ci(_auroc_table())
    full = next(t for t in fig.data if t.name == "auroc")
    assert list(full.y) == ["B (n=20: 8 pos, 12 neg)", "A (n=20: 5 pos, 15 neg)"]  # sorted by AUROC, n in every label
    assert list(full.error_x.array) == [0.85 - 0.7, 0.95 - 0.9]
    assert [round(v, 6) for v in full.error_x.arrayminus] == [0.2, 0.1]
    assert full.marker.color == charts.ACCENT


def test_auroc_below_the_minimum_is_greyed_out_and_undefined_says_why() -> None:
    fig = charts.auroc_with_ci(_auroc_table())
    small = [t for t in fig.data if t.name == charts.TOO_SMALL]
    assert len(small) == 1 and list(small[0].y) == ["C (n=4: 2 pos, 2 neg)"]  # the 0.0 is shown, but greyed
    assert small[0].marker.color == charts.GREYED and list(small[0].text) == ["n too small"]
    assert list(small[0].error_x.array) == [0.5]  # its interval is still drawn
    undefined = [a for a in fig.layout.annotations if a.y == "D (n=3: 3 pos, 0 neg)"]
    assert undefined and "no negative record" in undefined[0].text
    assert "D (n=3: 3 pos, 0 neg)" in fig.layout.yaxis.categoryarray  # n kept even with no value


def test_kappa_chart_greys_out_small_n_and_keeps_every_n() -> None:
    fleiss = pd.DataFrame({"label": ["A", "B", "C"], "n_records": [30, 3, 1], "kappa": [0.4, -1.0, np.nan],
                           "ci_low": [0.2, -1.0, np.nan], "ci_high": [0.6, 0.3, np.nan],
                           "enough_data": [True, False, False],
                           "note": ["", "n too small (3 records < 10)", "n too small (1 record < 10); undefined"]})
    fig = charts.kappa_by_label(fleiss)
    full = next(t for t in fig.data if t.name == "kappa")
    small = next(t for t in fig.data if t.name == charts.TOO_SMALL)
    assert list(full.y) == ["A (n=30)"] and full.marker.color == charts.ACCENT
    assert list(small.y) == ["B (n=3)"] and small.marker.color == charts.GREYED and list(small.text) == ["n too small"]
    assert list(fig.layout.yaxis.categoryarray) == ["C (n=1)", "B (n=3)", "A (n=30)"]
    assert fig.layout.annotations[0].y == "C (n=1)" and "undefined" in fig.layout.annotations[0].text


def test_statistics_table_greys_rows_below_the_minimum() -> None:
    pairs = pd.DataFrame({"reviewer_a": ["reviewer 1", "reviewer 1"], "reviewer_b": ["reviewer 2", "reviewer 3"],
                          "n_records": [12, 3], "n_items": [24, 6], "observed_agreement": [0.9, 0.5],
                          "kappa": [0.61, -1.0], "ci_low": [0.3, -1.0], "ci_high": [0.9, 0.4],
                          "enough_data": [True, False], "note": ["", "n too small (3 records < 10)"]})
    styler = charts.statistics_table(pairs)
    html = styler.to_html()
    assert f"color: {charts.GREYED_TEXT}" in html
    assert "_row1_col0" in html.split("{")[0] and "_row0_col0" not in html.split("{")[0]  # only row 1 greyed
    assert styler.data["n_records"].tolist() == [12, 3]  # n never hidden
    assert "0.61" in html and "n too small" in html


def test_kappa_and_confusion_and_empty_states() -> None:
    confusion = pd.DataFrame({"reviewer": ["r1"], "label": ["A"], "both_present": [2], "reviewer_only": [1],
                              "model_only": [0], "both_absent": [4]})
    assert sum(t.y[0] for t in charts.reviewer_vs_model(confusion, "A").data) == 7
    assert charts.reviewer_vs_model(confusion, "B").layout.annotations[0].text == "No verdicts on B"
    assert charts.auroc_with_ci(pd.DataFrame(columns=["label", "auroc"])).layout.annotations
    assert charts.kappa_by_label(pd.DataFrame(columns=["label", "kappa"])).layout.annotations
    nobody_twice = pd.DataFrame({"label": ["A"], "n_records": [0], "kappa": [np.nan], "ci_low": [np.nan],
                                 "ci_high": [np.nan], "enough_data": [False], "note": ["n too small (0 records < 10)"]})
    assert "at least two reviews" in charts.kappa_by_label(nobody_twice).layout.annotations[0].text
    assert charts.reviews_per_reviewer(pd.Series(dtype=int)).layout.annotations
