"""Zero-phase filters for measurement: intervals must not move, so every filter runs forwards
and backwards (``sosfiltfilt``), and designs are cached per sampling rate."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as sp

from ecgcore.measurements.params import MeasurementParams


@lru_cache(maxsize=64)
def _butter(order: int, cutoff_hz: float | tuple[float, float], kind: str, fs: float) -> np.ndarray:
    return sp.butter(order, cutoff_hz, btype=kind, fs=fs, output="sos")


@lru_cache(maxsize=16)
def _notch(freq_hz: float, fs: float) -> np.ndarray:
    b, a = sp.iirnotch(freq_hz, Q=30.0, fs=fs)
    return sp.tf2sos(b, a)


def lowpass(x: np.ndarray, cutoff_hz: float, fs: float, order: int = 4) -> np.ndarray:
    """Zero-phase low-pass along the last axis (a no-op above 0.45 x fs)."""
    if cutoff_hz >= 0.45 * fs:
        return x
    return sp.sosfiltfilt(_butter(order, float(cutoff_hz), "lowpass", float(fs)), x, axis=-1)


def bandpass(x: np.ndarray, band_hz: tuple[float, float], fs: float, order: int = 2) -> np.ndarray:
    low, high = band_hz
    high = min(high, 0.45 * fs)
    return sp.sosfiltfilt(_butter(order, (float(low), float(high)), "bandpass", float(fs)), x, axis=-1)


def mains_ratios(x: np.ndarray, fs: float, params: MeasurementParams) -> dict[float, float]:
    """For each mains frequency (50/60 Hz), its power over its neighbourhood's 90th percentile.

    The neighbourhood's 90th percentile is the yardstick, not its median, because a regular
    rhythm's own harmonics are lines too (every 1.25 Hz at 75 bpm), one of which falls on 50 Hz.
    ``x`` is (samples,) or (leads, samples); leads are summed in power.
    """
    ratios: dict[float, float] = {}
    n = x.shape[-1]
    if n < int(fs):
        return ratios
    freqs, power = sp.welch(x, fs=fs, nperseg=min(n, int(2 * fs)), axis=-1)
    total = power.sum(axis=0) if power.ndim == 2 else power
    for mains in params.mains_hz:
        if mains >= 0.45 * fs:
            continue
        at = np.abs(freqs - mains) <= 1.0
        around = (np.abs(freqs - mains) > 3.0) & (np.abs(freqs - mains) <= 10.0)
        if at.any() and around.any():
            yardstick = np.percentile(total[around], 90)
            ratios[mains] = float(total[at].max() / yardstick) if yardstick > 0 else float("inf")
    return ratios


def mains_frequencies(x: np.ndarray, fs: float, params: MeasurementParams) -> list[float]:
    """The mains frequencies (50/60 Hz) whose power stands out from its neighbourhood.

    A notch is only applied where it is needed: notching a clean ECG would ring on sharp QRS.
    """
    return [mains for mains, ratio in mains_ratios(x, fs, params).items() if ratio > params.mains_notch_min_ratio]


def mains_amplitude_mv(x: np.ndarray, mains_hz: float, fs: float) -> np.ndarray:
    """Amplitude (mV, per lead) of the component the ``mains_hz`` notch removes: sqrt(2) x its RMS."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if mains_hz >= 0.45 * fs:
        return np.zeros(x.shape[0])
    removed = x - sp.sosfiltfilt(_notch(float(mains_hz), float(fs)), x, axis=-1)
    return np.sqrt(2.0) * removed.std(axis=-1)


def measurement_signal(x: np.ndarray, fs: float, params: MeasurementParams) -> tuple[np.ndarray, list[float]]:
    """Baseline-free, mains-free signal (leads, samples) for amplitudes and median beats.

    Returns the signal and the mains frequencies that were notched (reported to the user).
    """
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    y = sp.sosfiltfilt(_butter(2, params.highpass_hz, "highpass", float(fs)), x, axis=-1)
    notched = mains_frequencies(y, fs, params)
    for mains in notched:
        y = sp.sosfiltfilt(_notch(mains, float(fs)), y, axis=-1)
    return lowpass(y, params.lowpass_hz, fs), notched
