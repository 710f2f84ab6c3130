"""Which model scores a record: 12-lead records go to the 12-lead model, records that cannot feed it to the single-lead one.

The one rule behind ``Predictor.default``, the batch path (``Predictor.predict_files`` with
``single_lead=``), the command line (``ecg predict``, ``ecg explain``) and the app's choice of model.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

from ecgcore.leads import LEADS_12

if TYPE_CHECKING:
    from ecgcore.record import Record

SINGLE_LEAD = 1
TWELVE_LEAD = 12


def model_lead_count(record_or_n_leads: Record | int) -> int:
    """1 or 12: the model (by its number of input leads) that scores a record with this many leads.

    - Exactly one lead (a smartwatch or AliveCor lead I, whatever the file format): 1, the
      single-lead model.
    - A record with all twelve leads (the readers derive III, aVR, aVL and aVF from I and II): 12.
    - A record without the precordial leads but with lead I (a handheld's I, II, III; a
      six-lead limb record): 1, the single-lead model scores its lead I. Without this, such a
      record could not be scored at all; the 12-lead model is never fed zero-filled leads.
    - Given only a number of leads (a model's input count, or a caller without lead names):
      1 for one lead, 12 otherwise; a lead the 12-lead model needs and the record lacks is then
      refused by preprocessing with a LeadError naming it.
    - A one-lead record that is not lead I (a lone V2): still 1. The lead is not looked at here;
      the single-lead model reads lead I, so preprocessing refuses it ("lacks lead(s) I"), as the
      12-lead model would.

    A model fills the same way: a bundle with ``n`` input leads serves the ``model_lead_count(n)`` slot.
    """
    n_leads = getattr(record_or_n_leads, "n_leads", record_or_n_leads)
    n_leads = operator.index(n_leads)
    if n_leads < 1:
        raise ValueError(f"A record has at least one lead; got {n_leads}.")
    if n_leads == 1:
        return SINGLE_LEAD
    leads = getattr(record_or_n_leads, "leads", None)
    if leads is not None and not set(LEADS_12) <= set(leads) and "I" in leads:
        return SINGLE_LEAD
    return TWELVE_LEAD


__all__ = ["SINGLE_LEAD", "TWELVE_LEAD", "model_lead_count"]
