"""Bundles: lossless round trip, integrity checks, safe and strict loading of official checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from ecgcore.bundle import (
    CARD_FILE,
    WEIGHTS_FILE,
    ModelCard,
    default_bundle_path,
    list_bundles,
    load_bundle,
    load_card,
    make_card,
    save_bundle,
)
from ecgcore.config import REPO_ROOT
from ecgcore.errors import ModelError, NoDefaultModelError
from ecgcore.labels import ecgfounder_labels
from ecgcore.model import create_model


def _tiny_bundle(directory: Path, default: bool = False) -> Path:
    torch.manual_seed(1)
    model = create_model("net1d-tiny", n_classes=3)
    card = make_card("tiny", model, ["A", "B", "C"], thresholds=[0.2, 0.5, 0.9], default=default, trained_labels=["A", "B"])
    return save_bundle(model, card, directory)


def test_round_trip_keeps_weights_and_card(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = create_model("net1d-tiny", n_classes=3).eval()
    card = make_card("tiny", model, ["A", "B", "C"], thresholds=[0.2, 0.5, 0.9], metrics={"auroc": 0.9})
    save_bundle(model, card, tmp_path / "b")
    loaded = load_bundle(tmp_path / "b")
    x = torch.randn(2, 12, 5000)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded.model(x))
    assert loaded.card.thresholds == [0.2, 0.5, 0.9]
    assert loaded.card.metrics == {"auroc": 0.9}
    assert loaded.card.trained_labels == ["A", "B", "C"]  # defaults to all labels
    assert not loaded.model.training
    assert len(loaded.card.weights_sha256) == 64


def test_tampered_weights_are_detected(tmp_path: Path) -> None:
    path = _tiny_bundle(tmp_path / "b")
    data = bytearray((path / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (path / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_bundle(path)


def test_card_validation_messages(tmp_path: Path) -> None:
    path = _tiny_bundle(tmp_path / "b")
    card = json.loads((path / CARD_FILE).read_text())
    card["thresholds"] = [0.5]
    with pytest.raises(ModelError, match="thresholds"):
        ModelCard.from_dict(card)
    (path / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_card(path)
    with pytest.raises(ModelError, match="no card.json"):
        load_card(tmp_path)


def test_official_checkpoint_loads_strictly_with_ecgfounder_labels(tmp_path: Path) -> None:
    torch.manual_seed(2)
    reference = create_model("ecgfounder-1lead").eval()
    # The release's DDP-trained files may carry "module." prefixes; both spellings must load.
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    path = tmp_path / "1_lead_ECGFounder.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    bundle = load_bundle(path)
    assert bundle.card.labels == list(ecgfounder_labels())
    assert bundle.card.input_leads == ["I"]
    assert bundle.card.architecture == "ecgfounder-1lead"
    x = torch.randn(1, 1, 5000)
    with torch.inference_mode():
        assert torch.equal(reference(x), bundle.model(x))


def test_official_checkpoint_with_wrong_shapes_is_refused(tmp_path: Path) -> None:
    state = create_model("net1d-tiny").state_dict()
    state["first_conv.conv.weight"] = torch.zeros(64, 12, 16)
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(ModelError, match="do not fit"):
        load_bundle(path)


class _Exploit:
    """A pickle payload that would create a file if it were ever unpickled with code execution."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_in_a_checkpoint_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": _Exploit(marker)}}, path)
    with pytest.raises(ModelError, match="safely"):
        load_bundle(path)
    assert not marker.exists()


def test_no_default_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECG_DEFAULT_MODEL", raising=False)
    monkeypatch.setenv("ECG_MODEL_DIR", str(tmp_path))
    _tiny_bundle(tmp_path / "not-default")
    with pytest.raises(NoDefaultModelError, match="not shown from untrained"):
        default_bundle_path(12)
    _tiny_bundle(tmp_path / "chosen", default=True)
    assert default_bundle_path(12) == tmp_path / "chosen"
    assert [p.name for p in list_bundles()] == ["chosen", "not-default"]


def test_metrics_table_rows_best_first() -> None:
    model = create_model("net1d-tiny", n_classes=2)
    card = make_card("m", model, ["A", "B"], metrics={"per_label": {
        "A": {"auroc": 0.7, "auroc_ci": [0.6, 0.8], "positives": 5, "n": 50},
        "B": {"auroc": 0.9, "auroc_ci": [0.85, 0.95], "positives": 9, "n": 50, "f1": 0.5},
    }})
    rows = card.metrics_table()
    assert [r["label"] for r in rows] == ["B", "A"]
    assert rows[0]["AUROC 95% CI"] == "0.850-0.950" and rows[0]["F1"] == 0.5 and rows[1]["F1"] is None
    assert make_card("empty", model, ["A", "B"]).metrics_table() == []


def test_rewriting_a_bundle_bumps_its_version_only_when_something_changed(tmp_path: Path) -> None:
    from ecgcore.bundle import next_version, update_card

    torch.manual_seed(1)
    model = create_model("net1d-tiny", n_classes=3)
    labels = ["A", "B", "C"]
    path = save_bundle(model, make_card("m", model, labels, version="1.0.0"), tmp_path / "b")
    first = (path / CARD_FILE).read_bytes()
    # The same weights and card again: nothing is written, the version stays.
    save_bundle(model, make_card("m", model, labels, version="1.0.0"), path)
    assert (path / CARD_FILE).read_bytes() == first
    # New weights: the minor version goes up, whatever version the new card was made with.
    torch.manual_seed(2)
    retrained = create_model("net1d-tiny", n_classes=3)
    card = make_card("m", retrained, labels, version="1.0.0")
    save_bundle(retrained, card, path)
    assert card.version == "1.1.0" and load_card(path).version == "1.1.0"
    load_bundle(path)  # the weights' hash matches the new card
    # A card-only change (thresholds): the patch version goes up, the weights file stays as it was.
    weights = (path / WEIGHTS_FILE).read_bytes()
    assert update_card(path, thresholds=[0.2, 0.5, 0.9]).version == "1.1.1"
    assert (path / WEIGHTS_FILE).read_bytes() == weights and load_bundle(path).card.thresholds == [0.2, 0.5, 0.9]
    assert update_card(path, thresholds=[0.2, 0.5, 0.9]).version == "1.1.1"
    # An explicitly higher version is kept.
    save_bundle(model, make_card("m", model, labels, version="2.0.0"), path)
    assert load_card(path).version == "2.0.0"
    with pytest.raises(ModelError, match="no field"):
        update_card(path, threshold=[0.5] * 3)
    with pytest.raises(ModelError, match="thresholds"):
        update_card(path, thresholds=[0.5])
    assert [next_version("1.2.3", b) for b in ("major", "minor", "patch")] == ["2.0.0", "1.3.0", "1.2.4"]
    assert next_version("3", "patch") == "3.0.1"
    with pytest.raises(ModelError, match="cannot bump"):
        next_version("official")


def test_shipped_cards_read_and_write_back_byte_identical(tmp_path: Path) -> None:
    """The card writer reproduces the shipped cards exactly, and re-saving them unchanged writes nothing."""
    import shutil

    models = REPO_ROOT / "models"
    shipped = sorted(p for p in models.iterdir() if (p / CARD_FILE).is_file())
    assert shipped
    for source in shipped:
        copy = shutil.copytree(source, tmp_path / source.name)
        original = (copy / CARD_FILE).read_bytes()
        bundle = load_bundle(copy)
        assert (json.dumps(bundle.card.to_dict(), indent=2) + "\n").encode() == original
        bundle.card.save(copy, weights=bundle.model.state_dict(), bump="minor")
        assert (copy / CARD_FILE).read_bytes() == original
