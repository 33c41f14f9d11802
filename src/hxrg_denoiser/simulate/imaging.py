"""Imaging and long-slit scenes for any geometry: what the benchmark and training had not seen.

Each function returns a :class:`~hxrg_denoiser.simulate.scenes.Scene` of expected electrons accumulated
over the ramp, seeded, with what made it: the smooth sky it holds (``sky``, to judge whether a method
keeps it) and its point sources and galaxies (``sources``, to judge photometry), or its traces
(``orders``, for extraction).

* :func:`smooth_sky`: a level, a gradient across the array and a low-order random field, continuous
  across channel boundaries (zodiacal light, scattered light, a sky);
* :func:`moffat_stars`: stars with Moffat profiles (wide wings), flux a power law, sparse or crowded,
  bright enough to saturate their cores on request;
* :func:`galaxies`: Sérsic profiles (index 0.5-4), elliptical;
* :func:`nebula`: extended emission, a log-normal random field of power spectrum ``k^-3`` under a few
  broad envelopes;
* :func:`long_slit`: a long-slit spectrum (dispersion along rows), sky lines filling the slit and
  object traces;
* :func:`imaging_field`: a sky, galaxies and stars together.

Scenes never put light on reference pixels.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gamma as gamma_function
from scipy.special import gammaincinv

from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate.scene_types import EchelleOrder, Scene, science_only

__all__ = [
    "SOURCE_DTYPE",
    "smooth_sky",
    "moffat_stars",
    "moffat_alpha",
    "galaxies",
    "sersic_b",
    "nebula",
    "long_slit",
    "imaging_field",
]

# One row per source: position (column, row: pixel centres at integer + 0.5), total electrons, kind
# (0: star, 1: galaxy) and, for a galaxy, effective radius (pixels), Sérsic index, axis ratio and angle.
SOURCE_DTYPE = np.dtype([("x", "f8"), ("y", "f8"), ("flux", "f8"), ("kind", "i1"), ("radius", "f8"),
                         ("index", "f8"), ("q", "f8"), ("angle", "f8")])
STAR, GALAXY = 0, 1
OVERSAMPLE = 3  # sub-pixels per pixel side where profiles are evaluated
CORE_OVERSAMPLE = 32  # and near a galaxy's centre (n = 4, Re = 1.5 px: total flux within 0.13 %)
MIN_ELECTRONS = 1e-3  # a stamp reaches out to where its profile falls below this many electrons per pixel
EXACT_STAMPS_ABOVE = 3e3  # stars brighter than this (electrons) are drawn one by one at their exact positions


def _grid(geometry: ReadoutGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in units of the array size, -0.5 .. 0.5: ``(x, y)`` broadcastable."""
    n_rows, n_cols = geometry.shape
    x = (np.arange(n_cols) + 0.5) / n_cols - 0.5
    y = (np.arange(n_rows) + 0.5) / n_rows - 0.5
    return x[None, :], y[:, None]


def smooth_sky(geometry: ReadoutGeometry, *, seed: int = 0, level: float = 100.0,
               gradient: tuple[float, float] = (0.5, 0.0), field: float = 0.0, max_order: int = 3) -> Scene:
    """A smooth sky: ``level * (1 + gx x + gy y + field * f(x, y))``, electrons over the ramp.

    Parameters
    ----------
    geometry : ReadoutGeometry
    seed : int
    level : float
        Mean electrons over the ramp.
    gradient : (float, float)
        Fractional change of the level across the array's columns (``gx``) and rows (``gy``): ``(0.5, 0)``
        rises from 0.75 to 1.25 times ``level`` from the first to the last column.
    field : float
        Standard deviation of a low-order random field, in units of ``level``: cosines of up to
        ``max_order`` cycles across the array in each direction, random amplitudes and phases.
    max_order : int

    Returns
    -------
    Scene
        ``kind="sky"``; ``sky`` is the image itself. Negative values (a strong field) are clipped to 0.
    """
    rng = np.random.default_rng([int(seed), 104])
    x, y = _grid(geometry)
    relative = 1.0 + gradient[0] * x + gradient[1] * y
    if field > 0:
        modes = np.zeros(np.broadcast_shapes(x.shape, y.shape))
        for kx in range(max_order + 1):
            for ky in range(max_order + 1):
                if kx == ky == 0:
                    continue
                amplitude = rng.normal() / np.hypot(kx, ky)
                phase = rng.uniform(0, 2 * np.pi)
                modes += amplitude * np.cos(2 * np.pi * (kx * x + ky * y) + phase)
        relative = relative + field * modes / max(float(modes.std()), 1e-12)
    image = science_only(np.clip(level * relative, 0.0, None), geometry)
    return Scene(image, "sky", sky=image.copy())


def moffat_alpha(fwhm: float, beta: float) -> float:
    """The Moffat core width ``alpha`` of a profile of full width at half maximum ``fwhm`` (pixels)."""
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def _stamp_radius(peak: float, scale: float, power: float, limit: int) -> int:
    """Pixels out to where a profile ``peak (1 + r^2 / scale^2)^-power`` falls below :data:`MIN_ELECTRONS`."""
    if peak <= MIN_ELECTRONS:
        return 1
    radius = scale * np.sqrt((peak / MIN_ELECTRONS) ** (1.0 / power) - 1.0)
    return int(min(max(np.ceil(radius), 1), limit))


def _pixel_means(profile, x: float, y: float, ix: np.ndarray, iy: np.ndarray, oversample: int) -> np.ndarray:
    """Mean of ``profile`` over each pixel ``(iy, ix)`` on an ``oversample`` x ``oversample`` grid of samples."""
    sub = (np.arange(oversample) + 0.5) / oversample
    sx = (ix[:, None] + sub[None, :]).ravel() - x
    sy = (iy[:, None] + sub[None, :]).ravel() - y
    values = profile(sx[None, :], sy[:, None])
    return values.reshape(iy.size, oversample, ix.size, oversample).mean(axis=(1, 3))


def _add_stamp(image: np.ndarray, x: float, y: float, radius: int, profile, *, core: int = 0) -> None:
    """Add ``profile(dx, dy)`` (electrons per unit area at offsets from the centre, pixels) integrated over
    each pixel within ``radius`` pixels of ``(x, y)``: ``OVERSAMPLE`` x ``OVERSAMPLE`` samples, and
    ``CORE_OVERSAMPLE`` x ``CORE_OVERSAMPLE`` within ``core`` pixels of the centre (a cusp, as a Sérsic
    profile of high index has, is not then taken for its value at one sample)."""
    n_rows, n_cols = image.shape
    ix = np.arange(int(np.floor(x)) - radius, int(np.floor(x)) + radius + 1)
    iy = np.arange(int(np.floor(y)) - radius, int(np.floor(y)) + radius + 1)
    ix, iy = ix[(ix >= 0) & (ix < n_cols)], iy[(iy >= 0) & (iy < n_rows)]
    if not ix.size or not iy.size:
        return
    pixels = _pixel_means(profile, x, y, ix, iy, OVERSAMPLE)
    if core:
        near_x, near_y = np.abs(ix + 0.5 - x) <= core + 0.5, np.abs(iy + 0.5 - y) <= core + 0.5
        if near_x.any() and near_y.any():
            pixels[np.ix_(near_y, near_x)] = _pixel_means(profile, x, y, ix[near_x], iy[near_y], CORE_OVERSAMPLE)
    image[np.ix_(iy, ix)] += pixels


def moffat_stars(geometry: ReadoutGeometry, *, seed: int = 0, density: float = 2e-3, brightest: float = 1e5,
                 faintest: float = 100.0, slope: float = 1.5, fwhm: float = 2.5, beta: float = 2.5,
                 max_radius: int = 64) -> Scene:
    """Stars with Moffat profiles, total electrons from ``faintest`` to ``brightest`` distributed as ``N(>F) ~ F^-slope``.

    Parameters
    ----------
    geometry : ReadoutGeometry
    seed : int
    density : float
        Stars per pixel (2e-3: sparse, 3,000 on a 1k x 1.5k field; 2e-2: crowded).
    brightest, faintest : float
        Total electrons over the ramp of the brightest and the faintest stars. With the simulator's
        ``saturation`` (full well), the brightest stars' cores saturate.
    slope : float
        Power-law index of the cumulative flux distribution.
    fwhm : float
        Full width at half maximum, pixels.
    beta : float
        Moffat index (2.5: wings much wider than a Gaussian's).
    max_radius : int
        Largest stamp radius, pixels (the brightest stars' wings are cut there).

    Returns
    -------
    Scene
        ``kind="stars"``, ``sources``: one row per star (:data:`SOURCE_DTYPE`).
    """
    rng = np.random.default_rng([int(seed), 105])
    n_rows, n_cols = geometry.shape
    count = rng.poisson(density * n_rows * n_cols)
    u = rng.uniform(size=count)
    flux = faintest * (1.0 - u * (1.0 - (faintest / brightest) ** slope)) ** (-1.0 / slope)
    sources = np.zeros(count, SOURCE_DTYPE)
    sources["x"], sources["y"], sources["flux"], sources["kind"] = (
        rng.uniform(0, n_cols, count), rng.uniform(0, n_rows, count), flux, STAR)
    alpha = moffat_alpha(fwhm, beta)
    norm = (beta - 1.0) / (np.pi * alpha**2)

    def profile(dx, dy, total=1.0):
        return total * norm * (1.0 + (dx**2 + dy**2) / alpha**2) ** (-beta)

    image = np.zeros((n_rows, n_cols), dtype=np.float64)
    exact = sources["flux"] >= EXACT_STAMPS_ABOVE
    for source in sources[exact]:  # bright stars: each drawn at its exact sub-pixel position
        total = float(source["flux"])
        _add_stamp(image, source["x"], source["y"], _stamp_radius(total * norm, alpha, beta, max_radius),
                   lambda dx, dy, total=total: profile(dx, dy, total))
    faint = sources[~exact]
    if faint.size:  # the many faint ones: their fluxes shared bilinearly on pixels, convolved with the PSF
        radius = _stamp_radius(EXACT_STAMPS_ABOVE * norm, alpha, beta, max_radius)
        image += _convolved_points(faint, (n_rows, n_cols), radius, profile)
    return Scene(science_only(image, geometry), "stars", sources=sources)


def _convolved_points(sources: np.ndarray, shape: tuple[int, int], radius: int, profile) -> np.ndarray:
    """Point sources of ``sources["flux"]`` at ``(x, y)`` spread bilinearly over the four nearest pixel centres,
    convolved (FFT, padded: no wrap-around) with ``profile`` integrated over pixels within ``radius``."""
    n_rows, n_cols = shape
    padded = (n_rows + 2 * radius + 1, n_cols + 2 * radius + 1)
    points = np.zeros(padded)
    fx, fy = sources["x"] - 0.5, sources["y"] - 0.5  # pixel-centre coordinates
    x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    wx, wy = fx - x0, fy - y0
    for dy, weight_y in ((0, 1.0 - wy), (1, wy)):
        for dx, weight_x in ((0, 1.0 - wx), (1, wx)):
            np.add.at(points, (y0 + dy + radius, x0 + dx + radius), sources["flux"] * weight_x * weight_y)
    kernel = np.zeros(padded)
    stamp = np.zeros((2 * radius + 1, 2 * radius + 1))
    _add_stamp(stamp, radius + 0.5, radius + 0.5, radius, profile)
    kernel[: 2 * radius + 1, : 2 * radius + 1] = stamp
    kernel = np.roll(kernel, (-radius, -radius), axis=(0, 1))  # centred on pixel (0, 0)
    image = np.fft.irfft2(np.fft.rfft2(points) * np.fft.rfft2(kernel), s=padded)
    return np.clip(image[radius : radius + n_rows, radius : radius + n_cols], 0.0, None)


def sersic_b(n: float) -> float:
    """``b_n`` of a Sérsic profile of index ``n``: half the light lies within the effective radius, i.e.
    ``P(2n, b_n) = 1/2`` (the regularised lower incomplete gamma function, inverted exactly)."""
    return float(gammaincinv(2.0 * n, 0.5))


def _sersic_profile(total: float, radius: float, index: float, q: float, angle: float):
    """Electrons per unit area of an elliptical Sérsic galaxy of ``total`` electrons (untruncated)."""
    b = sersic_b(index)
    surface = total / (2.0 * np.pi * q * radius**2 * index * np.exp(b) * b ** (-2.0 * index)
                       * gamma_function(2.0 * index))
    cos, sin = np.cos(angle), np.sin(angle)

    def profile(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        major = dx * cos + dy * sin
        minor = -dx * sin + dy * cos
        r = np.sqrt(major**2 + (minor / q) ** 2)
        return surface * np.exp(-b * ((r / radius) ** (1.0 / index) - 1.0))

    return profile


def galaxies(geometry: ReadoutGeometry, *, seed: int = 0, density: float = 3e-4, brightest: float = 5e4,
             faintest: float = 300.0, radius_range: tuple[float, float] = (1.5, 15.0),
             index_range: tuple[float, float] = (0.5, 4.0), truncation: float = 6.0, max_radius: int = 96) -> Scene:
    """Elliptical Sérsic galaxies: total electrons log-uniform, effective radius log-uniform, index uniform,
    axis ratio 0.3-1, random angle; each profile is cut at ``truncation`` effective radii (and at
    ``max_radius`` pixels).

    Returns
    -------
    Scene
        ``kind="galaxies"``, ``sources``: one row per galaxy (:data:`SOURCE_DTYPE`; ``flux`` is the untruncated
        total).
    """
    rng = np.random.default_rng([int(seed), 106])
    n_rows, n_cols = geometry.shape
    count = rng.poisson(density * n_rows * n_cols)
    sources = np.zeros(count, SOURCE_DTYPE)
    sources["x"], sources["y"] = rng.uniform(0, n_cols, count), rng.uniform(0, n_rows, count)
    sources["flux"] = np.exp(rng.uniform(np.log(faintest), np.log(brightest), count))
    sources["kind"] = GALAXY
    low, high = np.log(radius_range)
    sources["radius"] = np.exp(rng.uniform(low, high, count))
    sources["index"] = rng.uniform(*index_range, count)
    sources["q"] = rng.uniform(0.3, 1.0, count)
    sources["angle"] = rng.uniform(0, np.pi, count)
    image = np.zeros((n_rows, n_cols), dtype=np.float64)
    for source in sources:
        profile = _sersic_profile(*(float(source[k]) for k in ("flux", "radius", "index", "q", "angle")))
        cut = truncation * float(source["radius"])

        def truncated(dx, dy, profile=profile, cut=cut):
            return np.where(dx**2 + dy**2 <= cut**2, profile(dx, dy), 0.0)

        _add_stamp(image, source["x"], source["y"], int(min(np.ceil(cut), max_radius)), truncated, core=2)
    return Scene(science_only(image, geometry), "galaxies", sources=sources)


def nebula(geometry: ReadoutGeometry, *, seed: int = 0, level: float = 200.0, contrast: float = 1.0,
           power: float = 3.0, blobs: int = 3) -> Scene:
    """Extended emission: a log-normal random field (power spectrum ``k^-power``) under ``blobs`` broad
    Gaussian envelopes, mean ``level`` electrons over the ramp where the envelopes are.

    Parameters
    ----------
    contrast : float
        Standard deviation of the field's logarithm (1: filaments several times the mean).
    """
    rng = np.random.default_rng([int(seed), 107])
    n_rows, n_cols = geometry.shape
    ky = np.fft.fftfreq(n_rows)[:, None]
    kx = np.fft.rfftfreq(n_cols)[None, :]
    k = np.hypot(kx, ky)
    k[0, 0] = np.inf
    amplitude = (k ** (-power / 2.0)).astype(np.float32)
    noise = rng.standard_normal((n_rows, n_cols), dtype=np.float32)
    field = np.fft.irfft2(np.fft.rfft2(noise) * amplitude, s=(n_rows, n_cols))
    field = (field - field.mean()) / max(float(field.std()), 1e-12)
    emission = np.exp(contrast * field - 0.5 * contrast**2)  # mean 1
    x, y = _grid(geometry)
    envelope = np.zeros((n_rows, n_cols))
    for _ in range(blobs):
        cx, cy = rng.uniform(-0.4, 0.4, 2)
        width = rng.uniform(0.1, 0.3)
        envelope += np.exp(-0.5 * ((x - cx) ** 2 + (y - cy) ** 2) / width**2)
    image = science_only(level * emission * np.clip(envelope, 0.0, 1.0), geometry)
    return Scene(image, "nebula")


def long_slit(geometry: ReadoutGeometry, *, seed: int = 0, sky_level: float = 20.0, sky_lines: int = 40,
              line_peak: float = 400.0, objects: int = 2, object_peak: float = 60.0,
              slit_fraction: float = 0.7) -> Scene:
    """A long-slit spectrum: dispersion along the rows (columns are wavelengths), the slit along the columns'
    height over ``slit_fraction`` of the array, sky emission lines and a sky continuum filling it, and
    ``objects`` traces (Gaussian profile of sigma 1.5-3 rows, slightly tilted) with a continuum and lines.

    Returns
    -------
    Scene
        ``kind="long-slit"``; ``orders``: one :class:`~hxrg_denoiser.simulate.scenes.EchelleOrder` per object
        trace (for extraction); ``sky``: the sky's part of the image.
    """
    rng = np.random.default_rng([int(seed), 108])
    n_rows, n_cols = geometry.shape
    rows = np.arange(n_rows)[:, None] + 0.5
    columns = np.arange(n_cols)
    low = n_rows * (1.0 - slit_fraction) / 2.0
    high = n_rows - low
    slit = np.clip(np.minimum(rows - low, high - rows) / 3.0, 0.0, 1.0)  # soft edges, 3 rows
    sky_spectrum = np.full(n_cols, sky_level, dtype=np.float64)
    for centre, peak in zip(rng.uniform(0, n_cols, sky_lines), line_peak * rng.uniform(0.05, 1.0, sky_lines) ** 2):
        sky_spectrum += peak * np.exp(-0.5 * ((columns + 0.5 - centre) / 1.3) ** 2)
    sky = slit * sky_spectrum[None, :]
    image = sky.copy()
    orders = []
    for _ in range(objects):
        centre_row = rng.uniform(low + 10, high - 10)
        sigma = rng.uniform(1.5, 3.0)
        centre = centre_row + rng.uniform(-3, 3) * (columns - n_cols / 2) / max(n_cols, 1)
        continuum = object_peak * np.sqrt(2 * np.pi) * sigma * (1.0 + 0.3 * np.sin(2 * np.pi * columns / n_cols
                                                                                    + rng.uniform(0, 2 * np.pi)))
        n_lines = rng.poisson(0.01 * n_cols)
        lines = np.column_stack([rng.uniform(0, n_cols, n_lines), rng.uniform(-1.0, 0.8, n_lines),
                                 rng.uniform(0.8, 2.5, n_lines)])
        spectrum = continuum.copy()
        for c, depth, width in lines:  # a negative depth is an emission line
            spectrum *= 1.0 - depth * np.exp(-0.5 * ((columns - c) / width) ** 2)
        profile = np.exp(-0.5 * ((rows - 0.5 - centre[None, :]) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
        image += profile * spectrum[None, :]
        orders.append(EchelleOrder(centre, sigma, spectrum, continuum, lines))
    science = science_only(image, geometry)
    return Scene(science, "long-slit", orders=orders, sky=science_only(sky, geometry))


def imaging_field(geometry: ReadoutGeometry, *, seed: int = 0, sky_level: float = 50.0,
                  gradient: tuple[float, float] = (0.4, -0.2), crowded: bool = False) -> Scene:
    """An imaging field: a smooth sky with a gradient and a weak random field, galaxies and stars.

    Returns
    -------
    Scene
        ``kind="imaging"`` (``"imaging-crowded"``), ``sky`` the sky alone, ``sources`` the stars and galaxies.
    """
    sky = smooth_sky(geometry, seed=seed, level=sky_level, gradient=gradient, field=0.05)
    galaxy = galaxies(geometry, seed=seed)
    stars = moffat_stars(geometry, seed=seed, density=2e-2 if crowded else 2e-3)
    image = (sky.image + galaxy.image + stars.image).astype(np.float32)
    sources = np.concatenate([s for s in (stars.sources, galaxy.sources) if s is not None])
    return Scene(image, "imaging-crowded" if crowded else "imaging", sky=sky.image, sources=sources)
