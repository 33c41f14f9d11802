"""Simulated ramps: dark noise plus charge accumulated read by read.

Each read adds ``Poisson(rate)`` electrons to a running sum, where ``rate`` is
the scene divided by the number of reads plus dark current and hot pixels
over one frame time; cosmic rays add a few-pixel charge deposit that stays; the start transient of
:class:`~hxrg_denoiser.simulate.detector.ResetAnomaly` decays over the first reads.
The read is the accumulated charge (clipped at the full well; through inter-pixel capacitance and
non-linearity where the model has them; telegraph pixels' offsets added) plus the dark
noise of :class:`~hxrg_denoiser.simulate.noise.DarkNoise`. The correlated
part of that noise is handed out beside each read so that an *oracle* can
remove it exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate.detector import (
    NonLinearity,
    ResetAnomaly,
    TelegraphPixels,
    detector_seed,
    interpixel_capacitance,
)
from hxrg_denoiser.simulate.noise import DarkNoise, NoiseModel, component_rng

__all__ = ["SimulatedRead", "CosmicRay", "RampSimulator", "simulate_cube", "PIXEL_AREA_CM2"]

PIXEL_AREA_CM2 = (18e-4) ** 2  # 18 micron pixels


@dataclass(frozen=True)
class CosmicRay:
    """A cosmic-ray hit: read index, centre pixel and deposited charge (electrons)."""

    read: int
    row: int
    col: int
    charge: float


@dataclass
class SimulatedRead:
    """One simulated read (float32 images, electrons).

    Attributes
    ----------
    index : int
    data : ndarray
        What the detector reports: bias + charge + all noise.
    correlated : ndarray
        The correlated-noise part of ``data`` (``data - correlated`` is the oracle read).
    """

    index: int
    data: np.ndarray
    correlated: np.ndarray


class RampSimulator:
    """A simulated ramp, generated one read at a time with bounded memory.

    Parameters
    ----------
    geometry : ReadoutGeometry
    n_reads : int
    noise : NoiseModel
    scene : ndarray, optional
        Expected electrons over the ramp, shape ``(n_rows, n_cols)``; reference
        pixels are kept dark whatever it holds.
    seed : int
    poisson : bool
        Draw the accumulated charge from Poisson statistics (else add its
        expectation exactly: a noise-free ramp for ``NoiseModel()``).
    """

    def __init__(
        self,
        geometry: ReadoutGeometry,
        n_reads: int,
        noise: NoiseModel,
        *,
        scene: np.ndarray | None = None,
        seed: int = 0,
        poisson: bool = True,
    ) -> None:
        if n_reads < 1:
            raise ValueError(f"n_reads must be >= 1, got {n_reads}")
        if scene is not None and scene.shape != geometry.shape:
            raise ValueError(f"scene is {scene.shape}, geometry {geometry.name!r} is {geometry.shape}")
        self.geometry = geometry
        self.n_reads = n_reads
        self.noise_model = noise
        self.seed = seed
        self.poisson = poisson
        self.dark = DarkNoise(geometry, n_reads, noise, seed)
        self.scene = None if scene is None else np.where(geometry.reference_mask, 0.0, scene).astype(np.float32)
        self.cosmic_rays: list[CosmicRay] = []
        detector = detector_seed(noise, seed)
        self.reset_anomaly = ResetAnomaly(geometry, noise, detector) if noise.reset_anomaly > 0 else None
        self.nonlinearity = NonLinearity(geometry, noise, detector) if noise.nonlinearity > 0 else None
        self.telegraph = TelegraphPixels(geometry, noise, detector, seed) if noise.rts_fraction > 0 else None

    def _reported(self, collected: np.ndarray) -> np.ndarray:
        """What the pixels report of ``collected`` electrons: through IPC and non-linearity."""
        if self.noise_model.ipc > 0:
            collected = interpixel_capacitance(collected, self.noise_model.ipc)
            collected[self.geometry.reference_mask] = 0.0
        if self.nonlinearity is not None:
            collected = self.nonlinearity(collected)
        return collected

    def charge_rate(self) -> np.ndarray | None:
        """Expected electrons added per read, float32 image (None if nothing accumulates)."""
        g, m = self.geometry, self.noise_model
        rate = np.zeros(g.shape, dtype=np.float32)
        if self.scene is not None:
            rate += self.scene / np.float32(self.n_reads)
        if m.dark_current > 0:
            rate += np.float32(m.dark_current * g.frame_time)
        if m.hot_pixel_fraction > 0:
            rng = component_rng(detector_seed(m, self.seed), "hot_pixels")
            hot = rng.random(g.shape) < m.hot_pixel_fraction
            rate[hot] += (rng.exponential(m.hot_pixel_current, int(hot.sum())) * g.frame_time).astype(np.float32)
        rate[g.reference_mask] = 0.0
        return rate if rate.any() else None

    def _cosmic_ray_deposit(self, read: int) -> np.ndarray | None:
        g, m = self.geometry, self.noise_model
        if m.cosmic_ray_rate <= 0:
            return None
        rng = component_rng(self.seed, "cosmic_rays", read)
        expected = m.cosmic_ray_rate * PIXEL_AREA_CM2 * g.n_rows * g.n_cols * g.frame_time
        n_hits = rng.poisson(expected)
        if n_hits == 0:
            return None
        deposit = np.zeros(g.shape, dtype=np.float32)
        rows = rng.integers(0, g.n_rows, n_hits)
        cols = rng.integers(0, g.n_cols, n_hits)
        charges = rng.lognormal(np.log(m.cosmic_ray_charge), 0.6, n_hits)
        kernel = np.exp(-0.5 * (np.arange(-1, 2) / 0.7) ** 2)
        kernel = np.outer(kernel, kernel) / np.outer(kernel, kernel).sum()
        for y, x, q in zip(rows, cols, charges):
            self.cosmic_rays.append(CosmicRay(read, int(y), int(x), float(q)))
            ys, xs = slice(max(0, y - 1), min(g.n_rows, y + 2)), slice(max(0, x - 1), min(g.n_cols, x + 2))
            ky = slice(ys.start - (y - 1), 3 - ((y + 2) - ys.stop))
            kx = slice(xs.start - (x - 1), 3 - ((x + 2) - xs.stop))
            deposit[ys, xs] += np.float32(q) * kernel[ky, kx].astype(np.float32)
        deposit[g.reference_mask] = 0.0
        return deposit

    def reads(self) -> Iterator[SimulatedRead]:
        """Generate the reads in order (charge accumulates, so order matters)."""
        self.cosmic_rays = []
        rate = self.charge_rate()
        charge = np.zeros(self.geometry.shape, dtype=np.float32)
        full_well = self.noise_model.saturation
        for k in range(self.n_reads):
            if rate is not None:
                if self.poisson:
                    charge += component_rng(self.seed, "signal", k).poisson(rate).astype(np.float32)
                else:
                    charge += rate
            deposit = self._cosmic_ray_deposit(k)
            if deposit is not None:
                charge += deposit
            collected = charge if full_well is None else np.minimum(charge, np.float32(full_well))
            correlated = self.dark.correlated(k)
            data = self.dark.bias_image + correlated + self.dark.white(k) + self._reported(collected)
            if self.reset_anomaly is not None:
                data += self.reset_anomaly.read(k)
            if self.telegraph is not None:
                data += self.telegraph.offsets(k)
            yield SimulatedRead(k, data, correlated)


@overload
def simulate_cube(geometry: ReadoutGeometry, n_reads: int, noise: NoiseModel, *, scene: np.ndarray | None = None,
                  seed: int = 0, poisson: bool = True, oracle: Literal[False] = False) -> np.ndarray: ...


@overload
def simulate_cube(geometry: ReadoutGeometry, n_reads: int, noise: NoiseModel, *, scene: np.ndarray | None = None,
                  seed: int = 0, poisson: bool = True, oracle: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...


def simulate_cube(
    geometry: ReadoutGeometry,
    n_reads: int,
    noise: NoiseModel,
    *,
    scene: np.ndarray | None = None,
    seed: int = 0,
    poisson: bool = True,
    oracle: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """A whole simulated cube in memory, shape ``(n_reads, n_rows, n_cols)`` float32 (small arrays only).

    With ``oracle=True`` also returns the cube with its correlated noise removed: ``(cube, oracle)``.
    """
    simulator = RampSimulator(geometry, n_reads, noise, scene=scene, seed=seed, poisson=poisson)
    cube = np.empty((n_reads,) + geometry.shape, dtype=np.float32)
    clean = np.empty_like(cube) if oracle else None
    for read in simulator.reads():
        cube[read.index] = read.data
        if clean is not None:
            clean[read.index] = read.data - read.correlated
    return cube if clean is None else (cube, clean)
