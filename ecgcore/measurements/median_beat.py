"""Dominant beats and each lead's representative (median) beat.

Programs measure the median beat rather than single beats because the sample-by-sample median of
the aligned dominant beats keeps the waves that repeat with each QRS (P, QRS, T) and removes what
does not (noise, fibrillatory waves, a premature beat's different shape). Beats count as dominant
when their QRS shape over all leads correlates with the record's median QRS shape; each is
aligned to that shape by cross-correlation before the median is taken.
"""

from __future__ import annotations

import numpy as np

from ecgcore.measurements.params import MeasurementParams


def ms_to_samples(ms: float, fs: float) -> int:
    return int(round(ms * fs / 1000.0))


def beat_windows(x: np.ndarray, centres: np.ndarray, pre: int, post: int) -> np.ndarray:
    """(beats, leads, pre + post) windows around each centre; NaN where a window leaves the record."""
    n_leads, n = x.shape
    offsets = np.arange(-pre, post)
    index = centres[:, None] + offsets[None, :]
    inside = (index >= 0) & (index < n)
    windows = x[:, np.clip(index, 0, n - 1)].transpose(1, 0, 2).astype(np.float64)
    windows[~np.broadcast_to(inside[:, None, :], windows.shape)] = np.nan
    return windows


def _qrs_vectors(x: np.ndarray, beats: np.ndarray, fs: float, params: MeasurementParams) -> tuple[np.ndarray, int]:
    lo_ms, hi_ms = params.dominant_qrs_window_ms
    pre, post = -ms_to_samples(lo_ms, fs), ms_to_samples(hi_ms, fs)
    shift = ms_to_samples(params.align_max_shift_ms, fs)
    windows = beat_windows(x, beats, pre + shift, post + shift)
    return np.nan_to_num(windows), shift


def _correlation(vectors: np.ndarray, template: np.ndarray) -> np.ndarray:
    a = vectors - vectors.mean(axis=-1, keepdims=True)
    b = template - template.mean()
    denom = np.linalg.norm(a, axis=-1) * np.linalg.norm(b)
    return np.divide(a @ b, denom, out=np.zeros(len(a)), where=denom > 0)


def dominant_and_aligned(x: np.ndarray, beats: np.ndarray, fs: float,
                         params: MeasurementParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which beats are dominant, each beat aligned on the dominant QRS shape, and the correlations.

    Returns ``(dominant mask, aligned positions, correlation with the median QRS)``.
    """
    windows, shift = _qrs_vectors(x, beats, fs, params)
    core = windows[:, :, shift: windows.shape[2] - shift]
    flat = core.reshape(len(beats), -1)
    template = np.median(flat, axis=0)
    correlation = _correlation(flat, template)
    # Align every beat: the shift that best matches the template (dominant template only).
    dominant = correlation >= params.dominant_min_correlation
    if dominant.sum() >= 2:
        template = np.median(flat[dominant], axis=0)
    width = core.shape[2]
    best = np.zeros(len(beats), dtype=np.int64)
    best_score = np.full(len(beats), -np.inf)
    for s in range(-shift, shift + 1):
        shifted = windows[:, :, shift + s: shift + s + width].reshape(len(beats), -1)
        score = _correlation(shifted, template)
        better = score > best_score
        best[better], best_score[better] = s, score[better]
    dominant = best_score >= params.dominant_min_correlation
    return dominant, beats + best, best_score


def median_beats(x: np.ndarray, centres: np.ndarray, fs: float, params: MeasurementParams) -> tuple[np.ndarray, int]:
    """Each lead's median beat (leads, n) around the aligned centres, and the centre's index in it."""
    pre, post = ms_to_samples(params.median_pre_ms, fs), ms_to_samples(params.median_post_ms, fs)
    windows = beat_windows(x, centres, pre, post)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            beat = np.nanmedian(windows, axis=0)
    return np.nan_to_num(beat), pre
