"""The scene's smooth background across the columns: kept by --clean and the models, never invented, and no part
of the read noise the errors measure."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_cube

from hxrg_denoiser.bench.photometry import channel_mean_errors
from hxrg_denoiser.classical.background import column_background, scene_background
from hxrg_denoiser.classical.cleaning import clean_flux_image
from hxrg_denoiser.classical.noise_correlation import light_free_pixels
from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.scenes import make_scene

GEOMETRY = preset("jwst-h2rg", n_rows=192)


def _exposure(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    scene = make_scene(kind, GEOMETRY, seed=seed, flat_level=150.0)
    return scene.image, simulate_cube(GEOMETRY, 8, noise_preset("nirspec"), scene=scene.image, seed=seed)


@pytest.mark.integration
def test_a_sky_gradient_across_amplifiers_is_kept_and_the_noise_still_goes():
    truth, cube = _exposure("sky-gradient", 31)
    seed = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed"))
    kept = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed", clean=True))
    plain = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed", clean=True, keep_background=False))
    science = ~GEOMETRY.reference_mask

    def rms(image):
        return float(np.sqrt(np.mean((image.sci - truth)[science] ** 2)))

    true_steps = np.diff(channel_mean_errors(truth, truth, GEOMETRY).truth)  # the sky between amplifiers
    moved = channel_mean_errors(kept.sci, truth, GEOMETRY)
    assert np.abs(np.diff(moved.errors)).max() <= 0.1 * np.abs(true_steps).min(), moved.errors
    assert rms(kept) < rms(seed)  # below the reference-corrected fit: the correlated noise still goes
    # without it, the cleaning takes the gradient for channel levels (what the background is kept for)
    assert np.abs(np.diff(channel_mean_errors(plain.sci, truth, GEOMETRY).errors)).max() > 0.3 * true_steps.min()
    assert kept.provenance.method == "utr_ref_seed_clean" and kept.provenance.fit.keep_background
    assert plain.provenance.method == "utr_ref_seed_clean_nobkg" and not plain.provenance.fit.keep_background


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
    assert main(["fit", str(tmp_path / "in.fits"), "-o", str(tmp_path / "o.fits"), "--clean",
                 "--geometry", "jwst-h2rg", "-q"]) == 0
    from astropy.io import fits

    header = fits.getheader(tmp_path / "o.fits")
    assert header["KEEPBKG"] is True and header["METHOD"] == "utr_ref_seed_clean"
    assert header["BKGKEPT"] > 0.9 and header["BKGEVID"] > 10  # a gradient, tested on segments of the ramp


def test_err_is_calibrated_on_a_sky_gradient_as_on_a_flat_sky():
    """White read noise on a faint sky rising across the amplifiers: the gradient is scene, not read noise, so the
    scale stays near 1 and error / ERR has unit spread (it was 2x too large before the background was taken out)."""
    scene = make_scene("sky-gradient", GEOMETRY, seed=34, flat_level=20.0)
    cube = simulate_cube(GEOMETRY, 10, noise_preset("white"), scene=scene.image, seed=34)
    image = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed", check_errors=True))
    science = ~GEOMETRY.reference_mask
    spread = float(np.std(((image.sci - scene.image) / image.err)[science]))
    assert 0.9 < image.errors.read_noise_scale < 1.1, image.errors.read_noise_scale
    assert abs(spread - 1.0) < 0.05, spread


def test_the_scene_background_takes_a_gradient_along_both_axes_and_leaves_channel_steps():
    """Continuous structure goes to the background, a level per channel (noise) stays in the residual."""
    rng = np.random.default_rng(8)
    rows, cols = np.mgrid[0:GEOMETRY.n_rows, 0:GEOMETRY.n_cols]
    sky = 30.0 * cols / GEOMETRY.n_cols - 12.0 * rows / GEOMETRY.n_rows
    steps = np.repeat(rng.normal(0, 4, GEOMETRY.n_channels), GEOMETRY.channel_width)[None, :]
    image = sky + steps + rng.normal(0, 3, GEOMETRY.shape)
    science = ~GEOMETRY.reference_mask
    found = scene_background(image, science, GEOMETRY, light_free_pixels).image
    offset = np.mean(sky[science] - found[science])
    assert np.abs(sky - found - offset)[science].max() < 1.0  # 1 e- against a 42 e- range
    width = GEOMETRY.channel_width
    residual = np.where(science, image - found, np.nan)
    levels = [np.nanmean(residual[:, c * width:(c + 1) * width]) for c in range(GEOMETRY.n_channels)]
    np.testing.assert_allclose(np.diff(levels), np.diff(steps[0, ::width]), atol=0.3)


@pytest.mark.integration
def test_default_keeps_a_sky_gradient_across_amplifiers_and_says_so():
    """The shipped model takes the gradient for channel offsets when it sees it; with the background taken out
    before the network and given back after, the amplifier means stay and the noise still goes."""
    from hxrg_denoiser.denoise import DenoiseSettings, denoise_ramp
    from hxrg_denoiser.io.cards import model_cards
    from hxrg_denoiser.io.ramps import ArrayRamp
    from hxrg_denoiser.models import load_model

    truth, cube = _exposure("sky-gradient", 35)
    model, spec = load_model("default")
    science = ~GEOMETRY.reference_mask
    true_steps = np.diff(channel_mean_errors(truth, truth, GEOMETRY).truth)
    runs = {keep: denoise_ramp(ArrayRamp(cube), model, spec, GEOMETRY, DenoiseSettings(keep_background=keep),
                               any_layout=True) for keep in (True, False)}
    seed = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed"))
    kept = channel_mean_errors(runs[True].sci, truth, GEOMETRY).errors
    lost = channel_mean_errors(runs[False].sci, truth, GEOMETRY).errors
    assert np.abs(np.diff(kept)).max() <= 0.1 * np.abs(true_steps).min(), kept
    assert np.abs(np.diff(lost)).max() > 0.3 * np.abs(true_steps).min(), lost  # what the option is for
    assert np.std((runs[True].sci - truth)[science]) < np.std((seed.sci - truth)[science])
    cards = model_cards(runs[True].model)
    assert cards["KEEPBKG"][0] is True and cards["BKGKEPT"][0] > 0.9
    assert "KEEPBKG" not in model_cards(runs[False].model)


def test_a_sky_gradient_is_not_taken_for_a_start_transient():
    """No reset anomaly: the faint side of a gradient sits at the dark-pixel threshold, and pixels chosen by their
    own reads (first read high) made read 0 look like a transient; pixels chosen by their neighbours do not."""
    _, cube = _exposure("sky-gradient", 35)
    image = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed", first_read="auto"))
    assert image.provenance.fit.first_read == 0


def _framed(kind: str, seed: int, frame: float) -> tuple[np.ndarray, np.ndarray]:
    """A faint sky under a picture frame of ``frame`` (its reference pixels blind to it): a pattern smooth across
    the amplifiers that every read carries with a new amplitude."""
    import dataclasses

    noise = dataclasses.replace(noise_preset("nirspec"), picture_frame=frame, picture_frame_shape="linear",
                                picture_frame_ref_gain=0.0)
    scene = make_scene(kind, GEOMETRY, seed=seed, flat_level=20.0)
    return scene.image, simulate_cube(GEOMETRY, 10, noise, scene=scene.image, seed=seed)


@pytest.mark.integration
def test_a_picture_frame_is_not_kept_as_background_and_a_sky_gradient_is():
    """Segments of the ramp tell charge from noise of the same shape: the frame's background changes from segment
    to segment (evidence below 1, nothing kept), the gradient's does not (evidence > 10, nearly all kept)."""
    options = FitOptions(refcorr="seed", clean=True)
    for seed in (40, 41):
        frame = fit_cube(_framed("flat", seed, 3.0)[1], GEOMETRY, options).provenance.fit
        assert frame.background_evidence < 1.0 and frame.background_kept == 0.0, frame
        sky = fit_cube(_framed("sky-gradient", seed, 1.0)[1], GEOMETRY, options).provenance.fit
        assert sky.background_evidence > 10.0 and sky.background_kept > 0.9, sky


def test_segments_that_agree_are_strong_evidence_and_noise_alone_is_weak():
    """``background_evidence`` on synthetic segments: the same gradient in each (plus white noise) against a
    pattern whose amplitude is drawn anew in each segment, scaled as an up-the-ramp slope's noise."""
    from hxrg_denoiser.classical.kept_background import RampSegments, background_evidence, kept_fraction

    rng = np.random.default_rng(9)
    x = (np.arange(GEOMETRY.n_cols) + 0.5) / GEOMETRY.n_cols - 0.5
    shape = np.broadcast_to(40.0 * x ** 2 + 10.0 * x, GEOMETRY.shape)
    dark = ~GEOMETRY.reference_mask
    reads = [3, 3, 4]
    relative = [(10 * 99) / (m * (m * m - 1)) for m in reads]  # v(m) / v(10)
    sky = RampSegments([shape + rng.normal(0, 3, shape.shape) for _ in reads], reads)
    evidence = background_evidence(shape + rng.normal(0, 1, shape.shape), sky, dark, GEOMETRY)
    assert evidence > 100 and kept_fraction(evidence) > 0.99
    ratios = []
    for _ in range(20):
        amplitudes = rng.normal(0, 1, len(reads) + 1)
        noise = RampSegments([a * np.sqrt(r) * shape for a, r in zip(amplitudes[1:], relative)], reads)
        ratios.append(background_evidence(amplitudes[0] * shape, noise, dark, GEOMETRY))
    assert np.median(ratios) < 1.5  # the median of F(1, 2) is 0.67
    assert kept_fraction(0.5) == 0.0 and kept_fraction(4.0) == 0.75 and kept_fraction(float("nan")) == 1.0


def test_the_background_does_not_depend_on_the_number_of_blas_threads():
    """Seeded runs are deterministic: in a benchmark's worker processes (one BLAS thread) and in the main one alike."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np, hashlib\n"
        "from hxrg_denoiser.geometry import preset\n"
        "from hxrg_denoiser.classical.background import scene_background, lit_pixels\n"
        "from hxrg_denoiser.classical.noise_correlation import light_free_pixels\n"
        "g = preset('nirps-h4rg', n_rows=128)\n"
        "rng = np.random.default_rng(3)\n"
        "x = np.linspace(-1, 1, g.n_cols)[None, :]\n"
        "image = 20 * x + 5 * x ** 3 + rng.normal(0, 4, g.shape)\n"
        "found = scene_background(image, ~g.reference_mask, g, light_free_pixels, degree=9, row_degree=3).image\n"
        "print(hashlib.md5(found.tobytes()).hexdigest())\n"
    )
    hashes = set()
    for threads in ("1", "2"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        hashes.add(subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True,
                                  text=True).stdout)
    assert len(hashes) == 1


@pytest.mark.integration
def test_a_sky_that_changes_along_the_rows_is_kept_and_a_flat_one_gets_no_level():
    """A sky rising along the rows is common to every channel, like the common mode: segments of the ramp keep
    it (BKGROWS near 1, the rows' mean errors over 16 rows within 1 e-, where the cleaning without it is 26 e- off)."""
    rows = np.arange(GEOMETRY.n_rows)[:, None]
    truth = np.where(GEOMETRY.reference_mask, 0.0, 30.0 + 60.0 * rows / GEOMETRY.n_rows).astype(np.float32)
    cube = simulate_cube(GEOMETRY, 10, noise_preset("nirspec"), scene=truth, seed=36)
    science = ~GEOMETRY.reference_mask
    kept = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed", clean=True))
    lost = fit_cube(cube, GEOMETRY, FitOptions(refcorr="seed", clean=True, keep_background=False))

    def row_errors(image):  # each row's mean error, over 16 rows (the row-to-row noise averaged)
        error = np.where(science, image.sci - truth, np.nan)[4:-4]
        means = np.nanmean(error, axis=1) - np.nanmean(error)
        return np.convolve(means, np.ones(16) / 16, mode="valid")

    assert kept.provenance.fit.background_rows_kept > 0.9, kept.provenance.fit
    assert np.abs(row_errors(kept)).max() < 1.0 < 0.25 * np.abs(row_errors(lost)).max()
    flat = fit_cube(_exposure("flat", 37)[1], GEOMETRY, FitOptions(refcorr="seed", clean=True)).provenance.fit
    assert flat.background_rows_kept < 0.5, flat
