"""One error hierarchy for the whole project.

Every message is meant to be shown to a clinician as-is: it says what was wrong
with the input and what is accepted instead. Catch :class:`ECGError` to handle
anything this library raises on purpose.
"""

from __future__ import annotations


class ECGError(Exception):
    """Base class of every error ecgcore raises deliberately."""


class ECGFormatError(ECGError, ValueError):
    """A file could not be read: unknown format, corrupt or truncated content."""


class ECGValidationError(ECGError, ValueError):
    """The file was read but the signal is not a usable ECG (NaN leads, flat, too short...)."""


class ECGFileTooLargeError(ECGFormatError):
    """A file (or a zip member) is larger than the configured limit."""


class LeadError(ECGValidationError):
    """Lead names are unknown, duplicated, or not what the model needs."""


class ModelError(ECGError):
    """A model bundle or checkpoint cannot be built, loaded or used."""


class NoDefaultModelError(ModelError):
    """No trained model bundle is installed: we refuse to present random weights as diagnoses."""


class LabelError(ECGError, KeyError):
    """A label name is not in the model's vocabulary."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""
