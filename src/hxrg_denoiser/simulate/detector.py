"""What a detector adds to every ramp it reads, the same from one exposure to the next.

The start-of-ramp transient (reset anomaly): after a reset, the active pixels of an HxRG settle over
the first reads. Each channel ``c`` has its amplitude ``A_c`` (electrons in read 0) and decay constant
``tau_c`` (reads); the amplitude varies smoothly over the array (``S(y, x)``, a low-order surface within
+-30 %), and reference pixels do not see it:

    transient[k, y, x] = A_c(x) * S(y, x) * exp(-k / tau_c(x))

It is drawn from the detector's seed (``NoiseModel.detector_seed``), so a dark and a science ramp of
one detector share it, and a dark ramp subtracted read by read removes it.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate.noise import NoiseModel, component_rng

__all__ = ["ResetAnomaly", "detector_seed"]


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
