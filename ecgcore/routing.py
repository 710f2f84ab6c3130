"""Which model scores a record: one-lead records go to the single-lead model, all others to the 12-lead one.

The one rule behind ``Predictor.default``, the batch path (``Predictor.predict_files`` with
``single_lead=``), the command line (``ecg predict``, ``ecg explain``) and the app's choice of model.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecgcore.record import Record

SINGLE_LEAD = 1
TWELVE_LEAD = 12


def model_lead_count(record_or_n_leads: Record | int) -> int:
    """1 or 12: the model (by its number of input leads) that scores a record with this many leads.

    - Exactly one lead (a smartwatch or AliveCor lead I, whatever the file format): 1, the
      single-lead model.
    - Any other number, 2 to 11 leads included: 12, the 12-lead model. The readers have already
      derived III, aVR, aVL and aVF where I and II are present; a lead the model needs and the
      record still lacks is refused by preprocessing with a LeadError naming it, never zero-filled.
    - A one-lead record that is not lead I (a lone V2): still 1. The lead is not looked at here;
      the single-lead model reads lead I, so preprocessing refuses it ("lacks lead(s) I"), as the
      12-lead model would.

    A model fills the same way: a bundle with ``n`` input leads serves the ``model_lead_count(n)`` slot.
    """
    n_leads = getattr(record_or_n_leads, "n_leads", record_or_n_leads)
    n_leads = operator.index(n_leads)
    if n_leads < 1:
        raise ValueError(f"A record has at least one lead; got {n_leads}.")
    return SINGLE_LEAD if n_leads == 1 else TWELVE_LEAD


__all__ = ["SINGLE_LEAD", "TWELVE_LEAD", "model_lead_count"]
