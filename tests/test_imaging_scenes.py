"""Imaging and long-slit scenes on every geometry: known totals, profiles and skies."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammainc

from hxrg_denoiser.cli import main
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.simulate import imaging
from hxrg_denoiser.simulate.scenes import SCENE_KINDS, make_scene

NEW_KINDS = SCENE_KINDS[SCENE_KINDS.index("sky-gradient"):]
GEOMETRIES = [preset("nirps-h4rg", n_rows=72), preset("h2rg-32", n_rows=72), preset("jwst-h2rg", n_rows=72)]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: g.name)
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_every_scene_on_every_geometry_is_finite_dark_on_reference_pixels_and_seeded(geometry, kind):
    scene = make_scene(kind, geometry, seed=5)
    assert scene.image.shape == geometry.shape and scene.image.dtype == np.float32
    assert np.isfinite(scene.image).all() and (scene.image >= 0).all()
    assert not scene.image[geometry.reference_mask].any()
    assert scene.image.sum() > 0
    np.testing.assert_array_equal(make_scene(kind, geometry, seed=5).image, scene.image)
    if kind not in ("sky-gradient",):  # a plain gradient has nothing random
        assert not np.array_equal(make_scene(kind, geometry, seed=6).image, scene.image)
    if scene.sky is not None:
        assert (scene.image >= scene.sky - 1e-3).all()  # the sky is part of the image


def test_moffat_stamps_hold_the_analytic_flux_within_their_radius():
    """A star drawn one by one, and the many drawn through the FFT, hold flux x (1 - (1 + R^2/a^2)^(1-beta))."""
    fwhm, beta, flux, radius = 2.5, 2.5, 1e4, 20
    alpha = imaging.moffat_alpha(fwhm, beta)
    assert fwhm == pytest.approx(2 * alpha * np.sqrt(2 ** (1 / beta) - 1))
    norm = (beta - 1) / (np.pi * alpha**2)

    def profile(dx, dy, total=flux):
        return total * norm * (1 + (dx**2 + dy**2) / alpha**2) ** (-beta)

    image = np.zeros((64, 64))
    imaging._add_stamp(image, 32.3, 31.7, radius, profile)
    inside = 1 - (1 + radius**2 / alpha**2) ** (1 - beta)  # of the circle; the square stamp holds a little more
    assert inside * flux < image.sum() < flux
    assert image.sum() == pytest.approx(flux, rel=0.005)
    assert np.unravel_index(image.argmax(), image.shape) == (31, 32)
    sources = np.zeros(50, imaging.SOURCE_DTYPE)
    rng = np.random.default_rng(1)
    sources["x"], sources["y"], sources["flux"] = rng.uniform(30, 98, 50), rng.uniform(30, 98, 50), 100.0
    spread = imaging._convolved_points(sources, (128, 128), radius, lambda dx, dy: profile(dx, dy, 1.0))
    assert spread.sum() == pytest.approx(50 * 100.0, rel=0.005)


@pytest.mark.parametrize("index", [0.5, 1.0, 4.0])
def test_sersic_profiles_hold_their_light_as_the_incomplete_gamma_says(index):
    """Flux within the effective radius and within the stamp, against ``P(2n, b_n (R/Re)^(1/n))``."""
    flux, radius = 5e4, 4.0
    profile = imaging._sersic_profile(flux, radius, index, 1.0, 0.0)
    image = np.zeros((301, 301))
    imaging._add_stamp(image, 150.5, 150.5, 150, profile, core=2)
    y, x = np.mgrid[:301, :301] + 0.5
    r = np.hypot(x - 150.5, y - 150.5)
    b = imaging.sersic_b(index)
    assert gammainc(2 * index, b) == pytest.approx(0.5, abs=1e-12)  # b_n: half the light within Re
    assert b == pytest.approx(2 * index - 1 / 3 + 4 / (405 * index) + 46 / (25515 * index**2), abs=1e-3)  # C&B 1999
    inside = image[r <= 150].sum() / flux
    assert inside == pytest.approx(gammainc(2 * index, b * (150 / radius) ** (1 / index)), abs=0.01)
    half = image[r <= radius].sum() / flux
    assert half == pytest.approx(0.5, abs=0.03)  # pixels on the circle's edge: a few per cent


def test_a_sky_gradient_is_continuous_across_channel_boundaries():
    """The sky that must be kept: every column step equal, amplifiers' means apart by the true gradient."""
    geometry = preset("jwst-h2rg", n_rows=64)
    scene = make_scene("sky-gradient", geometry, flat_level=100.0)
    rows, cols = geometry.science_rows, geometry.science_cols
    steps = np.diff(scene.image[rows, cols].astype(np.float64), axis=1)
    assert np.ptp(steps) < 1e-3 and steps.mean() == pytest.approx(100.0 / geometry.n_cols, rel=1e-3)
    means = [scene.image[rows, c * 512 + 4:(c + 1) * 512 - 4].mean() for c in range(4)]  # the same columns of each
    assert np.diff(means) == pytest.approx(25.0, rel=0.02)  # 0.5 -> 1.5 x 100 e- over 4 amplifiers
    np.testing.assert_array_equal(scene.sky, scene.image)


def test_long_slit_traces_carry_their_spectra_over_the_sky():
    geometry = ReadoutGeometry("slit", 200, 256, 4)
    scene = imaging.long_slit(geometry, seed=3, objects=1)
    (order,) = scene.orders
    assert scene.sky is not None
    target = scene.image - scene.sky
    cols = np.arange(geometry.science_cols.start, geometry.science_cols.stop)
    centre = int(round(float(np.mean(order.center))))
    window = slice(centre - int(6 * order.sigma), centre + int(6 * order.sigma) + 1)
    np.testing.assert_allclose(target[window, cols].sum(axis=0), order.spectrum[cols], rtol=2e-3)
    # the sky fills the slit: sky lines are present at every row of it, not outside
    assert scene.sky[100].max() > 100 and not scene.sky[5].any()


def test_scaling_a_scene_scales_its_sky_and_sources():
    scene = make_scene("imaging", preset("h2rg-32", n_rows=64), seed=2)
    doubled = scene.scaled(2.0)
    np.testing.assert_allclose(doubled.sky, 2 * scene.sky)
    np.testing.assert_allclose(doubled.sources["flux"], 2 * scene.sources["flux"])
    assert len(scene.sources) > 0 and set(np.unique(scene.sources["kind"])) == {imaging.STAR, imaging.GALAXY}


def test_the_simulator_writes_an_imaging_exposure_on_the_jwst_geometry(tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", "science", "--geometry", "jwst-h2rg", "--rows", "32", "--reads", "3", "--scene",
                 "imaging", "--noise", "white", "-o", str(out), "-q"]) == 0
    assert (out / "cube.fits").is_file() and (out / "truth.fits").is_file()
