"""ERR measured on the two halves of the ramp where the dark pixels hold scene (a nebula, a crowded field)."""

import numpy as np
import pytest
from astropy.io import fits
from conftest import ar1_columns

from hxrg_denoiser.bench.photometry import err_calibration_by_level
from hxrg_denoiser.classical.half_ramp_errors import (
    half_ramp_statistics,
    halves_can_measure,
    prefer_halves,
    worth_checking,
)
from hxrg_denoiser.classical.reference import correct_reference_pixels
from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting import FitOptions, fit_cube, half_ramp
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.scenes import make_scene


def test_the_halves_measure_the_noise_whatever_the_scene():
    """Two halves of a ramp see the same scene: their difference is noise alone, so a scene brighter than the
    noise everywhere (no dark pixel) leaves the scale and the column correlation as injected."""
    shape = (300, 400)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    scene = 200.0 + 80.0 * np.sin(xx / 7.0) * np.cos(yy / 11.0)  # structure on every scale, nowhere dark
    sigma = 3.0  # each half's read noise; predicted 2.0: scale (3/2)^2
    first = scene + sigma * ar1_columns(shape, 0.3, seed=2)
    second = scene + sigma * ar1_columns(shape, 0.3, seed=3)
    predicted = np.full(shape, 2 * 2.0**2)
    stats = half_ramp_statistics(first, second, predicted, np.zeros(shape), np.ones(shape, bool))
    assert stats is not None and abs(stats.scale - 2.25) < 0.05
    np.testing.assert_allclose(stats.rho, 0.3 ** np.arange(1, 9), atol=0.03)
    # pixels whose photon noise swamps their read noise are left out; too few pixels: nothing measured
    assert half_ramp_statistics(first, second, predicted, np.full(shape, 1e3), np.ones(shape, bool)) is None


def test_only_large_scales_are_checked_and_only_lowered_by_the_halves():
    """Scene only adds to the dark pixels' scatter: the halves may take it out, never raise the scale (a pattern
    the image holds once, a picture frame with one amplitude per read, can be a larger draw in their difference)."""
    assert not worth_checking(1.0) and not worth_checking(0.5) and worth_checking(3.0)
    assert prefer_halves(4.4, 1.0) and not prefer_halves(0.2, 0.6) and not prefer_halves(2.1, 1.9)


@pytest.fixture(scope="module")
def nebula():
    g = preset("nirps-h4rg", n_rows=128)
    scene = make_scene("nebula", g, seed=3)
    return g, scene.image, simulate_cube(g, 20, noise_preset("h4rg-lab"), scene=scene.image, seed=4)


def _faint_spread(image, truth, g):
    usable = ~g.reference_mask
    faint, _ = err_calibration_by_level(image.sci, image.err, truth, usable,
                                        faint_below=np.percentile(truth[usable], 50) + 1e-3, bright_above=np.inf)
    return faint


def test_a_nebula_s_err_is_calibrated_from_the_ramp_s_halves(nebula, monkeypatch):
    """A nebula lights the whole strip: its faint emission passes for dark pixels, whose scatter makes ERR too
    large (std(error / ERR) under 0.85 on the faint half); measured on the ramp's halves it is within 10 %."""
    g, truth, cube = nebula
    checked = fit_cube(cube, g, FitOptions(refcorr="seed"))
    assert checked.errors.read_noise_source == "ramp halves"
    assert 0.9 < _faint_spread(checked, truth, g) < 1.1
    monkeypatch.setattr(half_ramp, "worth_checking", lambda *args, **kwargs: False)
    dark_only = fit_cube(cube, g, FitOptions(refcorr="seed"))
    assert dark_only.errors.read_noise_source == "dark pixels" and dark_only.errors.read_noise_scale > 1.5
    assert _faint_spread(dark_only, truth, g) < 0.85
    np.testing.assert_array_equal(checked.sci, dark_only.sci)  # the flux is not touched


def test_with_cleaning_or_too_few_reads_the_dark_pixels_decide(nebula):
    """A cleaned image is not what the halves' fits give, and two halves need three reads each."""
    g, _, cube = nebula
    assert not half_ramp.applies(FitOptions(refcorr="seed", clean=True).resolved(g), 20)
    assert not half_ramp.applies(FitOptions(refcorr="seed").resolved(g), 5)
    assert half_ramp.applies(FitOptions(refcorr="none").resolved(g), 20)


def test_a_fit_without_reference_correction_is_checked_on_the_halves_too(nebula, monkeypatch):
    """Without a reference correction the halves miss the slowest correlated noise (common to both), but a
    nebula's dark pixels are far worse: their scale made ERR 3x too large (std(error / ERR) 0.32 on the faint
    half); taken from the halves where the dark pixels say 1.25x more, it is within 10 %."""
    g, truth, cube = nebula
    checked = fit_cube(cube, g, FitOptions(refcorr="none"))
    assert checked.errors.read_noise_source == "ramp halves" and 0.9 < _faint_spread(checked, truth, g) < 1.1
    monkeypatch.setattr(half_ramp, "worth_checking", lambda *args, **kwargs: False)
    dark_only = fit_cube(cube, g, FitOptions(refcorr="none"))
    assert dark_only.errors.read_noise_source == "dark pixels" and _faint_spread(dark_only, truth, g) < 0.5
    np.testing.assert_array_equal(checked.sci, dark_only.sci)


def test_reads_corrected_upstream_are_checked_on_the_halves_as_a_corrected_fit(nebula):
    """Reads a pipeline corrected by their reference pixels already (JWST's refpix), fitted without a correction
    of their own, are checked on the halves as the corrected fit is (the step after refpix came out at
    std(error / ERR) 0.91 on a NIRCam imaging field before the halves, 1.01 with them)."""
    g, truth, cube = nebula
    upstream = correct_reference_pixels(cube, g, "seed")
    told = fit_cube(upstream, g, FitOptions(refcorr="none", reference_corrected=True))
    assert told.errors.read_noise_source == "ramp halves" and 0.9 < _faint_spread(told, truth, g) < 1.1
    np.testing.assert_array_equal(told.sci, fit_cube(upstream, g, FitOptions(refcorr="none")).sci)


def test_the_header_says_what_the_scale_was_measured_on(nebula, tmp_path):
    g, _, cube = nebula
    path = tmp_path / "nebula.fits"
    fits.PrimaryHDU(cube, header=fits.Header({"GEOMETRY": g.name})).writeto(path)
    assert main(["fit", str(path), "-o", str(tmp_path / "f.fits"), "--geometry", "nirps-h4rg", "-q"]) == 0
    header = fits.getheader(tmp_path / "f.fits")
    assert header["RNSOURCE"] == "ramp halves" and 0.8 < header["RNSCALE"] < 1.25


@pytest.mark.integration
def test_the_network_s_err_on_a_nebula_is_checked_on_the_halves_of_its_ramp(nebula, monkeypatch):
    """The shipped model's output has no dark pixels on a nebula either: their scale made ERR twice too large
    (std(error / ERR) 0.50 on the faint half); the network's images of the ramp's halves measure it (1.18)."""
    from hxrg_denoiser.denoise.api import denoise_ramp
    from hxrg_denoiser.io.ramps import ArrayRamp
    from hxrg_denoiser.models import load_model

    g, truth, cube = nebula
    model, spec = load_model("default")
    checked = denoise_ramp(ArrayRamp(cube), model, spec, g)
    assert checked.errors.read_noise_source == "ramp halves" and 0.8 < _faint_spread(checked, truth, g) < 1.25
    monkeypatch.setattr(half_ramp, "worth_checking", lambda *args, **kwargs: False)
    dark_only = denoise_ramp(ArrayRamp(cube), model, spec, g)
    assert dark_only.errors.read_noise_source == "dark pixels" and _faint_spread(dark_only, truth, g) < 0.6
    np.testing.assert_array_equal(checked.sci, dark_only.sci)


def test_without_dark_pixels_the_halves_may_raise_the_predicted_scale_never_lower_it():
    """A sky of 150 e- everywhere leaves no dark pixel whose photon noise is small enough to measure the read
    noise on (the scale stays 1, the prediction): the halves measure it where they say more, and an image
    whose halves say less keeps its prediction (without reference correction they miss the slowest noise)."""
    assert worth_checking(1.0, measured=False, measurable=True) and not worth_checking(1.0, False, False)
    assert prefer_halves(1.0, 1.3, measured=False) and not prefer_halves(1.0, 0.8, measured=False)
    shape = (40, 40)
    usable = np.ones(shape, bool)
    assert halves_can_measure(np.ones(shape), np.full(shape, 2.0), usable)
    assert not halves_can_measure(np.ones(shape), np.full(shape, 4.0), usable)  # a bright flat: no second pass
    g = preset("nirps-h4rg", n_rows=128)
    sky = np.where(g.reference_mask, 0.0, 150.0).astype(np.float32)
    cube = simulate_cube(g, 20, noise_preset("h4rg-lab"), scene=sky, seed=4)
    plain = fit_cube(cube, g, FitOptions(refcorr="none"))
    assert plain.errors.read_noise_source == "ramp halves" and plain.errors.read_noise_scale > 1.0
    corrected = fit_cube(cube, g, FitOptions(refcorr="seed"))
    assert not corrected.errors.measured and corrected.errors.read_noise_scale == 1.0
    for image in (plain, corrected):
        assert abs(float(np.std(((image.sci - sky) / image.err)[~g.reference_mask])) - 1.0) < 0.05
