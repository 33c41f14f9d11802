"""What a detector adds to every ramp it reads, the same from one exposure to the next.

The start-of-ramp transient (reset anomaly): after a reset, the active pixels of an HxRG settle over
the first reads. Each channel ``c`` has its amplitude ``A_c`` (electrons in read 0) and decay constant
``tau_c`` (reads); the amplitude varies smoothly over the array (``S(y, x)``, a low-order surface within
+-30 %), and reference pixels do not see it:

    transient[k, y, x] = A_c(x) * S(y, x) * exp(-k / tau_c(x))

It is drawn from the detector's seed (``NoiseModel.detector_seed``), so a dark and a science ramp of
one detector share it, and a dark ramp subtracted read by read removes it.

The collected charge is also seen through the detector's other effects:

* inter-pixel capacitance (:func:`interpixel_capacitance`): each of a pixel's four nearest neighbours
  reports a fraction ``ipc`` of its charge;
* classical non-linearity (:class:`NonLinearity`): ``Q (1 - b Q / 1e5)``, ``b`` per pixel;
* random telegraph signal (:class:`TelegraphPixels`): a few pixels jump between two levels from read to
  read, the switching keyed by the exposure's seed and read, the pixels and their steps by the detector's.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate.noise import NoiseModel, component_rng

__all__ = ["ResetAnomaly", "detector_seed", "interpixel_capacitance", "NonLinearity", "TelegraphPixels"]


def detector_seed(model: NoiseModel, exposure_seed: int) -> int:
    """The seed of the detector's fixed properties: ``model.detector_seed``, else the exposure's."""
    return exposure_seed if model.detector_seed is None else int(model.detector_seed)


class ResetAnomaly:
    """The start transient of a detector (see the module), read by read, electrons.

    Parameters
    ----------
    geometry : ReadoutGeometry
    model : NoiseModel
        ``reset_anomaly`` (mean amplitude) and ``reset_tau`` (mean decay, reads).
    seed : int
        The detector's seed (:func:`detector_seed`).
    """

    def __init__(self, geometry: ReadoutGeometry, model: NoiseModel, seed: int) -> None:
        self.geometry = geometry
        rng = component_rng(seed, "reset_anomaly")
        nc = geometry.n_channels
        self.amplitude = (model.reset_anomaly * rng.uniform(0.3, 1.7, nc)).astype(np.float32)
        self.tau = (model.reset_tau * rng.uniform(0.6, 1.4, nc)).astype(np.float32)
        self._surface = rng.uniform(-0.3, 0.3, 3)

    @cached_property
    def pattern(self) -> np.ndarray:
        """Read 0's transient, float32 image (0 on reference pixels)."""
        g = self.geometry
        y = np.linspace(-1.0, 1.0, g.n_rows)[:, None]
        x = np.linspace(-1.0, 1.0, g.n_cols)[None, :]
        a, b, c = self._surface
        surface = 1.0 + (a * y + b * x + c * x * y) / 1.5
        image = np.repeat(self.amplitude, g.channel_width)[None, :] * surface
        return np.where(g.reference_mask, 0.0, image).astype(np.float32)

    @cached_property
    def _tau_columns(self) -> np.ndarray:
        return np.repeat(self.tau, self.geometry.channel_width)[None, :]

    def read(self, k: int) -> np.ndarray:
        """The transient in read ``k``, float32 image."""
        return (self.pattern * np.exp(-k / self._tau_columns)).astype(np.float32)


def interpixel_capacitance(charge: np.ndarray, ipc: float) -> np.ndarray:
    """``charge`` as the pixels report it when each of the four nearest neighbours sees ``ipc`` of it.

    Parameters
    ----------
    charge : ndarray, shape (n_rows, n_cols)
        Collected electrons.
    ipc : float
        Coupling to each nearest neighbour (the pixel keeps ``1 - 4 ipc``); charge coupled past the
        array's edge is lost, as on a detector.

    Returns
    -------
    ndarray, float32, same shape
    """
    out = charge * np.float32(1.0 - 4.0 * ipc)
    share = charge * np.float32(ipc)
    out[1:, :] += share[:-1, :]
    out[:-1, :] += share[1:, :]
    out[:, 1:] += share[:, :-1]
    out[:, :-1] += share[:, 1:]
    return out.astype(np.float32, copy=False)


class NonLinearity:
    """Classical non-linearity: ``Q (1 - b Q / 1e5)`` with ``b`` = ``model.nonlinearity`` within +-10 % per pixel.

    Parameters
    ----------
    geometry : ReadoutGeometry
    model : NoiseModel
    seed : int
        The detector's seed (:func:`detector_seed`).
    """

    REFERENCE_CHARGE = 1e5

    def __init__(self, geometry: ReadoutGeometry, model: NoiseModel, seed: int) -> None:
        rng = component_rng(seed, "nonlinearity")
        scatter = rng.uniform(0.9, 1.1, geometry.shape)
        self.coefficient = (model.nonlinearity * scatter / self.REFERENCE_CHARGE).astype(np.float32)

    def __call__(self, charge: np.ndarray) -> np.ndarray:
        """What the pixels report for ``charge`` electrons collected, float32 image."""
        return (charge * (np.float32(1.0) - self.coefficient * charge)).astype(np.float32)

    def correction(self, gain: float = 1.0, order: int = 5) -> np.ndarray:
        """The polynomial that undoes it, for signals in units of ``gain`` electrons (DN).

        ``Q = m / (1 - b Q)`` inverts to ``Q = m (1 + x + 2 x**2 + 5 x**3 + ...)`` with ``x = b m`` (the
        Catalan numbers); truncated at ``order``, it is exact to ``42 x**5`` of the signal (4e-4 at a 10 %
        loss, 1.3e-5 at 5 %) for the default order 5.

        Returns
        -------
        ndarray, shape (order + 1, n_rows, n_cols), float32
            ``c[0] + c[1] S + ...`` per pixel for ``S`` in DN (the JWST ``LINEARITY`` layout), ``c[0] = 0``.
        """
        b = self.coefficient.astype(np.float64) * gain
        catalan = [1, 1, 2, 5, 14, 42, 132]
        terms = [np.zeros_like(b)] + [catalan[k] * b**k for k in range(order)]
        return np.stack(terms).astype(np.float32)


class TelegraphPixels:
    """Random telegraph signal: ``rts_fraction`` of the science pixels switch between two levels.

    Each such pixel has a step (exponential, mean ``rts_amplitude`` electrons) and a switching probability
    per read (0.02-0.3), both the detector's; its state at read 0 and each switch are the exposure's.
    Call :meth:`offsets` for reads 0, 1, ... in order.

    Parameters
    ----------
    geometry : ReadoutGeometry
    model : NoiseModel
    detector : int
        The detector's seed (:func:`detector_seed`).
    exposure : int
        The exposure's seed.
    """

    def __init__(self, geometry: ReadoutGeometry, model: NoiseModel, detector: int, exposure: int) -> None:
        rng = component_rng(detector, "rts")
        chosen = (rng.random(geometry.shape) < model.rts_fraction) & ~geometry.reference_mask
        self.rows, self.cols = np.nonzero(chosen)
        n = self.rows.size
        self.step = rng.exponential(model.rts_amplitude, n).astype(np.float32)
        self.switch = rng.uniform(0.02, 0.3, n)
        self.shape = geometry.shape
        self.exposure = exposure
        self._state: np.ndarray | None = None
        self._read = -1

    def offsets(self, k: int) -> np.ndarray:
        """The telegraph offsets in read ``k`` (reads in order from 0), float32 image, electrons."""
        rng = component_rng(self.exposure, "rts", k)
        if k == 0 or self._state is None:
            self._state = rng.random(self.rows.size) < 0.5
        else:
            if k != self._read + 1:
                raise ValueError(f"telegraph offsets are made read after read: read {k} after {self._read}")
            self._state ^= rng.random(self.rows.size) < self.switch
        self._read = k
        image = np.zeros(self.shape, np.float32)
        image[self.rows, self.cols] = np.where(self._state, self.step, np.float32(0.0))
        return image
