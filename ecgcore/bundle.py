"""Model bundles: weights in safetensors plus a JSON card, and safe loading of official checkpoints.

A bundle is a directory::

    models/<name>/
        model.safetensors   tensors only: no pickle, nothing executes on load
        card.json           architecture, labels, thresholds, calibration, preprocessing, training data, metrics

A bundle holds one network or a seed ensemble of several (``n_networks``; :mod:`ecgcore.ensemble`):
``Bundle.model`` is what scores records either way.

The card is the contract between training and everything downstream: the predictor rebuilds
the network from ``architecture``, preprocesses with ``preprocessing``, names outputs with
``labels`` and calls a finding positive at ``thresholds``. Labels listed in ``trained_labels``
are the ones the model was actually trained and validated on; the app hides the rest by default.

Official ECGFounder ``.pth`` checkpoints are read with ``torch.load(weights_only=True)``, which
refuses arbitrary pickled objects, and must match the released architecture strictly.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ecgcore import config
from ecgcore.config import models_dir
from ecgcore.ensemble import Net1DEnsemble, combine, ensemble_state_dict, networks_of, split_state_dict
from ecgcore.errors import ModelError, NoDefaultModelError
from ecgcore.hashing import file_sha256
from ecgcore.labels import ecgfounder_labels
from ecgcore.leads import LEADS_12
from ecgcore.model import MODEL_CONFIGS, Net1D, Net1DConfig
from ecgcore.preprocessing import DEFAULT_PREPROCESS, PreprocessConfig

CARD_FILE = "card.json"
WEIGHTS_FILE = "model.safetensors"
# 2: n_networks (seed ensembles), calibration and ood; cards of format 1 load unchanged.
CARD_FORMAT_VERSION = 2
DEFAULT_THRESHOLD = 0.5
OFFICIAL_SUFFIXES = (".pth", ".pt")


@dataclass
class ModelCard:
    """Everything needed to use a model correctly, and to judge whether to trust it."""

    name: str
    version: str
    architecture: str
    config: dict[str, Any]
    labels: list[str]
    thresholds: list[float]
    input_leads: list[str]
    preprocessing: dict[str, Any]
    trained_labels: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    default: bool = False
    created: str = field(default_factory=lambda: _now())
    weights_sha256: str = ""
    format_version: int = CARD_FORMAT_VERSION
    n_networks: int = 1                                        # members of a seed ensemble (ecgcore.ensemble)
    calibration: dict[str, Any] = field(default_factory=dict)  # per-label maps to calibrated probabilities (ecgcore.calibration)
    ood: dict[str, Any] = field(default_factory=dict)          # the training data's reference for ecgcore.ood

    def __post_init__(self) -> None:
        n = int(self.config.get("n_classes", len(self.labels)))
        if len(self.labels) != n:
            raise ModelError(f"card of {self.name!r}: {len(self.labels)} labels but the model has {n} outputs")
        if len(self.thresholds) != n:
            raise ModelError(f"card of {self.name!r}: {len(self.thresholds)} thresholds for {n} labels")
        if len(set(self.labels)) != len(self.labels):
            raise ModelError(f"card of {self.name!r}: duplicate label names")
        unknown = sorted(set(self.trained_labels) - set(self.labels))
        if unknown:
            raise ModelError(f"card of {self.name!r}: trained_labels not among labels: {unknown[:5]}")
        if int(self.config.get("in_channels", len(self.input_leads))) != len(self.input_leads):
            raise ModelError(f"card of {self.name!r}: input_leads does not match the model's in_channels")
        if not self.trained_labels:
            self.trained_labels = list(self.labels)
        if not isinstance(self.n_networks, int) or self.n_networks < 1:
            raise ModelError(f"card of {self.name!r}: n_networks must be a positive integer, got {self.n_networks!r}")
        unknown = sorted(set(self.calibration) - set(self.labels))
        if unknown:
            raise ModelError(f"card of {self.name!r}: calibration for labels the model does not have: {unknown[:5]}")

    @property
    def net_config(self) -> Net1DConfig:
        return Net1DConfig.from_dict(self.config)

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig.from_dict(self.preprocessing)

    @property
    def display_name(self) -> str:
        return f"{self.name} v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def save(self, directory: str | os.PathLike[str], *, weights: dict[str, torch.Tensor] | None = None,
             bump: str = "patch") -> Path:
        """Write ``card.json`` (and, with ``weights``, ``model.safetensors``) into ``directory``.

        The one writer of cards. Re-writing a bundle that already has a card: if neither the card
        (its creation time aside) nor the weights changed, nothing is written; otherwise the version
        becomes the ``bump`` ("major", "minor" or "patch") successor of the existing card's version,
        unless this card already carries a higher one. So a name and version always mean one set of
        weights and thresholds, which is what stored predictions refer to.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        weights_path = directory / WEIGHTS_FILE
        tensors = None if weights is None else {k: v.detach().cpu().contiguous() for k, v in weights.items()}
        previous = _existing_card(directory)
        if previous is not None:
            same_weights = tensors is None or _same_tensors(weights_path, tensors)
            if same_weights and _card_content(previous) == _card_content(self):
                self.version, self.created, self.weights_sha256 = previous.version, previous.created, previous.weights_sha256
                return directory
            if _version_key(self.version) <= _version_key(previous.version):
                self.version = next_version(previous.version, bump)
            self.created = _now()
        if tensors is not None:
            save_file(tensors, str(weights_path), metadata={"name": self.name, "version": self.version})
            self.weights_sha256 = file_sha256(weights_path)
        (directory / CARD_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return directory

    def metrics_table(self) -> list[dict[str, Any]]:
        """Per-label measured metrics as one row per label (best AUROC first), for display.

        Reads ``metrics["per_label"]`` as written by the recipes: ``{label: {auroc, auroc_ci, auprc,
        positives, n, threshold, threshold_reason, sensitivity(_ci), specificity(_ci), f1, calibration}}``;
        missing fields stay empty. A label without a threshold (the threshold policy's "never shown
        positive") says why in ``note``.
        """
        per_label = self.metrics.get("per_label") if isinstance(self.metrics, dict) else None
        if not isinstance(per_label, dict):
            return []
        rows = []
        for label, m in per_label.items():
            ci = m.get("auroc_ci") or [None, None]
            rows.append({
                "label": label,
                "positives": m.get("positives"),
                "n": m.get("n"),
                "AUROC": m.get("auroc"),
                "AUROC 95% CI": f"{ci[0]:.3f}-{ci[1]:.3f}" if None not in ci else "",
                "AUPRC": m.get("auprc"),
                "threshold": m.get("threshold"),
                "sensitivity": m.get("sensitivity"),
                "sensitivity 95% CI": _interval_text(m.get("sensitivity_ci")),
                "specificity": m.get("specificity"),
                "specificity 95% CI": _interval_text(m.get("specificity_ci")),
                "F1": m.get("f1"),
                "calibration": (m.get("calibration") or {}).get("method", ""),
                "ECE before": (m.get("calibration") or {}).get("ece_before"),
                "ECE after": (m.get("calibration") or {}).get("ece_after"),
                "note": m.get("threshold_reason", "") if m.get("threshold") is None else "",
            })
        return sorted(rows, key=lambda r: -(r["AUROC"] if r["AUROC"] is not None else -1.0))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelCard":
        version = int(data.get("format_version", CARD_FORMAT_VERSION))
        if version > CARD_FORMAT_VERSION:
            raise ModelError(f"model card format {version} is newer than this software supports ({CARD_FORMAT_VERSION})")
        missing = [k for k in ("name", "version", "architecture", "config", "labels", "thresholds") if k not in data]
        if missing:
            raise ModelError(f"model card is missing {missing}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known.setdefault("input_leads", list(LEADS_12[: int(data["config"].get("in_channels", 12))]))
        known.setdefault("preprocessing", DEFAULT_PREPROCESS.to_dict())
        return cls(**known)


@dataclass
class Bundle:
    """A loaded model in eval mode with its card; ``path`` is where it came from.

    ``model`` scores records: the network itself, or a :class:`ecgcore.ensemble.Net1DEnsemble`
    whose probabilities are the mean of its members'.
    """

    model: Net1D | Net1DEnsemble
    card: ModelCard
    path: Path | None = None

    @property
    def networks(self) -> list[Net1D]:
        """The bundle's networks: one, or the ensemble's members (to fine-tune or explain one by one)."""
        return networks_of(self.model)


def make_card(
    name: str,
    model: Net1D | Net1DEnsemble,
    labels: list[str],
    *,
    version: str = "0.1.0",
    architecture: str = "custom",
    thresholds: list[float] | None = None,
    input_leads: list[str] | None = None,
    preprocessing: PreprocessConfig = DEFAULT_PREPROCESS,
    **extra: Any,
) -> ModelCard:
    """A card for a freshly trained model; thresholds default to 0.5 until calibrated."""
    n = model.config.n_classes
    return ModelCard(
        name=name,
        version=version,
        architecture=architecture,
        config=model.config.to_dict(),
        labels=list(labels),
        thresholds=list(thresholds) if thresholds is not None else [DEFAULT_THRESHOLD] * n,
        input_leads=list(input_leads or LEADS_12[: model.config.in_channels]),
        preprocessing=preprocessing.to_dict(),
        **{"n_networks": len(networks_of(model)), **extra},
    )


def save_bundle(model: Net1D | Net1DEnsemble | Sequence[Net1D], card: ModelCard,
                directory: str | os.PathLike[str]) -> Path:
    """Write weights and card (:meth:`ModelCard.save`); the card records the weights' sha256 so tampering
    or mix-ups show. Re-writing an existing bundle with other weights or card bumps its minor version.

    ``model`` is one network, an ensemble, or a list of networks (saved as an ensemble).
    """
    networks = list(model) if isinstance(model, Sequence) else networks_of(model)
    combine(networks)  # refuses an empty list or members of different architectures
    card.config = networks[0].config.to_dict()
    card.n_networks = len(networks)
    return card.save(directory, weights=ensemble_state_dict(networks), bump="minor")


def update_card(directory: str | os.PathLike[str], **changes: Any) -> ModelCard:
    """Change fields of a bundle's card (e.g. ``thresholds``, ``training``, ``metrics``), weights untouched.

    Goes through :meth:`ModelCard.save`, so the card is validated and a real change bumps the patch
    version: predictions stored under the old version keep meaning the old thresholds.
    """
    card = load_card(directory)
    unknown = sorted(set(changes) - set(card.__dataclass_fields__))
    if unknown:
        raise ModelError(f"model cards have no field(s) {unknown}")
    card = ModelCard.from_dict({**card.to_dict(), **changes})
    card.save(directory, bump="patch")
    return card


def load_card(directory: str | os.PathLike[str]) -> ModelCard:
    path = Path(directory) / CARD_FILE
    try:
        return ModelCard.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ModelError(f"{directory} is not a model bundle: no {CARD_FILE}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from None


def load_bundle(path: str | os.PathLike[str], *, verify_hash: bool = True) -> Bundle:
    """Load a bundle directory, or an official ECGFounder checkpoint file (.pth/.pt)."""
    path = Path(path)
    if path.is_file() and path.suffix in OFFICIAL_SUFFIXES:
        return load_official_checkpoint(path)
    if not path.is_dir():
        raise ModelError(f"No model at {path}: expected a bundle directory or an ECGFounder .pth file")
    card = load_card(path)
    weights_path = path / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelError(f"Bundle {path} has no {WEIGHTS_FILE}")
    if verify_hash and card.weights_sha256 and file_sha256(weights_path) != card.weights_sha256:
        raise ModelError(f"Bundle {path}: weights do not match the sha256 in its card (corrupt or replaced file)")
    try:
        state = load_file(str(weights_path))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ModelError(f"Bundle {path}: cannot read {WEIGHTS_FILE}: {exc}") from None
    networks = []
    for i, member_state in enumerate(split_state_dict(state, card.n_networks)):
        network = Net1D(card.net_config)
        _load_strict(network, member_state, str(path) if card.n_networks == 1 else f"{path} (network {i})")
        networks.append(network.eval())
    return Bundle(model=combine(networks).eval(), card=card, path=path)


def load_official_checkpoint(path: str | os.PathLike[str]) -> Bundle:
    """Load ``12_lead_ECGFounder.pth`` / ``1_lead_ECGFounder.pth`` safely and strictly.

    The release stores ``{"state_dict": ...}`` (possibly with DDP's ``module.`` prefix). Lead count
    is read from the first conv's weight shape; the outputs are the 150 ECGFounder labels.
    Thresholds are not published with the checkpoints, so they are 0.5 and the card says so.
    """
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for code-carrying pickles, RuntimeError for corrupt zips
        raise ModelError(
            f"Cannot load {path.name} safely as an ECGFounder checkpoint ({type(exc).__name__}: {exc}). "
            "Only plain tensor checkpoints are accepted; pickled code is refused."
        ) from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or "first_conv.conv.weight" not in {_strip_prefix(k) for k in state}:
        raise ModelError(f"{path.name} does not hold an ECGFounder Net1D state_dict")
    state = {_strip_prefix(k): v for k, v in state.items()}
    in_channels = int(state["first_conv.conv.weight"].shape[1])
    n_classes = int(state["dense.weight"].shape[0])
    name = "ecgfounder-12lead" if in_channels == 12 else "ecgfounder-1lead"
    if in_channels not in (1, 12):
        raise ModelError(f"{path.name}: first conv takes {in_channels} leads; ECGFounder has 1 or 12")
    config = Net1DConfig.from_dict({**MODEL_CONFIGS[name].to_dict(), "n_classes": n_classes})
    model = Net1D(config)
    _load_strict(model, state, path.name)
    labels = list(ecgfounder_labels()) if n_classes == len(ecgfounder_labels()) else [f"output_{i}" for i in range(n_classes)]
    card = ModelCard(
        name=path.stem,
        version="official",
        architecture=name,
        config=config.to_dict(),
        labels=labels,
        thresholds=[DEFAULT_THRESHOLD] * n_classes,
        input_leads=list(LEADS_12 if in_channels == 12 else ("I",)),
        preprocessing=DEFAULT_PREPROCESS.to_dict(),
        description=(
            "Official ECGFounder checkpoint (Li et al., arXiv 2410.04133; MIT license). Thresholds are "
            "0.5 for every label because the release publishes none: calibrate them on local data."
        ),
        training={"data": "Harvard-Emory ECG Database (about 10M ECGs), per the ECGFounder paper"},
    )
    return Bundle(model=model.eval(), card=card, path=path)


# -- discovery ------------------------------------------------------------------------------
def list_bundles(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Bundle directories and official checkpoint files found in ``directory`` (sorted by name)."""
    root = Path(directory) if directory is not None else models_dir()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / CARD_FILE).is_file()]
    found += [p for p in root.iterdir() if p.is_file() and p.suffix in OFFICIAL_SUFFIXES]
    return sorted(found, key=lambda p: p.name)


def default_bundle_path(n_leads: int = 12, directory: str | os.PathLike[str] | None = None) -> Path:
    """The bundle to use by default for records with ``n_leads`` leads.

    ``ECG_DEFAULT_MODEL`` (a path) wins; otherwise the bundle in the models directory whose card
    says ``"default": true`` and whose input has ``n_leads`` leads. Random weights are never a
    fallback: without a trained bundle this raises :class:`NoDefaultModelError`.
    """
    explicit = config.default_model_path()
    if explicit is not None and n_leads == 12:
        return explicit
    root = Path(directory) if directory is not None else models_dir()
    for path in list_bundles(root):
        if path.is_dir():
            card = load_card(path)
            if card.default and len(card.input_leads) == n_leads:
                return path
    raise NoDefaultModelError(
        f"No trained {n_leads}-lead model is installed in {root}. Diagnoses are not shown from untrained "
        "weights. Train the default model (see README: scripts/train_default_model.py), place an "
        "ECGFounder checkpoint there, or pass --model PATH."
    )


# -- helpers --------------------------------------------------------------------------------
def _interval_text(ci: Sequence[float] | None) -> str:
    return f"{ci[0]:.2f}-{ci[1]:.2f}" if ci and None not in ci else ""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


_BUMPS = ("major", "minor", "patch")


def _version_key(version: str) -> tuple[int, ...]:
    """``"1.2.3"`` -> ``(1, 2, 3)``; a version that is not dotted numbers (``"official"``) sorts first."""
    parts = str(version).split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else ()


def next_version(version: str, bump: str = "patch") -> str:
    """The successor of a dotted version: ``next_version("1.0.0", "minor") == "1.1.0"``."""
    if bump not in _BUMPS:
        raise ValueError(f"bump must be one of {_BUMPS}, not {bump!r}")
    key = list(_version_key(version))
    if not key:
        raise ModelError(f"cannot bump version {version!r}: give the card a version like '1.0.0'")
    key += [0] * (3 - len(key))
    level = _BUMPS.index(bump)
    key = key[:level] + [key[level] + 1] + [0] * (len(key) - level - 1)
    return ".".join(map(str, key))


def _existing_card(directory: Path) -> ModelCard | None:
    """The card a bundle directory holds now, or None (no card, or one that cannot be read)."""
    if not (directory / CARD_FILE).is_file():
        return None
    try:
        return load_card(directory)
    except ModelError:
        return None


def _card_content(card: ModelCard) -> str:
    """The card as JSON without the fields a re-write sets itself (creation time, version, weights hash)."""
    data = {k: v for k, v in card.to_dict().items() if k not in ("created", "version", "weights_sha256")}
    return json.dumps(data, sort_keys=True)


def _same_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> bool:
    try:
        saved = load_file(str(path))
    except Exception:  # missing or unreadable weights: not the same
        return False
    return saved.keys() == tensors.keys() and all(
        saved[k].dtype == v.dtype and saved[k].shape == v.shape and torch.equal(saved[k], v) for k, v in tensors.items())


def _strip_prefix(key: str) -> str:
    return key[len("module.") :] if key.startswith("module.") else key


def _load_strict(model: Net1D, state: dict[str, torch.Tensor], where: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(
            part
            for part in (
                f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}" if missing else "",
                f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}" if unexpected else "",
                f"shape mismatch {wrong[:3]}" if wrong else "",
            )
            if part
        )
        raise ModelError(f"{where}: weights do not fit the architecture ({detail})")
    model.load_state_dict(state, strict=True)


