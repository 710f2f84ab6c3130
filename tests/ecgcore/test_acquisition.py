"""The hospital metadata types: names checked against the measurement table, identifiers hidden."""

from datetime import datetime

import numpy as np
import pytest

import ecgcore
from ecgcore.acquisition import Acquisition, DeviceReading, age_at
from ecgcore.errors import ECGValidationError


def test_device_measurements_use_the_global_measurement_names() -> None:
    reading = DeviceReading({"pr_ms": 160, "qrs_axis_deg": -12}, ["Sinus rhythm"])
    assert reading.measurements == {"pr_ms": 160.0, "qrs_axis_deg": -12.0}
    with pytest.raises(ECGValidationError, match=r"Unknown device measurement name\(s\) \['PR'\]; accepted: heart_rate_bpm"):
        DeviceReading({"PR": 160})


def test_the_patient_identifier_never_shows_in_repr_or_default_dict() -> None:
    acquisition = Acquisition(patient_id="MRN-0042", acquired_at=datetime(2021, 3, 4, 10, 5), device="MAC 5500")
    record = ecgcore.Record(signal=np.random.default_rng(0).normal(0, 0.1, (12, 5000)), fs=500.0,
                            leads=ecgcore.LEADS_12, record_name="x", acquisition=acquisition)
    assert "MRN-0042" not in repr(acquisition) and "MRN-0042" not in repr(record)
    assert "patient_id" not in acquisition.to_dict()
    assert acquisition.to_dict(include_patient_id=True)["patient_id"] == "MRN-0042"
    assert record.replace(age=50).acquisition is acquisition


def test_age_at_acquisition_counts_whole_years() -> None:
    assert age_at(datetime(1950, 6, 15), datetime(2020, 6, 14)) == 69.0
    assert age_at(datetime(1950, 6, 15), datetime(2020, 6, 15)) == 70.0
