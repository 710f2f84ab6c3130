"""The limb-lead reversal model of ecgcore.reversal: one multinomial model arbitrates LA/RA, LA/LL, RA/LL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ecgcore
from ecgcore.measurements import measure
from ecgcore.reversal import (
    DEFAULT_REVERSAL_PARAMS,
    LIMB_MODEL,
    LIMB_MODEL_CLASSES,
    LIMB_MODEL_FEATURES,
    detect_reversal,
    limb_model_features,
    limb_reversal_probabilities,
    simulate_reversal,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLES = [REPO / "data" / "samples" / "ptbxl" / f"{name}_hr.hea" for name in ("00001", "00008", "00017")]


@pytest.fixture(scope="module")
def samples() -> list[ecgcore.Record]:
    return [ecgcore.read(path) for path in SAMPLES]


def test_the_model_is_the_fitted_one_and_fits_its_features():
    fitted = json.loads((REPO / "bench" / "results" / "reversal_model_fit.json").read_text())
    assert fitted["model"] == LIMB_MODEL  # the constants are the fit script's output, not edited by hand
    assert fitted["features"] == list(LIMB_MODEL_FEATURES) and fitted["classes"] == list(LIMB_MODEL_CLASSES)
    assert np.shape(LIMB_MODEL["coef"]) == (len(LIMB_MODEL_CLASSES), len(LIMB_MODEL_FEATURES))
    assert len(LIMB_MODEL["mean"]) == len(LIMB_MODEL["scale"]) == len(LIMB_MODEL_FEATURES)


def test_probabilities_of_a_record(samples):
    features = limb_model_features(measure(samples[0]))
    assert set(features) == set(LIMB_MODEL_FEATURES)
    p = limb_reversal_probabilities(features)
    assert list(p) == list(LIMB_MODEL_CLASSES) and abs(sum(p.values()) - 1.0) < 1e-9
    assert p["LA/RA"] < 0.01 and p["RA/LL"] < 0.01
    assert limb_reversal_probabilities(None) is None


@pytest.mark.parametrize("kind", ["LA/RA", "RA/LL"])
def test_each_reversal_is_called_by_its_own_name(samples, kind):
    """The types compete in one model: a swapped record gets its own type, never the other one."""
    for record in samples:
        finding = detect_reversal(measure(simulate_reversal(record, kind)))
        assert finding.reversal == kind, (record.record_name, finding.features)
        assert finding.features[f"limb_model_{kind}"] > {"LA/RA": DEFAULT_REVERSAL_PARAMS.la_ra_min_probability,
                                                          "RA/LL": DEFAULT_REVERSAL_PARAMS.ra_ll_min_probability}[kind]
        assert "limb-lead model" in finding.criteria[kind]


def test_no_limb_model_without_its_reference_leads(samples):
    record = samples[0]
    keep = [i for i, lead in enumerate(record.leads) if lead != "V5"]
    without_v5 = record.replace(signal=np.asarray(record.signal)[keep], leads=tuple(record.leads[i] for i in keep))
    assert limb_model_features(measure(without_v5)) is None
    assert detect_reversal(measure(simulate_reversal(without_v5, "LA/RA"))).reversal is None
