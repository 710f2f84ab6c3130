"""Every parameter of the measurement algorithm, in one table, in physical units.

The algorithm (see docs/measurements.md for the full description and its accuracy on LUDB):

1. **Filters** (``filters.py``): zero-phase Butterworth high-pass (baseline wander) and low-pass,
   plus notches at 50 and 60 Hz when the mains component stands out.
2. **QRS detection** (``qrs_detection.py``): band-passed derivative of every usable lead, each
   scaled to its own QRS energy, summed, integrated over a moving window; peaks above an adaptive
   threshold with a refractory period; a search-back for beats missed in long gaps.
3. **Dominant beats and median beats** (``median_beat.py``): the QRS shape of every beat is
   correlated with the record's median QRS; beats that match are aligned on the QRS (cross
   correlation) and their sample-by-sample median is each lead's representative beat.
4. **Delineation** (``delineation.py``): on each lead's median beat (and on single beats for the
   per-beat view), QRS onset/offset where the smoothed slope falls below a fraction of the QRS
   slope, T peak and end (end by the slope-and-amplitude return to baseline after the peak), P
   peak before the QRS and its onset/offset likewise. Global fiducials take the earliest QRS
   onset, the latest QRS offset and T end and the P extremes over the leads, as carts do, with
   leads too small to delineate left out.
5. **Measurements** (``pipeline.py``): intervals from the global fiducials, rate from the median RR
   of all beats, QTc by Bazett and Fridericia, frontal axes from the net areas in I and aVF,
   amplitudes per lead against the PR-segment baseline.

Changing any value here changes ``ALGORITHM_VERSION``'s meaning: bump it, and stored
measurements are re-measured (never overwritten) the next time a record is opened.
"""

from __future__ import annotations

from dataclasses import dataclass

# Bump whenever a parameter or a step changes results; stored measurements carry it.
ALGORITHM_VERSION = "1.1"


@dataclass(frozen=True)
class MeasurementParams:
    """The measurement algorithm's parameters. Times in ms, frequencies in Hz, amplitudes in mV."""

    # -- filters --------------------------------------------------------------------------
    highpass_hz: float = 0.5  # baseline wander; zero-phase so the ST segment is not shifted
    lowpass_hz: float = 100.0  # measurement signal (amplitudes); capped below Nyquist
    mains_hz: tuple[float, ...] = (50.0, 60.0)
    mains_notch_min_ratio: float = 4.0  # notch when mains power exceeds its neighbours by this
    detail_lowpass_hz: float = 25.0  # the signal whose slopes the delineator reads

    # -- QRS detection ----------------------------------------------------------------------
    qrs_band_hz: tuple[float, float] = (8.0, 25.0)
    qrs_integration_ms: float = 80.0
    qrs_refractory_ms: float = 250.0
    qrs_threshold_fraction: float = 0.3  # of the typical beat's integrated energy
    qrs_searchback_fraction: float = 0.15
    qrs_searchback_rr_factor: float = 1.6  # look again in gaps longer than this x median RR
    qrs_peak_refine_ms: float = 60.0  # window to place the beat on its largest spatial deflection

    # -- beats -------------------------------------------------------------------------------
    min_beats: int = 3
    min_duration_s: float = 2.5
    dominant_min_correlation: float = 0.85
    dominant_qrs_window_ms: tuple[float, float] = (-80.0, 100.0)
    align_max_shift_ms: float = 12.0
    median_pre_ms: float = 500.0
    median_post_ms: float = 700.0

    # -- delineation -------------------------------------------------------------------------
    qrs_search_ms: float = 120.0  # QRS onset/offset searched this far from the QRS peak
    qrs_steep_fraction: float = 0.3  # slopes above this fraction of the largest belong to the QRS
    qrs_onset_slope_fraction: float = 0.03
    qrs_offset_slope_fraction: float = 0.03
    qrs_onset_amplitude_fraction: float = 0.03
    qrs_onset_band_mv: float = 0.02
    qrs_lead_outlier_ms: float = 30.0  # a lead's QRS edge this far from the leads' median does not vote
    qrs_min_amplitude_mv: float = 0.15  # leads with a smaller QRS do not vote on the global QRS
    t_search_start_ms: float = 80.0  # after the QRS offset
    t_search_max_ms: float = 600.0  # from the QRS onset, also capped by the RR:
    t_search_max_rr_fraction: float = 0.7  # of the RR after the QRS peak (the next P comes later)
    t_min_amplitude_mv: float = 0.05
    t_offset_slope_fraction: float = 0.15
    t_offset_amplitude_fraction: float = 0.15
    p_search_ms: tuple[float, float] = (40.0, 330.0)  # before the QRS onset
    p_min_amplitude_mv: float = 0.04
    p_half_width_ms: float = 70.0
    p_edge_slope_fraction: float = 0.15
    p_edge_amplitude_fraction: float = 0.15
    p_min_leads: int = 3  # a P wave must be seen on at least this many leads
    p_beat_min_correlation: float = 0.5  # a beat "has" the median P wave above this

    # -- rhythm and quality ------------------------------------------------------------------
    rr_irregular_cv: float = 0.12  # coefficient of variation of RR above which RR is irregular
    pacing_spike_min_mv: float = 0.18  # a sample this far above the mean of its neighbours...
    pacing_spike_half_width_ms: float = 2.0  # ...this far away on either side is a pacing spike
    saturation_run_ms: float = 40.0  # samples stuck at the extreme value for this long
    noise_max_fraction: float = 0.35  # high-frequency residual over QRS energy, per lead
    st_j_offset_ms: float = 60.0
    max_window_s: float = 10.0  # longer records are measured on a 10 s window


DEFAULT_PARAMS = MeasurementParams()
