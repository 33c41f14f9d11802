"""Interpixel capacitance in the errors (``--ipc``): the share of its photon variance a pixel keeps, the
kernels read, the product's record, and ERR calibrated on a simulated detector with IPC."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from conftest import write_cube, write_small_model

from hxrg_denoiser.classical.ipc import IpcKernel
from hxrg_denoiser.cli import main
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.detector import interpixel_capacitance

GEOMETRY = ReadoutGeometry("t", 128, 256, 8)


def _exact_inverse(kernel: np.ndarray, size: int = 65) -> np.ndarray:
    """The full inverse of a 3 x 3 kernel on a ``size`` grid, centred (the test's own, by FFT)."""
    grid = np.zeros((size, size))
    grid[:3, :3] = kernel
    grid = np.roll(grid, (-1, -1), axis=(0, 1))
    return np.fft.fftshift(np.real(np.fft.ifft2(1.0 / np.fft.fft2(grid))))


def test_coupling_kernel_has_known_photon_variance_and_correlation():
    kernel = IpcKernel.coupling(0.02)
    assert kernel.kernel[1, 1] == pytest.approx(0.92) and kernel.kernel[0, 1] == pytest.approx(0.02)
    assert kernel.photon_variance_scale == pytest.approx(0.92**2 + 4 * 0.02**2)  # 0.848
    assert kernel.photon_correlation(0, 1) == pytest.approx(2 * 0.92 * 0.02 / 0.848)
    assert kernel.photon_correlation(1, 0) == kernel.photon_correlation(0, 1)
    assert kernel.photon_correlation(1, 1) == pytest.approx(2 * 0.02**2 / 0.848)
    assert kernel.photon_correlation(3, 0) == 0.0
    assert IpcKernel.coupling(0.0).photon_variance_scale == 1.0


def test_photon_variance_and_correlation_match_simulated_charge():
    """Poisson charge through the simulator's IPC: the variance each pixel reports and the correlation of
    neighbours are the kernel's."""
    rng = np.random.default_rng(3)
    flux = 400.0
    charge = rng.poisson(flux, (400, 500)).astype(np.float32)
    reported = interpixel_capacitance(charge, 0.03)[2:-2, 2:-2]
    kernel = IpcKernel.coupling(0.03)
    assert np.var(reported) / flux == pytest.approx(kernel.photon_variance_scale, rel=0.01)
    centred = reported - reported.mean()
    along_row = np.mean(centred[:, 1:] * centred[:, :-1]) / np.var(reported)
    along_column = np.mean(centred[1:] * centred[:-1]) / np.var(reported)
    assert along_row == pytest.approx(kernel.photon_correlation(0, 1), abs=0.005)
    assert along_column == pytest.approx(kernel.photon_correlation(1, 0), abs=0.005)


def test_deconvolution_kernel_is_inverted():
    forward = IpcKernel.coupling(0.02)
    exact = _exact_inverse(forward.kernel)
    centre = exact.shape[0] // 2
    whole = IpcKernel.from_array(exact[centre - 8:centre + 9, centre - 8:centre + 9], "whole")
    inner = whole.kernel[whole.kernel.shape[0] // 2 - 1:whole.kernel.shape[0] // 2 + 2,
                         whole.kernel.shape[1] // 2 - 1:whole.kernel.shape[1] // 2 + 2]
    np.testing.assert_allclose(inner, forward.kernel, atol=1e-6)
    assert "deconvolution kernel inverted" in whole.source
    # a JWST IPC reference file keeps the 3 x 3 core of the deconvolution kernel: within 0.5 % of the truth
    jwst = IpcKernel.from_array(exact[centre - 1:centre + 2, centre - 1:centre + 2], "jwst_ipc.fits")
    assert jwst.photon_variance_scale == pytest.approx(forward.photon_variance_scale, rel=0.005)
    np.testing.assert_allclose(jwst.kernel.sum(), 1.0)


@pytest.mark.parametrize("values, message", [
    (np.ones((2, 3)) / 6, "odd sizes"),
    (np.array([[0, 0.1, 0], [0.1, np.nan, 0.1], [0, 0.1, 0]]), "non-finite"),
    (np.array([[0, -0.02, 0], [-0.02, 0.9, 0.2], [0, -0.02, 0]]), "negative values"),
    (np.array([[0, 0.02, 0], [0.02, 0.5, 0.02], [0, 0.02, 0]]), "sum to 0.58"),
    (np.array([[0, 0.3, 0], [0.3, 0.1, 0.3], [0, 0.0, 0]]), "centre (0.1) is not its largest"),
])
def test_bad_kernels_are_refused_naming_them(values, message):
    with pytest.raises(UsageError, match="^--ipc k.fits: ") as caught:
        IpcKernel.from_array(values, "k.fits", label="--ipc k.fits")
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("alpha", [-0.01, 0.2, float("nan"), float("inf")])
def test_bad_coupling_is_refused(alpha):
    with pytest.raises(UsageError, match=r"^--ipc must be a coupling in \[0, 0.2\)"):
        IpcKernel.coupling(alpha)


def test_err_is_calibrated_on_a_detector_with_ipc():
    """White read noise and a flat 2000 e- scene through 3 % IPC: without the kernel ERR is too large
    (photon variance 0.78x what a pixel's own flux predicts), with it std((SCI - truth) / ERR) is 1."""
    truth = np.full(GEOMETRY.shape, 2000.0, np.float32)
    noise = noise_preset("white").replace(ipc=0.03)
    cube = simulate_cube(GEOMETRY, 10, noise, scene=truth, seed=5)
    science = ~GEOMETRY.reference_mask
    spread = {}
    for label, ipc in (("without", None), ("with", IpcKernel.coupling(0.03))):
        image = fit_cube(cube, GEOMETRY, FitOptions(refcorr="none", ipc=ipc))
        spread[label] = float(np.std(((image.sci - truth) / image.err)[science]))
        if ipc is not None:
            assert image.provenance.fit.ipc == "coupling 0.03"
    expected = IpcKernel.coupling(0.03).photon_variance_scale
    assert spread["with"] == pytest.approx(1.0, abs=0.02)
    assert spread["without"] < 0.95 and spread["without"] / spread["with"] == pytest.approx(np.sqrt(expected), rel=0.03)


@pytest.fixture
def small_ramp(tmp_path):
    truth = np.full(GEOMETRY.shape, 500.0, np.float32)
    return write_cube(tmp_path / "ramp.fits", simulate_cube(GEOMETRY, 6, noise_preset("white"), scene=truth, seed=2))


def _geometry_options():
    return ["--channels", "8"]


def test_fit_records_ipc_and_scales_var_poisson(small_ramp, tmp_path):
    kernel_file = tmp_path / "kernel.fits"
    fits.PrimaryHDU(IpcKernel.coupling(0.015).kernel).writeto(kernel_file)
    outputs = {}
    for name, extra in (("plain", []), ("alpha", ["--ipc", "0.015"]), ("file", ["--ipc", str(kernel_file)])):
        outputs[name] = tmp_path / f"{name}.fits"
        assert main(["-q", "fit", str(small_ramp), "-o", str(outputs[name]), *_geometry_options(), *extra]) == 0
    with fits.open(outputs["plain"]) as plain, fits.open(outputs["alpha"]) as alpha, fits.open(outputs["file"]) as file:
        lit = plain["VAR_POISSON"].data > 0
        ratio = alpha["VAR_POISSON"].data[lit] / plain["VAR_POISSON"].data[lit]
        assert lit.mean() > 0.9
        np.testing.assert_allclose(ratio, (1 - 4 * 0.015) ** 2 + 4 * 0.015**2, rtol=1e-5)
        np.testing.assert_array_equal(alpha["SCI"].data, plain["SCI"].data)
        np.testing.assert_array_equal(file["VAR_POISSON"].data, alpha["VAR_POISSON"].data)
        assert "IPCKERN" not in plain[0].header
        assert alpha[0].header["IPCKERN"] == "coupling 0.015" and file[0].header["IPCKERN"] == "kernel.fits"
        assert alpha[0].header["IPCVARSC"] == pytest.approx(0.8845, abs=1e-5)
        assert alpha[0].header["IPCRHOX"] == alpha[0].header["IPCRHOY"] > 0


def test_denoise_passes_ipc_to_its_fit(small_ramp, tmp_path):
    model = write_small_model(tmp_path / "model", GEOMETRY)
    outputs = {}
    for name, extra in (("plain", []), ("alpha", ["--ipc", "0.02"])):
        outputs[name] = tmp_path / f"{name}.fits"
        assert main(["-q", "denoise", str(small_ramp), "--model", str(model), "-o", str(outputs[name]),
                     *_geometry_options(), "--any-layout", *extra]) == 0
    with fits.open(outputs["plain"]) as plain, fits.open(outputs["alpha"]) as alpha:
        lit = plain["VAR_POISSON"].data > 0
        assert lit.mean() > 0.9
        np.testing.assert_allclose(alpha["VAR_POISSON"].data[lit] / plain["VAR_POISSON"].data[lit], 0.848, rtol=1e-5)
        assert alpha[0].header["IPCKERN"] == "coupling 0.02"


@pytest.mark.parametrize("value, message", [
    ("0.3", "--ipc must be a coupling in [0, 0.2)"),
    ("missing.fits", "--ipc missing.fits: no such file"),
    ("cube.fits", "--ipc cube.fits: a kernel is a 2D image"),
    ("negative.fits", "--ipc negative.fits: the kernel holds negative values"),
    ("text.fits", "--ipc text.fits: not a readable FITS file"),
])
def test_bad_ipc_is_one_line_and_exit_2(small_ramp, tmp_path, capsys, monkeypatch, value, message):
    monkeypatch.chdir(tmp_path)
    fits.PrimaryHDU(np.zeros((2, 3, 3), np.float32)).writeto("cube.fits")
    fits.PrimaryHDU(np.array([[0, -0.1, 0], [-0.1, 0.8, 0.1], [0, 0.1, 0]])).writeto("negative.fits")
    (tmp_path / "text.fits").write_text("not FITS")
    capsys.readouterr()
    assert main(["-q", "fit", str(small_ramp), "-o", "out.fits", *_geometry_options(), "--ipc", value]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.fits").exists()
