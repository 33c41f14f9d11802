"""The read-noise correlation along columns (RNCORRn) and its propagation into extracted spectra."""

import numpy as np
from astropy.io import fits
from conftest import ar1_columns

from hxrg_denoiser.bench.metrics import lit_and_dark, lit_over_dark_read_variance
from hxrg_denoiser.classical.cleaning import LIT_READ_SCALE
from hxrg_denoiser.classical.error_model import calibrated_errors, input_covariance, network_errors
from hxrg_denoiser.classical.noise_correlation import (
    column_sum_variance,
    light_free_pixels,
    plateau_light,
    read_noise_statistics,
)
from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting import FitOptions, fit_ramp, ramp_read_noise
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.strips import StripStream


def test_measured_scale_and_correlation_are_the_injected_ones_beside_bright_light():
    shape = (400, 600)
    sigma = 3.0
    image = sigma * ar1_columns(shape, 0.4, seed=1)
    rows = np.arange(shape[0])[:, None]
    for centre in (60, 200, 330):  # bright horizontal traces, as echelle orders
        image = image + 5000.0 * np.exp(-0.5 * ((rows - centre) / 1.5) ** 2) * np.ones(shape[1])
    usable = np.ones(shape, bool)
    # predicted read noise 2 where it is 3: the dark pixels say 2.25 x
    stats = read_noise_statistics(image, np.full(shape, 2.0**2), None, usable)
    np.testing.assert_allclose(stats.rho, 0.4 ** np.arange(1, 9), atol=0.03)
    assert abs(stats.scale - 2.25) < 0.1
    # independent pixels: no correlation, scale 1
    white = np.random.default_rng(2).normal(0.0, sigma, shape)
    stats = read_noise_statistics(white, np.full(shape, sigma**2), None, usable)
    assert np.max(np.abs(stats.rho)) < 0.02 and abs(stats.scale - 1.0) < 0.02
    # on a faint sky (photon variance 5 of the read noise's 9, predicted as such) the read-noise scale is still 1;
    # on a bright one nothing is claimed
    sky = 5.0 + white + np.random.default_rng(4).normal(0.0, np.sqrt(5.0), shape)
    assert abs(read_noise_statistics(sky, np.full(shape, sigma**2), np.full(shape, 5.0), usable).scale - 1.0) < 0.05
    # nor on a flat whose photon variance is twice the read noise's (a 10 e- flat fitted up the ramp)
    flat = 18.0 + white + np.random.default_rng(5).normal(0.0, np.sqrt(18.0), shape)
    assert abs(read_noise_statistics(flat, np.full(shape, sigma**2), np.full(shape, 18.0), usable).scale - 1) < 0.05
    assert read_noise_statistics(sky, np.full(shape, sigma**2), np.full(shape, 100.0), usable) is None
    # too few usable pixels: nothing is claimed
    assert read_noise_statistics(white, np.full(shape, sigma**2), None, np.zeros(shape, bool)) is None


def test_sum_variance_is_the_quadratic_form_of_the_covariance():
    rng = np.random.default_rng(3)
    weights, var_rnoise = rng.uniform(0.1, 1.0, (5, 7)), rng.uniform(1.0, 4.0, (5, 7))
    var_total = var_rnoise + rng.uniform(0.0, 3.0, (5, 7))
    rho = [0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.0]
    got = column_sum_variance(weights, var_total, var_rnoise, rho)
    lags = np.abs(np.subtract.outer(np.arange(7), np.arange(7)))
    for n in range(5):
        sd = np.sqrt(var_rnoise[n])
        cov = np.where(lags == 0, 0.0, np.array([0.0, *rho])[lags]) * np.outer(sd, sd) + np.diag(var_total[n])
        np.testing.assert_allclose(got[n], weights[n] @ cov @ weights[n], rtol=1e-12)
    np.testing.assert_allclose(column_sum_variance(weights, var_total, var_rnoise, None),
                               np.sum(weights**2 * var_total, axis=1))


def test_sums_over_rows_of_a_fitted_ramp_are_calibrated_with_the_correlation(tmp_path):
    """On a simulated ramp with correlated noise: box sums of 7 rows, their spread over their propagated error."""
    geometry = ReadoutGeometry("corr", 136, 512, 4)
    cube = simulate_cube(geometry, 20, noise_preset("h4rg-lab"), seed=300301)
    image = fit_ramp(ArrayRamp(cube), geometry, FitOptions(refcorr="seed"))
    rho = image.errors.read_noise_correlation
    assert rho is not None and rho[0] > 0.05  # the 1/f noise left by the reference correction
    science = geometry.science_rows
    rows = np.arange(science.start, science.stop - 7, 7)
    cols = np.arange(geometry.science_cols.start, geometry.science_cols.stop)
    sums, propagated = [], []
    for top in rows:
        block = slice(top, top + 7)
        weights = np.ones((cols.size, 7))
        sums.append(image.sci[block, cols].sum(axis=0))
        for correlated in (None, rho):
            propagated.append(column_sum_variance(weights, image.err[block, cols].T ** 2,
                                                  image.var_rnoise[block, cols].T, correlated))
    sums = np.concatenate(sums) - np.mean(np.concatenate(sums))
    independent, correlated = np.concatenate(propagated[0::2]), np.concatenate(propagated[1::2])
    assert np.std(sums / np.sqrt(independent)) > 1.15  # pixels taken as independent: errors too small
    assert abs(np.std(sums / np.sqrt(correlated)) - 1.0) < 0.08
    # and the product says so
    path = tmp_path / "ramp.fits"
    fits.writeto(path, cube)
    assert main(["fit", str(path), "-o", str(tmp_path / "flux.fits"), "--refcorr", "seed", "--channels", "4",
                 "-q"]) == 0
    header = fits.getheader(tmp_path / "flux.fits")
    np.testing.assert_allclose([header[f"RNCORR{lag}"] for lag in range(1, 9)], rho, atol=1e-4)
    assert header["RNSCALE"] == round(image.errors.read_noise_scale, 4)
    assert header["RNLITSC"] == 1.0  # a plain fit: the same read noise near light as away from it
    assert main(["fit", str(path), "-o", str(tmp_path / "clean.fits"), "--refcorr", "seed", "--channels", "4",
                 "--clean", "-q"]) == 0
    assert "RNLCOR1" not in header  # nor more correlated there
    cleaned = fits.getheader(tmp_path / "clean.fits")
    assert cleaned["RNLITSC"] == LIT_READ_SCALE
    near_light = [cleaned[f"RNLCOR{lag}"] for lag in range(1, 9)]
    assert all(lit >= cleaned[f"RNCORR{lag}"] for lag, lit in enumerate(near_light, start=1))


def test_errors_of_a_network_that_takes_the_reads_match_the_truth_lit_and_dark():
    """An ideal network (the fit of a ramp with white read noise and photons only): ERR from the white read
    noise, the photon noise of the local flux and the dark pixels' scale is right on dark and lit pixels."""
    geometry = ReadoutGeometry("net", 200, 512, 4)
    rows = np.arange(geometry.n_rows)[:, None]
    scene = sum(400.0 * np.exp(-0.5 * ((rows - centre) / 2.0) ** 2) for centre in (50, 100, 150))
    scene = np.where(geometry.reference_mask, 0.0, scene * np.ones(geometry.n_cols)).astype(np.float32)
    noise = noise_preset("nirspec").replace(correlated_pink=0.0, uncorrelated_pink=0.0, acn=0.0, picture_frame=0.0,
                                            drift=0.0, dark_current=0.0, hot_pixel_fraction=0.0)
    cube = simulate_cube(geometry, 20, noise, scene=scene, seed=300402)
    ramp = ArrayRamp(cube)
    fitted = fit_ramp(ramp, geometry, FitOptions(refcorr="seed"))
    sci = fitted.sci * np.float32(25 / 20)  # a network's flux over 25 frames from 20 reads
    truth = scene * np.float32(25 / 20)
    white = ramp_read_noise(StripStream(ramp, geometry, refcorr="seed"))[1]
    err, var_poisson, var_rnoise, meta = network_errors(sci, fitted.dq, geometry, n_reads=20, label_reads=25,
                                                        white_read_noise=white)
    np.testing.assert_allclose(err**2, var_poisson + var_rnoise, rtol=1e-5)
    assert abs(meta.read_noise_scale - 1.0) < 0.1
    lit, dark = lit_and_dark(truth, ~geometry.reference_mask)
    z = (sci - truth) / err
    assert lit.sum() > 5000 and np.nanmean(var_poisson[lit] / var_rnoise[lit]) > 1.0  # lit pixels photon-dominated
    for pixels in (lit, dark):
        assert abs(np.std(z[pixels]) - 1.0) < 0.05, np.std(z[pixels])
    np.testing.assert_array_equal(np.isnan(err), np.isnan(sci))  # ERR is NaN exactly where SCI is


def test_lit_read_scale_applies_near_light_only_and_the_metric_recovers_it():
    """A method whose read noise near light is 1.2 x (in variance) what its dark pixels show: ERR scaled on
    the dark pixels, then by the lit scale near light, is right on both; the bench metric measures 1.2."""
    geometry = ReadoutGeometry("lit", 300, 512, 4)
    rows = np.arange(geometry.n_rows)[:, None]
    truth = sum(800.0 * np.exp(-0.5 * ((rows - centre) / 1.5) ** 2) for centre in (60, 150, 240))
    truth = np.where(geometry.reference_mask, 0.0, truth * np.ones(geometry.n_cols)).astype(np.float32)
    rng = np.random.default_rng(300501)
    white = 4.0
    var_poisson = np.clip(truth, 0, None)  # e- over the ramp: photon variance = flux
    oracle = truth + rng.normal(0.0, 1.0, truth.shape) * np.sqrt(var_poisson + white**2)
    lit_truth = light_free_pixels(truth + 0.01 * rng.normal(size=truth.shape), ~geometry.reference_mask)
    near = ~geometry.reference_mask & ~lit_truth
    extra = np.where(near, 0.2 * white**2, 0.0)  # the method's read noise near light: 1.2 x
    sci = (oracle + rng.normal(0.0, 1.0, truth.shape) * np.sqrt(extra)).astype(np.float32)
    dq = np.zeros(geometry.shape, np.uint32)
    var_rnoise = np.full(geometry.shape, white**2, np.float32)
    usable = ~geometry.reference_mask
    measured = lit_over_dark_read_variance(sci, var_rnoise, oracle.astype(np.float32), var_rnoise, truth, usable)
    assert abs(measured - 1.2) < 0.05, measured
    err, scaled, meta = calibrated_errors(sci, var_poisson.astype(np.float32), var_rnoise, dq, geometry,
                                          lit_read_scale=measured)
    assert meta.read_noise_lit_scale == measured
    dark = light_free_pixels(sci, usable)
    np.testing.assert_allclose(scaled[usable & ~dark] / scaled[dark].mean(), measured, rtol=1e-5)
    z = (sci - truth) / err
    faint = usable & ~dark & (truth < 30)  # near light, read noise dominant
    assert abs(np.std(z[faint]) - 1) < 0.03 and abs(np.std(z[dark]) - 1) < 0.03
    # with no lit scale, those pixels' ERR is too small
    err_plain, _, _ = calibrated_errors(sci, var_poisson.astype(np.float32), var_rnoise, dq, geometry)
    assert np.std(((sci - truth) / err_plain)[faint]) > 1.05


def test_near_light_correlation_carries_the_bridged_covariance_into_sums_over_an_aperture():
    """A method that leaves 0.3 of its input's row-correlated noise near light (a bridge shared by the rows
    it spans), none on its dark pixels: 7-row sums over faint traces, propagated with RNLCORn, have unit
    spread; with the dark pixels' RNCORRn alone their errors are too small."""
    geometry = ReadoutGeometry("bridge", 300, 512, 4)
    rows = np.arange(geometry.n_rows)[:, None]
    centres = (60, 150, 240)
    truth = sum(60.0 * np.exp(-0.5 * ((rows - centre) / 1.5) ** 2) for centre in centres)
    truth = np.where(geometry.reference_mask, 0.0, truth * np.ones(geometry.n_cols)).astype(np.float32)
    rng = np.random.default_rng(300601)
    white, block, amplitude, fraction = 4.0, 12, 3.0, 0.3

    def row_blocks() -> np.ndarray:  # constant over blocks of 12 rows in each column: covariance 9 (1 - l/12)
        return np.repeat(rng.normal(0.0, amplitude, (geometry.n_rows // block, geometry.n_cols)), block, axis=0)

    var_poisson = np.clip(truth, 0, None)
    oracle = truth + rng.normal(0.0, 1.0, truth.shape) * np.sqrt(var_poisson + white**2)
    dq = np.zeros(geometry.shape, np.uint32)
    usable = ~geometry.reference_mask
    before = (oracle + row_blocks()).astype(np.float32)
    covariance = input_covariance(before, var_poisson.astype(np.float32),
                                  np.full(geometry.shape, white**2 + amplitude**2, np.float32), dq, geometry)
    assert covariance is not None
    np.testing.assert_allclose(covariance, [amplitude**2 * (1 - lag / block) for lag in range(1, 9)], atol=0.6)
    near = usable & ~light_free_pixels(truth + 0.01 * rng.normal(size=truth.shape), usable)
    sci = (oracle + np.where(near, np.sqrt(fraction) * row_blocks(), 0.0)).astype(np.float32)
    var_rnoise = np.full(geometry.shape, white**2, np.float32)
    err, scaled, meta = calibrated_errors(sci, var_poisson.astype(np.float32), var_rnoise, dq, geometry,
                                          lit_covariance_fraction=fraction, covariance_before=covariance)
    cols = np.arange(geometry.science_cols.start, geometry.science_cols.stop)
    weights = np.ones((cols.size, 7))
    spreads = {}
    for name in ("read_noise_correlation", "read_noise_lit_correlation"):
        z = []
        for centre in centres:
            box = slice(centre - 3, centre + 4)
            variance = column_sum_variance(weights, err[box, cols].T ** 2, scaled[box, cols].T, getattr(meta, name))
            z.append((sci[box, cols] - truth[box, cols]).sum(axis=0) / np.sqrt(variance))
        spreads[name] = np.std(np.concatenate(z))
    assert max(abs(r) for r in meta.read_noise_correlation) < 0.05  # the dark pixels show no correlation
    assert spreads["read_noise_correlation"] > 1.08, spreads
    assert abs(spreads["read_noise_lit_correlation"] - 1.0) < 0.05, spreads
    # no fraction (plain fits) or no input covariance: no near-light correlation is claimed
    assert calibrated_errors(sci, var_poisson.astype(np.float32), var_rnoise, dq, geometry,
                             covariance_before=covariance)[2].read_noise_lit_correlation is None


def test_scale_keeps_err_right_where_the_predicted_photon_variance_is_not_in_the_errors():
    """A level left over the image is read as faint light: the predicted photon variance of dark pixels then
    varies (here 0 or 9 e-^2, against a read variance of 9) without being in their errors. The scale is the
    one that gives their normalised errors unit spread; subtracting the mean photon variance (0.5) instead
    would leave ERR 1.15 x too small over them."""
    shape = (400, 600)
    sigma = 3.0
    rng = np.random.default_rng(300701)
    sci = 2.0 + rng.normal(0.0, sigma, shape)
    var_poisson = np.where(rng.random(shape) < 0.5, 0.0, sigma**2)
    var_rnoise = np.full(shape, sigma**2)
    stats = read_noise_statistics(sci, var_rnoise, var_poisson, np.ones(shape, bool))
    z = (sci - 2.0) / np.sqrt(var_poisson + stats.scale * var_rnoise)
    assert abs(np.std(z[stats.dark]) - 1.0) < 0.02, np.std(z[stats.dark])
    assert abs(stats.scale - np.sqrt(0.5)) < 0.03  # 0.5 / s + 0.5 / (1 + s) = 1


def test_light_found_on_a_cleaner_image_keeps_faint_wings_out_of_the_scale():
    """Faint wings of sources hide under strong row noise: found on the noisy image, 16 % of the "dark"
    pixels carry more than 5 of light and the scale is 5 % too large; found on the same scene without the
    row noise (``light_image``), the wings are left out and the scale is within 1 % of the noise's own."""
    rng = np.random.default_rng(5)
    rows, cols = 256, 512
    yy, xx = np.mgrid[:rows, :cols]
    light = np.zeros((rows, cols))
    for y, x in zip(rng.integers(10, rows - 10, 40), rng.integers(10, cols - 10, 40)):
        light += 60.0 * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / 8.0**2)
    noise = rng.normal(0.0, 20.0, (rows, 1)) + rng.normal(0.0, 10.0, (rows, cols))
    variance = np.full((rows, cols), 500.0)
    usable = np.ones((rows, cols), bool)
    plain = read_noise_statistics(light + noise, variance, None, usable)
    helped = read_noise_statistics(light + noise, variance, None, usable, light_image=light + noise - noise.mean(axis=1,
                                                                                                          keepdims=True))
    assert plain is not None and helped is not None
    truth = float(np.var(noise[helped.dark]) / 500.0)
    assert np.mean(light[plain.dark] > 5.0) > 0.1 and np.mean(light[helped.dark] > 5.0) < 0.01
    assert abs(helped.scale / truth - 1.0) < 0.01 < plain.scale / truth - 1.0


def _slit(rows=256, cols=1024, seed=3, level=20.0, sigma=3.0):
    """White noise of ``sigma`` with a uniform light of ``level`` over the middle 70 % of the rows (a long slit's
    sky), sky lines crossing it; the light's mask."""
    rng = np.random.default_rng(seed)
    slit = np.zeros((rows, cols), bool)
    slit[int(0.15 * rows):int(0.85 * rows)] = True
    light = np.zeros((rows, cols))
    light[slit] = level
    for column in rng.integers(0, cols, 30):
        light[:, column] += np.where(slit[:, column], rng.uniform(5.0, 200.0), 0.0)
    return light + rng.normal(0.0, sigma, (rows, cols)), slit


def test_a_uniform_light_over_most_rows_is_light_and_the_scale_is_the_noise_s():
    """A long slit's sky fills 70 % of the rows: the median level is the sky's, and the step at the slit's edges
    and its sky lines counted as read noise (scale 8-10 on simulated long slits). The lowest population of
    levels is the dark one: every lit pixel is left out and the scale is that of the noise."""
    image, slit = _slit()
    usable = np.ones(image.shape, bool)
    dark = light_free_pixels(image, usable)
    assert not (dark & slit).any() and dark[~slit].mean() > 0.7
    stats = read_noise_statistics(image, np.full(image.shape, 9.0), None, usable)
    assert stats is not None and abs(stats.scale - 1.0) < 0.05


def test_a_cleaned_copy_that_lost_a_uniform_light_still_leaves_it_out_of_the_dark_pixels():
    """A cleaning takes a light spanning whole rows for row noise; found on such a copy alone, the slit's pixels
    count as dark. The image's own populations of levels put them back among the lit (plateau_light)."""
    image, slit = _slit(seed=4)
    geometry = ReadoutGeometry("slit", *image.shape, n_channels=4, ref_border=0)
    flattened = image - np.median(image, axis=1, keepdims=True)  # what a row cleaning leaves of a uniform light
    dq = np.zeros(image.shape, np.uint32)
    var_rnoise = np.full(image.shape, 9.0, np.float32)
    _, _, found = calibrated_errors(image, np.zeros_like(var_rnoise), var_rnoise, dq, geometry,
                                    light_image=flattened)
    assert abs(found.read_noise_scale - 1.0) < 0.05
    assert plateau_light(image, np.ones(image.shape, bool))[slit].all()


def test_a_gradient_or_a_channel_step_is_not_a_plateau():
    """No lowest population where the levels spread without a gap (a gradient), nor where what it would leave
    lit is whole channels (a channel offset is the readout's): the dark pixels are found as before."""
    rng = np.random.default_rng(6)
    rows, cols = 256, 1024
    usable = np.ones((rows, cols), bool)
    gradient = np.linspace(0.0, 60.0, cols)[None, :] + rng.normal(0.0, 3.0, (rows, cols))
    assert plateau_light(gradient, usable) is None
    stepped = rng.normal(0.0, 3.0, (rows, cols))
    stepped[:, 256:] += 20.0  # three of four channels 20 above the first
    assert plateau_light(stepped, usable) is not None  # two populations, without the channels' test
    assert plateau_light(stepped, usable, channel_width=256) is None
    assert light_free_pixels(stepped, usable, channel_width=256).mean() > 0.8
