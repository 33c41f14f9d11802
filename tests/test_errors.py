"""ERR = sqrt(VAR_POISSON + VAR_RNOISE): calibrated on white + Poisson noise, and the white read noise
estimated apart from the correlated noise."""

from __future__ import annotations

import numpy as np

from hxrg_denoiser.classical.estimators import estimate_read_noise, estimate_white_read_noise
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.simulate.noise import NoiseModel, noise_preset
from hxrg_denoiser.simulate.ramp import simulate_cube


def test_white_read_noise_is_told_from_the_correlated_noise():
    geometry = preset("nirps-h4rg", n_rows=64)
    noise = noise_preset("nirspec")  # white 5.2 e- plus 1/f, ACN, picture frame
    cube = simulate_cube(geometry, 20, noise, seed=4)
    science = cube[:, 4:-4, :]
    white = estimate_white_read_noise(science, geometry.with_rows(science.shape[1]))
    total = estimate_read_noise(science[:, :, 4:-4])
    assert abs(white / noise.white - 1) < 0.05, white
    assert total > white * 1.05


def test_error_is_calibrated_on_dark_and_bright_pixels():
    """White read noise + Poisson: (SCI - truth) / ERR has unit spread on dark and bright pixels alike, and a
    dark pixel read high does not get a larger error than one read low."""
    geometry = ReadoutGeometry("t", 128, 256, 4)
    truth = np.zeros(geometry.shape, dtype=np.float32)
    truth[:, 128:] = 400.0  # e- over the ramp
    cube = simulate_cube(geometry, 20, NoiseModel(white=6.0), scene=truth, seed=8)
    image = fit_cube(cube, geometry, FitOptions(refcorr="none", jump_threshold=None))
    science = ~geometry.reference_mask
    z = (image.sci - truth) / image.err
    for half in (slice(0, 128), slice(128, 256)):
        region = science[:, half]
        assert abs(np.std(z[:, half][region]) - 1) < 0.05
    dark = science.copy()
    dark[:, 128:] = False
    high, low = dark & (image.sci > 0), dark & (image.sci < 0)
    assert abs(np.median(image.err[high]) / np.median(image.err[low]) - 1) < 0.01
    np.testing.assert_allclose(image.err**2, image.var_poisson + image.var_rnoise, rtol=1e-5)
    far = dark.copy()
    far[:, 120:] = False  # beyond the 5 x 5 reach of the bright half
    # no flux: little photon noise (the neighbours' fit has 0.43 of a pixel's noise; its positive part remains)
    assert np.mean(image.var_poisson[far] / image.var_rnoise[far]) < 0.05


def test_error_of_a_narrow_trace_is_calibrated_at_its_peak_and_in_its_extraction():
    """Horizontal traces of sigma 1.5 rows every 10 rows (echelle orders), peak 60 e-: the centre rows' ERR and
    the error of their optimal extraction match the truth (a 5 x 5 mean flux takes a third off the peak: 1.07)."""
    geometry = ReadoutGeometry("t", 132, 256, 4)
    rows = np.arange(geometry.n_rows)[:, None]
    centres = np.arange(48, 124, 10)  # rows 4-47 dark: the read noise is estimated there
    profile = np.exp(-0.5 * ((rows - centres) / 1.5) ** 2)  # (rows, traces)
    truth = (60.0 * profile.sum(axis=1, keepdims=True) * np.ones(geometry.n_cols)).astype(np.float32)
    truth[geometry.reference_mask] = 0.0
    cube = simulate_cube(geometry, 20, NoiseModel(white=6.0), scene=truth, seed=9)
    image = fit_cube(cube, geometry, FitOptions(refcorr="none", jump_threshold=None))
    # white noise: the dark pixels say so, though the traces' 5 x 5 means cover most of the image
    assert abs(image.errors.read_noise_scale - 1) < 0.1, image.errors.read_noise_scale
    cols = geometry.science_cols
    z_peak = (image.sci[centres, cols] - truth[centres, cols]) / image.err[centres, cols]
    assert abs(np.std(z_peak) - 1) < 0.05, np.std(z_peak)
    sums, errors = [], []
    for centre in centres:
        aperture = slice(centre - 3, centre + 4)
        weights = profile[aperture, list(centres).index(centre)][:, None]
        weights = weights / np.sum(weights**2)
        sums.append(np.sum(weights * (image.sci[aperture, cols] - truth[aperture, cols]), axis=0))
        errors.append(np.sqrt(np.sum(weights**2 * image.err[aperture, cols] ** 2, axis=0)))
    z = np.concatenate(sums) / np.concatenate(errors)
    assert abs(np.std(z) - 1) < 0.05, np.std(z)


def test_clean_outputs_carry_the_white_read_noise_alone():
    geometry = preset("nirps-h4rg", n_rows=48)
    cube = simulate_cube(geometry, 12, noise_preset("h4rg-lab"), seed=6)
    plain = fit_cube(cube, geometry, FitOptions())
    clean = fit_cube(cube, geometry, FitOptions(clean=True))
    assert clean.provenance.read_noise == plain.provenance.read_noise_white < plain.provenance.read_noise
    assert np.nanmedian(clean.err) < np.nanmedian(plain.err)


def test_spectrum_error_propagates_independent_pixel_errors():
    """Pixels with independent Gaussian errors of known sigma: extracted spectra have unit normalised spread."""
    from hxrg_denoiser.bench.extraction import spectrum_err_calibration
    from hxrg_denoiser.simulate.scenes import make_scene

    geometry = preset("nirps-h4rg", n_rows=128)
    scene = make_scene("echelle", geometry, seed=3)
    rng = np.random.default_rng(1)
    err = rng.uniform(2.0, 6.0, geometry.shape).astype(np.float32)
    estimate = scene.image + err * rng.standard_normal(geometry.shape).astype(np.float32)
    assert abs(spectrum_err_calibration(estimate, err, scene.image, scene.orders, geometry) - 1) < 0.05
    assert spectrum_err_calibration(estimate, 2 * err, scene.image, scene.orders, geometry) < 0.55
