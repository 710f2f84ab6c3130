"""The slow oracle: the ECGFounder pipeline written the straightforward way, one lead at a time.

Not for production use. It exists so that the fast :mod:`ecgcore.preprocessing` has something
obviously faithful to the release to be checked against (``tests/ecgcore/test_preprocessing.py``)
and timed against (``bench/bench_preprocess.py``). It deliberately shares no code with the fast
module: filter coefficients, window arithmetic and interpolation are recomputed here with
plain scipy/numpy calls, so a bug in one is unlikely to be mirrored in the other. Only the
parameter *values* come from the config.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from ecgcore.preprocessing import PreprocessConfig


def reference_preprocess_window(window: np.ndarray, fs: float, config: PreprocessConfig) -> np.ndarray:
    """Preprocess an already cut ``(leads, samples)`` window -> float32 ``(leads, n_samples)``.

    Per lead: filtfilt(iirnotch), filtfilt(butter band-pass), minus medfilt; then np.interp per
    lead onto the target time grid, one z-score over everything, zero padding at the end.
    """
    x = np.nan_to_num(np.array(window, dtype=np.float64), nan=0.0)
    if config.apply_filters:
        x = np.stack([_filter_one_lead(lead, fs, config) for lead in x])
    x = _interp_each_lead(x, fs, config)
    x = (x - np.mean(x)) / (np.std(x) + config.zscore_eps)
    out = np.zeros((x.shape[0], config.n_samples), dtype=np.float32)
    out[:, : x.shape[1]] = x
    return out


def _filter_one_lead(lead: np.ndarray, fs: float, config: PreprocessConfig) -> np.ndarray:
    if config.notch_hz < fs / 2:
        b, a = sps.iirnotch(config.notch_hz, config.notch_q, fs)
        lead = sps.filtfilt(b, a, lead)
    low, high = config.bandpass_hz
    high = min(high, config.bandpass_max_nyquist_fraction * fs / 2)
    b, a = sps.butter(N=config.bandpass_order, Wn=[low, high], btype="bandpass", fs=fs)
    lead = sps.filtfilt(b, a, lead)
    kernel = int(config.median_window_s * fs) + 1
    if kernel % 2 == 0:
        kernel += 1
    return lead - sps.medfilt(lead, kernel)


def _interp_each_lead(x: np.ndarray, fs: float, config: PreprocessConfig) -> np.ndarray:
    n_in = x.shape[1]
    n_out = min(int(round(n_in * config.target_fs_hz / fs)), config.n_samples)
    t_in = np.arange(n_in) / fs
    t_out = np.arange(n_out) / config.target_fs_hz
    return np.stack([np.interp(t_out, t_in, lead) for lead in x])
