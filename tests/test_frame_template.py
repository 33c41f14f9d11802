"""Frame templates: a picture frame of fixed shape learnt on darks, its amplitude measured in each read."""

import numpy as np
import pytest
from astropy.io import fits

from hxrg_denoiser.bench.metrics import pixel_errors
from hxrg_denoiser.classical.corrections import CalibratedCorrection, PixelCorrection
from hxrg_denoiser.classical.frame_template import FrameTemplate, learn_frame_template
from hxrg_denoiser.classical.sirs import FRAME_EVIDENCE, load_calibration
from hxrg_denoiser.classical.sirs_fit import fit_sirs
from hxrg_denoiser.cli import main
from hxrg_denoiser.errors import RampInputError
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube
from hxrg_denoiser.simulate.noise import picture_frame_template

STRIP = preset("nirps-h4rg", n_rows=136)
BOWL_20 = noise_preset("nirspec").replace(picture_frame=1.0, picture_frame_shape="bowl", picture_frame_ref_gain=20.0)


def _darks(noise, count=2, reads=30, seed=800):
    return [ArrayRamp(simulate_cube(STRIP, reads, noise, seed=seed + i), f"dark{i}") for i in range(count)]


def _reader(ramp):
    return lambda start, stop: ramp.read_rows(start, stop).astype(np.float64)


@pytest.fixture(scope="module")
def bowl():
    darks = _darks(BOWL_20)
    return darks, fit_sirs(darks, STRIP, frame=True), fit_sirs(darks, STRIP)


def test_amplitudes_are_the_least_squares_fit_on_the_reference_pixels_and_ignore_a_global_offset():
    g = preset("nirps-h4rg", n_rows=40)
    template = FrameTemplate(picture_frame_template(g, "corner").astype(np.float32) * 3)
    rng = np.random.default_rng(1)
    amplitudes, offsets = rng.normal(size=12), rng.normal(scale=50, size=12)
    cube = (amplitudes[:, None, None] * template.image + offsets[:, None, None]).astype(np.float32)
    found = template.amplitudes(lambda a, b: cube[:, a:b].astype(np.float64), g, cube.shape[0])
    np.testing.assert_allclose(found, amplitudes - amplitudes[0], atol=1e-4)  # relative to read 0, offsets gone
    drift = np.linspace(0, 30, g.n_rows)[None, :, None] * rng.normal(size=12)[:, None, None]  # over the frame
    found = template.amplitudes(lambda a, b: (cube + drift)[:, a:b].astype(np.float64), g, cube.shape[0])
    np.testing.assert_allclose(found, amplitudes - amplitudes[0], atol=1e-4)
    band = cube[:, 10:20].copy()
    band -= band[0]
    template.subtract(band, found, 10)
    np.testing.assert_allclose(band, (offsets - offsets[0])[:, None, None] + 0 * band, atol=2e-3)


@pytest.mark.integration
def test_the_template_learnt_on_darks_is_the_frame_the_simulator_adds(bowl):
    darks = bowl[0]
    learnt = learn_frame_template([_reader(d) for d in darks], STRIP, [d.n_reads for d in darks])
    truth = picture_frame_template(STRIP, "bowl")
    science, reference = ~STRIP.reference_mask, STRIP.reference_mask
    image = learnt.template.image
    assert learnt.dominance > 50  # nothing else the reference pixels see comes near
    assert np.corrcoef(image[reference], truth[reference])[0, 1] > 0.97  # 0.986 measured (smoothed, noisy)
    assert np.corrcoef(image[science], truth[science])[0, 1] > 0.95
    # the reference pixels see it 20 times as strongly as the interior, and the template says so
    ratio = np.polyfit(truth[reference], image[reference], 1)[0] / np.polyfit(truth[science], image[science], 1)[0]
    assert 17 < ratio < 23


@pytest.mark.integration
def test_a_calibration_takes_the_template_where_held_out_reads_confirm_it_and_it_pays(bowl):
    _, with_frame, without = bowl
    assert with_frame.frame is not None and with_frame.record.frame_evidence >= FRAME_EVIDENCE
    assert without.frame is None and without.record.frame_evidence == 0
    scene = make_scene("echelle", STRIP, seed=5).image
    rms = {name: [] for name in ("template", "sirs", "none")}
    for seed in (61, 62):
        cube = simulate_cube(STRIP, 30, BOWL_20, scene=scene, seed=seed)
        for name, options in (("template", FitOptions(refcorr="sirs", calibration=with_frame)),
                              ("sirs", FitOptions(refcorr="sirs", calibration=without)),
                              ("none", FitOptions(refcorr="none"))):
            rms[name].append(pixel_errors(fit_cube(cube, STRIP, options).sci, scene, ~STRIP.reference_mask).rms)
    worst = {name: max(values) for name, values in rms.items()}
    assert worst["template"] < 0.9 * worst["sirs"] and worst["template"] < 0.9 * worst["none"]


@pytest.mark.integration
def test_plain_darks_and_a_pattern_the_reference_pixels_do_not_see_get_no_template():
    plain = fit_sirs(_darks(noise_preset("nirspec")), STRIP, frame=True)
    assert plain.frame is None and 0 < plain.record.frame_evidence < FRAME_EVIDENCE
    # a reset transient: a fixed pattern of the active pixels only, learnt but not measurable
    reset = fit_sirs(_darks(noise_preset("nirspec").replace(reset_anomaly=40.0, reset_tau=0.8)), STRIP, frame=True)
    assert reset.frame is None and reset.record.frame_evidence < FRAME_EVIDENCE


@pytest.mark.integration
def test_the_template_travels_in_the_calibration_file_and_the_checked_fit_refits_the_plain_image(tmp_path, bowl):
    darks, calibration, _ = bowl
    path = calibration.save(tmp_path / "detector.fits")
    loaded = load_calibration(path)
    np.testing.assert_array_equal(loaded.frame.image, calibration.frame.image)
    assert loaded.record.frame_evidence == calibration.record.frame_evidence
    cube = darks[0].read_rows(0, STRIP.n_rows)
    a = fit_cube(cube, STRIP, FitOptions(refcorr="sirs", calibration=calibration)).sci
    np.testing.assert_array_equal(a, fit_cube(cube, STRIP, FitOptions(calibration=str(path))).sci)
    # its correction differs from pixel to pixel within a channel row: the plain image cannot be had from its
    # offsets, and the check fits it
    assert not CalibratedCorrection(calibration).offsets_complete and PixelCorrection("seed").offsets_complete
    checked = fit_cube(cube, STRIP, FitOptions(refcorr="sirs", calibration=calibration, reference_check=True))
    assert checked.reference.refcorr_used in ("sirs", "none")
    # a calibration with a template is model version 3; one without is written as version 2, as before
    assert fits.getval(path, "CALVER") == 3
    assert fits.getval(bowl[2].save(tmp_path / "v2.fits"), "CALVER") == 2
    assert load_calibration(tmp_path / "v2.fits").frame is None
    with fits.open(path, mode="update") as hdul:
        hdul["FRAME"].data[3, 3] = np.nan
    with pytest.raises(RampInputError, match=r"detector.fits: its FRAME template has non-finite values"):
        load_calibration(path)


@pytest.mark.integration
def test_calibrate_says_whether_it_took_a_template(tmp_path, capsys, bowl):
    paths = []
    for k, dark in enumerate(bowl[0]):
        paths.append(tmp_path / f"dark{k}.fits")
        fits.PrimaryHDU(dark.read_rows(0, STRIP.n_rows)).writeto(paths[-1])
    out = tmp_path / "detector.fits"
    assert main(["calibrate", *map(str, paths), "-o", str(out), "--geometry", "nirps-h4rg", "-q",
                 "--frame-template"]) == 0
    said = capsys.readouterr().out
    assert "a frame template" in said and ": used" in said
    assert load_calibration(out).frame is not None
    assert main(["calibrate", *map(str, paths), "-o", str(out), "--geometry", "nirps-h4rg", "-q", "--overwrite"]) == 0
    assert "a frame template" not in capsys.readouterr().out  # not tried unless asked
    assert load_calibration(out).frame is None


def test_calibrate_says_when_the_darks_are_too_short_for_a_template(tmp_path, capsys):
    paths = []
    for k in range(2):
        paths.append(tmp_path / f"dark{k}.fits")
        fits.PrimaryHDU(simulate_cube(STRIP, 4, BOWL_20, seed=810 + k)).writeto(paths[-1])
    out = tmp_path / "detector.fits"
    assert main(["calibrate", *map(str, paths), "-o", str(out), "--geometry", "nirps-h4rg", "-q",
                 "--frame-template"]) == 0
    assert "a frame template was not tried: it needs darks of 5 reads or more" in capsys.readouterr().out
    assert load_calibration(out).frame is None
