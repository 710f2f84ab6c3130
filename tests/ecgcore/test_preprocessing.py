"""The fast pipeline against the slow per-lead oracle on real ECGs, plus the window/lead/config rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy import signal as sps

from ecgcore._reference_preprocess import reference_preprocess_window
from ecgcore.errors import ECGValidationError, LeadError
from ecgcore.leads import LEADS_12, canonical_lead_name
from ecgcore.preprocessing import (
    DEFAULT_PREPROCESS,
    PreprocessConfig,
    bandpass_edges_hz,
    median_kernel_samples,
    preprocess,
    preprocess_batch,
    preprocess_signal,
    window_bounds,
)
from ecgcore.record import Record

TOL = 1e-6
PTBXL_IDS = ("00001", "00002", "00005", "00010", "00017")


def _read_wfdb(path: Path) -> Record:
    """A Record from a WFDB file, keeping the 12 standard leads (drops PTB's Frank leads)."""
    samples, meta = wfdb.rdsamp(str(path))
    names = [canonical_lead_name(n) for n in meta["sig_name"]]
    keep = [i for i, n in enumerate(names) if n is not None]
    return Record(
        signal=samples[:, keep].T, fs=meta["fs"], leads=tuple(names[i] for i in keep), record_name=path.name
    )


@pytest.fixture(scope="module")
def data_dir(shared_data_dir: Path) -> Path:
    return shared_data_dir


@pytest.fixture(scope="module")
def ptbxl_500(data_dir: Path) -> list[Record]:
    return [_read_wfdb(data_dir / "ptbxl_subset/records500/00000" / f"{i}_hr") for i in PTBXL_IDS]


@pytest.fixture(scope="module")
def ptbxl_100(data_dir: Path) -> list[Record]:
    return [_read_wfdb(data_dir / "ptbxl_subset/records100/00000" / f"{i}_lr") for i in PTBXL_IDS]


@pytest.fixture(scope="module")
def ptbdb_1000(data_dir: Path) -> Record:
    return _read_wfdb(data_dir / "ptbdb_sample/s0010_re")


def _resampled(record: Record, up: int, down: int) -> Record:
    """The same real ECG at fs * up / down (polyphase resampling, as another device would record it)."""
    signal = sps.resample_poly(record.signal.astype(np.float64), up, down, axis=1)
    return record.replace(signal=signal, fs=record.fs * up / down)


def _oracle(record: Record, start: int = 0, config: PreprocessConfig = DEFAULT_PREPROCESS) -> np.ndarray:
    """Reference output for the window of ``record`` starting at sample ``start``."""
    window_n = int(round(config.window_s * record.fs))
    return reference_preprocess_window(record.signal[:, start : start + window_n], record.fs, config)


def _assert_close(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.shape == expected.shape
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours.astype(np.float64) - expected)) <= TOL


# -- equality with the oracle at several sampling rates --------------------------------------------


def test_equals_reference_at_500_hz(ptbxl_500: list[Record]) -> None:
    for record in ptbxl_500:
        _assert_close(preprocess(record), _oracle(record))


def test_equals_reference_at_100_hz(ptbxl_100: list[Record]) -> None:
    for record in ptbxl_100:
        _assert_close(preprocess(record), _oracle(record))


def test_equals_reference_at_1000_hz(ptbxl_500: list[Record], ptbdb_1000: Record) -> None:
    _assert_close(preprocess(ptbdb_1000), _oracle(ptbdb_1000))
    for record in ptbxl_500[:2]:
        upsampled = _resampled(record, 2, 1)
        _assert_close(preprocess(upsampled), _oracle(upsampled))


@pytest.mark.parametrize(("up", "down"), [(3, 5), (4, 25)])  # 300 Hz, and 80 Hz: no notch, capped band edge
def test_equals_reference_at_other_rates(ptbxl_500: list[Record], up: int, down: int) -> None:
    for record in ptbxl_500[:2]:
        resampled = _resampled(record, up, down)
        _assert_close(preprocess(resampled), _oracle(resampled))


def test_filter_parameters_follow_the_release() -> None:
    assert median_kernel_samples(500, DEFAULT_PREPROCESS) == 201
    assert median_kernel_samples(100, DEFAULT_PREPROCESS) == 41
    assert median_kernel_samples(250, DEFAULT_PREPROCESS) % 2 == 1
    assert bandpass_edges_hz(500, DEFAULT_PREPROCESS) == (0.67, 40.0)
    assert bandpass_edges_hz(80, DEFAULT_PREPROCESS)[1] < 40.0


# -- output contract ------------------------------------------------------------------------------


def test_shape_dtype_and_zscore(ptbxl_500: list[Record]) -> None:
    out = preprocess(ptbxl_500[0])
    assert out.shape == (12, 5000) and out.dtype == np.float32
    assert abs(float(out.mean())) < 1e-5
    assert abs(float(out.std()) - 1.0) < 1e-4
    assert np.isfinite(out).all()


def test_identity_resampling_at_500_hz_keeps_the_filtered_signal(ptbxl_500: list[Record]) -> None:
    record = ptbxl_500[0]
    unfiltered = preprocess(record, config=PreprocessConfig(apply_filters=False))
    x = record.signal.astype(np.float64)
    np.testing.assert_allclose(unfiltered, (x - x.mean()) / (x.std() + 1e-8), atol=TOL)


def test_nan_samples_become_zero_before_filtering(ptbxl_500: list[Record]) -> None:
    clean = ptbxl_500[1]
    holed_signal = clean.signal.copy()
    holed_signal[3, 1000:1100] = np.nan
    holed_signal[7, :5] = np.nan
    holed = clean.replace(signal=holed_signal)
    out = preprocess(holed)
    assert np.isfinite(out).all()
    zeroed = clean.replace(signal=np.nan_to_num(holed_signal, nan=0.0))
    _assert_close(out, _oracle(zeroed))
    _assert_close(preprocess_signal(holed_signal, 500.0), _oracle(zeroed))


def test_filters_off_switch(ptbxl_500: list[Record], ptbxl_100: list[Record]) -> None:
    config = PreprocessConfig(apply_filters=False)
    for record in (ptbxl_500[2], ptbxl_100[2]):
        off = preprocess(record, config=config)
        _assert_close(off, _oracle(record, config=config))
        assert np.max(np.abs(off - preprocess(record))) > 0.1


# -- windows and padding --------------------------------------------------------------------------


def test_start_s_picks_the_right_samples(ptbdb_1000: Record) -> None:
    record = ptbdb_1000  # 38.4 s at 1000 Hz
    for start_s in (0.0, 12.5, 28.4):
        start = int(round(start_s * record.fs))
        _assert_close(preprocess(record, start_s=start_s), _oracle(record, start=start))


def test_window_is_cut_before_filtering(ptbdb_1000: Record) -> None:
    """Samples outside the window cannot influence it (cheap Holters, no leakage from the cut)."""
    signal = ptbdb_1000.signal.copy()
    signal[:, 20000:] *= -3.0
    altered = ptbdb_1000.replace(signal=signal)
    np.testing.assert_array_equal(preprocess(altered, start_s=5.0), preprocess(ptbdb_1000, start_s=5.0))


def test_center_window_policy(ptbdb_1000: Record) -> None:
    config = PreprocessConfig(window_policy="center")
    start, stop = window_bounds(ptbdb_1000.n_samples, ptbdb_1000.fs, config)
    assert (start, stop) == (14200, 24200)
    _assert_close(preprocess(ptbdb_1000, config=config), _oracle(ptbdb_1000, start=start))


@pytest.mark.parametrize("start_s", [-1.0, 28.5, 100.0, float("nan")])
def test_start_s_out_of_range_is_a_clear_error(ptbdb_1000: Record, start_s: float) -> None:
    with pytest.raises(ECGValidationError, match=r"between 0 and 28\.400 s"):
        preprocess(ptbdb_1000, start_s=start_s)


def test_start_s_on_a_record_without_spare_samples(ptbxl_500: list[Record]) -> None:
    assert preprocess(ptbxl_500[0], start_s=0).shape == (12, 5000)
    assert preprocess(ptbxl_500[0], start_s=np.float64(0.0005)).shape == (12, 5000)  # rounding slack
    with pytest.raises(ECGValidationError, match=r"between 0 and 0\.000 s"):
        preprocess(ptbxl_500[0], start_s=1.0)
    with pytest.raises(ECGValidationError, match="outside the record"):
        preprocess(ptbxl_500[0], start_s="later")  # type: ignore[arg-type]


@pytest.mark.parametrize("which", ["500", "100"])
def test_short_records_are_zero_padded(ptbxl_500: list[Record], ptbxl_100: list[Record], which: str) -> None:
    full = (ptbxl_500 if which == "500" else ptbxl_100)[3]
    n_keep = int(6 * full.fs)
    short = full.replace(signal=full.signal[:, :n_keep])
    out = preprocess(short)
    assert out.shape == (12, 5000)
    real = out[:, :3000]
    assert np.all(out[:, 3000:] == 0)
    assert abs(float(real.mean())) < 1e-5 and abs(float(real.std()) - 1) < 1e-4
    _assert_close(out, reference_preprocess_window(short.signal, short.fs, DEFAULT_PREPROCESS))


def test_too_few_samples_is_a_clear_error() -> None:
    with pytest.raises(ECGValidationError, match="at least"):
        preprocess_signal(np.ones((1, 20)), 500.0)


# -- leads ----------------------------------------------------------------------------------------


def test_single_lead(ptbxl_500: list[Record]) -> None:
    record = ptbxl_500[0]
    out = preprocess(record, leads=("I",))
    assert out.shape == (1, 5000)
    expected = reference_preprocess_window(record.signal[:1], record.fs, DEFAULT_PREPROCESS)
    _assert_close(out, expected)


def test_leads_come_in_the_requested_order(ptbxl_500: list[Record]) -> None:
    record = ptbxl_500[0]
    out = preprocess(record, leads=("V1", "I"))
    rows = [LEADS_12.index("V1"), LEADS_12.index("I")]
    _assert_close(out, reference_preprocess_window(record.signal[rows], record.fs, DEFAULT_PREPROCESS))


def test_missing_lead_is_named(ptbxl_500: list[Record]) -> None:
    record = ptbxl_500[0]
    limb_only = record.replace(signal=record.signal[:6], leads=LEADS_12[:6])
    with pytest.raises(LeadError, match="V1, V2, V3, V4, V5, V6"):
        preprocess(limb_only)
    assert preprocess(limb_only, leads=("I",)).shape == (1, 5000)


# -- batch and config -----------------------------------------------------------------------------


def test_batch_equals_one_by_one(ptbxl_500: list[Record]) -> None:
    signals = [r.signal for r in ptbxl_500]
    batch = preprocess_batch(signals, 500.0)
    assert batch.shape == (len(signals), 12, 5000)
    for out, s in zip(batch, signals):
        np.testing.assert_array_equal(out, preprocess_signal(s, 500.0))


def test_threads_do_not_change_numbers(ptbxl_500: list[Record]) -> None:
    record = ptbxl_500[4]
    np.testing.assert_array_equal(preprocess(record, n_threads=1), preprocess(record, n_threads=2))


def test_config_round_trip_through_json() -> None:
    config = PreprocessConfig(notch_hz=60.0, bandpass_hz=(0.5, 45.0), apply_filters=False, window_policy="center")
    restored = PreprocessConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert PreprocessConfig.from_dict(DEFAULT_PREPROCESS.to_dict()) == DEFAULT_PREPROCESS
    assert DEFAULT_PREPROCESS.n_samples == 5000


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match="notch_hzz"):
        PreprocessConfig.from_dict({"notch_hzz": 50})
    with pytest.raises(ValueError, match="bandpass_hz"):
        PreprocessConfig(bandpass_hz=(40.0, 0.67))
    with pytest.raises(ValueError, match="window_policy"):
        PreprocessConfig(window_policy="random")
