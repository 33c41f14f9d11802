"""What a scene is: :class:`Scene` (expected electrons over the ramp and what made it) and its traces."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hxrg_denoiser.geometry import ReadoutGeometry

__all__ = ["EchelleOrder", "Scene", "science_only"]


@dataclass(frozen=True)
class EchelleOrder:
    """One spectral order: where it lies and what it carries.

    Attributes
    ----------
    center : ndarray, shape (n_cols,)
        Row of the trace centre at each column.
    sigma : float
        Gaussian sigma of the spatial profile, pixels.
    spectrum : ndarray, shape (n_cols,)
        Electrons summed across the profile at each column (before scaling).
    continuum : ndarray, shape (n_cols,)
        The same without absorption lines.
    lines : ndarray, shape (n_lines, 3)
        Centre column, depth (0-1) and Gaussian sigma (columns) of each line.
    """

    center: np.ndarray
    sigma: float
    spectrum: np.ndarray
    continuum: np.ndarray
    lines: np.ndarray


@dataclass
class Scene:
    """Expected electrons over the ramp, shape ``(n_rows, n_cols)``, with what made it.

    Attributes
    ----------
    image : ndarray, shape (n_rows, n_cols), float32
    kind : str
    orders : list of EchelleOrder
        Traces to extract (echelle orders, long-slit objects).
    scale : float
        Factor the scene was scaled by.
    sky : ndarray, shape (n_rows, n_cols), optional
        The smooth background the image holds (to judge whether a method keeps it).
    sources : structured ndarray, optional
        Stars and galaxies (:data:`~hxrg_denoiser.simulate.imaging.SOURCE_DTYPE`), for photometry.
    """

    image: np.ndarray
    kind: str
    orders: list[EchelleOrder] = field(default_factory=list)
    scale: float = 1.0
    sky: np.ndarray | None = None
    sources: np.ndarray | None = None

    def scaled(self, factor: float) -> Scene:
        """The scene multiplied by ``factor`` (orders' spectra, the sky and the sources' fluxes too)."""
        orders = [
            EchelleOrder(o.center, o.sigma, o.spectrum * factor, o.continuum * factor, o.lines) for o in self.orders
        ]
        sources = None
        if self.sources is not None:
            sources = self.sources.copy()
            sources["flux"] *= factor
        sky = None if self.sky is None else (self.sky * np.float32(factor)).astype(np.float32)
        return Scene((self.image * np.float32(factor)).astype(np.float32), self.kind, orders, self.scale * factor,
                     sky, sources)


def science_only(image: np.ndarray, geometry: ReadoutGeometry) -> np.ndarray:
    """``image`` as float32 with reference pixels and non-finite values set to 0 (scenes never light them)."""
    image = np.where(geometry.reference_mask, 0.0, image)
    return np.nan_to_num(image, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
