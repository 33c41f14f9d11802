"""Interpixel capacitance (IPC) and the photon noise of a flux image.

Through IPC a pixel reports a fraction of the charge its neighbours collect: the image a detector
reports is the collected charge convolved with a small kernel ``k`` (centre ``1 - 4 alpha`` and
``alpha`` on each nearest neighbour in the simplest form), whose values sum to 1. The charge's photon
noise is convolved too, so that a pixel's photon variance is ``sum_j k_j**2 F_{i-j}``: a flux ``F``
spread evenly reports its full level with only ``sum(k**2)`` of its variance (0.848 for
``alpha = 0.02``), and neighbouring pixels share the rest as a positive correlation. A photon variance
taken from the reported flux alone (as JWST's ramp fit and ours without IPC take it) is then too large
pixel by pixel: by 1/0.848 in variance, 8.6 % in ERR, on photon-limited pixels at ``alpha = 0.02``
(bench-v3's ``ipc-rts-nonlinear``, std((SCI - truth) / ERR) = 0.935 with the true kernel unknown).

:class:`IpcKernel` gives the factor, :attr:`IpcKernel.photon_variance_scale`, and the correlation of the
photon noise of adjacent pixels, :meth:`IpcKernel.photon_correlation`. The factor is applied to the whole
``VAR_POISSON`` image: at a pixel the neighbours' terms weigh ``k_j**2`` (4e-4 each at ``alpha = 0.02``),
so their flux matters only to the fourth decimal. The photon variance of a sum over an aperture much
larger than the kernel is the sum of the pixels' ``VAR_POISSON`` over :attr:`photon_variance_scale`
(the charge is conserved within it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hxrg_denoiser.errors import UsageError

__all__ = ["IpcKernel", "MAX_COUPLING", "KERNEL_SUM_TOLERANCE"]

MAX_COUPLING = 0.2  # a nearest-neighbour coupling at or above this leaves the pixel less than 20 % of its charge
KERNEL_SUM_TOLERANCE = 0.02  # an IPC kernel conserves charge: its values sum to 1 within this
_INVERSION_SIZE = 65  # grid on which a deconvolution kernel is inverted (its inverse decays geometrically)


@dataclass(frozen=True, eq=False)
class IpcKernel:
    """The IPC kernel of a detector: what a pixel reports of the charge collected at each offset.

    Attributes
    ----------
    kernel : ndarray, shape (ny, nx), float64
        Odd sizes, centred; the values sum to 1 and none is negative.
    source : str
        What it was made from, as the product records it (``coupling 0.02``, a file name).
    """

    kernel: np.ndarray
    source: str

    def __post_init__(self) -> None:
        kernel = _checked(np.asarray(self.kernel, dtype=np.float64), f"IPC kernel {self.source}")
        object.__setattr__(self, "kernel", kernel / kernel.sum())

    @classmethod
    def coupling(cls, alpha: float) -> IpcKernel:
        """The kernel that gives ``alpha`` of a pixel's charge to each of its four nearest neighbours.

        Raises
        ------
        UsageError
            If ``alpha`` is not a finite number in [0, :data:`MAX_COUPLING`).
        """
        if not (np.isfinite(alpha) and 0.0 <= alpha < MAX_COUPLING):
            raise UsageError(f"--ipc must be a coupling in [0, {MAX_COUPLING}) (the fraction of a pixel's charge "
                             f"each nearest neighbour reports) or a kernel file, got {alpha}")
        kernel = np.zeros((3, 3))
        kernel[1, 1] = 1.0 - 4.0 * alpha
        kernel[0, 1] = kernel[2, 1] = kernel[1, 0] = kernel[1, 2] = alpha
        return cls(kernel, f"coupling {alpha:g}")

    @classmethod
    def from_array(cls, values: np.ndarray, source: str, *, label: str | None = None) -> IpcKernel:
        """The IPC kernel of a 2D array: a forward kernel (no negative value) as it is, or a deconvolution
        kernel (JWST ``IPC`` reference files: centre above 1, negative values beside it) inverted.

        Raises
        ------
        UsageError
            Starting with ``label`` (default ``IPC kernel SOURCE``): not 2D of odd sizes, non-finite, negative
            values beside a centre that is not a deconvolution kernel's, a sum away from 1, a centre that is
            not the largest value.
        """
        label = label or f"IPC kernel {source}"
        values = _shaped(np.asarray(values, dtype=np.float64), label)
        centre = (values.shape[0] // 2, values.shape[1] // 2)
        if values[centre] > 1.0 and (values < 0).any():
            return cls(_checked(_inverse(values, label), label), f"{source} (deconvolution kernel inverted)")
        return cls(_checked(values, label), source)

    @property
    def photon_variance_scale(self) -> float:
        """``sum(k**2)``: a pixel's photon variance over that of the charge it reports, for an even flux."""
        return float(np.sum(self.kernel**2))

    def photon_correlation(self, dy: int, dx: int) -> float:
        """Correlation of the photon noise of two pixels ``dy`` rows and ``dx`` columns apart, for an even
        flux: ``sum_j k_j k_{j + (dy, dx)} / sum(k**2)``."""
        ny, nx = self.kernel.shape
        if abs(dy) >= ny or abs(dx) >= nx:
            return 0.0
        a = self.kernel[max(dy, 0):ny + min(dy, 0), max(dx, 0):nx + min(dx, 0)]
        b = self.kernel[max(-dy, 0):ny + min(-dy, 0), max(-dx, 0):nx + min(-dx, 0)]
        return float(np.sum(a * b) / self.photon_variance_scale)


def _shaped(kernel: np.ndarray, label: str) -> np.ndarray:
    """``kernel``, refused unless it is a finite 2D array of odd sizes."""
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise UsageError(f"{label}: a kernel is a 2D array of odd sizes, got shape {kernel.shape}")
    if not np.isfinite(kernel).all():
        raise UsageError(f"{label}: the kernel holds non-finite values")
    return kernel


def _checked(kernel: np.ndarray, label: str) -> np.ndarray:
    """``kernel``, refused (one line starting with ``label``) unless it is a forward IPC kernel: odd sizes,
    finite, none negative, summing to 1 within :data:`KERNEL_SUM_TOLERANCE`, largest at the centre."""
    _shaped(kernel, label)
    if (kernel < 0).any():
        raise UsageError(f"{label}: the kernel holds negative values beside a centre of at most 1 (neither a "
                         "forward kernel nor a deconvolution kernel)")
    total = float(kernel.sum())
    if abs(total - 1.0) > KERNEL_SUM_TOLERANCE:
        raise UsageError(f"{label}: the kernel's values sum to {total:.4g}; an IPC kernel conserves charge (sums "
                         f"to 1 within {KERNEL_SUM_TOLERANCE})")
    centre = kernel[kernel.shape[0] // 2, kernel.shape[1] // 2]
    if centre < kernel.max():
        raise UsageError(f"{label}: the kernel's centre ({centre:.4g}) is not its largest value")
    return kernel


def _inverse(deconvolution: np.ndarray, label: str) -> np.ndarray:
    """The forward kernel whose convolution with ``deconvolution`` is the identity, computed on a periodic
    grid of :data:`_INVERSION_SIZE` pixels and trimmed where its values fall below 1e-7.

    A deconvolution kernel ``c delta - P`` (``P >= 0`` off the centre, summing to ``c - 1``) has a Fourier
    transform of at least 1 everywhere, and its inverse, ``sum_n P**n / c**(n + 1)``, is non-negative and
    decays geometrically; small positive values beside ``-P`` (a truncated exact inverse's diagonal) lower
    the transform by at most twice their sum. One whose transform comes near zero is refused.
    """
    size = max(_INVERSION_SIZE, 4 * max(deconvolution.shape) + 1)
    ny, nx = deconvolution.shape
    grid = np.zeros((size, size))
    grid[:ny, :nx] = deconvolution
    grid = np.roll(grid, (-(ny // 2), -(nx // 2)), axis=(0, 1))  # its centre at (0, 0)
    transform = np.fft.fft2(grid)
    if np.min(np.real(transform)) < 0.1:
        raise UsageError(f"{label}: a deconvolution kernel whose Fourier transform comes near zero cannot be inverted")
    forward = np.fft.fftshift(np.real(np.fft.ifft2(1.0 / transform)))
    forward[np.abs(forward) < 1e-7] = 0.0
    rows, cols = np.nonzero(forward)
    half_y = max(int(np.abs(rows - size // 2).max()), ny // 2)
    half_x = max(int(np.abs(cols - size // 2).max()), nx // 2)
    forward = forward[size // 2 - half_y:size // 2 + half_y + 1, size // 2 - half_x:size // 2 + half_x + 1]
    return np.maximum(forward, 0.0)  # rounding below zero far out
