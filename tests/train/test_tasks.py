"""Downstream tasks: targets from metadata, the multitask loss, linear probe, metrics, a real fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgcore.model import create_model
from train.augment import NO_AUGMENT
from train.fit import FitConfig, fit, predict_outputs
from train.losses import get_loss
from train.tasks import (
    AGE,
    SEX,
    Task,
    extract_features,
    linear_probe,
    outputs_to_predictions,
    raw_targets,
    task_loss_options,
    task_metrics,
    task_set,
)

TASKS = (AGE, SEX, Task("NORMAL ECG", "binary"))


def test_raw_targets_from_metadata_and_labels(small_set):
    y = raw_targets(small_set, TASKS)
    meta = small_set.meta
    ages = meta.age.to_numpy(float)
    ok = (ages >= 0) & (ages <= 110)
    assert np.array_equal(np.isfinite(y[:, 0]), ok) and np.allclose(y[ok, 0], ages[ok])
    assert set(np.unique(y[np.isfinite(y[:, 1]), 1])) <= {0.0, 1.0}
    assert np.array_equal(y[:, 1] == 1, (meta.sex == "F").to_numpy())
    j = small_set.label_columns(["NORMAL ECG"])[0]
    known = small_set.mask[:, j]
    assert np.array_equal(np.isfinite(y[:, 2]), known) and np.array_equal(y[known, 2], small_set.labels[known, j])


def test_ptbxl_anonymised_age_300_is_unknown(small_set):
    ts = small_set.with_labels(small_set.labels)
    ts.meta = small_set.meta.copy()
    ts.meta.loc[0, "age"] = 300
    assert np.isnan(raw_targets(ts, [AGE])[0, 0])


def test_multitask_loss_is_mse_plus_bce_over_known_targets():
    loss = get_loss("multitask", regression=[True, False])
    logits = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    targets = torch.tensor([[0.5, 1.0], [2.0, 0.0]])
    mask = torch.tensor([[True, True], [False, True]])
    mse = (1.0 - 0.5) ** 2
    bce = (torch.nn.functional.softplus(torch.tensor(-2.0)) + torch.nn.functional.softplus(torch.tensor(-1.0))) / 2
    assert loss(logits, targets, mask).item() == pytest.approx((mse + bce.item()) / 2)
    assert loss(logits, targets, torch.zeros_like(mask)).item() == 0


def test_task_set_standardises_regression_on_training_rows(small_set):
    train = np.arange(30)
    view, scaler = task_set(small_set, TASKS, train)
    assert view.label_names == tuple(t.name for t in TASKS)
    age = view.labels[train, 0][view.mask[train, 0]]
    assert abs(age.mean()) < 1e-5 and abs(age.std() - 1) < 1e-4
    back = outputs_to_predictions(np.array([[0.0, 0.0, 10.0]]), TASKS, scaler)
    assert back[0, 0] == pytest.approx(scaler.mean[0]) and back[0, 1] == 0.5 and back[0, 2] > 0.99


def test_linear_probe_recovers_a_linear_signal():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(300, 20))
    age = 50 + 10 * f[:, 0] + rng.normal(size=300)
    sex = (f[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(float)
    targets = np.stack([age, sex], 1)
    targets[:10, 0] = np.nan                                        # unknown targets are left out
    pred = linear_probe(f[:200], targets[:200], f[200:], (AGE, SEX))
    m_age = task_metrics(AGE, targets[200:, 0], pred[:, 0], n_boot=100)
    m_sex = task_metrics(SEX, targets[200:, 1], pred[:, 1], n_boot=100)
    assert m_age["r2"] > 0.9 and m_age["mae"] < 2 and m_age["mae_ci"][0] <= m_age["mae"] <= m_age["mae_ci"][1]
    assert m_sex["auroc"] > 0.95


def test_features_are_the_head_input():
    model = create_model("net1d-tiny", n_classes=3).eval()
    from train.data.shards import TrainingSet  # noqa: F401

    class _Set:
        def signals(self, idx):
            return np.random.default_rng(0).normal(size=(len(idx), 12, 5000)).astype(np.float32)

    feats = extract_features(model, _Set(), np.arange(5))
    assert feats.shape == (5, model.dense.in_features)
    with torch.no_grad():
        out = model.dense(torch.from_numpy(feats))
        ref = model(torch.from_numpy(_Set().signals(np.arange(5))))
    assert torch.allclose(out, ref, atol=1e-5)


@pytest.mark.slow
def test_fit_learns_age_and_sex_from_real_records(small_set, tmp_path):
    idx = np.arange(len(small_set))
    view, scaler = task_set(small_set, TASKS[:2], idx)
    config = FitConfig(out_dir=str(tmp_path / "tasks"), model="net1d-tiny", labels=["age", "sex (female)"],
                       loss="multitask", loss_options=task_loss_options(TASKS[:2]), epochs=25, batch_size=8,
                       lr=1e-2, weight_decay=0.0, patience=None, augment=NO_AUGMENT, progress=False,
                       warmup_epochs=0, schedule="constant")
    result = fit(config, view, idx, None)
    losses = [r["train_loss"] for r in result.history]
    assert np.mean(losses[-3:]) < 0.6 * losses[0]
    pred = outputs_to_predictions(predict_outputs(result.model, view, idx), TASKS[:2], scaler)
    y = raw_targets(small_set, TASKS[:2])
    naive_mae = np.nanmean(np.abs(y[:, 0] - np.nanmean(y[:, 0])))
    assert task_metrics(AGE, y[:, 0], pred[:, 0], n_boot=10)["mae"] < naive_mae   # learned more than the mean


def test_paired_task_difference_signs():
    from train.tasks import paired_task_difference

    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.4).astype(float)
    good, bad = y + 0.5 * rng.normal(size=300), y + 3 * rng.normal(size=300)
    d = paired_task_difference(SEX, y, bad, good, n_boot=200)
    assert d["metric"] == "auroc" and d["diff"] > 0 and d["diff_ci"][0] > 0
    age = 50 + 10 * rng.normal(size=300)
    d = paired_task_difference(AGE, age, age + 8 * rng.normal(size=300), age + rng.normal(size=300), n_boot=200)
    assert d["metric"] == "mae" and d["diff"] < 0 and d["diff_ci"][1] < 0
