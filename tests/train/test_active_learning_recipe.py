"""The active-learning simulation: each strategy reveals the records it should, and the recipe
writes its table and plot end to end on a small real set (CI-sized)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from train.recipes.experiments import active_learning


def _pool(n: int = 60, seed: int = 0):
    """A pool where label 0 follows feature 0 and label 1 follows feature 1 (plus noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = np.stack([x[:, 0] + 0.5 * rng.normal(size=n) > 0, x[:, 1] + 0.5 * rng.normal(size=n) > 0.5], axis=1).astype(int)
    return x, y, np.ones_like(y, dtype=bool)


SMALL = replace(active_learning.SETTINGS, initial=10, batch=10, max_revealed=40, seeds=(0,), n_boot=20)


@pytest.mark.parametrize("strategy", active_learning.STRATEGIES)
def test_each_strategy_reveals_a_batch_per_budget_and_scores_the_held_out(strategy):
    x, y, known = _pool()
    out = active_learning.simulate(strategy, x[:50], y[:50], known[:50], x[50:], SMALL, seed=3)
    assert sorted(out) == [10, 20, 30, 40]
    assert all(p.shape == (10, 2) for p in out.values())
    assert np.isfinite(out[40]).all() and ((out[40] >= 0) & (out[40] <= 1)).all()


def test_uncertainty_picks_records_near_the_decision_boundary_random_does_not():
    x, y, known = _pool(400, seed=1)
    settings = replace(SMALL, initial=40, batch=40, max_revealed=80)
    # Which records each strategy revealed: retrain on them, compare the distance to the boundary.
    revealed = {}
    for strategy in ("random", "uncertainty (mean)"):
        captured = []
        original = active_learning.probe

        def spy(train_x, *args, _captured=captured, _original=original):
            _captured.append(train_x)
            return _original(train_x, *args)

        active_learning.probe = spy
        try:
            active_learning.simulate(strategy, x, y, known, x[:5], settings, seed=0)
        finally:
            active_learning.probe = original
        revealed[strategy] = captured[-1][40:]  # the batch added after the seed set
    assert np.abs(revealed["uncertainty (mean)"][:, 0]).mean() < np.abs(revealed["random"][:, 0]).mean()


def test_unknown_strategy_is_refused():
    x, y, known = _pool()
    with pytest.raises(ValueError, match="strategy must be one of"):
        active_learning.simulate("greedy", x, y, known, x, SMALL, seed=0)


@pytest.mark.slow
def test_recipe_writes_curves_differences_and_plot(small_set, tmp_path):
    settings = replace(active_learning.SETTINGS, pretrain=replace(active_learning.SETTINGS.pretrain, model="net1d-tiny",
                                                                  epochs=1, batch_size=16),
                       min_positives=3, initial=8, batch=8, max_revealed=16, seeds=(0, 1), n_boot=20)
    results = active_learning.run(settings, work=tmp_path / "work", docs=tmp_path / "docs", data_dir=small_set.path,
                                  workers=1)
    assert results["budgets"] == [8, 16]
    for strategy in active_learning.STRATEGIES:
        assert [r["revealed"] for r in results["curves"][strategy]] == [8, 16]
        assert all(0 <= r["auroc"] <= 1 and len(r["auroc_per_seed"]) == 2 for r in results["curves"][strategy])
    # At the seed set every strategy has revealed the same records: no difference from random.
    for strategy in active_learning.STRATEGIES[1:]:
        first = results["vs_random"][strategy][0]
        assert first["diff"] == pytest.approx(0.0) and first["diff_ci"] == pytest.approx([0.0, 0.0])
    assert results["best"] in active_learning.STRATEGIES
    text = (tmp_path / "docs" / "active_learning.md").read_text()
    assert "| 16 |" in text and "area between the curves" in text
    assert (tmp_path / "docs" / "active_learning.png").stat().st_size > 1000


def test_labels_random_needs_reads_randoms_curve_backwards():
    curves = {"random": [{"revealed": b, "auroc": a} for b, a in ((20, 0.6), (40, 0.7), (60, 0.8))],
              "uncertainty (max)": [{"revealed": b, "auroc": a} for b, a in ((20, 0.6), (40, 0.75), (60, 0.85))]}
    needed = active_learning.labels_random_needs({"budgets": [20, 40, 60], "curves": curves}, "uncertainty (max)")
    assert needed[:2] == [(20, 20.0), (40, pytest.approx(50.0))]  # 0.75 lies halfway between 40 and 60
    assert np.isnan(needed[2][1])  # random never reaches 0.85 within the budgets
