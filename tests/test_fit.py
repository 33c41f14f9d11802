import numpy as np
import pytest
from astropy.io import fits
from conftest import linear_ramp, noisy_ramp, write_cube, write_reads

from hxrg_denoiser.cli import main
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import ReadoutGeometry

OPTIONS = [
    FitOptions(method="cds", refcorr="none"),
    FitOptions(method="fowler", fowler_n=2, refcorr="none"),
    FitOptions(method="utr", refcorr="none"),
    FitOptions(method="utr", weighting="optimal", refcorr="none"),
    FitOptions(method="utr", refcorr="seed"),
    FitOptions(method="cds", refcorr="smoothed"),
]


def _scene_ramp(geometry, n_reads=8):
    cube, flux = linear_ramp(geometry.shape, n_reads)
    flux[geometry.reference_mask] = 0.0  # reference pixels see no light
    reads = np.arange(1, n_reads + 1, dtype=np.float32)[:, None, None]
    pedestal = cube[0] - flux
    return (pedestal[None] + reads * flux[None]).astype(np.float32), flux


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: o.label)
def test_noiseless_ramp_gives_exact_flux_over_the_ramp(small_geometry, options):
    cube, flux = _scene_ramp(small_geometry)
    image = fit_cube(cube, small_geometry, options)
    science = ~small_geometry.reference_mask
    np.testing.assert_allclose(image.sci[science], 8 * flux[science], atol=2e-3)
    assert (image.dq[small_geometry.reference_mask] == PixelFlag.REFERENCE_PIXEL | PixelFlag.DO_NOT_USE).all()
    assert image.dq[science].max() == 0


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: o.label)
def test_strip_size_does_not_change_the_result(small_geometry, options):
    cube, _ = noisy_ramp(small_geometry.shape, 8, seed=4)
    results = [fit_cube(cube, small_geometry, FitOptions(**{**options.__dict__, "strip_rows": n})) for n in (1, 5, 64)]
    for other in results[1:]:
        np.testing.assert_array_equal(other.sci, results[0].sci)
        np.testing.assert_array_equal(other.err, results[0].err)


def test_units_per_second(small_geometry):
    cube, flux = _scene_ramp(small_geometry)
    image = fit_cube(cube, small_geometry, FitOptions(units="e-/s", gain=2.0, read_noise=3.0))
    science = ~small_geometry.reference_mask
    np.testing.assert_allclose(image.sci[science], 2.0 * flux[science] / small_geometry.frame_time, rtol=1e-4, atol=5e-3)


def test_saturated_pixels_use_reads_before_saturation(small_geometry):
    cube, flux = _scene_ramp(small_geometry, n_reads=10)
    cube[4:, 10, 10] = 60000.0  # saturated from read 4: slope from reads 0-3
    cube[1:, 20, 20] = 60000.0  # saturated from read 1: unusable
    image = fit_cube(cube, small_geometry, FitOptions(saturation=50000.0, read_noise=5.0))
    assert image.sci[10, 10] == pytest.approx(10 * flux[10, 10], rel=1e-4)
    assert image.dq[10, 10] == PixelFlag.SATURATED
    assert np.isnan(image.sci[20, 20]) and image.dq[20, 20] == PixelFlag.SATURATED | PixelFlag.DO_NOT_USE


def test_non_finite_science_pixels_can_be_flagged(small_geometry):
    cube, _ = _scene_ramp(small_geometry)
    cube[3, 30, 40] = np.nan
    image = fit_cube(cube, small_geometry, FitOptions(flag_non_finite=True, read_noise=5.0))
    assert np.isnan(image.sci[30, 40])
    assert image.dq[30, 40] == PixelFlag.NON_FINITE_INPUT | PixelFlag.DO_NOT_USE
    assert np.isfinite(image.sci[30, 41])


def test_err_is_calibrated_for_white_noise(small_geometry):
    geometry = ReadoutGeometry("t", 256, 256, 4)
    cube, flux = noisy_ramp(geometry.shape, 16, read_noise=5.0, seed=9)
    image = fit_cube(cube, geometry, FitOptions(method="utr", refcorr="none"))  # read noise estimated from the data
    z = (image.sci / 16 - flux) / (image.err / 16)
    assert image.provenance.read_noise == pytest.approx(5.0, rel=0.1)
    assert np.std(z[~geometry.reference_mask]) == pytest.approx(1.0, abs=0.05)


# ----------------------------------------------------------------------------------------- CLI


def test_cli_fit_with_channels_on_a_128_cube(tmp_path):
    geometry = ReadoutGeometry("t", 128, 128, 4)
    cube, flux = _scene_ramp(geometry, n_reads=6)
    path = write_cube(tmp_path / "cube.fits", cube)
    out = tmp_path / "out.fits"
    args = ["fit", str(path), "-o", str(out), "--method", "utr", "--refcorr", "none", "--channels", "4", "-q"]
    assert main(args) == 0
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "READS_USED", "INTERCEPT"]
        np.testing.assert_allclose(hdul["ERR"].data ** 2, hdul["VAR_POISSON"].data + hdul["VAR_RNOISE"].data, rtol=1e-5)
        assert (hdul["READS_USED"].data[~geometry.reference_mask] == 6).all()
        assert hdul[0].header["JUMPTHR"] == 5.0 and hdul[0].header["JUMPCLU"] == 2.0
        assert hdul[0].header["METHOD"] == "utr" and hdul[0].header["NREADS"] == 6
        assert hdul[0].header["GEOMETRY"].startswith("custom-128x128-4ch")
        assert hdul["SCI"].header["BUNIT"] == "DN"  # no gain given, no BUNIT in the input
        assert hdul["DQ"].data.dtype.kind == "u" and hdul["DQ"].data.dtype.itemsize == 4
        np.testing.assert_allclose(hdul["SCI"].data[4:-4, 4:-4], 6 * flux[4:-4, 4:-4], atol=1e-3)
    assert main(args) == 2  # refuses to overwrite
    assert main(args + ["--overwrite"]) == 0


def test_cli_fit_folder_of_reads_with_preset_strip(tmp_path, capsys):
    from hxrg_denoiser.geometry import preset

    geometry = preset("h2rg-32", n_rows=64)
    cube, _ = _scene_ramp(geometry, n_reads=4)
    folder = write_reads(tmp_path / "reads", cube, uint16=True)
    out = tmp_path / "o.fits"
    assert main(["fit", str(folder), "-o", str(out), "--refcorr", "seed", "--geometry", "h2rg-32", "-q"]) == 0
    assert "utr_ref_seed" in capsys.readouterr().out


def _nan_cube(p):
    cube = np.ones((4, 32, 32), np.float32)
    cube[2, 5, 6] = np.nan
    return write_cube(p / "nan.fits", cube)


def _mixed(p):
    folder = write_reads(p / "mixed", np.ones((3, 32, 32), np.float32))
    fits.PrimaryHDU(np.ones((32, 16), np.float32)).writeto(folder / "read_3.fits")
    return folder


def _truncated(p):
    path = write_cube(p / "trunc.fits", np.ones((4, 32, 32), np.float32))
    path.write_bytes(path.read_bytes()[:5000])
    return path


BAD_INPUTS = {
    "wrong-shape": (lambda p: write_cube(p / "flat.fits", np.ones((32, 32), np.float32)), [], "flat.fits: no 3D or 4D"),
    "no-divide": (lambda p: write_cube(p / "c.fits", np.ones((4, 32, 36), np.float32)), ["--channels", "8"],
                  "c.fits: geometry .* 36 columns do not divide into 8 channels"),
    "preset-mismatch": (lambda p: write_cube(p / "c.fits", np.ones((4, 32, 32), np.float32)), ["--geometry", "nirps-h4rg"],
                        "c.fits: reads are 32 x 32 but geometry 'nirps-h4rg'"),
    "one-read": (lambda p: write_cube(p / "one.fits", np.ones((1, 32, 32), np.float32)), [], "one.fits: 1 read"),
    "nan": (_nan_cube, [], r"nan.fits\[PRIMARY\] \(read 2\): non-finite value .* row 5, column 6"),
    "truncated": (_truncated, [], "trunc.fits: truncated FITS file"),
    "not-fits": (lambda p: (p / "n.fits").write_bytes(b"hello" * 2000) and p / "n.fits", [], "n.fits: not a readable FITS"),
    "empty-folder": (lambda p: (p / "e").mkdir() or p / "e", [], "e: folder holds no FITS files"),
    "mixed-shapes": (_mixed, [], "read_3.fits: read is 32 x 16 but read_0.fits is 32 x 32"),
    "missing": (lambda p: p / "nothing.fits", [], "nothing.fits: no such file"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_cli_bad_input_gives_one_line_error_and_no_output(tmp_path, capsys, case):
    make, extra, match = BAD_INPUTS[case]
    source = make(tmp_path)
    out = tmp_path / "out.fits"
    code = main(["fit", str(source), "-o", str(out), "-q", *(extra or ["--channels", "4"])])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1
    import re

    assert re.search(match, err), err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.fits*"))


def test_cli_jump_cluster_threshold_none_turns_the_neighbour_test_off(tmp_path):
    rng = np.random.default_rng(7)
    cube = rng.normal(1000.0, 4.0, (12, 32, 128)).astype(np.float32)
    cube[6:, 10, 60] += 3000.0  # a jump
    cube[6:, 10, 61] += 25.0  # its neighbour: 4.4 sigma of a difference, under the threshold of 5
    # (the step test, which finds such a step on all the reads, is left out: this is the neighbour test)
    path = write_cube(tmp_path / "cube.fits", cube)
    flagged = {}
    for value in ("2", "none"):
        out = tmp_path / f"out-{value}.fits"
        assert main(["fit", str(path), "-o", str(out), "--refcorr", "none", "--channels", "4", "--read-noise", "4",
                     "--jump-cluster-threshold", value, "--no-jump-step", "-q"]) == 0
        with fits.open(out) as hdul:
            flagged[value] = bool(hdul["DQ"].data[10, 61] & PixelFlag.JUMP_DET)
            assert hdul[0].header["JUMPCLU"] == (2.0 if value == "2" else "none")
    assert flagged == {"2": True, "none": False}
