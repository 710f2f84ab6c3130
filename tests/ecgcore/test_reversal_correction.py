"""ecgcore.reversal.correct_reversal: the inverse lead algebra, exact, on real PTB-XL records."""

from __future__ import annotations

import numpy as np
import pytest

import ecgcore
from ecgcore.leads import derive_limb_leads
from ecgcore.reversal import CORRECTABLE_REVERSALS, REVERSALS, correct_reversal, simulate_reversal
from train.paths import SHARED_DATA_DIR

PTBXL = SHARED_DATA_DIR / "ptbxl_subset"


@pytest.fixture(scope="module")
def records() -> list[ecgcore.Record]:
    if not PTBXL.is_dir():
        pytest.skip("../shared/data/ptbxl_subset is not beside the repo")
    return [ecgcore.read(hea) for hea in sorted((PTBXL / "records500").rglob("*_hr.hea"))[:5]]


def consistent(record: ecgcore.Record) -> ecgcore.Record:
    """The record with III, aVR, aVL, aVF computed from I and II: PTB-XL rounds each recorded lead to
    the microvolt on its own, so its III differs from II - I by up to 1.5 uV, and simulate_reversal
    (which goes through the electrode potentials, i.e. I and II) cannot keep that rounding."""
    signal = np.array(record.signal, dtype=np.float64)
    i, ii = signal[record.leads.index("I")], signal[record.leads.index("II")]
    for lead, values in derive_limb_leads(i, ii).items():
        signal[record.leads.index(lead)] = values
    return record.replace(signal=signal)


@pytest.mark.parametrize("kind", CORRECTABLE_REVERSALS)
def test_correcting_a_simulated_reversal_gives_the_record_back(records, kind):
    for recorded in records:
        record = consistent(recorded)
        swapped = simulate_reversal(record, kind)
        assert not np.allclose(swapped.signal, record.signal, atol=1e-3)  # the swap changed something
        back = correct_reversal(swapped, kind)
        np.testing.assert_allclose(back.signal, record.signal, atol=1e-9)
        assert back.leads == record.leads and back.fs == record.fs
        assert back.metadata["corrected_reversal"] == kind and "simulated_reversal" not in back.metadata
        # the lead moves are the electrode algebra: correcting is swapping the cables again
        np.testing.assert_allclose(correct_reversal(record, kind).signal, simulate_reversal(record, kind).signal,
                                   atol=1e-9)
        # on the recording itself: every lead back within the recording's rounding (2 uV)
        np.testing.assert_allclose(correct_reversal(simulate_reversal(recorded, kind), kind).signal,
                                   recorded.signal, atol=2e-3)


def test_the_correction_keeps_each_recorded_lead(records):
    """The correction moves the recorded samples (III keeps its own rounding), it does not recompute them."""
    recorded = records[0]
    once = correct_reversal(recorded, "LA/RA")
    index = {lead: i for i, lead in enumerate(recorded.leads)}
    np.testing.assert_array_equal(once.signal[index["II"]], recorded.signal[index["III"]])
    np.testing.assert_array_equal(once.signal[index["aVR"]], recorded.signal[index["aVL"]])
    np.testing.assert_array_equal(once.signal[index["V3"]], recorded.signal[index["V3"]])
    np.testing.assert_array_equal(correct_reversal(once, "LA/RA").signal, recorded.signal)


def test_a_corrected_la_ra_record_is_no_longer_called_reversed(records):
    swapped = simulate_reversal(records[0], "LA/RA")
    assert ecgcore.assess(swapped).reversal == "LA/RA"
    assert ecgcore.assess(correct_reversal(swapped, "LA/RA")).reversal is None


@pytest.mark.parametrize("kind", sorted(set(REVERSALS) - set(CORRECTABLE_REVERSALS)))
def test_a_swap_with_the_neutral_cable_cannot_be_corrected(records, kind):
    with pytest.raises(ValueError, match=f"A {kind} reversal cannot be corrected: the neutral"):
        correct_reversal(simulate_reversal(records[0], kind), kind)


def test_an_unknown_reversal_is_named(records):
    with pytest.raises(ValueError, match="Unknown reversal 'LA/V1'; correctable: LA/RA, LA/LL, RA/LL"):
        correct_reversal(records[0], "LA/V1")
