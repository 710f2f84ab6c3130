"""The fit loop on real records: overfitting, exact resume, fine-tuning/linear probe, masked loss."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ecgcore.bundle import load_bundle, make_card, save_bundle
from ecgcore.model import create_model
from train.augment import NO_AUGMENT, AugmentConfig, augment
from train.fit import FitConfig, fit, predict_probabilities
from train.losses import get_loss, masked_bce
from train.metrics import per_label_auroc

LABELS = ["NORMAL ECG", "ABNORMAL ECG", "SINUS RHYTHM"]


def test_masked_bce_ignores_unknown_labels():
    logits = torch.tensor([[2.0, -1.0, 5.0]])
    y = torch.tensor([[1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False]])
    expected = (torch.nn.functional.softplus(-logits[0, 0]) + torch.nn.functional.softplus(logits[0, 1])) / 2
    assert torch.isclose(masked_bce(logits, y, mask), expected)
    assert torch.isclose(get_loss("bce")(logits, y, mask), expected)
    assert masked_bce(logits, y, torch.zeros_like(mask)) == 0


def test_augment_is_seeded_and_keeps_shape():
    x = torch.randn(4, 12, 5000)
    a = augment(x, AugmentConfig(p=1.0), torch.Generator().manual_seed(1))
    b = augment(x, AugmentConfig(p=1.0), torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    assert torch.equal(augment(x, NO_AUGMENT, torch.Generator()), x)


def _overfit_32_records(small_set, out_dir, epochs: int, **options) -> tuple[list[float], np.ndarray]:
    """Train net1d-tiny on 32 real records without augmentation; (loss per epoch, train AUROC per label)."""
    idx = small_set.indices(sources=["ptbxl"])[:32]
    config = FitConfig(out_dir=str(out_dir), model="net1d-tiny", labels=LABELS, epochs=epochs, batch_size=8,
                       lr=1e-2, weight_decay=0.0, patience=None, augment=NO_AUGMENT, progress=False, warmup_epochs=0,
                       schedule="constant", seed=0, **options)
    result = fit(config, small_set, idx, idx)
    cols = small_set.label_columns(LABELS)
    probs = predict_probabilities(result.model, small_set, idx)
    auroc = per_label_auroc(small_set.labels[idx][:, cols], probs[:, cols], small_set.mask[idx][:, cols])
    return [row["train_loss"] for row in result.history], auroc


@pytest.mark.slow
def test_tiny_model_overfits_32_real_records(small_set, tmp_path):
    losses, auroc = _overfit_32_records(small_set, tmp_path / "overfit", epochs=40)
    assert np.mean(losses[-3:]) < 0.5 * losses[0]
    assert np.nanmean(auroc) > 0.95, auroc
    assert (tmp_path / "overfit" / "history.csv").is_file() and (tmp_path / "overfit" / "bundle" / "card.json").is_file()
    card = load_bundle(tmp_path / "overfit" / "bundle").card
    assert card.trained_labels == LABELS and len(card.labels) == 150


@pytest.mark.slow
def test_resume_equals_uninterrupted_run(small_set, tmp_path):
    train_idx = small_set.indices(sources=["ptbxl"])[:24]
    val_idx = small_set.indices(sources=["ptbxl"])[24:40]
    base = FitConfig(out_dir="", model="net1d-tiny", labels=LABELS, epochs=4, batch_size=8, patience=None,
                     augment=AugmentConfig(), progress=False, seed=3)
    whole = fit(replace(base, out_dir=str(tmp_path / "whole")), small_set, train_idx, val_idx)
    first = fit(replace(base, out_dir=str(tmp_path / "split"), stop_after_epochs=2), small_set, train_idx, val_idx)
    assert len(first.history) == 2 and first.bundle_dir is None
    resumed = fit(replace(base, out_dir=str(tmp_path / "split")), small_set, train_idx, val_idx)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_linear_probe_from_bundle_keeps_backbone(small_set, tmp_path):
    torch.manual_seed(0)
    source = create_model("net1d-tiny", n_classes=2)
    save_bundle(source, make_card("src", source, ["A", "B"]), tmp_path / "src")
    idx = small_set.indices(sources=["ptbxl"])[:16]
    config = FitConfig(out_dir=str(tmp_path / "probe"), init=str(tmp_path / "src"), freeze_backbone=True,
                       labels=LABELS, epochs=1, batch_size=8, patience=None, progress=False)
    result = fit(config, small_set, idx, None)
    assert result.model.dense.out_features == 150  # new head in the dataset vocabulary
    before, after = source.state_dict(), result.model.state_dict()
    backbone = [k for k in before if not k.startswith("dense.")]
    assert all(torch.equal(before[k], after[k]) for k in backbone), "frozen backbone (incl. BN stats) changed"


def test_fit_with_pu_loss_learns_from_real_records(small_set, tmp_path):
    """The nnPU loss through the real loop: labelled fractions come from the training rows, loss falls."""
    losses, auroc = _overfit_32_records(small_set, tmp_path / "pu", epochs=25, loss="pu",
                                        loss_options={"label_frequency": 0.8})
    assert np.mean(losses[-3:]) < 0.6 * losses[0]
    assert np.nanmean(auroc) > 0.9, auroc


def test_resume_refuses_a_folder_trained_with_other_settings(small_set, tmp_path, caplog):
    idx = small_set.indices(sources=["ptbxl"])[:16]
    base = FitConfig(out_dir=str(tmp_path / "run"), model="net1d-tiny", labels=LABELS, epochs=1, batch_size=8,
                     patience=None, augment=NO_AUGMENT, progress=False)
    first = fit(base, small_set, idx, None)
    with caplog.at_level("INFO", logger="train.fit"):
        again = fit(replace(base, progress=True, num_threads=1), small_set, idx, None)  # same weights: reused
    assert "resuming" in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))
    with pytest.raises(ValueError, match="other settings"):
        fit(replace(base, lr=1e-4), small_set, idx, None)
    fit(replace(base, lr=1e-4, resume=False), small_set, idx, None)  # starting over is allowed
