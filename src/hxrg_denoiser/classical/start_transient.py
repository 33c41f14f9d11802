"""The start-of-ramp transient (reset anomaly), measured on dark pixels, and the reads it spoils.

Right after a reset, an HxRG's active pixels settle over the first reads: the mean level of a
channel's dark pixels departs from the straight line the later reads follow by tens of electrons in
read 0, decaying over a few reads. Fitted as part of the ramp, it biases every slope: for ordinary
least squares over ``N`` reads, a departure ``a_k`` in read ``k`` near the start moves the flux
accumulated over the ramp by about ``-6 a_k / N``. The reference pixels do not see it, so a reference
correction leaves it in.

:func:`transient_profile` measures it per channel; :func:`first_settled_read` is the first read from
which it stays below a stated fraction of the white read noise. Subtracting a dark ramp
(:mod:`hxrg_denoiser.io.darks`) removes it instead, keeping every read.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.ndimage import uniform_filter

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.stats import robust_sigma

__all__ = ["TransientProfile", "TransientModel", "transient_profile", "fit_transient", "transient_bias",
           "read_offset_scatter", "unselected_dark",
           "first_settled_read", "SETTLED_FRACTION", "DETECTION_SIGMAS"]

SETTLED_FRACTION = 0.05  # a read is settled once the transient is below this fraction of the white read noise
DETECTION_SIGMAS = 4.0  # ... or below this many times the noise of the measurement, when that is larger
CONTINUATION_SIGMAS = 2.0  # once read 0 departs, the following reads departing the same way by this much


class TransientProfile(NamedTuple):
    """The mean level of each channel's dark pixels in each read, and the scatter of those levels.

    Attributes
    ----------
    channels : ndarray, shape (n_channels, n_reads), electrons
        Per channel, the mean of its dark pixels in each read (NaN for a channel with too few).
    mean : ndarray, shape (n_reads,), electrons
        The same averaged over channels.
    channel_noise, mean_noise : float
        The read-to-read scatter of those levels about a smooth ramp, from the second differences of the
        later half of the reads (where there is no transient): the median over channels (a few second
        differences measure it poorly channel by channel; NaN where no channel has the dark pixels), and
        that of the mean.
    """

    channels: np.ndarray
    mean: np.ndarray
    channel_noise: float
    mean_noise: float

    @property
    def used(self) -> np.ndarray:
        """The channels with levels (enough dark pixels), shape (n_channels,) bool."""
        return np.isfinite(self.channels[:, 0])


def _tail_start(n_reads: int) -> int:
    """The first read of the later part whose second differences :func:`_scatter` takes."""
    return max(min(n_reads // 2, n_reads - 8), min(3, n_reads - 3))


def _scatter(levels: np.ndarray) -> float:
    """Read-to-read scatter of ``levels`` (n_reads,) about a smooth ramp: robust sigma of the second
    differences of the later half (at least 6 of them where the ramp has the reads), over sqrt(6)."""
    tail = levels[_tail_start(levels.size):]
    second = tail[2:] - 2 * tail[1:-1] + tail[:-2]
    return float(robust_sigma(second) / np.sqrt(6.0))


def transient_profile(electrons: np.ndarray, dark: np.ndarray, geometry: ReadoutGeometry) -> TransientProfile:
    """Each channel's mean dark level in each read, to find the start transient in.

    Parameters
    ----------
    electrons : ndarray, shape (n_reads, n_rows, n_cols), electrons
        Reference-corrected reads of a band of rows (at least 5 reads).
    dark : ndarray, shape (n_rows, n_cols), bool
        The band's dark science pixels (their flux only adds a straight line; light would add its noise).
    geometry : ReadoutGeometry
        Its channels (``n_cols`` columns).

    Returns
    -------
    TransientProfile
    """
    n_reads = electrons.shape[0]
    if n_reads < 5:
        raise ValueError(f"the start transient needs at least 5 reads, got {n_reads}")
    levels = np.full((geometry.n_channels, n_reads), np.nan)
    for c in range(geometry.n_channels):
        columns = slice(c * geometry.channel_width, (c + 1) * geometry.channel_width)
        pixels = dark[:, columns]
        if pixels.sum() >= 16:
            levels[c] = electrons[:, :, columns][:, pixels].mean(axis=1, dtype=np.float64)
    used = np.isfinite(levels[:, 0])
    mean = levels[used].mean(axis=0) if used.any() else np.zeros(n_reads)
    channel_noise = float(np.median([_scatter(row) for row in levels[used]])) if used.any() else float("nan")
    return TransientProfile(levels, mean, channel_noise, _scatter(mean))


def unselected_dark(dark: np.ndarray, fraction: float = 0.8) -> np.ndarray:
    """Pixels at least ``fraction`` of whose 24 neighbours (5 x 5) are in ``dark``, whatever the pixel itself.

    ``dark`` is chosen on the reads' own values (a low flux from the first to the last read): where the scene
    is near its threshold (the faint side of a sky gradient), the pixels it keeps are those whose first read
    happens to be high and last read low, and their mean level per read bends by that noise (a transient
    where there is none). A pixel chosen by its neighbours alone has reads of unbiased noise.
    """
    neighbours = uniform_filter(dark.astype(np.float32), 5, mode="constant") * 25.0 - dark
    return neighbours >= fraction * 24.0 - 1e-3


MIN_OFFSET_DIFFERENCES = 48


def read_offset_scatter(profile: TransientProfile) -> float:
    """How much the channels' mean dark levels move from read to read about a smooth ramp (electrons): the
    pooled scatter of :func:`transient_profile`. A reference correction that follows the detector lowers
    it (it removes each read's offsets); reference pixels that see a pattern the interior does not raise
    it, and a global offset of every channel, which the image's dark pixels cannot show, shows here.

    NaN where fewer than :data:`MIN_OFFSET_DIFFERENCES` second differences (channels x reads) enter it: a
    few channels of a short ramp (4 amplifiers, 10 groups: 20) give a figure too noisy to compare two
    corrections by.
    """
    n_reads = profile.channels.shape[1]
    used = int(np.isfinite(profile.channels[:, 0]).sum())
    differences = used * max(0, n_reads - _tail_start(n_reads) - 2)
    return profile.channel_noise if differences >= MIN_OFFSET_DIFFERENCES else float("nan")


LOCAL_READS = 5  # reads after read k whose straight line predicts it


def _departures(levels: np.ndarray, n_test: int) -> tuple[np.ndarray, float]:
    """Each of the first ``n_test`` reads of ``levels`` (..., n_reads) less the straight line of the
    :data:`LOCAL_READS` reads after it, and the factor by which that prediction's noise exceeds one read's."""
    k = np.arange(LOCAL_READS, dtype=np.float64) + 1.0
    centred = k - k.mean()
    # the line at read 0 from reads 1..L: weights of an ordinary least-squares extrapolation
    weights = 1.0 / k.size - k.mean() * centred / (centred**2).sum()
    departures = np.stack([levels[..., j] - levels[..., j + 1: j + 1 + k.size] @ weights for j in range(n_test)],
                          axis=-1)
    return departures, float(np.sqrt(1.0 + (weights**2).sum()))


TAUS = np.geomspace(0.2, 8.0, 41)  # decay constants (reads) tried for a detected transient


class TransientModel(NamedTuple):
    """A detected transient as ``amplitudes[c] * exp(-k / tau)`` in read ``k`` of channel ``c`` (electrons)."""

    amplitudes: np.ndarray
    tau: float


def fit_transient(profile: TransientProfile) -> TransientModel:
    """The exponential decay that, with a straight line, best fits the mean level over channels, and each
    channel's amplitude of it (least squares, the decay constant from :data:`TAUS`)."""
    n_reads = profile.mean.size
    k = np.arange(n_reads, dtype=np.float64)
    best = (np.inf, TAUS[0])
    for tau in TAUS:
        design = np.stack([np.ones(n_reads), k, np.exp(-k / tau)], axis=1)
        _, residual, *_ = np.linalg.lstsq(design, profile.mean, rcond=None)
        score = float(residual[0]) if residual.size else 0.0
        best = min(best, (score, float(tau)))
    tau = best[1]
    design = np.stack([np.ones(n_reads), k, np.exp(-k / tau)], axis=1)
    used = profile.used
    amplitudes = np.zeros(profile.channels.shape[0])
    if used.any():
        amplitudes[used] = np.linalg.lstsq(design, profile.channels[used].T, rcond=None)[0][2]
    return TransientModel(amplitudes, tau)


def transient_bias(model: TransientModel, n_reads: int, first: int) -> np.ndarray:
    """Each channel's bias of the flux accumulated over ``n_reads`` reads (electrons) that the transient
    leaves in an ordinary least-squares slope over reads ``first:n_reads``."""
    k = np.arange(first, n_reads, dtype=np.float64)
    weights = (k - k.mean()) / ((k - k.mean()) ** 2).sum()
    return n_reads * model.amplitudes * float(weights @ np.exp(-k / model.tau))


def first_settled_read(profile: TransientProfile, white_noise: float, *, fraction: float = SETTLED_FRACTION,
                       sigmas: float = DETECTION_SIGMAS) -> int:
    """The first read from which the start transient has settled (0 when there is none).

    The transient is detected where read 0's level departs from the straight line of the next
    :data:`LOCAL_READS` reads by more than ``fraction`` of the white read noise and by more than ``sigmas``
    times the noise of that departure, on the mean over channels (or ``sigmas + 2`` on any one channel).
    A detected transient is fitted as an exponential decay per channel (:func:`fit_transient`), and the
    reads are left out up to the first that makes the flux's error least: the largest bias a channel's
    flux keeps (:func:`transient_bias`) and the white read noise of the flux (:func:`flux_noise`) added
    in quadrature (leaving out a read costs noise: a flux from 25 of 30 reads has 1.3 times the read noise
    of one from all 30); at most half the ramp, and at least up to the first read that no longer departs
    the same way by :data:`CONTINUATION_SIGMAS`.

    Parameters
    ----------
    profile : TransientProfile
    white_noise : float
        White read noise per read, electrons.
    fraction, sigmas : float
    """
    n_reads = profile.mean.size
    n_test = min(n_reads // 2, n_reads - LOCAL_READS - 1)
    if n_test < 1:
        return 0
    floor = fraction * white_noise
    mean_departure, factor = _departures(profile.mean, n_test)
    noise = factor * profile.mean_noise
    sign = np.sign(mean_departure[0])
    unsettled = np.abs(mean_departure) > max(floor, sigmas * noise)
    unsettled[1:] |= sign * mean_departure[1:] > max(floor, CONTINUATION_SIGMAS * noise)
    used = profile.used
    if used.any():
        channel_departure, _ = _departures(profile.channels[used], n_test)
        limit = max(floor, (sigmas + 2) * factor * profile.channel_noise)
        unsettled |= (np.abs(channel_departure) > limit).any(axis=0)
    if not unsettled[0]:
        return 0
    first = 1
    while first < n_test and unsettled[first]:
        first += 1
    model = fit_transient(profile)
    candidates = np.arange(first, n_reads // 2 + 1)
    error = [np.abs(transient_bias(model, n_reads, int(f))).max() ** 2 + flux_noise(white_noise, n_reads, int(f)) ** 2
             for f in candidates]
    return int(candidates[int(np.argmin(error))])


def flux_noise(white_noise: float, n_reads: int, first: int) -> float:
    """The white read noise (electrons) of the flux accumulated over ``n_reads`` reads, from an ordinary
    least-squares slope over reads ``first:n_reads``."""
    used = n_reads - first
    return float(white_noise * n_reads * np.sqrt(12.0 / (used * (used**2 - 1.0))))
