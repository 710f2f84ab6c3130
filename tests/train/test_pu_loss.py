"""nnPU risk: reduces to masked BCE with complete labels, ignores unknown entries, stays non-negative,
and recovers calibration when positive labels are hidden at random."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train.losses import get_loss, labeled_fractions, masked_bce, nnpu_risk


def test_complete_labels_reduce_to_masked_bce() -> None:
    torch.manual_seed(0)
    logits = torch.randn(40, 3)
    targets = (torch.rand(40, 3) < 0.3).float()
    mask = torch.ones(40, 3, dtype=torch.bool)
    p_obs = torch.from_numpy(labeled_fractions(targets.numpy(), mask.numpy()))
    pu = get_loss("pu", labeled_fraction=p_obs, label_frequency=1.0)(logits, targets, mask)
    # per-label BCE means, averaged over labels == nnPU with c = 1 and p_obs taken from this batch
    per_label = torch.stack([masked_bce(logits[:, k : k + 1], targets[:, k : k + 1], mask[:, k : k + 1]) for k in range(3)])
    assert pu.item() == pytest.approx(per_label.mean().item(), rel=1e-5)


def test_unknown_entries_do_not_matter() -> None:
    torch.manual_seed(1)
    logits = torch.randn(16, 2, requires_grad=True)
    targets = (torch.rand(16, 2) < 0.4).float()
    mask = torch.ones(16, 2, dtype=torch.bool)
    mask[:5, 1] = False
    loss_fn = get_loss("pu", labeled_fraction=[0.4, 0.4], label_frequency=0.5)
    loss_fn(logits, targets, mask).backward()
    assert torch.all(logits.grad[:5, 1] == 0)
    changed = logits.detach().clone()
    changed[:5, 1] = 100.0
    assert loss_fn(changed, targets, mask).item() == pytest.approx(loss_fn(logits.detach(), targets, mask).item())


def test_negative_risk_is_pushed_back_up() -> None:
    # Positives scored high, unlabeled scored very low: the estimated negative risk
    # (1-p) E_U[l-] - (pi-p) E_P[l-] is < 0 (overfit), so the objective is -gamma * that risk (> 0).
    logits = torch.tensor([[3.0], [3.0], [-8.0], [-8.0]], requires_grad=True)
    targets = torch.tensor([[1.0], [1.0], [0.0], [0.0]])
    mask = torch.ones(4, 1, dtype=torch.bool)
    prior, p_obs = torch.tensor([0.9]), torch.tensor([0.5])
    objective = nnpu_risk(logits, targets, mask, prior, p_obs)
    assert objective.item() > 0
    objective.backward()
    # stepping back raises the negative risk: gradient descent lowers the positives' scores and raises
    # the unlabeled ones' (plain minimisation would do the opposite and overfit further)
    assert logits.grad[0, 0].item() > 0 and logits.grad[2, 0].item() < 0


def test_labeled_fractions() -> None:
    y = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
    m = np.array([[1, 1], [1, 0], [1, 1], [0, 1]], dtype=bool)
    np.testing.assert_allclose(labeled_fractions(y, m), [2 / 3, 2 / 3])
    with pytest.raises(ValueError, match="label_frequency"):
        get_loss("pu", labeled_fraction=[0.2], label_frequency=0.0)


def _train(loss_fn, x: torch.Tensor, y: torch.Tensor, steps: int = 400) -> torch.nn.Linear:
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    mask = torch.ones_like(y, dtype=torch.bool)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(x), y, mask).backward()
        optimizer.step()
    return model


def test_pu_recovers_probabilities_when_positives_are_hidden() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    truth = rng.random(n) < 0.3
    x = rng.normal(0, 1, (n, 2)) + np.where(truth[:, None], 1.5, 0.0)
    observed = truth & (rng.random(n) < 0.4)  # 60% of positive labels hidden at random
    x_t = torch.tensor(x, dtype=torch.float32)
    y_obs = torch.tensor(observed[:, None], dtype=torch.float32)
    y_true = torch.tensor(truth[:, None], dtype=torch.float32)
    p_obs = torch.from_numpy(labeled_fractions(observed[:, None], np.ones((n, 1), bool)))
    complete = _train(get_loss("bce"), x_t, y_true)
    naive = _train(get_loss("bce"), x_t, y_obs)
    pu = _train(get_loss("pu", labeled_fraction=p_obs, label_frequency=0.4), x_t, y_obs)
    with torch.no_grad():
        mean_pos = {name: torch.sigmoid(m(x_t))[y_true.bool()].mean().item()
                    for name, m in (("complete", complete), ("naive", naive), ("pu", pu))}
    # BCE on incomplete labels under-estimates every positive; PU lands near the complete-label model
    assert mean_pos["naive"] < 0.6 * mean_pos["complete"]
    assert abs(mean_pos["pu"] - mean_pos["complete"]) < 0.1


def test_prior_option_equals_the_matching_label_frequency() -> None:
    from train.losses import get_loss

    p_obs = torch.tensor([0.1, 0.2])
    logits = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    y = (torch.rand(16, 2, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    mask = torch.ones_like(y, dtype=torch.bool)
    by_prior = get_loss("pu", labeled_fraction=p_obs, prior=[0.2, 0.4])(logits, y, mask)
    by_c = get_loss("pu", labeled_fraction=p_obs, label_frequency=0.5)(logits, y, mask)
    assert torch.isclose(by_prior, by_c)
    with pytest.raises(ValueError, match="prior"):
        get_loss("pu", labeled_fraction=p_obs, prior=0.0)


def test_elkan_noto_estimate_recovers_the_label_frequency() -> None:
    from train.losses import estimate_label_frequency

    # An ideal "labelled vs unlabelled" classifier outputs c on every true positive: the mean score
    # on labelled positives is c, whatever the class prior.
    rng = np.random.default_rng(0)
    n, c = 4000, np.array([0.7, 0.4])
    positive = rng.random((n, 2)) < [0.3, 0.1]
    labeled = positive & (rng.random((n, 2)) < c)
    scores = np.where(positive, c, 0.0)
    assert np.allclose(estimate_label_frequency(scores, labeled), c)
    mask = np.ones_like(labeled)
    mask[:, 1] = False
    est = estimate_label_frequency(scores, labeled, mask)
    assert est[0] == pytest.approx(0.7) and np.isnan(est[1])


def test_hide_positives_hides_the_fraction_in_the_given_rows_only() -> None:
    from train.recipes.experiments.pu_labels import hide_positives

    labels = np.zeros((100, 3), np.uint8)
    labels[:40, 0] = 1
    labels[::2, 2] = 1
    mask = np.ones_like(labels, bool)
    rows = np.arange(50)
    hidden = hide_positives(labels, mask, rows, np.array([0, 2]), 0.3, seed=0)
    assert labels[:40, 0].sum() - hidden[:40, 0].sum() == 12          # 30% of 40
    assert labels[rows, 2].sum() - hidden[rows, 2].sum() == round(0.3 * 25)
    assert np.array_equal(hidden[50:], labels[50:])                 # held-out rows keep every positive
    assert np.array_equal(hidden[:, 1], labels[:, 1])
    assert np.array_equal(hidden, hide_positives(labels, mask, rows, np.array([0, 2]), 0.3, seed=0))
    assert not (hidden > labels).any()
