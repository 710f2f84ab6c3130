"""ecgcore: read ECGs, preprocess them as ECGFounder does, run Net1D, rank and explain diagnoses."""

from ecgcore.errors import ECGError, ECGFormatError, ECGValidationError, ModelError, NoDefaultModelError
from ecgcore.leads import LEADS_12
from ecgcore.record import Record

__version__ = "0.1.0"

__all__ = [
    "ECGError",
    "ECGFormatError",
    "ECGValidationError",
    "ModelError",
    "NoDefaultModelError",
    "LEADS_12",
    "Record",
    "__version__",
]
