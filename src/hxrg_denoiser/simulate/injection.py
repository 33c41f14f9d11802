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
    out = np.empty((n_reads,) + scene_rows.shape, dtype=np.float32)
    for i, row_rate in enumerate(rate):
        rng = component_rng(seed, "signal", 1_000_000 + first_row + i)
        out[:, i] = np.cumsum(rng.poisson(row_rate, (n_reads, row_rate.size)), axis=0) / gain
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
