"""ecgcore: read ECGs, preprocess them as ECGFounder does, run Net1D, rank and explain diagnoses.

Stable public API (importable from the package root)::

    record = ecgcore.read("00001_hr.hea")               # -> Record (mV, canonical leads)
    x = ecgcore.preprocess(record)                       # -> float32 (12, 5000)
    net = ecgcore.create_model("ecgfounder-12lead")      # -> torch.nn.Module (random weights)
    findings = ecgcore.Predictor("models/...").predict(record)
    m = ecgcore.measure(record)                          # -> Measurements (PR, QRS, QT/QTc, axes)
    a = ecgcore.assess(record)                           # -> Assessment (interpretable? reasons, reversal, paced)

Heavy modules (torch) load on first use, so reading files does not pay for them.
"""

from importlib import import_module
from typing import Any

from ecgcore.errors import (
    ECGError,
    ECGFormatError,
    ECGValidationError,
    LabelError,
    LeadError,
    ModelError,
    NoDefaultModelError,
)
from ecgcore.leads import LEADS_12
from ecgcore.preprocessing import PreprocessConfig, preprocess
from ecgcore.record import Record

__version__ = "0.1.0"

_LAZY = {
    "read": "ecgcore.io",
    "read_upload": "ecgcore.io",
    "create_model": "ecgcore.model",
    "Net1D": "ecgcore.model",
    "load_bundle": "ecgcore.bundle",
    "save_bundle": "ecgcore.bundle",
    "Predictor": "ecgcore.predict",
    "Prediction": "ecgcore.predict",
    "Finding": "ecgcore.predict",
    "model_lead_count": "ecgcore.routing",
    "measure": "ecgcore.measurements",
    "Measurements": "ecgcore.measurements",
    "assess": "ecgcore.assessment",
    "Assessment": "ecgcore.assessment",
    "simulate_reversal": "ecgcore.reversal",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ecgcore' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ECGError",
    "ECGFormatError",
    "ECGValidationError",
    "LabelError",
    "LeadError",
    "ModelError",
    "NoDefaultModelError",
    "LEADS_12",
    "PreprocessConfig",
    "Record",
    "__version__",
    "preprocess",
    *_LAZY,
]
