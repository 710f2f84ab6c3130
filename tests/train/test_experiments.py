"""Experiment machinery: fast metrics equal sklearn's, paired bootstrap, patient-disjoint CV splits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from train.experiments import cv_splits, macro_metric, paired_bootstrap, run_jobs, subsample
from train.metrics import fast_auroc, fast_average_precision


def test_fast_metrics_equal_sklearn_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        y = rng.random(200) < 0.15
        y[0], y[1] = True, False
        s = np.round(rng.random(200) + 0.4 * y, 1)  # many ties
        assert fast_auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert fast_average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_macro_metric_skips_labels_without_both_classes():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    s = np.array([[0.9, 0.1], [0.1, 0.2], [0.8, 0.3], [0.2, 0.4]])
    assert macro_metric(y, s, np.ones_like(y, bool)) == 1.0


def test_paired_bootstrap_sees_a_consistent_improvement():
    rng = np.random.default_rng(1)
    y = (rng.random((300, 3)) < 0.3).astype(int)
    mask = np.ones_like(y, bool)
    noise = rng.normal(size=y.shape)
    weak = [y + 1.5 * noise]
    strong = [y + 0.7 * noise]
    c = paired_bootstrap(y, mask, weak, strong, n_boot=200)
    assert c.diff > 0 and c.diff_ci[0] > 0          # the better variant is seen as better
    assert c.a_ci[0] < c.a < c.a_ci[1]
    same = paired_bootstrap(y, mask, weak, weak, n_boot=50)
    assert same.diff == 0 and same.diff_ci == (0.0, 0.0)
    assert c.n_labels == 3 and c.n_records == 300


def test_cv_splits_are_patient_disjoint_and_keep_other_sources_in_training(small_set):
    splits = cv_splits(small_set)
    ptb = set(small_set.indices(sources=["ptbxl"]))
    others = set(range(len(small_set))) - ptb
    held_all = np.concatenate([h for _, h in splits])
    assert sorted(held_all) == sorted(ptb)            # every PTB-XL record held out exactly once
    patients = small_set.meta.patient_id.to_numpy()
    for train, held in splits:
        assert others <= set(train)
        assert not set(patients[train]) & set(patients[held])
    with pytest.raises(ValueError, match="no"):
        cv_splits(small_set, sources=["nope"])


def test_subsample_is_seeded_and_sized():
    idx = np.arange(100, 200)
    a, b = subsample(idx, 0.1, 3), subsample(idx, 0.1, 3)
    assert np.array_equal(a, b) and len(a) == 10 and set(a) <= set(idx)
    assert np.array_equal(subsample(idx, 1.0, 0), idx)


def _square(x: int) -> int:
    return x * x


def test_run_jobs_keeps_job_order_across_processes():
    assert run_jobs(_square, [3, 1, 2], workers=2) == [9, 1, 4]
    assert run_jobs(_square, [3, 1, 2], workers=1) == [9, 1, 4]


def test_experiments_index_collects_sections_and_rebases_images(tmp_path):
    from train.experiments import write_experiments_index

    docs = tmp_path / "docs" / "experiments"
    docs.mkdir(parents=True)
    (docs / "summary.md").write_text("## Summary\nPU helped by +0.01.\n")
    (docs / "pu_labels.md").write_text("## 1. PU\n![plot](pu_labels.png) ![web](https://x.org/a.png)\n")
    out = write_experiments_index(docs)
    text = out.read_text()
    assert out == tmp_path / "docs" / "experiments.md"
    assert text.index("## Summary") < text.index("## 1. PU")
    assert "](experiments/pu_labels.png)" in text and "](https://x.org/a.png)" in text
    assert "## 3." not in text                                   # absent sections are skipped
