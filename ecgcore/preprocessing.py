"""The ECGFounder preprocessing pipeline: any ECG -> float32 array ``(leads, 5000)`` the model takes.

All parameters live in :class:`PreprocessConfig` (saved in a model card via ``to_dict``), so a
bundle trained with one pipeline is always served with the same one.

Semantics (the contract is ``shared/reference/preprocessing.md``; the slow oracle this module
must equal to 1e-6 is :mod:`ecgcore._reference_preprocess`):

1. **Leads.** ``preprocess(record, leads=...)`` selects ``leads`` from the record in that order.
   A lead the record lacks raises :class:`LeadError` naming it; the caller decides what a
   single-lead model gets (``leads=("I",)``).
2. **Window first.** A record longer than ``window_s`` (10 s) is cut on the *raw* signal before
   any filtering, then the window is processed exactly like a 10-s record. That keeps a 2-hour
   Holter as cheap as a resting ECG. The window starts at ``start_s`` when given (the app lets the
   user pick it), otherwise where ``config.window_policy`` says: ``"first"`` (default: the first
   10 s, as a resting ECG is read) or ``"center"`` (the middle 10 s, away from electrode-settling
   artefacts at the start). ``start_s`` outside ``[0, duration - window_s]`` raises
   :class:`ECGValidationError` stating the valid range (sub-sample overshoot from rounding is
   clamped). Records no longer than the window use all their samples and accept only
   ``start_s`` 0 or None.
3. **NaN -> 0** (missing samples, as the release does with ``np.nan_to_num``), in float64.
4. **Filters at the record's own fs** (``apply_filters=True``; the release's ``ptbxl_eval.py``
   skips them, hence the switch), each applied with ``filtfilt`` (zero phase, odd padding of
   ``3 * max(len(a), len(b))`` samples, exactly scipy's ``filtfilt`` defaults):

   - notch ``iirnotch(notch_hz, notch_q, fs)``, only when ``notch_hz < fs / 2`` (at 100 Hz the
     mains frequency is already the Nyquist frequency and nothing is left to remove);
   - Butterworth band-pass ``butter(order, [low, high], btype='bandpass', fs=fs)`` in (b, a)
     form, with ``high`` capped at ``bandpass_max_nyquist_fraction * fs / 2`` so low-rate
     recordings still get a valid filter;
   - baseline removal: subtract the median filter with kernel ``int(median_window_s * fs) + 1``
     (made odd) and ``scipy.signal.medfilt`` semantics, i.e. zero padding at the edges.
5. **Resample to target_fs_hz** by linear interpolation over time: output sample ``j`` is the
   signal at ``t = j / target_fs_hz`` seconds, source sample ``i`` sits at ``i / fs``; the last
   few output samples beyond the last source time hold its value (``np.interp`` clamping). The
   output has ``round(n * target_fs_hz / fs)`` samples (at most ``n_samples``); identity at 500 Hz.
6. **z-score** over the whole ``(leads, samples)`` array at once (one mean, one std,
   ``std + zscore_eps``), not per lead, over the real samples only.
7. **Zero-pad** at the end to ``n_samples`` (5000) when the record is shorter than the window;
   zero is the mean after z-scoring, i.e. "no information".

Speed (see ``bench/bench_preprocess.py``): leads are filtered vectorised, up to six per call, with
cached coefficients (``functools.lru_cache`` per fs), the moving median is
``bottleneck.move_median`` on a zero-padded array (bit-identical to ``medfilt``), and the leads are
optionally split in two halves, one filtered by the calling thread and one by a worker thread,
because both ``lfilter`` and ``bottleneck`` release the GIL (``n_threads=2`` or
``ECG_PREPROCESS_THREADS=2``; off by default because it only pays when a core is idle; the numbers
never depend on it). The output is bit-identical to the per-lead
oracle; the moving median (~2.2 ms of single-core work per 12 x 5000 record, the same cost as
scipy 1.17's ``medfilt``) bounds the speed-up at about 1.8x per core.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any, Sequence

import bottleneck
import numpy as np
from scipy import signal as sps

from ecgcore import config
from ecgcore.errors import ECGValidationError, LeadError
from ecgcore.leads import LEADS_12
from ecgcore.record import Record

WINDOW_POLICIES: tuple[str, ...] = ("first", "center")


@dataclass(frozen=True)
class PreprocessConfig:
    """Every number of the pipeline in one place; saved in a model card so serving matches training."""

    target_fs_hz: float = 500.0
    window_s: float = 10.0
    notch_hz: float = 50.0
    notch_q: float = 30.0
    bandpass_hz: tuple[float, float] = (0.67, 40.0)
    bandpass_order: int = 4
    # Upper band edge never above this fraction of the Nyquist frequency (only matters below ~89 Hz).
    bandpass_max_nyquist_fraction: float = 0.9
    median_window_s: float = 0.4
    zscore_eps: float = 1e-8
    apply_filters: bool = True
    window_policy: str = "first"

    def __post_init__(self) -> None:
        object.__setattr__(self, "bandpass_hz", tuple(float(f) for f in self.bandpass_hz))
        problems = _config_problems(self)
        if problems:
            raise ValueError("Invalid PreprocessConfig: " + "; ".join(problems) + ".")

    @property
    def n_samples(self) -> int:
        """Samples per lead the model receives (5000 = 10 s at 500 Hz)."""
        return int(round(self.window_s * self.target_fs_hz))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists) for a model card."""
        data = asdict(self)
        data["bandpass_hz"] = list(self.bandpass_hz)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PreprocessConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error so a typo never goes unnoticed."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown preprocessing parameter(s) {unknown}; known: {sorted(known)}.")
        return cls(**data)


def _config_problems(config: PreprocessConfig) -> list[str]:
    """Human-readable list of what is wrong with a config (empty when valid)."""
    problems = []
    for name in ("target_fs_hz", "window_s", "notch_hz", "notch_q", "median_window_s", "zscore_eps"):
        value = getattr(config, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            problems.append(f"{name} must be a positive number, got {value!r}")
    if len(config.bandpass_hz) != 2 or not (0 < config.bandpass_hz[0] < config.bandpass_hz[1]):
        problems.append(f"bandpass_hz must be (low, high) with 0 < low < high, got {config.bandpass_hz!r}")
    if not (isinstance(config.bandpass_order, int) and config.bandpass_order >= 1):
        problems.append(f"bandpass_order must be a positive integer, got {config.bandpass_order!r}")
    if not (0 < config.bandpass_max_nyquist_fraction < 1):
        problems.append("bandpass_max_nyquist_fraction must be in (0, 1)")
    if config.window_policy not in WINDOW_POLICIES:
        problems.append(f"window_policy must be one of {WINDOW_POLICIES}, got {config.window_policy!r}")
    return problems


DEFAULT_PREPROCESS = PreprocessConfig()

# -- filter design, cached per (fs, parameters) --------------------------------------------------


@dataclass(frozen=True)
class _IIR:
    """(b, a) coefficients plus what filtfilt needs, computed once per fs."""

    b: np.ndarray
    a: np.ndarray
    zi: np.ndarray  # lfilter_zi(b, a): steady state of the step response
    padlen: int  # scipy filtfilt default: 3 * max(len(a), len(b))


def _make_iir(b: np.ndarray, a: np.ndarray) -> _IIR:
    b, a = np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)
    iir = _IIR(b=b, a=a, zi=sps.lfilter_zi(b, a), padlen=3 * max(len(a), len(b)))
    for arr in (iir.b, iir.a, iir.zi):
        arr.flags.writeable = False  # shared through the cache: nobody may change them
    return iir


@lru_cache(maxsize=64)
def _notch(fs: float, notch_hz: float, notch_q: float) -> _IIR | None:
    """The mains notch, or None when the notch frequency is not below Nyquist."""
    if not notch_hz < fs / 2:
        return None
    return _make_iir(*sps.iirnotch(notch_hz, notch_q, fs))


def bandpass_edges_hz(fs: float, config: PreprocessConfig) -> tuple[float, float]:
    """The band-pass edges used at ``fs``: the configured ones, upper edge capped below Nyquist."""
    low, high = config.bandpass_hz
    return low, min(high, config.bandpass_max_nyquist_fraction * fs / 2)


@lru_cache(maxsize=64)
def _bandpass(fs: float, low_hz: float, high_hz: float, order: int) -> _IIR:
    return _make_iir(*sps.butter(order, [low_hz, high_hz], btype="bandpass", fs=fs))


def median_kernel_samples(fs: float, config: PreprocessConfig) -> int:
    """``int(median_window_s * fs) + 1`` made odd, as the release computes it."""
    kernel = int(config.median_window_s * fs) + 1
    return kernel + 1 if kernel % 2 == 0 else kernel


def min_filter_samples(fs: float, config: PreprocessConfig) -> int:
    """Fewest samples filtfilt accepts at ``fs`` (it needs more than its padding length)."""
    return _bandpass(fs, *bandpass_edges_hz(fs, config), config.bandpass_order).padlen + 1


# -- the vectorised filters ---------------------------------------------------------------------


def _filtfilt_rows(iir: _IIR, x: np.ndarray) -> np.ndarray:
    """scipy ``filtfilt(b, a, x, axis=-1)`` (method 'pad', odd extension) with cached zi.

    Same operations in the same order as scipy, so the numbers are identical; the cache only
    saves the per-call ``lfilter_zi`` solve and argument checking.
    """
    n = iir.padlen
    left = 2 * x[:, :1] - x[:, n:0:-1]
    right = 2 * x[:, -1:] - x[:, -2 : -(n + 2) : -1]
    ext = np.concatenate((left, x, right), axis=1)
    y, _ = sps.lfilter(iir.b, iir.a, ext, axis=-1, zi=iir.zi * ext[:, :1])
    y, _ = sps.lfilter(iir.b, iir.a, y[:, ::-1], axis=-1, zi=iir.zi * y[:, -1:])
    return y[:, ::-1][:, n:-n]


def _moving_median_zero_padded(x: np.ndarray, kernel: int) -> np.ndarray:
    """``scipy.signal.medfilt(row, kernel)`` for every row: centred median, zeros beyond the edges.

    bottleneck's trailing-window median over an array padded with ``kernel // 2`` zeros on both
    sides gives exactly the same (selected, not computed) values, several times faster than
    looping medfilt, and it releases the GIL.
    """
    half = kernel // 2
    padded = np.zeros((x.shape[0], x.shape[1] + 2 * half), dtype=np.float64)
    padded[:, half : half + x.shape[1]] = x
    return bottleneck.move_median(padded, window=kernel, axis=-1)[:, kernel - 1 :]


def _filter_rows(x: np.ndarray, fs: float, config: PreprocessConfig) -> np.ndarray:
    """Notch, band-pass and median baseline removal of every row (float64 in, float64 out)."""
    notch = _notch(fs, config.notch_hz, config.notch_q)
    if notch is not None:
        x = _filtfilt_rows(notch, x)
    x = _filtfilt_rows(_bandpass(fs, *bandpass_edges_hz(fs, config), config.bandpass_order), x)
    return x - _moving_median_zero_padded(x, median_kernel_samples(fs, config))


_POOL: ThreadPoolExecutor | None = None
_POOL_PID: int | None = None  # threads do not survive fork (DataLoader workers): new pool per process


def _default_threads() -> int:
    """One thread unless ``ECG_PREPROCESS_THREADS`` says otherwise (see :func:`ecgcore.config.preprocess_threads`)."""
    return config.preprocess_threads()


def _pool(n_threads: int) -> ThreadPoolExecutor:
    """The module's worker threads, (re)created on first use, when more are asked, or after a fork."""
    global _POOL, _POOL_PID
    stale = _POOL is None or _POOL_PID != os.getpid() or _POOL._max_workers < n_threads  # noqa: SLF001
    if stale:
        if _POOL is not None and _POOL_PID == os.getpid():
            _POOL.shutdown(wait=False)  # queued work still runs; its idle threads then exit
        _POOL = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="ecg-preprocess")
        _POOL_PID = os.getpid()
    return _POOL


# Rows filtered per call: keeps each call's temporaries near 250 KB (cache-resident, fewer fresh
# pages from the allocator); measured ~15% faster than filtering all 12 leads at once.
_ROWS_PER_CHUNK = 6


def _filter_rows_chunked(x: np.ndarray, fs: float, config: PreprocessConfig, n_threads: int) -> np.ndarray:
    """Filter row chunks, over threads when asked; rows are independent, so numbers are unchanged."""
    n_rows = x.shape[0]
    rows_per_chunk = min(_ROWS_PER_CHUNK, -(-n_rows // max(1, n_threads)))
    chunks = [x[lo : lo + rows_per_chunk] for lo in range(0, n_rows, rows_per_chunk)]
    if len(chunks) == 1:
        return _filter_rows(x, fs, config)
    if n_threads <= 1:
        parts = [_filter_rows(chunk, fs, config) for chunk in chunks]
    else:  # the calling thread takes the first chunk itself: one fewer thread to wake and wait for
        futures = [_pool(n_threads - 1).submit(_filter_rows, chunk, fs, config) for chunk in chunks[1:]]
        parts = [_filter_rows(chunks[0], fs, config)] + [future.result() for future in futures]
    return np.concatenate(parts, axis=0)


# -- resampling, z-score, padding ---------------------------------------------------------------


def resampled_length(n_in: int, fs: float, config: PreprocessConfig) -> int:
    """Samples after resampling ``n_in`` samples from ``fs`` to the target rate (at most n_samples)."""
    return min(int(round(n_in * config.target_fs_hz / fs)), config.n_samples)


@lru_cache(maxsize=64)
def _interp_plan(n_in: int, fs: float, n_out: int, target_fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Left neighbour index and weight of every output sample; identical for all leads, so cached."""
    position = np.arange(n_out) * (fs / target_fs_hz)  # output time in units of input samples
    left = np.clip(np.floor(position).astype(np.intp), 0, n_in - 2)
    weight = np.clip(position - left, 0.0, 1.0)  # beyond the last sample: hold its value
    left.flags.writeable = False
    weight.flags.writeable = False
    return left, weight


def _resample_rows(x: np.ndarray, fs: float, config: PreprocessConfig) -> np.ndarray:
    """Linear interpolation over time to the target rate; identity when fs already is the target."""
    n_out = resampled_length(x.shape[1], fs, config)
    if fs == config.target_fs_hz and n_out == x.shape[1]:
        return x
    left, weight = _interp_plan(x.shape[1], float(fs), n_out, float(config.target_fs_hz))
    x_left = x[:, left]
    return x_left + weight * (x[:, left + 1] - x_left)


def _zscore_pad(x: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """One mean and one std over the whole array, then zero-pad at the end to n_samples (float32)."""
    out = np.zeros((x.shape[0], config.n_samples), dtype=np.float32)
    out[:, : x.shape[1]] = (x - x.mean()) / (x.std() + config.zscore_eps)
    return out


# -- window selection ---------------------------------------------------------------------------


def window_bounds(
    n_samples_in: int, fs: float, config: PreprocessConfig, start_s: float | None = None
) -> tuple[int, int]:
    """``(start, stop)`` sample indices of the window to process, on the raw signal.

    A record no longer than the window is used whole (valid ``start_s``: 0 or None). Raises
    ECGValidationError when ``start_s`` is not a valid start for this record; an overshoot of
    less than half a sample (rounding) is clamped.
    """
    window_n = min(int(round(config.window_s * fs)), n_samples_in)
    max_start = n_samples_in - window_n
    if start_s is None:
        start = 0 if config.window_policy == "first" else max_start // 2
        return start, start + window_n
    try:
        start_float = float(start_s)
    except (TypeError, ValueError):
        start_float = math.nan
    max_start_s = max_start / fs
    if not (-0.5 / fs <= start_float <= max_start_s + 0.5 / fs):  # also False for NaN
        raise ECGValidationError(
            f"start_s={start_s!r} is outside the record: a {config.window_s:g}-s window must start "
            f"between 0 and {max_start_s:.3f} s (record length {n_samples_in / fs:.3f} s)."
        )
    start = min(max(int(round(start_float * fs)), 0), max_start)
    return start, start + window_n


# -- public API ---------------------------------------------------------------------------------


def _validated_fs(fs: float) -> float:
    fs = float(fs)
    if not (math.isfinite(fs) and fs > 0):
        raise ECGValidationError(f"Sampling rate must be a positive number of Hz; got {fs!r}.")
    return fs


def _as_2d(signal: np.ndarray) -> np.ndarray:
    signal = np.asarray(signal)
    if signal.ndim == 1:
        signal = signal[np.newaxis, :]
    if signal.ndim != 2 or not np.issubdtype(signal.dtype, np.number):
        raise ECGValidationError(
            f"Signal must be a numeric (leads, samples) array; got {signal.dtype} {signal.shape}."
        )
    return signal


def _check_length(n: int, fs: float, config: PreprocessConfig) -> None:
    needed = min_filter_samples(fs, config) if config.apply_filters else 2
    if n < needed:
        raise ECGValidationError(
            f"The window has {n} samples at {fs:g} Hz; at least {needed} are needed to preprocess it."
        )


def _process_window(window: np.ndarray, fs: float, config: PreprocessConfig, n_threads: int) -> np.ndarray:
    """Steps 3-7 of the module docstring on an already cut float64 window (modified in place)."""
    np.nan_to_num(window, copy=False, nan=0.0)
    if config.apply_filters:
        window = _filter_rows_chunked(window, fs, config, n_threads)
    return _zscore_pad(_resample_rows(window, fs, config), config)


def preprocess_signal(
    signal: np.ndarray,
    fs: float,
    config: PreprocessConfig = DEFAULT_PREPROCESS,
    start_s: float | None = None,
    *,
    n_threads: int | None = None,
) -> np.ndarray:
    """Preprocess a raw ``(leads, samples)`` array in mV at ``fs`` Hz -> float32 ``(leads, n_samples)``.

    Rows are taken as they are (no lead selection). ``n_threads`` (default 1, env
    ``ECG_PREPROCESS_THREADS``) only changes speed, never the numbers.
    """
    signal, fs = _as_2d(signal), _validated_fs(fs)
    start, stop = window_bounds(signal.shape[1], fs, config, start_s)
    _check_length(stop - start, fs, config)
    window = np.array(signal[:, start:stop], dtype=np.float64)  # the only copy of the raw data
    return _process_window(window, fs, config, _default_threads() if n_threads is None else n_threads)


def filter_mv(signal: np.ndarray, fs: float, config: PreprocessConfig = DEFAULT_PREPROCESS) -> np.ndarray:
    """The pipeline's filters only (NaN -> 0, notch, band-pass, baseline removal) at the native fs, in mV.

    For display: a clinician compares the trace the model saw (filtered) with the raw one at the
    original sampling rate and amplitude, so no window, resampling or z-score is applied.
    """
    x = np.nan_to_num(np.array(_as_2d(signal), dtype=np.float64), nan=0.0)
    return _filter_rows(x, _validated_fs(fs), config).astype(np.float32)


def lead_rows(record: Record, leads: Sequence[str]) -> list[int]:
    """Row index of each requested lead in ``record``; LeadError names every missing one."""
    missing = [name for name in leads if name not in record.leads]
    if missing:
        raise LeadError(
            f"Record {record.record_name} lacks lead(s) {', '.join(missing)} needed here; it has "
            f"{', '.join(record.leads)}. Use a model for the leads present (e.g. leads=('I',))."
        )
    return [record.leads.index(name) for name in leads]


def preprocess(
    record: Record,
    *,
    leads: Sequence[str] = LEADS_12,
    start_s: float | None = None,
    config: PreprocessConfig = DEFAULT_PREPROCESS,
    n_threads: int | None = None,
) -> np.ndarray:
    """The model input for ``record``: float32 ``(len(leads), n_samples)``, leads in the order given."""
    if len(leads) == 0:
        raise LeadError("At least one lead must be requested.")
    rows = lead_rows(record, leads)
    start, stop = window_bounds(record.n_samples, record.fs, config, start_s)
    _check_length(stop - start, record.fs, config)
    window = record.signal[rows, start:stop].astype(np.float64)  # cut first: Holters stay cheap
    return _process_window(window, record.fs, config, _default_threads() if n_threads is None else n_threads)


def preprocess_batch(
    signals: Sequence[np.ndarray] | np.ndarray,
    fs: float,
    config: PreprocessConfig = DEFAULT_PREPROCESS,
    *,
    n_threads: int | None = None,
) -> np.ndarray:
    """Many raw ``(leads, samples)`` arrays at one ``fs`` -> float32 ``(batch, leads, n_samples)``.

    Windows follow ``config.window_policy``. Whole records are spread over the threads (each
    record's working set stays in cache; stacking all records into one big array measured
    slower), and every record is processed exactly as by ``preprocess_signal``.
    """
    arrays = [_as_2d(s) for s in signals]
    if not arrays:
        return np.zeros((0, 0, config.n_samples), dtype=np.float32)
    n_leads = {a.shape[0] for a in arrays}
    if len(n_leads) != 1:
        raise ECGValidationError(f"All arrays in a batch need the same number of leads; got {sorted(n_leads)}.")
    threads = _default_threads() if n_threads is None else n_threads

    def one(array: np.ndarray) -> np.ndarray:
        return preprocess_signal(array, fs, config, n_threads=1)

    if threads <= 1 or len(arrays) == 1:
        return np.stack([one(a) for a in arrays])
    return np.stack(list(_pool(threads).map(one, arrays)))


__all__ = [
    "DEFAULT_PREPROCESS",
    "PreprocessConfig",
    "WINDOW_POLICIES",
    "bandpass_edges_hz",
    "lead_rows",
    "median_kernel_samples",
    "preprocess",
    "preprocess_batch",
    "preprocess_signal",
    "resampled_length",
    "window_bounds",
]
