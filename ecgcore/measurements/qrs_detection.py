"""QRS detection on every usable lead at once.

A beat is seen best on whichever lead shows it steepest, so each lead's band-passed slope energy
is scaled to its own typical QRS and the leads are summed: one strong lead carries a beat that is
isoelectric elsewhere, and one noisy lead cannot drown the others (it is scaled down by its own
noise). Peaks of the integrated energy above an adaptive fraction of the typical beat are QRS
complexes (Pan-Tompkins' idea, on the sum of leads); gaps much longer than the median RR are
searched again at a lower threshold, the way Pan-Tompkins' search-back does.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sp
from scipy.ndimage import uniform_filter1d

from ecgcore.measurements.filters import bandpass
from ecgcore.measurements.params import MeasurementParams


def qrs_energy(x: np.ndarray, fs: float, params: MeasurementParams) -> tuple[np.ndarray, np.ndarray]:
    """Integrated slope energy summed over leads (samples,) and the band-passed leads (leads, samples)."""
    band = bandpass(x, params.qrs_band_hz, fs)
    slope = np.diff(band, axis=-1, prepend=band[..., :1])
    energy = slope * slope
    scale = np.percentile(energy, 99.0, axis=-1, keepdims=True)
    scale[scale <= 0] = 1.0
    combined = (energy / scale).sum(axis=0)
    width = max(1, int(round(params.qrs_integration_ms * fs / 1000.0)))
    return uniform_filter1d(combined, width, mode="nearest"), band


def _typical_height(heights: np.ndarray, envelope: np.ndarray) -> float:
    """The integrated energy of a typical beat: the median of the clearly large peaks."""
    coarse = 0.25 * np.percentile(envelope, 99.0)
    large = heights[heights >= coarse]
    return float(np.median(large)) if large.size else float(coarse * 4.0)


def _search_back(peaks: np.ndarray, candidates: np.ndarray, heights: np.ndarray, floor: float,
                 rr_factor: float, refractory: int) -> np.ndarray:
    """Add the largest sub-threshold candidate inside every gap longer than rr_factor x median RR."""
    if peaks.size < 2:
        return peaks
    median_rr = float(np.median(np.diff(peaks)))
    added = []
    for left, right in zip(peaks[:-1], peaks[1:]):
        if right - left <= rr_factor * median_rr:
            continue
        inside = (candidates > left + refractory) & (candidates < right - refractory) & (heights >= floor)
        if inside.any():
            added.append(candidates[inside][np.argmax(heights[inside])])
    return np.sort(np.concatenate([peaks, np.asarray(added, dtype=peaks.dtype)])) if added else peaks


def _drop_t_waves(peaks: np.ndarray, heights_at: np.ndarray, fs: float) -> np.ndarray:
    """Drop a detection 250-360 ms after a beat that has under half its energy (a steep T wave)."""
    keep = np.ones(peaks.size, dtype=bool)
    close = int(0.36 * fs)
    for i in range(1, peaks.size):
        if keep[i - 1] and peaks[i] - peaks[i - 1] < close and heights_at[i] < 0.5 * heights_at[i - 1]:
            keep[i] = False
    return peaks[keep]


def _refine_to_deflection(peaks: np.ndarray, band: np.ndarray, fs: float, params: MeasurementParams) -> np.ndarray:
    """Move each detection to the largest band-passed deflection summed over leads (near the R peak)."""
    scale = np.percentile(np.abs(band), 99.0, axis=-1, keepdims=True)
    scale[scale <= 0] = 1.0
    magnitude = (np.abs(band) / scale).sum(axis=0)
    half = int(round(params.qrs_peak_refine_ms * fs / 1000.0))
    n = magnitude.size
    refined = []
    for p in peaks:
        lo, hi = max(0, p - half), min(n, p + half + 1)
        refined.append(lo + int(np.argmax(magnitude[lo:hi])))
    return np.unique(np.asarray(refined, dtype=np.int64))


def detect_qrs(x: np.ndarray, fs: float, params: MeasurementParams) -> np.ndarray:
    """Sample positions of the QRS complexes in ``x`` (usable leads, samples), sorted."""
    envelope, band = qrs_energy(x, fs, params)
    refractory = int(round(params.qrs_refractory_ms * fs / 1000.0))
    candidates, props = sp.find_peaks(envelope, distance=max(1, refractory // 2), height=0.0)
    if candidates.size == 0:
        return candidates.astype(np.int64)
    heights = props["peak_heights"]
    typical = _typical_height(heights, envelope)
    strong = heights >= params.qrs_threshold_fraction * typical
    peaks = _enforce_refractory(candidates[strong], heights[strong], refractory)
    for _ in range(8):  # a long gap may hide several beats: search again until nothing is added
        before = peaks.size
        peaks = _search_back(peaks, candidates, heights, params.qrs_searchback_fraction * typical,
                             params.qrs_searchback_rr_factor, refractory)
        if peaks.size == before:
            break
    peaks = _drop_t_waves(peaks, envelope[peaks], fs)
    return _refine_to_deflection(peaks, band, fs, params)


def _enforce_refractory(peaks: np.ndarray, heights: np.ndarray, refractory: int) -> np.ndarray:
    """Keep the larger of two detections closer than the refractory period."""
    order = np.argsort(-heights)
    taken: list[int] = []
    for i in order:
        if all(abs(peaks[i] - peaks[j]) >= refractory for j in taken):
            taken.append(i)
    return np.sort(peaks[taken]).astype(np.int64)
