"""Saturation in every path: one level or a per-pixel FITS map, in fit and in denoise."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from conftest import write_cube

from hxrg_denoiser.cli.main import main
from hxrg_denoiser.denoise.api import denoise_ramp
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import RampInputError
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.models.registry import load_model
from hxrg_denoiser.simulate.noise import NoiseModel
from hxrg_denoiser.simulate.ramp import simulate_cube

SMALL = ReadoutGeometry("t", 32, 128, 4)


def _bright_ramp(geometry, n_reads=12, full_well=3000.0, seed=1):
    """A faint scene with a few pixels that fill the well after 3 reads, and the truth."""
    scene = np.where(geometry.reference_mask, 0.0, 40.0).astype(np.float32)
    bright = (slice(10, 13), slice(40, 44))
    scene[bright] = 1000.0 * n_reads  # 1000 e- per read
    noise = NoiseModel(white=5.0, saturation=full_well)
    return simulate_cube(geometry, n_reads, noise, scene=scene, seed=seed), scene, bright


def test_denoise_uses_only_the_reads_before_saturation():
    geometry = preset("nirps-h4rg", n_rows=40)
    cube, scene, bright = _bright_ramp(geometry)
    model, spec = load_model("default")
    ramp = ArrayRamp(cube)
    blind = denoise_ramp(ramp, model, spec, geometry)  # no level: the plateaus at the top are found
    image = denoise_ramp(ramp, model, spec, geometry, saturation=2900.0)
    np.testing.assert_allclose(np.median(blind.sci[bright] / scene[bright]), 1.0, atol=0.03)
    assert (blind.dq[bright] & PixelFlag.SATURATED).all()
    np.testing.assert_allclose(np.median(image.sci[bright] / scene[bright]), 1.0, atol=0.02)
    assert (image.dq[bright] & PixelFlag.SATURATED).all()
    assert (image.reads_used[bright] == 2).all()  # charge of 1000 e- per read: reads 0 and 1 are below 2900


def test_a_saturation_map_sets_the_level_of_each_pixel(tmp_path):
    cube, scene, bright = _bright_ramp(SMALL)
    level = np.full(SMALL.shape, 1e9, dtype=np.float32)  # the map says: only these pixels saturate, early
    level[bright] = 1900.0
    path = tmp_path / "saturation.fits"
    fits.PrimaryHDU(level).writeto(path)
    image = fit_cube(cube, SMALL, FitOptions(refcorr="none", saturation=str(path)))
    assert (image.reads_used[bright] == 0).all() and np.isnan(image.sci[bright]).all()  # one read left: no slope
    assert (image.dq[bright] & PixelFlag.DO_NOT_USE).all()
    others = ~SMALL.reference_mask
    others[bright] = False
    assert not (image.dq[others] & PixelFlag.SATURATED).any()
    same = fit_cube(cube, SMALL, FitOptions(refcorr="none", saturation=level))  # the array itself
    np.testing.assert_array_equal(same.dq, image.dq)


@pytest.mark.parametrize("spoil, message", [
    (lambda m: m[:, :64], r"map is 32 x 64, the data are 32 x 128"),
    (lambda m: np.where(np.arange(128) == 7, np.nan, m), r"non-finite value at row 0, column 7"),
])
def test_bad_saturation_maps_are_refused(tmp_path, spoil, message):
    path = tmp_path / "map.fits"
    fits.PrimaryHDU(spoil(np.full(SMALL.shape, 5000.0, dtype=np.float32))).writeto(path)
    cube, _, _ = _bright_ramp(SMALL, n_reads=4)
    with pytest.raises(RampInputError, match=message):
        fit_cube(cube, SMALL, FitOptions(saturation=str(path)))


def test_cli_denoise_and_fit_take_a_level_or_a_file(tmp_path, capsys):
    geometry = preset("nirps-h4rg", n_rows=24)
    cube, scene, bright = _bright_ramp(geometry, n_reads=8)
    path = write_cube(tmp_path / "cube.fits", cube)
    out = tmp_path / "den.fits"
    assert main(["denoise", str(path), "-o", str(out), "--saturation", "2900", "-q"]) == 0
    with fits.open(out) as hdul:
        assert (hdul["DQ"].data[bright] & PixelFlag.SATURATED).all()
    assert main(["fit", str(path), "-o", str(tmp_path / "f.fits"), "--saturation", str(tmp_path / "none.fits"), "--geometry", "nirps-h4rg",
                 "-q"]) == 2
    assert "--saturation" in capsys.readouterr().err and not (tmp_path / "f.fits").exists()


def test_a_gain_map_converts_each_pixel_and_bad_pixels_are_flagged(tmp_path):
    cube, scene, bright = _bright_ramp(SMALL, n_reads=6, full_well=1e9)
    gain = np.full(SMALL.shape, 2.0, dtype=np.float32)
    gain[:, 64:] = 3.0
    bad = np.zeros(SMALL.shape, dtype=np.uint8)
    bad[20, 30] = 1
    paths = {name: tmp_path / f"{name}.fits" for name in ("gain", "bad")}
    fits.PrimaryHDU(gain).writeto(paths["gain"])
    fits.PrimaryHDU(bad).writeto(paths["bad"])
    plain = fit_cube(cube, SMALL, FitOptions(refcorr="none", read_noise=5.0, jump_threshold=None))
    mapped = fit_cube(cube, SMALL, FitOptions(refcorr="none", read_noise=5.0, jump_threshold=None,
                                              gain=str(paths["gain"]), bad_pixels=str(paths["bad"])))
    science = ~SMALL.reference_mask
    np.testing.assert_allclose(mapped.sci[science], (plain.sci * gain)[science], rtol=1e-4)
    assert mapped.dq[20, 30] & PixelFlag.DO_NOT_USE and not plain.dq[20, 30] & PixelFlag.DO_NOT_USE
    assert mapped.provenance.gain == "map gain.fits" and mapped.provenance.bunit == "e-"


def test_a_gain_map_of_another_shape_or_with_zeros_is_refused(tmp_path):
    cube, _, _ = _bright_ramp(SMALL, n_reads=4)
    for name, values, message in (("small", np.ones((8, 8)), r"map is 8 x 8"),
                                  ("zero", np.zeros(SMALL.shape), r"not > 0 value at row 0, column 0")):
        path = tmp_path / f"{name}.fits"
        fits.PrimaryHDU(values.astype(np.float32)).writeto(path)
        with pytest.raises(RampInputError, match=message):
            fit_cube(cube, SMALL, FitOptions(gain=str(path)))


def test_a_read_noise_map_sets_each_pixel_error():
    geometry = ReadoutGeometry("t", 64, 128, 4)
    rng = np.random.default_rng(3)
    noise_map = np.where(np.arange(128) < 64, 4.0, 12.0).astype(np.float32)[None, :].repeat(64, axis=0)
    n = 12
    cube = (100.0 + rng.standard_normal((n,) + geometry.shape) * noise_map).astype(np.float32)
    image = fit_cube(cube, geometry, FitOptions(refcorr="none", read_noise=noise_map, jump_threshold=5.0))
    science = ~geometry.reference_mask
    z = image.sci / image.err
    for half in (slice(0, 64), slice(64, 128)):
        assert abs(np.std(z[:, half][science[:, half]]) - 1) < 0.06
    # the noisy half is not taken for jumps: at most the step test's rare false flags (6e-5 per pixel)
    assert ((image.dq[science] & PixelFlag.JUMP_DET) != 0).sum() <= 3
    assert image.provenance.fit.read_noise == "map in memory"


def test_without_a_level_a_plateau_at_the_top_of_a_ramp_is_saturation(caplog):
    """12 pixels fill a 3000 e- well after 3 reads of 1000 e-: without --saturation, fitted as they are they
    read about a third of their flux; the plateau is found, flagged and left out, with one warning. Nothing
    else is taken: a ramp of 40 e- (and the dark pixels) never looks flat at its top after a steep rise."""
    from hxrg_denoiser.classical.plateau import band_read_noise, plateau_start

    cube, scene, bright = _bright_ramp(SMALL)
    with caplog.at_level("WARNING"):
        image = fit_cube(cube, SMALL, FitOptions(refcorr="none"))
    assert "12 pixel(s) reach a plateau at the top of their ramp" in caplog.text
    np.testing.assert_allclose(np.median(image.sci[bright] / scene[bright]), 1.0, atol=0.03)
    flagged = (image.dq & PixelFlag.SATURATED) != 0
    assert flagged[bright].all() and flagged.sum() == 12
    # a steep ramp that never saturates and a flat dark pixel: no plateau
    t = np.arange(12, dtype=np.float32)[:, None, None]
    rng = np.random.default_rng(0)
    ramps = np.concatenate([500.0 * t + rng.normal(0, 5, (12, 1, 50)), rng.normal(0, 5, (12, 1, 50))], axis=2)
    assert (plateau_start(ramps.astype(np.float32), band_read_noise(ramps)) == 12).all()


def test_a_cosmic_ray_early_in_a_faint_ramp_is_not_a_plateau():
    """A 300 e- hit in the first difference of a 1 e- per read pixel (30 e- of it in the next read), then a flat
    ramp: one step is not a steady rise, so no plateau (the jump test takes it)."""
    from hxrg_denoiser.classical.plateau import band_read_noise, plateau_start

    rng = np.random.default_rng(2)
    reads = np.arange(30, dtype=np.float32)[:, None, None] + rng.normal(0, 6, (30, 8, 64)).astype(np.float32)
    reads[1:, 3, 10] += 300.0
    reads[2:, 3, 10] += 30.0
    first = plateau_start(reads, band_read_noise(reads))
    assert (first == 30).all()
    image = fit_cube(reads, ReadoutGeometry("t", 8, 64, 1, ref_border=0), FitOptions(refcorr="none", read_noise=6.0))
    assert not (image.dq[3, 10] & PixelFlag.SATURATED)
    assert image.dq[3, 10] & PixelFlag.JUMP_DET
    assert abs(image.sci[3, 10] / 30 - 1.0) < 1.0  # about 1 e- per read, not 300
