"""Classical non-linearity: the correction of raw reads (``--linearity``) and the simulator's reference file."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from conftest import write_cube

from hxrg_denoiser.classical.linearity import first_over_limit, linearize, reset_level
from hxrg_denoiser.cli import main
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.fitting import FitOptions, fit_cube, fit_ramp
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.linearity import NO_LIN_CORR_BIT, open_linearity, write_linearity
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.detector import NonLinearity, detector_seed

GEOMETRY = ReadoutGeometry("t", 64, 256, 8)
BRIGHT = 1.2e5  # electrons over the ramp: the loss reaches 5 % x 1.2 = 6 % at the last read
MODEL = noise_preset("nirspec").replace(nonlinearity=0.05, detector_seed=11)


def _flat(level: float = BRIGHT) -> np.ndarray:
    scene = np.full(GEOMETRY.shape, level, np.float32)
    scene[:, :128] *= np.linspace(0.02, 1.0, 128, dtype=np.float32)  # faint to bright
    return scene


def test_reset_level_and_linearize_have_known_answers():
    t = np.arange(1, 7, dtype=np.float32)[:, None, None]  # reads 1 .. 6 intervals after the reset
    bias, rate = 1000.0, 50.0
    reads = (bias + rate * t) * np.ones((1, 2, 3), np.float32)
    reads[2, 0, 0] += 400.0  # a cosmic ray between reads 1 and 2 does not move the level
    np.testing.assert_allclose(reset_level(reads), bias, atol=1e-3)
    np.testing.assert_allclose(reset_level(reads[2:], first_read=2)[1], bias, atol=1e-3)
    coefficients = np.zeros((3, 2, 3), np.float32)
    coefficients[1], coefficients[2] = 1.0, 1e-3
    correct = np.ones((2, 3), bool)
    correct[1, 2] = False
    out = reads.copy()
    linearize(out, coefficients, np.full((2, 3), bias, np.float32), correct)
    signal = reads - bias
    np.testing.assert_allclose(out[:, 1, 1], bias + signal[:, 1, 1] + 1e-3 * signal[:, 1, 1] ** 2, rtol=1e-6)
    np.testing.assert_array_equal(out[:, 1, 2], reads[:, 1, 2])
    over = first_over_limit(reads, np.full((2, 3), bias, np.float32), 160.0)
    assert over[1, 1] == 3 and over[0, 0] == 2  # signal 200 at read 3; the cosmic ray's read 2 holds 550


def test_simulator_correction_inverts_its_non_linearity():
    nonlinearity = NonLinearity(GEOMETRY, MODEL, 11)
    charge = np.linspace(0, 1.5e5, 7, dtype=np.float32)[:, None, None] * np.ones((1, *GEOMETRY.shape), np.float32)
    gain = 2.0
    reported = nonlinearity(charge) / gain
    coefficients = nonlinearity.correction(gain)
    assert coefficients.shape == (6, *GEOMETRY.shape)
    out = reported.copy()
    linearize(out, coefficients, np.zeros(GEOMETRY.shape, np.float32), np.ones(GEOMETRY.shape, bool))
    np.testing.assert_allclose(out * gain, charge, rtol=2e-4, atol=1e-2)  # 42 x^5 at x = 8 %: 1.4e-4


def _fit(cube, linearity=None, **kw):
    options = FitOptions(refcorr="seed", linearity=linearity, **kw)
    return fit_cube(cube, GEOMETRY, options)


def test_linearity_takes_the_bias_out_of_bright_slopes(tmp_path):
    """5 % non-linearity at 1e5 e-: the bright half's UTR slopes are 3-4 % low; corrected, within 0.1 %
    (Poisson noise of 1.2e5 e- is 0.3 % per pixel; the median over 8,000 pixels is good to 0.005 %)."""
    truth = _flat()
    cube = simulate_cube(GEOMETRY, 12, MODEL, scene=truth, seed=4)
    path = tmp_path / "lin.fits"
    coefficients = NonLinearity(GEOMETRY, MODEL, detector_seed(MODEL, 4)).correction()
    write_linearity(path, coefficients)
    interior = ~GEOMETRY.reference_mask
    bright = interior & (truth > 0.8 * BRIGHT)
    plain, corrected = _fit(cube), _fit(cube, path)
    ratio_plain = np.median(plain.sci[bright] / truth[bright])
    ratio = np.median(corrected.sci[bright] / truth[bright])
    assert ratio_plain < 0.97
    assert abs(ratio - 1) < 1e-3
    faint = interior & (truth < 0.1 * BRIGHT)
    assert abs(np.median(corrected.sci[faint] - truth[faint])) < 0.5 * abs(np.median(plain.sci[faint] - truth[faint])) \
        + 5.0
    assert corrected.provenance.fit.linearity == str(path)
    assert not (corrected.dq & PixelFlag.NO_LIN_CORR).any()


def test_pixels_without_a_correction_are_flagged_and_left_alone(tmp_path):
    truth = _flat()
    cube = simulate_cube(GEOMETRY, 8, MODEL, scene=truth, seed=5)
    coefficients = NonLinearity(GEOMETRY, MODEL, detector_seed(MODEL, 5)).correction()
    coefficients[:, 20, 100] = np.nan
    dq = np.zeros(GEOMETRY.shape, np.uint32)
    dq[20, 100] = NO_LIN_CORR_BIT
    path = tmp_path / "lin.fits"
    write_linearity(path, coefficients)
    with fits.open(path, mode="update") as hdul:
        hdul["DQ"].data = dq
    corrected, plain = _fit(cube, path), _fit(cube)
    assert corrected.dq[20, 100] & PixelFlag.NO_LIN_CORR
    assert np.count_nonzero(corrected.dq & PixelFlag.NO_LIN_CORR) == 1
    assert corrected.sci[20, 100] == pytest.approx(plain.sci[20, 100], rel=1e-6)


def test_reads_past_the_validity_limit_count_as_saturated(tmp_path):
    truth = _flat()
    cube = simulate_cube(GEOMETRY, 10, MODEL, scene=truth, seed=6)
    coefficients = NonLinearity(GEOMETRY, MODEL, detector_seed(MODEL, 6)).correction()
    path = tmp_path / "lin.fits"
    write_linearity(path, coefficients, header={"LINLIMIT": (0.5 * BRIGHT, "signal up to which it holds")})
    image = _fit(cube, path)
    interior = ~GEOMETRY.reference_mask
    bright = interior & (truth > 0.8 * BRIGHT)
    faint = interior & (truth < 0.3 * BRIGHT)
    assert (image.dq[bright] & PixelFlag.SATURATED).all()
    assert not (image.dq[faint] & PixelFlag.SATURATED).any()
    assert abs(np.median(image.sci[bright] / truth[bright]) - 1) < 2e-3  # fitted on the reads before the limit


def test_linearity_with_a_read_range_counts_the_signal_from_the_reset(tmp_path):
    truth = _flat()
    cube = simulate_cube(GEOMETRY, 12, MODEL, scene=truth, seed=7)
    path = tmp_path / "lin.fits"
    write_linearity(path, NonLinearity(GEOMETRY, MODEL, detector_seed(MODEL, 7)).correction())
    image = fit_ramp(ArrayRamp(cube), GEOMETRY, FitOptions(refcorr="seed", linearity=path, first_read=4))
    bright = ~GEOMETRY.reference_mask & (truth > 0.8 * BRIGHT)
    assert abs(np.median(image.sci[bright] / truth[bright]) - 1) < 1e-3
    linearity = open_linearity(path, GEOMETRY.reference_mask, 4)
    assert linearity.first_read == 4 and linearity.correct.sum() == (~GEOMETRY.reference_mask).sum()
    linearity.close()


def test_simulate_writes_the_detectors_linearity_file_and_fit_uses_it(tmp_path):
    out = tmp_path / "sim"
    assert main(["-q", "simulate", "science", "--geometry", "nirps-h4rg", "--rows", "32", "--reads", "8",
                 "--noise", "nirspec", "--scene", "flat", "--flat-level", "100000", "--set", "nonlinearity=0.05",
                 "--gain", "1.5", "--seed", "3", "-o", str(out)]) == 0
    assert (out / "linearity.fits").exists()
    with fits.open(out / "linearity.fits") as hdul:
        assert hdul["COEFFS"].data.shape == (6, 32, 4096) and hdul[0].header["REFTYPE"] == "LINEARITY"
    for name, extra in (("plain.fits", []), ("lin.fits", ["--linearity", str(out / "linearity.fits")])):
        assert main(["-q", "fit", str(out / "cube.fits"), "-o", str(tmp_path / name), *extra]) == 0
    truth = fits.getdata(out / "truth.fits")
    interior = truth > 0
    plain, lin = (fits.getdata(tmp_path / n, "SCI")[interior] * 1.5 / truth[interior] for n in ("plain.fits", "lin.fits"))
    assert np.median(plain) < 0.975 and abs(np.median(lin) - 1) < 1e-3
    assert fits.getheader(tmp_path / "lin.fits")["LINFILE"] == "linearity.fits"


def test_a_cube_file_of_coefficients_is_read_too(tmp_path):
    coefficients = np.stack([np.zeros(GEOMETRY.shape), np.ones(GEOMETRY.shape)]).astype(np.float32)
    write_cube(tmp_path / "cube.fits", coefficients)
    linearity = open_linearity(tmp_path / "cube.fits", GEOMETRY.reference_mask)
    assert linearity.coefficients.shape == (2, *GEOMETRY.shape) and linearity.limit is None
    linearity.close()
