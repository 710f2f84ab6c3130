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


@pytest.mark.slow
def test_cli_single_lead_with_axis_augmentation_and_pu(tmp_path, small_set, cinc2017_set):
    out = tmp_path / "single"
    assert main(["fit", str(small_set.path), str(out), "--model", "net1d-tiny", "--epochs", "1", "--train-folds",
                 "1,2,3,4,5,6,7,8", "--val-split", "", "--single-lead", "I", "--axis-augment", "--extra-dataset",
                 str(cinc2017_set.path), "--labels", "SINUS RHYTHM,ABNORMAL ECG", "--loss", "pu",
                 "--label-frequency", "0.7", "--batch-size", "8"]) == 0
    card = json.loads((out / "bundle" / "card.json").read_text())
    assert card["input_leads"] == ["I"] and card["config"]["in_channels"] == 1
    assert card["training"]["config"]["loss"] == "pu"
    assert card["training"]["config"]["loss_options"] == {"label_frequency": 0.7}
    assert "axis augmentation" in card["training"]["dataset"]


@pytest.mark.parametrize("extra", [["--loss", "pu"], ["--loss", "pu", "--prior", "0.1", "--label-frequency", "0.5"],
                                   ["--axis-augment"]])
def test_cli_refuses_incomplete_options(tmp_path, small_set, extra):
    with pytest.raises(SystemExit):
        main(["fit", str(small_set.path), str(tmp_path / "x"), "--model", "net1d-tiny", *extra])
