import numpy as np
import pytest

from hxrg_denoiser.bench.extraction import spectral_metrics
from hxrg_denoiser.bench.metrics import pixel_errors
from hxrg_denoiser.classical import cleaning
from hxrg_denoiser.classical.cleaning import (
    _nanmedian_last,
    alternating_column_noise,
    channel_drift,
    channel_row_means,
    clean_flux_image,
    fit_row_variogram,
    krige_channel_rows,
)
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import preset, rows_first
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube

GEOMETRY = preset("nirps-h4rg", n_rows=72)


def test_nanmedian_matches_numpy():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 7))
    values[rng.random(values.shape) < 0.3] = np.nan
    values[3] = np.nan
    expected = np.full(50, np.nan)
    keep = ~np.all(np.isnan(values), axis=1)
    expected[keep] = np.nanmedian(values[keep], axis=1)
    np.testing.assert_allclose(_nanmedian_last(values), expected, equal_nan=True)


def test_alternating_column_noise_is_measured_under_a_smooth_scene():
    rows, channels, width = 30, 4, 64
    x = np.arange(width)
    scene = 20.0 + 5.0 * np.sin(x / 9.0)[None, None, :] + np.zeros((rows, channels, 1))
    amplitude = np.linspace(-2, 2, rows * channels).reshape(rows, channels)
    sign = np.where(x % 2 == 0, 1.0, -1.0)
    measured = alternating_column_noise(scene + amplitude[..., None] * sign, np.ones(scene.shape, bool), smooth_rows=1)
    np.testing.assert_allclose(measured, amplitude, atol=0.05)


def test_a_noiseless_scene_is_left_unchanged():
    scene = make_scene("echelle", GEOMETRY, seed=2).image
    cleaned = clean_flux_image(scene, GEOMETRY)
    assert np.abs(cleaned - scene).max() < 0.05 * scene.max()
    assert spectral_metrics(cleaned, scene, make_scene("echelle", GEOMETRY, seed=2).orders, GEOMETRY).flux_conservation < 0.005


@pytest.mark.integration
def test_cleaning_closes_most_of_the_gap_to_the_oracle():
    geometry = preset("nirps-h4rg", n_rows=136)
    scene = make_scene("echelle", geometry, seed=3)
    cube, oracle = simulate_cube(geometry, 30, noise_preset("h4rg-lab"), scene=scene.image, seed=4, oracle=True)
    science = ~geometry.reference_mask
    reference = fit_cube(cube, geometry, FitOptions(refcorr="seed"))
    cleaned = fit_cube(cube, geometry, FitOptions(refcorr="seed", clean=True))
    best = fit_cube(oracle, geometry, FitOptions(refcorr="none"))
    assert cleaned.provenance.method == "utr_ref_seed_clean"
    errors = {name: pixel_errors(im.sci, scene.image, science).robust_sigma
              for name, im in (("ref", reference), ("clean", cleaned), ("oracle", best))}
    assert errors["clean"] < errors["ref"]
    assert errors["clean"] - errors["oracle"] < 0.5 * (errors["ref"] - errors["oracle"])
    np.testing.assert_array_equal(cleaned.sci[~science], reference.sci[~science])
    # a lasting level is kept (it could be sky): the per-realisation offset of about 1 e- that the
    # reference correction leaves is not removed, but no bias of the scene's size is added
    bias_ref = pixel_errors(reference.sci, scene.image, science).bias
    assert abs(pixel_errors(cleaned.sci, scene.image, science).bias) <= abs(bias_ref) + 1.0


@pytest.mark.parametrize("level", [10.0, 100.0, 1000.0])
def test_a_flat_field_keeps_its_level(level):
    """A flat lights every pixel: the cleaning finds no dark pixel and keeps the level of its input.

    (The reference correction leaves a 2 e- offset in this realisation; nothing in a flat image can tell it
    from the flat's own level, so the cleaning must neither remove light nor invent an offset.)
    """
    scene = make_scene("flat", GEOMETRY, flat_level=level, seed=1).image
    cube = simulate_cube(GEOMETRY, 10, noise_preset("h4rg-lab"), scene=scene, seed=5)
    science = ~GEOMETRY.reference_mask
    cleaned = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed", clean=True))
    reference = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed"))
    bias = pixel_errors(cleaned.sci, scene, science).bias
    assert abs(bias - pixel_errors(reference.sci, scene, science).bias) < max(0.5, 0.005 * level), bias
    assert pixel_errors(cleaned.sci, scene, science).rms <= 1.05 * pixel_errors(reference.sci, scene, science).rms


@pytest.mark.integration
def test_orders_across_every_channel_get_no_lit_row_offset():
    """Straight orders light all 32 channels over the same rows, where no dark pixel exists; the reference
    correction leaves a frame-wide level (the reference pixels do not see it). The cleaning must not put an
    offset on those rows: lit-minus-dark bias within 0.1 e- of the oracle's (the defect added the level, 5.8 e-).

    The bias is the mean over three exposures: one exposure's lit-minus-dark difference also holds noise,
    0.05-0.06 e- RMS here (seeds 1-10: 0.053 with the running-mean drift of earlier versions, 0.062 with the
    kriged drift, whose seed 6 is at 0.126 and the earlier one's at 0.100), so each exposure is held to the
    bench's +-0.2 e- only."""
    from hxrg_denoiser.bench.metrics import lit_minus_dark_bias
    from hxrg_denoiser.simulate import NoiseModel
    from hxrg_denoiser.simulate.scenes import echelle_scene, scale_scene

    geometry = preset("nirps-h4rg", n_rows=136)
    science = ~geometry.reference_mask
    differences = []
    for seed in (1, 2, 3):
        scene = scale_scene(echelle_scene(geometry, seed=seed, curvature=0.0, tilt=0.0), geometry).image
        assert ((scene[:, 8:-8] > 1.0).mean(axis=1) > 0.9).sum() >= 5  # rows lit in (nearly) every column
        _, oracle = simulate_cube(geometry, 30, NoiseModel(white=6.0, ref_white=1.0, correlated_pink=3.0),
                                  scene=scene, seed=seed, oracle=True)
        level = (0.2 * np.arange(30, dtype=np.float32))[:, None, None] * science[None]  # unseen by reference pixels
        image = fit_cube(oracle + level, geometry, FitOptions(refcorr="seed")).sci
        assert pixel_errors(image, scene, science).bias == pytest.approx(5.8, abs=0.3)  # the frame-wide level
        cleaned = clean_flux_image(image, geometry)
        best = fit_cube(oracle, geometry, FitOptions(refcorr="none")).sci
        differences.append(lit_minus_dark_bias(cleaned, scene, science) - lit_minus_dark_bias(best, scene, science))
    assert abs(np.mean(differences)) < 0.1, differences
    assert np.max(np.abs(differences)) < 0.2, differences


def test_row_variogram_of_a_random_walk():
    """A drift that steps by a variance q per row has gamma(d) = q d / 2, whatever the white noise on top."""
    rng = np.random.default_rng(1)
    rows, channels, width, q = 400, 16, 64, 0.5
    drift = np.cumsum(rng.normal(0.0, np.sqrt(q), (rows, channels)), axis=0)
    readout = drift[..., None] + rng.normal(0.0, 2.0, (rows, channels, width))
    means, counts, pixel_variance = channel_row_means(readout, np.ones(readout.shape, dtype=bool))
    assert pixel_variance == pytest.approx(4.0 * (width - 1) / width, rel=0.05)  # about the row's own mean
    a, beta = fit_row_variogram(means, counts, pixel_variance, width // 2)
    assert beta == pytest.approx(1.0, abs=0.1)
    assert a == pytest.approx(q / 2, rel=0.2)
    assert fit_row_variogram(means, counts, 0.0, width // 2) is None  # no scatter: nothing to weigh with


def test_kriging_bridges_a_gap_in_a_random_walk_by_the_straight_line():
    """For a random walk (linear variogram) seen without noise, the best prediction inside a gap is the straight
    line between the rows on either side, and an observed row is its own value."""
    rng = np.random.default_rng(2)
    rows, channels = 120, 3
    drift = np.cumsum(rng.normal(0.0, 1.0, (rows, channels)), axis=0)
    counts = np.full((rows, channels), 64)
    counts[50:60] = 0
    predicted, known = krige_channel_rows(np.where(counts > 0, drift, 0.0), counts, 1e-6, (0.5, 1.0))
    assert known.all()
    np.testing.assert_allclose(predicted[counts > 0], drift[counts > 0], atol=1e-3)
    line = drift[49] + (drift[60] - drift[49]) * (np.arange(50, 60) - 49)[:, None] / 11.0
    np.testing.assert_allclose(predicted[50:60], line, atol=1e-3)


def test_kriged_drift_predicts_a_channels_own_1_over_f_better_than_a_running_mean():
    """Per-channel 1/f noise (no other correlated noise) under bands of lit rows, as echelle orders make: the
    kriged drift is closer to the noise's row means than the mean of the dark pixels over 15 rows: a little in the
    lit rows (what is left there is noise no dark pixel saw), by far in the dark ones (on these seeds: 1.64 vs
    1.75 and 0.26 vs 1.46 e-)."""
    from hxrg_denoiser.simulate.noise import PinkNoise

    geometry = preset("nirps-h4rg", n_rows=264)
    rng = np.random.default_rng(3)
    dark = np.ones((geometry.n_rows, geometry.n_channels, geometry.channel_width), dtype=bool)
    for start in range(20, geometry.n_rows - 10, 40):
        dark[start : start + 7] = False
    lit_rows = ~dark[:, 0, 0]
    errors = {"kriged": [], "mean": []}
    for seed in range(3):
        pink = PinkNoise(geometry, 1, geometry.n_channels, 3.0, seed, "uncorrelated_pink")
        noise = rows_first(pink.frame(0)).astype(np.float64)
        readout = noise + rng.normal(0.0, 3.0, noise.shape)
        truth = noise.mean(axis=-1)
        means, counts, pixel_variance = channel_row_means(readout, dark)
        variogram = fit_row_variogram(means, counts, pixel_variance, geometry.channel_width // 2)
        kriged, _ = krige_channel_rows(means, counts, pixel_variance, variogram)
        mean = channel_drift(readout, dark, 15)[0].mean(axis=-1)
        errors["kriged"].append(kriged - truth)
        errors["mean"].append(mean - truth)
    for rows, bound in ((lit_rows, 0.97), (~lit_rows, 0.5)):
        rms = {name: np.sqrt(np.mean(np.square(np.array(e)[:, rows]))) for name, e in errors.items()}
        assert rms["kriged"] < bound * rms["mean"], rms


@pytest.mark.parametrize("samples", [cleaning.COMMON_MODE_SAMPLES, 1])
def test_four_channels_common_mode_neither_hides_nor_adds_white_noise(monkeypatch, samples):
    """On a JWST-like detector (4 amplifiers) with white noise only, the per-instant median of 4 channels
    holds a share of each pixel's own noise: subtracting it made dark pixels look 12 % quieter and lit ones
    noisier. Averaged over consecutive instants it changes neither by more than a few per cent."""
    g = preset("jwst-h2rg", n_rows=128)
    scene = make_scene("stars-moffat", g, seed=4).image
    rng = np.random.default_rng(4)
    image = (scene + rng.normal(0.0, 8.0, g.shape)).astype(np.float32)
    monkeypatch.setattr(cleaning, "COMMON_MODE_SAMPLES", samples)
    cleaned = cleaning.clean_flux_image(image, g)
    science = ~g.reference_mask
    lit, dark = science & (scene > 50), science & (scene < 0.1)
    ratio = {name: np.std((cleaned - scene)[m]) / np.std((image - scene)[m]) for name, m in (("lit", lit), ("dark", dark))}
    if samples == 1:  # the old per-instant median: the test sees it
        assert ratio["dark"] < 0.95 and ratio["lit"] > 1.1
    else:
        assert 0.97 < ratio["dark"] < 1.02 and ratio["lit"] < 1.03
