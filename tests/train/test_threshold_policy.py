"""The threshold policy on small fixed examples: the numbers a card shows come from these rules."""

from __future__ import annotations

import numpy as np
import pytest

from train.metrics import wilson_interval
from train.threshold_policy import (
    POLICY,
    ThresholdPolicy,
    choose_policy_threshold,
    cross_fitted_decisions,
    decision_rates,
    policy_table,
)


def test_too_few_positives_get_no_threshold() -> None:
    y = np.r_[np.ones(9), np.zeros(100)]
    p = np.r_[np.full(9, 0.9), np.linspace(0, 0.5, 100)]
    choice = choose_policy_threshold(y, p)
    assert choice.threshold is None and "9 positives (< 10)" in choice.reason


def test_max_f1_within_the_specificity_floor() -> None:
    # 10 positives at 0.50..0.95; 20 negatives at 0.02..0.97, three of them above 0.60
    pos = np.linspace(0.50, 0.95, 10)
    neg = np.r_[np.linspace(0.02, 0.40, 17), 0.55, 0.62, 0.97]
    y = np.r_[np.ones(10), np.zeros(20)]
    p = np.r_[pos, neg]
    # plain max F1 goes down to 0.50 (10 true, 3 false calls: F1 0.87) at specificity 0.85; the floor
    # stops at 0.60: 8 true, 2 false (0.62, 0.97): specificity 0.90, F1 16 / 20
    choice = choose_policy_threshold(y, p)
    assert choice.threshold == pytest.approx(0.60)
    rates = decision_rates(y, p >= choice.threshold)
    assert rates["specificity"] == pytest.approx(0.90) and rates["sensitivity"] == pytest.approx(0.8)
    assert rates["f1"] == pytest.approx(0.8)
    # specificity 0.96 allows no false call, and the top score (0.97) is a negative: no threshold
    assert choose_policy_threshold(y, p, ThresholdPolicy(min_specificity=0.96)).threshold is None


def test_no_threshold_when_the_floor_cannot_be_met() -> None:
    y = np.r_[np.ones(10), np.zeros(10)]
    p = np.r_[np.full(10, 0.5), np.full(10, 0.5)]  # one tie: calling any record calls every negative
    choice = choose_policy_threshold(y, p)
    assert choice.threshold is None and "specificity 0.90" in choice.reason


def test_cross_fitted_rates_use_the_other_groups_threshold() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(40), np.zeros(160)].astype(bool)
    p = np.where(y, rng.uniform(0.3, 1.0, 200), rng.uniform(0.0, 0.6, 200))
    groups = np.arange(200) % 5
    decided = cross_fitted_decisions(y, p, groups)
    for g in range(5):  # every group decided with its complement's threshold, never its own
        t = choose_policy_threshold(y[groups != g], p[groups != g]).threshold
        np.testing.assert_array_equal(decided[groups == g], p[groups == g] >= t)


def test_policy_table_reports_rates_with_wilson_intervals() -> None:
    rng = np.random.default_rng(1)
    y = np.stack([np.r_[np.ones(30), np.zeros(170)], np.r_[np.ones(5), np.zeros(195)]], axis=1)
    p = np.clip(y * 0.4 + rng.uniform(0, 0.6, y.shape), 0, 1)
    table = policy_table(y, p, np.ones_like(y, bool), np.arange(200) % 5, ["A", "B"])
    assert table["B"]["threshold"] is None and "too few" in table["B"]["threshold_reason"]
    a = table["A"]
    k = a["tp"]
    assert a["sensitivity"] == k / 30
    assert a["sensitivity_ci"] == list(wilson_interval(k, 30)[1:])
    assert a["tp"] + a["fn"] == 30 and a["tn"] + a["fp"] == 170


def test_the_policy_names_its_numbers() -> None:
    assert POLICY.min_positives == 10 and POLICY.min_specificity == 0.90
    assert "specificity >= 0.90" in POLICY.to_dict()["rule"]
