"""``python -m train build-dataset|fit|evaluate`` end to end on a few real PTB-XL records."""

from __future__ import annotations

import json

import pytest

from train.__main__ import main


@pytest.mark.slow
def test_cli_build_fit_evaluate(tmp_path, ptbxl_root, capsys):
    data = tmp_path / "ptbxl"
    assert main(["build-dataset", "ptbxl", str(ptbxl_root), str(data), "--limit", "30"]) == 0
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["n_records"] == 30 and manifest["sources"] == {"ptbxl": 30}
    # folds 1-8 train, 9 is the validation split; 1 epoch of the tiny model
    assert main(["fit", str(data), str(tmp_path / "run"), "--model", "net1d-tiny", "--epochs", "1",
                 "--labels", "NORMAL ECG,ABNORMAL ECG", "--batch-size", "8"]) == 0
    bundle = tmp_path / "run" / "bundle"
    assert (bundle / "model.safetensors").is_file()
    # thresholds from the training split (stand-in for a validation split), metrics on 'val'
    assert main(["evaluate", "--bundle", str(bundle), "--dataset", str(data), "--test-split", "val",
                 "--val-split", "train", "--out", str(tmp_path / "report"), "--n-boot", "50",
                 "--write-thresholds"]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "macro AUROC" in report and (tmp_path / "report" / "auroc_per_label.png").is_file()
    card = json.loads((bundle / "card.json").read_text())
    assert card["training"]["thresholds_from"].startswith("train split")


def test_evaluate_refuses_overlapping_splits(tmp_path, small_set):
    from ecgcore.bundle import make_card, save_bundle
    from ecgcore.model import create_model
    from train.evaluate import evaluate_bundle

    model = create_model("net1d-tiny")
    save_bundle(model, make_card("t", model, list(small_set.label_names)), tmp_path / "b")
    with pytest.raises(ValueError, match="overlap"):
        evaluate_bundle(str(tmp_path / "b"), str(small_set.path), test_split="train", val_split="train")
