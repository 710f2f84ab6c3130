"""ecgcore.assess: signal quality, electrode reversals and pacing on constructed records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import ecgcore
from ecgcore.leads import derive_limb_leads
from ecgcore.reversal import LIMB_REVERSALS, REVERSALS, simulate_reversal
from tests.ecgcore.measurements.synthetic import synthetic_record

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "ptbxl" / "00001_hr.hea"


@pytest.fixture(scope="module")
def real():
    return ecgcore.read(SAMPLE)


def _with(record, signal):
    return dataclasses.replace(record, signal=signal, allow_flat_leads=True)


def test_clean_records_are_interpretable(real):
    for record in (real, synthetic_record()):
        a = ecgcore.assess(record)
        assert a.interpretable, a.reasons
        assert a.reversal is None and not a.paced
        json.dumps(a.to_dict())


def test_to_dict_is_json_ready_and_lists_limits(real):
    d = json.loads(json.dumps(ecgcore.assess(real).to_dict()))
    assert set(d["per_lead"]) == set(real.leads)
    assert {"flat", "saturated", "muscle_noise", "mains", "baseline_wander", "beats"} <= set(d["limits"])
    assert isinstance(d["per_lead"]["I"]["noise_ratio"], float)


@pytest.mark.parametrize("kind", LIMB_REVERSALS)
def test_simulated_limb_reversal_matches_electrode_algebra(real, kind):
    x = np.asarray(real.signal, dtype=np.float64)
    ra = -(x[0] + x[1]) / 3.0
    electrodes = {"RA": ra, "LA": ra + x[0], "LL": ra + x[1]}
    swaps = {"LA/RA": ("LA", "RA", "LL"), "LA/LL": ("RA", "LL", "LA"), "RA/LL": ("LL", "LA", "RA"),
             "RA/RL": ("LL", "LA", "LL"), "LA/RL": ("RA", "LL", "LL")}[kind]
    new_ra, new_la, new_ll = (electrodes[s] for s in swaps)
    lead_i, lead_ii = new_la - new_ra, new_ll - new_ra
    y = simulate_reversal(real, kind).signal
    np.testing.assert_allclose(y[0], lead_i, atol=1e-4)
    np.testing.assert_allclose(y[1], lead_ii, atol=1e-4)
    np.testing.assert_allclose(y[3], derive_limb_leads(lead_i, lead_ii)["aVR"], atol=1e-4)


def test_la_ra_algebra(real):
    x, y = real.signal, simulate_reversal(real, "LA/RA").signal
    i, ii = x[0].astype(np.float64), x[1].astype(np.float64)
    limb = derive_limb_leads(i, ii)
    np.testing.assert_allclose(y[0], -i, atol=1e-4)
    np.testing.assert_allclose(y[1], limb["III"], atol=1e-4)
    np.testing.assert_allclose(y[3], limb["aVL"], atol=1e-4)
    np.testing.assert_allclose(y[5], limb["aVF"], atol=1e-4)
    np.testing.assert_allclose(y[6:], x[6:], atol=1e-5)


@pytest.mark.parametrize("kind", ["LA/RA", "RA/LL", "RA/RL", "LA/RL"])
def test_reversal_detected_on_real_record(real, kind):
    a = ecgcore.assess(simulate_reversal(real, kind))
    assert a.reversal == kind
    assert not a.interpretable and any(kind in r for r in a.reasons)


@pytest.mark.parametrize(("sample", "kind"), [("00017_hr", "LA/LL"), ("00001_hr", "V2/V3"), ("00001_hr", "V3/V4"),
                                              ("00001_hr", "V4/V5")])
def test_low_specificity_reversals_are_warnings_only(sample, kind):
    """Detectors below 99% specificity on clean dev records warn; they never make a record uninterpretable.
    (LA/LL on sample 00001 looks like the recording itself, P(LA/LL) 0.50: no warning there.)"""
    a = ecgcore.assess(simulate_reversal(ecgcore.read(SAMPLE.with_name(f"{sample}.hea")), kind))
    assert a.reversal is None and a.interpretable, a.reasons
    assert a.possible_reversals == [kind] and any(kind in w for w in a.warnings)
    assert a.to_dict()["possible_reversals"] == [kind]


def test_edge_flat_stretch_is_not_saturation(real):
    s = np.array(real.signal)
    s[9, -50:] = s[9].max()  # PTB-XL carts leave the last 100 ms flat
    a = ecgcore.assess(_with(real, s))
    assert a.interpretable, a.reasons


def test_unknown_reversal_rejected(real):
    with pytest.raises(ValueError):
        simulate_reversal(real, "V1/V6")
    assert len(REVERSALS) == 10


def test_flat_lead(real):
    s = np.array(real.signal)
    s[7] = 0.0
    a = ecgcore.assess(_with(real, s))
    assert not a.interpretable and any("V2 flat" in r for r in a.reasons)
    assert a.per_lead["V2"]["ptp_mv"] == 0.0


def test_clipped_lead(real):
    s = np.array(real.signal)
    s[9] = np.clip(s[9], -0.2, 0.2)
    a = ecgcore.assess(_with(real, s))
    assert any("V4 saturated" in r for r in a.reasons), a.reasons


def test_muscle_noise_on_many_leads(real):
    rng = np.random.default_rng(0)
    from ecgcore.measurements.filters import bandpass
    noise = bandpass(rng.normal(size=real.signal.shape), (20.0, 150.0), real.fs) * 1.0
    a = ecgcore.assess(_with(real, real.signal + noise))
    assert not a.interpretable and any("noisy" in r for r in a.reasons), a.reasons
    assert a.per_lead["V1"]["noise_ratio"] > 0.35


def test_mains_and_wander_measured(real):
    t = np.arange(real.n_samples) / real.fs
    a = ecgcore.assess(_with(real, real.signal + 1.0 * np.sin(2 * np.pi * 50 * t)))
    assert 50.0 in a.mains_hz and not a.interpretable
    b = ecgcore.assess(_with(real, real.signal + 3.0 * np.sin(2 * np.pi * 0.2 * t)))
    assert b.per_lead["V2"]["wander_ratio"] > 1.5 and not b.interpretable


def test_too_few_beats():
    a = ecgcore.assess(synthetic_record(rr_ms=3000.0, duration_s=4.0))
    assert not a.interpretable and any("beat" in r for r in a.reasons)


def test_paced_from_spikes():
    record = synthetic_record()
    s = np.array(record.signal)
    for onset_ms in np.arange(400.0, 9800.0, 800.0):
        k = int((onset_ms - 20) * record.fs / 1000)
        s[:, k] += 1.0
    a = ecgcore.assess(_with(record, s))
    assert a.paced


def _same(a, b) -> None:
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def test_precomputed_measurements_give_the_same_assessment(real):
    """assess(record, measurements=measure(record)) does not measure again, and answers the same."""
    _same(ecgcore.assess(real, measurements=ecgcore.measure(real)), ecgcore.assess(real))
    swapped = simulate_reversal(real, "LA/RA")
    _same(ecgcore.assess(swapped, measurements=ecgcore.measure(swapped)), ecgcore.assess(swapped))


def test_a_window_of_a_long_record_with_its_measurements(real):
    """On a record longer than the measured window, assess judges the window from start_s, the one
    measure(start_s) measured: the same as assessing that stretch cut out, bar measure's window note."""
    bad = np.array(real.signal, copy=True)
    bad[3] = 0.0  # aVR flat in the first copy only
    long = _with(real, np.concatenate([bad, np.asarray(real.signal)], axis=1))
    later = ecgcore.assess(long, start_s=10.0, measurements=ecgcore.measure(long, start_s=10.0))
    _same(later, ecgcore.assess(long, start_s=10.0))
    alone = ecgcore.assess(real)
    assert later.interpretable and later.reasons == alone.reasons and later.per_lead == alone.per_lead
    assert later.paced == alone.paced and later.beats == alone.beats
    first = ecgcore.assess(long, start_s=0.0)
    assert not first.interpretable and first.reasons[0].startswith("lead aVR flat")


def test_measurements_of_another_window_or_record_are_refused(real):
    long = _with(real, np.concatenate([real.signal, real.signal], axis=1))
    with pytest.raises(ecgcore.errors.ECGValidationError, match="window_start_s 0 s, the window assessed starts at 10 s"):
        ecgcore.assess(long, start_s=10.0, measurements=ecgcore.measure(long, start_s=0.0))
    at_250 = dataclasses.replace(real, fs=250.0)
    with pytest.raises(ecgcore.errors.ECGValidationError, match="fs 250 Hz, the record's is 500 Hz"):
        ecgcore.assess(real, measurements=ecgcore.measure(at_250))
    two = dataclasses.replace(real, signal=np.asarray(real.signal)[:2], leads=("I", "II"))
    with pytest.raises(ecgcore.errors.ECGValidationError, match="leads"):
        ecgcore.assess(real, measurements=ecgcore.measure(two))
