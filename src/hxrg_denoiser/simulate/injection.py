"""Add a scene to a real (or simulated) dark ramp, as the training data of Payeur et al. (2022) were made.

Each read adds ``Poisson(scene / n_reads)`` electrons to a running sum. The
draws of each row come from a random stream keyed by ``(seed, row)``, so any
band of rows gives the same values however the ramp is cut into strips.
"""

from __future__ import annotations

import numpy as np

from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.simulate.noise import component_rng

__all__ = ["InjectedRamp", "accumulate_scene"]


def accumulate_scene(scene_rows: np.ndarray, n_reads: int, seed: int, first_row: int, gain: float = 1.0) -> np.ndarray:
    """Accumulated charge of rows of a scene, shape ``(n_reads, rows, n_cols)``, in units of electrons / gain.

    Parameters
    ----------
    scene_rows : ndarray, shape (rows, n_cols)
        Expected electrons over the ramp.
    first_row : int
        Image row of ``scene_rows[0]`` (keys the random streams).
    """
    rate = np.clip(scene_rows, 0.0, None) / n_reads
    out = np.zeros((n_reads,) + scene_rows.shape, dtype=np.float32)
    lit = rate.any(axis=1)
    summed_here = ~lit  # rows whose reads are summed below, read by read (dark rows are 0 either way)
    for i, row_rate in enumerate(rate):
        if not lit[i]:  # a dark row stays 0 (each row has its own stream, so skipping changes no other)
            continue
        rng = component_rng(seed, "signal", 1_000_000 + first_row + i)
        counts = rng.poisson(row_rate, (n_reads, row_rate.size))
        if int(counts.max()) * n_reads < 2**24:  # float32 sums of such integers are exact
            out[:, i] = counts
            summed_here[i] = True
        else:
            out[:, i] = np.cumsum(counts, axis=0) / gain
    rows = np.flatnonzero(summed_here & lit)
    if rows.size:
        block = out[:, rows[0] : rows[-1] + 1]  # a view; rows between that are not summed here are 0 or skipped
        keep = summed_here[rows[0] : rows[-1] + 1]
        if keep.all():
            for read in range(1, n_reads):  # numpy's cumsum along the first axis is several times slower
                block[read] += block[read - 1]
        else:
            for read in range(1, n_reads):
                block[read, keep] += block[read - 1, keep]
        if gain != 1.0:
            block[:, keep] = block[:, keep] / np.float64(gain)  # divided in double precision, as before
    return out


class InjectedRamp(Ramp):
    """A dark ramp with a scene accumulated on top (Poisson, read by read).

    Parameters
    ----------
    dark : Ramp
    scene : ndarray, shape (n_rows, n_cols)
        Expected electrons over the ramp.
    seed : int
    gain : float
        Electrons per unit of the dark ramp.
    """

    def __init__(self, dark: Ramp, scene: np.ndarray, *, seed: int = 0, gain: float = 1.0) -> None:
        if scene.shape != (dark.n_rows, dark.n_cols):
            raise ValueError(
                f"scene is {scene.shape[0]} x {scene.shape[1]} but {dark.path} reads are {dark.n_rows} x {dark.n_cols}"
            )
        self.dark, self.scene, self.seed, self.gain = dark, scene, seed, gain
        self.path = dark.path
        self.n_reads, self.n_rows, self.n_cols = dark.shape

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        data = self.dark.read_rows(start, stop)
        data += accumulate_scene(self.scene[start:stop], self.n_reads, self.seed, start, self.gain)
        return data

    def read_source(self, read_index: int) -> str:
        return self.dark.read_source(read_index)

    def close(self) -> None:
        self.dark.close()
