"""Small builders shared by the ecgcore tests: real records and tiny trained-shape bundles."""

from __future__ import annotations

from pathlib import Path

import torch

from ecgcore.bundle import make_card, save_bundle
from ecgcore.model import create_model
from train.paths import SHARED_DATA_DIR

PTBXL_500 = SHARED_DATA_DIR / "ptbxl_subset" / "records500" / "00000"
TINY_LABELS = ["NORMAL ECG", "ATRIAL FIBRILLATION", "LEFT AXIS DEVIATION", "SINUS BRADYCARDIA"]


def ptbxl_headers(n: int) -> list[Path]:
    return sorted(PTBXL_500.glob("*_hr.hea"))[:n]


def tiny_bundle(directory: Path, *, in_leads: tuple[str, ...] | None = None, default: bool = False, seed: int = 0,
                name: str = "tiny-test", n_networks: int = 1) -> Path:
    """A random-weight Net1D bundle (4 labels, last one untrained) for plumbing tests; ``n_networks`` > 1
    makes it a seed ensemble."""
    torch.manual_seed(seed)
    leads = in_leads or ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    networks = [create_model("net1d-tiny", n_classes=len(TINY_LABELS), in_channels=len(leads)) for _ in range(n_networks)]
    model = networks[0]
    card = make_card(
        name,
        model,
        TINY_LABELS,
        thresholds=[0.5, 0.4, 0.6, 0.5],
        input_leads=list(leads),
        trained_labels=TINY_LABELS[:3],
        default=default,
    )
    return save_bundle(networks, card, directory)
