"""Real detector ramps: dark subtraction, superdarks, the start transient and the reads a fit uses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from astropy.io import fits
from conftest import write_cube

from hxrg_denoiser.classical.start_transient import first_settled_read, transient_profile
from hxrg_denoiser.classical.superdark import clipped_dark_mean, write_superdark
from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting import FitOptions, fit_cube, fit_ramp
from hxrg_denoiser.geometry import PRESETS, ReadoutGeometry
from hxrg_denoiser.io.ramps import ArrayRamp, FirstReads, ReadRange
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.detector import ResetAnomaly

GEOMETRY = ReadoutGeometry("t", 64, 256, 8)
TRANSIENT = noise_preset("nirspec").replace(reset_anomaly=40.0, reset_tau=1.0, detector_seed=7)


def _interior(geometry: ReadoutGeometry) -> np.ndarray:
    return ~geometry.reference_mask


def test_read_range_maps_reads_and_their_sources():
    cube = np.arange(5 * 4 * 3, dtype=np.float32).reshape(5, 4, 3)
    ramp = ReadRange(ArrayRamp(cube, "c.fits"), 1, 4)
    assert ramp.shape == (3, 4, 3)
    np.testing.assert_array_equal(ramp.read_rows(1, 3), cube[1:4, 1:3])
    assert ramp.read_source(0) == "c.fits (read 1)"
    np.testing.assert_array_equal(FirstReads(ArrayRamp(cube), 2).read_rows(0, 4), cube[:2])
    with pytest.raises(ValueError):
        ReadRange(ArrayRamp(cube), 4, 4)


def test_reset_anomaly_is_the_detectors_own_and_spares_reference_pixels():
    g = PRESETS["nirps-h4rg"].with_rows(64)
    a, b = ResetAnomaly(g, TRANSIENT, 7), ResetAnomaly(g, TRANSIENT, 7)
    np.testing.assert_array_equal(a.read(0), b.read(0))
    assert not np.array_equal(a.read(0), ResetAnomaly(g, TRANSIENT, 8).read(0))
    assert np.all(a.read(0)[g.reference_mask] == 0)
    assert 0.3 * 40 * 0.7 <= np.abs(a.read(0)[_interior(g)]).min() and a.read(0).max() <= 1.7 * 40 * 1.3
    assert np.all(a.read(6) < a.read(0) * np.exp(-6 / 1.4) + 1e-6)  # decays at least as fast as the slowest tau
    # in a simulated ramp: the dark of another exposure of the same detector has the same transient
    one = simulate_cube(g, 6, noise_preset("none").replace(reset_anomaly=40.0, detector_seed=3), seed=1)
    two = simulate_cube(g, 6, noise_preset("none").replace(reset_anomaly=40.0, detector_seed=3), seed=2)
    np.testing.assert_array_equal(one, two)


def _transient_cube(geometry, n_reads, seed, noise=TRANSIENT):
    return simulate_cube(geometry, n_reads, noise, seed=seed)


@pytest.mark.integration
def test_first_read_auto_leaves_at_most_half_an_electron_of_reset_bias():
    """A 40 e- transient (per channel 12-68 e-, tau 0.6-1.4 reads) biases the plain fit of 50 reads by about
    -6 x 40 / 50 = -5 e- (an exponential's sum over reads, 1 / (1 - e^-1) = 1.6, makes it about -8 e-);
    leaving out the reads it spoils takes that to at most 0.5 e-, and the pixel error near the
    transient-free fit's."""
    g = PRESETS["nirps-h4rg"].with_rows(64)
    inside = _interior(g)
    for seed in (1,):  # seed 2 too when changing the rule (pytest -m slow runs the ramp without transient at 40 reads)
        cube = _transient_cube(g, 50, seed)
        clean_cube = simulate_cube(g, 50, TRANSIENT.replace(reset_anomaly=0.0), seed=seed)
        without = fit_cube(clean_cube, g, FitOptions())
        plain = fit_cube(cube, g, FitOptions())
        auto = fit_cube(cube, g, FitOptions(first_read="auto"))
        same_reads = fit_cube(clean_cube, g, FitOptions(first_read=auto.provenance.fit.first_read))
        assert np.median(plain.sci[inside] - without.sci[inside]) < -4.0
        assert abs(np.median(auto.sci[inside] - same_reads.sci[inside])) <= 0.5
        rms = [np.sqrt(np.mean(image.sci[inside] ** 2)) for image in (auto, plain, without)]
        assert rms[0] < 1.15 * rms[2] and rms[0] < 0.5 * rms[1], rms
        assert 1 <= auto.provenance.fit.first_read <= 8
        assert auto.provenance.fit.first_read_auto and auto.provenance.fit.last_read == 49


@pytest.mark.parametrize("noise,rows,reads", [("nirspec", 64, 30), ("h4rg-lab", 64, 10),
                                              pytest.param("h4rg-lab", 96, 40, marks=pytest.mark.slow)])
def test_first_read_auto_keeps_every_read_of_a_ramp_without_transient(noise, rows, reads):
    g = PRESETS["nirps-h4rg"].with_rows(rows)
    for seed in (40, 41) if reads <= 10 else (40,):
        cube = simulate_cube(g, reads, noise_preset(noise), seed=seed)
        assert fit_cube(cube, g, FitOptions(first_read="auto")).provenance.fit.first_read == 0


def test_first_settled_read_on_a_known_profile():
    g = ReadoutGeometry("p", 16, 64, 2, ref_border=0)
    n = 20
    rng = np.random.default_rng(0)
    electrons = rng.normal(0, 5.0, (n, 16, 64)).astype(np.float32) + np.arange(n, dtype=np.float32)[:, None, None]
    transient = 30.0 * np.exp(-np.arange(n) / 0.8)
    dark = np.ones((16, 64), bool)
    clean = transient_profile(electrons, dark, g)
    assert first_settled_read(clean, 5.0) == 0
    spoiled = transient_profile(electrons + transient[:, None, None].astype(np.float32), dark, g)
    # the transient is above 5 % of the read noise (0.25 e-) and the noise of a read's level (about 0.2 e-)
    # through read 3 (30 e^-3.75 = 0.7 e-), below it from read 5 (0.06 e-)
    assert 4 <= first_settled_read(spoiled, 5.0) <= 6


def test_dark_ramp_is_subtracted_read_by_read(tmp_path):
    cube = simulate_cube(GEOMETRY, 8, noise_preset("nirspec"), seed=1)
    dark = simulate_cube(GEOMETRY, 10, noise_preset("white"), seed=2)
    write_cube(tmp_path / "dark.fits", dark)
    with_dark = fit_cube(cube, GEOMETRY, FitOptions(dark=str(tmp_path / "dark.fits"), read_noise=5.0))
    by_hand = fit_cube(cube - dark[:8], GEOMETRY, FitOptions(read_noise=5.0))
    np.testing.assert_allclose(with_dark.sci, by_hand.sci, rtol=1e-5, atol=1e-3)
    assert with_dark.provenance.fit.dark.endswith("dark.fits")
    # reads 2..6 of the ramp take reads 2..6 of the dark
    ranged = fit_cube(cube, GEOMETRY, FitOptions(dark=str(tmp_path / "dark.fits"), first_read=2, last_read=6))
    by_hand = fit_ramp(ReadRange(ArrayRamp(cube - dark[:8]), 2, 7), GEOMETRY, FitOptions())
    np.testing.assert_allclose(ranged.sci, by_hand.sci * 8 / 5, rtol=1e-5, atol=1e-3)


def test_sci_stays_the_flux_of_the_whole_ramp_when_reads_are_left_out():
    cube = simulate_cube(GEOMETRY, 12, noise_preset("none"), scene=np.full(GEOMETRY.shape, 120.0), seed=1,
                         poisson=False)
    inside = _interior(GEOMETRY)
    for options in (FitOptions(refcorr="none"), FitOptions(refcorr="none", first_read=3, last_read=9)):
        np.testing.assert_allclose(fit_cube(cube, GEOMETRY, options).sci[inside], 120.0, rtol=1e-4)


def test_dark_rate_image_in_units_per_second(tmp_path):
    g = GEOMETRY
    rate = np.full(g.shape, 2.0, np.float32)  # input units per second
    fits.PrimaryHDU(rate).writeto(tmp_path / "rate.fits")
    n, frame = 8, 1.5
    cube = simulate_cube(g, n, noise_preset("none"), seed=0, poisson=False)
    cube = cube + (np.arange(n, dtype=np.float32) * 2.0 * frame)[:, None, None] * _interior(g)[None]
    image = fit_cube(cube, g, FitOptions(refcorr="none", dark=str(tmp_path / "rate.fits"), frame_time=frame))
    assert np.abs(image.sci[_interior(g)]).max() < 1e-3


def test_frame_by_frame_dark_is_averaged_into_the_datas_groups(tmp_path):
    g = GEOMETRY
    rng = np.random.default_rng(3)
    frames = rng.normal(0, 3.0, (20, *g.shape)).astype(np.float32)
    write_cube(tmp_path / "frames.fits", frames)
    # groups of 2 frames with a gap of 1: group k averages frames 3k and 3k + 1
    science = np.stack([frames[3 * k: 3 * k + 2].mean(axis=0) for k in range(6)])
    header = fits.Header([("NFRAMES", 2), ("GROUPGAP", 1)])
    fits.PrimaryHDU(science, header=header).writeto(tmp_path / "science.fits")
    from hxrg_denoiser.io.ramps import open_ramp

    with open_ramp(tmp_path / "science.fits") as ramp:
        image = fit_ramp(ramp, g, FitOptions(refcorr="none", dark=str(tmp_path / "frames.fits"), read_noise=1.0))
    assert np.abs(image.sci).max() < 1e-4


def test_given_read_noise_carries_the_darks_own_noise(tmp_path):
    cube = simulate_cube(GEOMETRY, 8, noise_preset("white"), seed=1)
    header = fits.Header([("NCOMBINE", 4)])
    fits.PrimaryHDU(np.zeros_like(cube), header=header).writeto(tmp_path / "sd.fits")
    plain = fit_cube(cube, GEOMETRY, FitOptions(read_noise=5.0, check_errors=False))
    with_dark = fit_cube(cube, GEOMETRY, FitOptions(read_noise=5.0, check_errors=False, dark=str(tmp_path / "sd.fits")))
    inside = _interior(GEOMETRY)
    np.testing.assert_allclose(with_dark.var_rnoise[inside], plain.var_rnoise[inside] * 1.25, rtol=1e-5)


def test_clipped_dark_mean_leaves_out_a_cosmic_ray_and_keeps_a_hot_pixel():
    rng = np.random.default_rng(0)
    n_darks, n_reads = 6, 10
    stack = rng.normal(0, 5.0, (n_darks, n_reads, 32, 32)).astype(np.float32)
    stack += rng.normal(1000, 20, (n_darks, 1, 32, 32)).astype(np.float32)  # each dark's own reset level
    hot = np.arange(n_reads, dtype=np.float32) * 50.0
    stack[:, :, 5, 5] += hot + rng.normal(0, 20.0, (n_darks, n_reads))  # a hot pixel with its shot noise
    stack[2, 4:, 9, 9] += 500.0  # a cosmic ray in dark 2 from read 4
    mean, kept = clipped_dark_mean(stack)
    relative = mean - mean.mean(axis=0)
    assert abs(relative[-1, 9, 9] - relative[0, 9, 9]) < 15.0  # without the hit: 500 e- would leave 83 e-
    assert kept[6, 9, 9] == n_darks - 1
    slope = np.polyfit(np.arange(n_reads), mean[:, 5, 5], 1)[0]
    assert slope == pytest.approx(50.0, abs=5.0)
    assert kept[:, 5, 5].min() >= n_darks - 1


@pytest.mark.integration
def test_superdark_command_and_dark_fit_remove_the_transient(tmp_path, capsys):
    g = PRESETS["nirps-h4rg"].with_rows(64)
    noise = TRANSIENT.replace(dark_current=0.02, hot_pixel_fraction=0.005, hot_pixel_current=1.0)
    paths = []
    for seed in range(8):
        paths.append(str(write_cube(tmp_path / f"dark{seed}.fits", simulate_cube(g, 12, noise, seed=100 + seed))))
    assert main(["superdark", *paths, "-o", str(tmp_path / "sd.fits"), "-q"]) == 0
    assert "superdark of 8 dark ramps" in capsys.readouterr().out
    assert fits.getheader(tmp_path / "sd.fits")["NCOMBINE"] == 8
    science = simulate_cube(g, 12, noise, seed=5)
    truth = fit_cube(simulate_cube(g, 12, dataclasses.replace(noise, reset_anomaly=0.0, dark_current=0.0,
                                                              hot_pixel_fraction=0.0), seed=5), g, FitOptions())
    with_dark = fit_cube(science, g, FitOptions(dark=str(tmp_path / "sd.fits")))
    plain = fit_cube(science, g, FitOptions())
    inside = _interior(g)
    assert np.median((plain.sci - truth.sci)[inside]) < -5.0
    # what is left: the superdark's own noise, 1/sqrt(8) of a dark's
    assert abs(np.median((with_dark.sci - truth.sci)[inside])) < 0.3
    # hot pixels leave with the dark: the worst pixels' error shrinks
    assert np.percentile(np.abs(with_dark.sci - truth.sci)[inside], 99.9) < \
        0.5 * np.percentile(np.abs(plain.sci - truth.sci)[inside], 99.9)


def test_write_superdark_refuses_to_overwrite(tmp_path):
    cube = np.zeros((3, 8, 8), np.float32)
    paths = [str(write_cube(tmp_path / f"d{i}.fits", cube)) for i in range(2)]
    write_superdark(paths, tmp_path / "sd.fits")
    from hxrg_denoiser.errors import OutputError

    with pytest.raises(OutputError):
        write_superdark(paths, tmp_path / "sd.fits")


@pytest.mark.integration
@pytest.mark.parametrize("shape", ["bowl", pytest.param("linear", marks=pytest.mark.slow)])
def test_fit_reference_check_refuses_a_correction_that_reference_pixels_mislead(tmp_path, shape):
    """A picture frame the reference pixels see 20 times the interior: the seed correction adds it to every
    read; the check (read levels, dark-pixel structure) takes the plain fit, with --clean too."""
    g = PRESETS["nirps-h4rg"].with_rows(64)
    noise = noise_preset("h4rg-lab").replace(picture_frame=0.5, picture_frame_ref_gain=20.0, picture_frame_shape=shape)
    cube = simulate_cube(g, 12, noise, seed=4)
    inside = _interior(g)
    for clean in (False, True):
        checked = fit_cube(cube, g, FitOptions(refcorr="seed", reference_check=True, clean=clean))
        plain = fit_cube(cube, g, FitOptions(refcorr="none", clean=clean))
        assert checked.reference.refcorr_used == "none", checked.reference.note
        np.testing.assert_array_equal(checked.sci[inside], plain.sci[inside])


def test_fit_reference_check_keeps_a_correction_that_helps():
    g = PRESETS["nirps-h4rg"].with_rows(64)
    cube = simulate_cube(g, 12, noise_preset("nirspec"), seed=4)
    checked = fit_cube(cube, g, FitOptions(refcorr="seed", reference_check=True))
    assert checked.reference.refcorr_used == "seed" and "reads" in checked.reference.note
    np.testing.assert_array_equal(checked.sci, fit_cube(cube, g, FitOptions(refcorr="seed")).sci)


@pytest.mark.integration
def test_bench_with_a_dark_subtracts_it_in_every_method(tmp_path):
    """bench --darks ... --dark SUPERDARK: every method (and a model's input fit) subtracts it, so the reset
    anomaly's bias of the plain fit (about -5 e- per pixel here) leaves the measured errors."""
    import json

    g = ReadoutGeometry("t", 48, 256, 8)
    noise = TRANSIENT.replace(dark_current=0.02)
    paths = [str(write_cube(tmp_path / f"dark{seed}.fits", simulate_cube(g, 12, noise, seed=200 + seed)))
             for seed in range(6)]
    assert main(["superdark", *paths[2:], "-o", str(tmp_path / "sd.fits"), "-q"]) == 0
    runs = {}
    for name, extra in (("plain", []), ("dark", ["--dark", str(tmp_path / "sd.fits")])):
        out = tmp_path / name
        assert main(["bench", "--darks", *paths[:2], "--scene", "flat", "--channels", "8", "--out", str(out), "-q",
                     "--no-reads-curves", "--jobs", "1", *extra]) == 0
        runs[name] = json.loads((out / "metrics.json").read_text())["cases"]["dark0.fits"]
    for method in ("utr", "utr_ref_seed"):
        assert runs["dark"][method]["pixel_rms"] < runs["plain"][method]["pixel_rms"]
    # a dark of another shape: one line before any work
    write_cube(tmp_path / "small.fits", np.zeros((12, 16, 256), np.float32))
    assert main(["bench", "--darks", *paths[:2], "--scene", "flat", "--channels", "8", "--out", str(tmp_path / "x"),
                 "-q", "--dark", str(tmp_path / "small.fits")]) == 2
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("axes", [(1, 2), (2, 1)], ids=["readout-order", "transposed"])
def test_a_full_frame_dark_ramp_is_cut_to_a_subarray(tmp_path, capsys, axes):
    """A subarray (SUBSTRT1/SUBSTRT2, 1-based first column and row) given a full-frame dark ramp, as JWST's
    DARK references often are: the dark's reads are cut to the subarray where both files store it (in either
    orientation), so the fit equals one with the dark cut by hand; a dark too small for the subarray, or
    larger for data that state no subarray, is refused in one line."""
    from conftest import noisy_ramp

    rng = np.random.default_rng(4)
    full = (rng.normal(0.0, 3.0, (6, 96, 128)) + np.where(rng.random((96, 128)) < 0.02, 50.0, 0.0)
            * np.arange(6)[:, None, None]).astype(np.float32)  # hot pixels: what the subtraction must remove
    sub = full[:, 16:48, 32:96]  # rows 16.., columns 32.. as stored
    cube = (noisy_ramp((32, 64), 6, seed=2)[0] + sub).astype(np.float32)
    keys = {"FASTAXIS": axes[0], "SLOWAXIS": axes[1]}
    fits.PrimaryHDU(cube, header=fits.Header({"SUBSTRT1": 33, "SUBSTRT2": 17, **keys})).writeto(tmp_path / "d.fits")
    fits.PrimaryHDU(full, header=fits.Header(keys)).writeto(tmp_path / "dark_full.fits")
    fits.PrimaryHDU(np.ascontiguousarray(sub), header=fits.Header(keys)).writeto(tmp_path / "dark_sub.fits")
    common = ["--channels", "2", "--refcorr", "none", "--read-noise", "5", "-q"]
    for name in ("full", "sub"):
        assert main(["fit", str(tmp_path / "d.fits"), "-o", str(tmp_path / f"{name}.fits"), "--dark",
                     str(tmp_path / f"dark_{name}.fits"), *common]) == 0
    for ext in ("SCI", "ERR", "DQ"):
        np.testing.assert_array_equal(fits.getdata(tmp_path / "full.fits", ext), fits.getdata(tmp_path / "sub.fits", ext))
    fits.PrimaryHDU(full[:, :40, :90], header=fits.Header(keys)).writeto(tmp_path / "dark_small.fits")
    fits.PrimaryHDU(cube, header=fits.Header(keys)).writeto(tmp_path / "plain.fits")
    for data, dark, message in (("d.fits", "dark_small.fits", "reads are"),
                                ("plain.fits", "dark_full.fits", "SUBSTRT1 and SUBSTRT2")):
        out = tmp_path / "bad.fits"
        assert main(["fit", str(tmp_path / data), "-o", str(out), "--dark", str(tmp_path / dark), *common]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and "--dark" in err[0]
        assert not out.exists()
