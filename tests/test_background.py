"""The scene's smooth background across the columns: kept by --clean --keep-background, never invented."""

from __future__ import annotations

import numpy as np
from conftest import write_cube

from hxrg_denoiser.bench.photometry import channel_mean_errors
from hxrg_denoiser.classical.background import column_background
from hxrg_denoiser.classical.cleaning import clean_flux_image
from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.scenes import make_scene

GEOMETRY = preset("jwst-h2rg", n_rows=192)


def _exposure(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    scene = make_scene(kind, GEOMETRY, seed=seed, flat_level=150.0)
    return scene.image, simulate_cube(GEOMETRY, 8, noise_preset("nirspec"), scene=scene.image, seed=seed)


def test_a_sky_gradient_across_amplifiers_is_kept_and_the_noise_still_goes():
    truth, cube = _exposure("sky-gradient", 31)
    seed = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed"))
    kept = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed", clean=True, keep_background=True))
    plain = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed", clean=True))
    science = ~GEOMETRY.reference_mask

    def rms(image):
        return float(np.sqrt(np.mean((image.sci - truth)[science] ** 2)))

    true_steps = np.diff(channel_mean_errors(truth, truth, GEOMETRY).truth)  # the sky between amplifiers
    moved = channel_mean_errors(kept.sci, truth, GEOMETRY)
    assert np.abs(np.diff(moved.errors)).max() <= 0.1 * np.abs(true_steps).min(), moved.errors
    assert rms(kept) < rms(seed)  # below the reference-corrected fit: the correlated noise still goes
    # without it, the cleaning takes the gradient for channel levels (what --keep-background is for)
    assert np.abs(np.diff(channel_mean_errors(plain.sci, truth, GEOMETRY).errors)).max() > 0.3 * true_steps.min()
    assert kept.provenance.method == "utr_ref_seed_clean_keepbkg" and kept.provenance.fit.keep_background


def test_a_flat_sky_gets_no_background_and_the_cleaning_is_unchanged():
    truth, cube = _exposure("flat", 32)
    image = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed")).sci
    dark = ~GEOMETRY.reference_mask
    assert not column_background(image, dark, GEOMETRY).any()  # noise alone is not significant
    np.testing.assert_array_equal(clean_flux_image(image, GEOMETRY, background=True),
                                  clean_flux_image(image, GEOMETRY))


def test_the_background_is_a_smooth_function_of_the_column_whatever_the_channel_levels():
    """Channel levels (steps) go to the levels, the gradient to the background: recovered to 1 %."""
    rng = np.random.default_rng(5)
    x = (np.arange(GEOMETRY.n_cols) + 0.5) / GEOMETRY.n_cols - 0.5
    gradient = 40.0 * x + 15.0 * (3 * (2 * x) ** 2 - 1) / 2
    steps = np.repeat(rng.normal(0, 20, GEOMETRY.n_channels), GEOMETRY.channel_width)
    image = gradient[None, :] + steps[None, :] + rng.normal(0, 5, GEOMETRY.shape)
    found = column_background(image, ~GEOMETRY.reference_mask, GEOMETRY)
    centred = gradient - gradient.mean()
    assert np.abs((found[50] - found[50].mean()) - centred).max() < 0.01 * np.ptp(gradient)


def test_the_option_reaches_the_header(tmp_path):
    _, cube = _exposure("sky-gradient", 33)
    write_cube(tmp_path / "in.fits", cube)
    assert main(["fit", str(tmp_path / "in.fits"), "-o", str(tmp_path / "o.fits"), "--clean", "--keep-background",
                 "--geometry", "jwst-h2rg", "-q"]) == 0
    from astropy.io import fits

    header = fits.getheader(tmp_path / "o.fits")
    assert header["KEEPBKG"] is True and header["METHOD"] == "utr_ref_seed_clean_keepbkg"
