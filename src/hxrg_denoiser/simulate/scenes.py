"""Noiseless astrophysical scenes: expected electrons accumulated over a ramp.

* :func:`echelle_scene`: a NIRPS-like cross-dispersed spectrum, curved orders
  across the array with a few-pixel spatial profile, a blaze per order and a
  stellar spectrum with many absorption lines; it keeps its traces and true
  spectra so that extraction can be judged.
* :func:`star_field`, :func:`flat_field`, :func:`load_scene` (any FITS image);
  imaging and long-slit scenes in :mod:`hxrg_denoiser.simulate.imaging`, all by name through
  :func:`make_scene`.
* :func:`scale_scene`: scaling as the public reference implementation does
  (99th percentile to 30 e-, negatives and values above twice that to 0).

Scenes never put light on reference pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from hxrg_denoiser.errors import RampInputError, UsageError, one_line
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.safety import atomic_output
from hxrg_denoiser.simulate.scene_types import EchelleOrder, Scene, science_only

__all__ = [
    "Scene",
    "EchelleOrder",
    "echelle_scene",
    "star_field",
    "flat_field",
    "load_scene",
    "scale_scene",
    "mirror_channels",
    "make_scene",
    "SCENE_KINDS",
    "write_traces",
    "read_traces",
]

SCENE_KINDS = ("echelle", "stars", "flat", "none", "sky-gradient", "sky-field", "echelle-gradient", "stars-moffat",
               "stars-crowded", "galaxies", "nebula", "long-slit", "imaging", "imaging-crowded")


def _stellar_spectrum(n: int, rng: np.random.Generator, line_density: float) -> tuple[np.ndarray, np.ndarray]:
    """Absorption-line transmission (0-1) over ``n`` columns and the line list."""
    n_lines = rng.poisson(line_density * n)
    centres = rng.uniform(0, n, n_lines)
    depths = np.clip(rng.beta(1.2, 3.0, n_lines), 0.02, 0.9)
    widths = rng.uniform(0.8, 3.5, n_lines)
    x = np.arange(n)[:, None]
    transmission = np.ones(n)
    for start in range(0, n_lines, 256):  # bounded memory: 256 lines at a time
        c, d, w = centres[start : start + 256], depths[start : start + 256], widths[start : start + 256]
        transmission *= np.prod(1.0 - d * np.exp(-0.5 * ((x - c) / w) ** 2), axis=1)
    return transmission, np.column_stack([centres, depths, widths])


def echelle_scene(
    geometry: ReadoutGeometry,
    *,
    seed: int = 0,
    order_spacing: float | None = None,
    profile_sigma: float = 1.6,
    curvature: float = 40.0,
    line_density: float = 0.04,
    temperature: float = 3500.0,
    tilt: float = 4.0,
) -> Scene:
    """A cross-dispersed echelle spectrum of a cool star (unscaled, peak of order 1 e-).

    Parameters
    ----------
    geometry : ReadoutGeometry
    seed : int
    order_spacing : float, optional
        Rows between orders; default ``n_cols / 73`` (56 rows on an H4RG, as NIRPS).
    profile_sigma : float
        Spatial sigma of the order profile, pixels.
    curvature : float
        Sag of each order from the centre to the edges of the array, rows
        (0 with ``tilt=0``: straight orders that light every channel over the same rows).
    line_density : float
        Absorption lines per column.
    temperature : float
        Blackbody temperature setting the continuum slope across orders, K.
    tilt : float
        Rise of each order from the centre to the edges, rows.
    """
    rng = np.random.default_rng([int(seed), 101])
    n_rows, n_cols = geometry.shape
    spacing = order_spacing or n_cols / 73.0
    x = np.arange(n_cols)
    u = (x - n_cols / 2) / (n_cols / 2)  # -1 .. 1 across the array
    sag = curvature * u**2
    first = geometry.science_rows.start - curvature - 3 * profile_sigma + rng.uniform(0, spacing)
    centres0 = np.arange(first, n_rows + 3 * profile_sigma, spacing)
    image = np.zeros((n_rows, n_cols), dtype=np.float64)
    rows = np.arange(n_rows)[:, None]
    orders = []
    for i, c0 in enumerate(centres0):
        centre = c0 + sag + tilt * u
        wavelength_um = 0.97 + 0.85 * (i + 0.5 + u / 2) / len(centres0)
        planck = 1.0 / (wavelength_um**5 * (np.exp(14388.0 / (wavelength_um * temperature)) - 1.0))
        blaze = np.sinc(0.8 * u) ** 2
        continuum = planck * blaze
        transmission, lines = _stellar_spectrum(n_cols, rng, line_density)
        spectrum = continuum * transmission
        lo = max(0, int(np.floor(centre.min() - 5 * profile_sigma)))
        hi = min(n_rows, int(np.ceil(centre.max() + 5 * profile_sigma)) + 1)
        if hi <= lo:
            continue
        profile = np.exp(-0.5 * ((rows[lo:hi] - centre) / profile_sigma) ** 2) / (np.sqrt(2 * np.pi) * profile_sigma)
        image[lo:hi] += profile * spectrum
        orders.append(EchelleOrder(centre, profile_sigma, spectrum, continuum, lines))
    peak = max((o.spectrum.max() for o in orders), default=1.0)
    orders = [EchelleOrder(o.center, o.sigma, o.spectrum / peak, o.continuum / peak, o.lines) for o in orders]
    return Scene(science_only(image / peak, geometry), "echelle", orders)


def star_field(
    geometry: ReadoutGeometry, *, seed: int = 0, density: float = 2e-3, brightest: float = 3000.0, psf_sigma: float = 1.2
) -> Scene:
    """Point sources with a power-law flux distribution (electrons per star over the ramp).

    Parameters
    ----------
    density : float
        Stars per pixel.
    brightest : float
        Total electrons of the brightest stars; counts rise as flux^-1.5 below.
    psf_sigma : float
        Gaussian PSF sigma, pixels.
    """
    rng = np.random.default_rng([int(seed), 102])
    n_rows, n_cols = geometry.shape
    n_stars = rng.poisson(density * n_rows * n_cols)
    flux = brightest * rng.uniform(0.01, 1.0, n_stars) ** 2  # many faint, few bright
    ys, xs = rng.uniform(0, n_rows, n_stars), rng.uniform(0, n_cols, n_stars)
    image = np.zeros((n_rows, n_cols), dtype=np.float64)
    half = int(np.ceil(4 * psf_sigma))
    offsets = np.arange(-half, half + 1)
    for f, y, x in zip(flux, ys, xs):
        iy, ix = int(y) + offsets, int(x) + offsets
        keep_y, keep_x = (iy >= 0) & (iy < n_rows), (ix >= 0) & (ix < n_cols)
        py = np.exp(-0.5 * ((iy + 0.5 - y) / psf_sigma) ** 2)
        px = np.exp(-0.5 * ((ix + 0.5 - x) / psf_sigma) ** 2)
        stamp = f * np.outer(py, px) / (2 * np.pi * psf_sigma**2)
        image[np.ix_(iy[keep_y], ix[keep_x])] += stamp[np.ix_(keep_y, keep_x)]
    return Scene(science_only(image, geometry), "stars")


def flat_field(geometry: ReadoutGeometry, *, level: float = 30.0, seed: int = 0, prnu: float = 0.01) -> Scene:
    """Uniform illumination of ``level`` electrons over the ramp with a pixel response spread ``prnu``."""
    rng = np.random.default_rng([int(seed), 103])
    image = level * (1.0 + prnu * rng.standard_normal(geometry.shape))
    return Scene(science_only(image, geometry), "flat")


def load_scene(path: str | os.PathLike, geometry: ReadoutGeometry, *, hdu: int | str = 0) -> Scene:
    """A user's FITS image as a scene; it must have the geometry's shape."""
    path = Path(path)
    try:
        with fits.open(path) as hdul:
            data = hdul[hdu].data
            image = None if data is None else np.asarray(data, dtype=np.float64)
    except FileNotFoundError:
        raise RampInputError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise RampInputError(f"{path}: not a readable FITS image ({one_line(err)})") from None
    if image is None or image.shape != geometry.shape:
        shape = "no data" if image is None else " x ".join(map(str, image.shape))
        raise RampInputError(f"{path}: scene is {shape}, expected {geometry.n_rows} x {geometry.n_cols}")
    return Scene(science_only(image, geometry), "user")


def scale_scene(scene: Scene, geometry: ReadoutGeometry, *, p99: float = 30.0, clip_factor: float | None = 2.0) -> Scene:
    """Scale so the 99th percentile of science pixels is ``p99`` electrons, as the reference implementation does.

    Negative and non-finite values become 0, and values above
    ``clip_factor * p99`` become 0 (the reference implementation's rule;
    ``clip_factor=None`` keeps them).
    """
    science = scene.image[geometry.science_rows, geometry.science_cols]
    current = np.percentile(science, 99)
    if not current > 0:
        raise RampInputError(f"cannot scale a {scene.kind} scene whose 99th percentile is {current}")
    scaled = scene.scaled(p99 / current)
    image = np.nan_to_num(scaled.image, nan=0.0, posinf=0.0, neginf=0.0)
    image[image < 0] = 0.0
    if clip_factor is not None:
        image[image > clip_factor * p99] = 0.0
    return Scene(image.astype(np.float32), scaled.kind, scaled.orders, scaled.scale, scaled.sky, scaled.sources)


def mirror_channels(image: np.ndarray, geometry: ReadoutGeometry) -> np.ndarray:
    """Flip the reversed (butterfly) channels of an image, as the reference implementation mirrors its scene."""
    readout = geometry.to_readout_order(image)
    return readout.reshape(image.shape)


def make_scene(
    kind: str, geometry: ReadoutGeometry, *, seed: int = 0, p99: float = 30.0, flat_level: float = 30.0
) -> Scene:
    """A scene by name (:data:`SCENE_KINDS`).

    ``echelle`` (scaled to ``p99``), ``stars`` (Gaussian PSFs), ``flat`` (``flat_level``), ``none``; and
    the imaging and long-slit scenes of :mod:`hxrg_denoiser.simulate.imaging`: ``sky-gradient`` (a sky of
    mean ``flat_level`` rising from 0.5 to 1.5 times it across the columns), ``sky-field`` (a gradient in
    both directions and a low-order random field), ``echelle-gradient`` (the echelle on a sky gradient),
    ``stars-moffat`` and ``stars-crowded`` (Moffat PSFs, 2e-3 and 2e-2 stars per pixel), ``galaxies``
    (Sérsic profiles), ``nebula`` (extended emission), ``long-slit``, ``imaging`` and ``imaging-crowded``
    (a sky, galaxies and stars).
    """
    from hxrg_denoiser.simulate import imaging

    if kind == "echelle":
        return scale_scene(echelle_scene(geometry, seed=seed), geometry, p99=p99)
    if kind == "stars":
        return star_field(geometry, seed=seed)
    if kind == "flat":
        return flat_field(geometry, level=flat_level, seed=seed)
    if kind == "none":
        return Scene(np.zeros(geometry.shape, np.float32), "none")
    if kind == "sky-gradient":
        return imaging.smooth_sky(geometry, seed=seed, level=flat_level, gradient=(1.0, 0.0))
    if kind == "sky-field":
        return imaging.smooth_sky(geometry, seed=seed, level=flat_level, gradient=(0.6, 0.3), field=0.1)
    if kind == "echelle-gradient":
        echelle = scale_scene(echelle_scene(geometry, seed=seed), geometry, p99=p99)
        sky = imaging.smooth_sky(geometry, seed=seed, level=flat_level, gradient=(1.0, 0.0))
        return Scene(echelle.image + sky.image, kind, echelle.orders, echelle.scale, sky=sky.image)
    if kind in ("stars-moffat", "stars-crowded"):
        scene = imaging.moffat_stars(geometry, seed=seed, density=2e-2 if kind == "stars-crowded" else 2e-3)
        return Scene(scene.image, kind, sources=scene.sources)
    if kind == "galaxies":
        return imaging.galaxies(geometry, seed=seed)
    if kind == "nebula":
        return imaging.nebula(geometry, seed=seed)
    if kind == "long-slit":
        return imaging.long_slit(geometry, seed=seed)
    if kind in ("imaging", "imaging-crowded"):
        return imaging.imaging_field(geometry, seed=seed, crowded=kind == "imaging-crowded")
    raise UsageError(f"unknown scene {kind!r}; choose one of {SCENE_KINDS} or a FITS file")


def write_traces(path: str | os.PathLike, orders: list[EchelleOrder], *, overwrite: bool = False) -> Path:
    """Write trace centres (``CENTER``, rows, NaN where absent) and widths (``SIGMA``) to a FITS file."""
    centre = np.array([o.center for o in orders], dtype=np.float64).reshape(len(orders), -1)
    sigma = np.array([o.sigma for o in orders], dtype=np.float64)
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(centre, name="CENTER"), fits.ImageHDU(sigma, name="SIGMA")])
    with atomic_output(path, overwrite=overwrite) as tmp:
        hdus.writeto(tmp)
    return Path(path)


def read_traces(path: str | os.PathLike, geometry: ReadoutGeometry) -> list[EchelleOrder]:
    """Traces written by :func:`write_traces`; spectra are unknown (zeros) until extracted from a truth image.

    Raises
    ------
    RampInputError
        If the file is missing, unreadable or its traces do not span the geometry's columns.
    """
    path = Path(path)
    try:
        with fits.open(path) as hdul:
            centre = np.asarray(hdul["CENTER"].data, dtype=np.float64)
            sigma = np.asarray(hdul["SIGMA"].data, dtype=np.float64)
    except FileNotFoundError:
        raise RampInputError(f"{path}: no such file") from None
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise RampInputError(f"{path}: not a traces file with CENTER and SIGMA ({one_line(err)})") from None
    if centre.ndim != 2 or centre.shape[1] != geometry.n_cols or sigma.shape != (centre.shape[0],):
        raise RampInputError(f"{path}: CENTER is {centre.shape}, expected (orders, {geometry.n_cols}) with one SIGMA each")
    zeros = np.zeros(geometry.n_cols)
    return [EchelleOrder(c, float(s), zeros, zeros, np.zeros((0, 3))) for c, s in zip(centre, sigma)]
