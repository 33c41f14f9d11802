"""Timing and units from the data, and what a product carries: the input's header, options, WCS, flags."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from conftest import noisy_ramp

from hxrg_denoiser.cli.main import main
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.geometry import preset

TGROUP = 10.737


def _jwst_like(tmp_path, name="jw_uncal.fits", **primary):
    """A 4D (integrations, groups, rows, cols) cube in SCI with JWST timing in the primary header."""
    cube, flux = noisy_ramp((64, 64), 6, read_noise=8.0, seed=2)  # flux per group
    header = fits.Header({"INSTRUME": "NIRSPEC", "TARGNAME": "HD 1234", "DATE-OBS": "2026-11-20",
                          "TGROUP": TGROUP, "TFRAME": TGROUP, "NFRAMES": 1, "GROUPGAP": 0, **primary})
    sci = fits.ImageHDU(np.stack([cube, cube])[:, :, :, :], name="SCI")
    sci.header.update({"CRPIX1": 32.0, "CRVAL1": 150.0, "CTYPE1": "RA---TAN", "CRPIX2": 32.0, "CRVAL2": 2.0,
                       "CTYPE2": "DEC--TAN", "CD1_1": -2.8e-5, "CD2_2": 2.8e-5, "BUNIT": "DN"})
    path = tmp_path / name
    fits.HDUList([fits.PrimaryHDU(header=header), sci]).writeto(path)
    return path, flux


def test_rate_uses_the_header_group_time_and_keeps_the_exposure_keywords(tmp_path):
    path, flux = _jwst_like(tmp_path)
    out = tmp_path / "rate.fits"
    assert main(["fit", str(path), "-o", str(out), "--channels", "4", "--refcorr", "none", "--units", "e-/s",
                 "-q"]) == 0
    with fits.open(out) as hdul:
        primary, sci = hdul[0].header, hdul["SCI"]
        assert primary["TGROUP"] == TGROUP and primary["TIMESRC"] == "TGROUP"
        assert primary["INSTRUME"] == "NIRSPEC" and primary["TARGNAME"] == "HD 1234"
        assert primary["DATE-OBS"] == "2026-11-20" and primary["NGROUPS"] == 6
        assert primary["EFFINTTM"] == pytest.approx(5 * TGROUP)
        assert primary["REFCORR"] == "none" and primary["WEIGHTNG"] == "ols" and primary["CLEAN"] is False
        assert sci.header["BUNIT"] == "DN/s"  # no gain given: values stay DN
        assert sci.header["CTYPE1"] == "RA---TAN" and sci.header["CD2_2"] == pytest.approx(2.8e-5)
        science = hdul["DQ"].data == 0
        ratio = np.median(sci.data[science] * TGROUP / flux[science])
    assert ratio == pytest.approx(1.0, abs=0.01)


def test_gain_turns_dn_into_electrons_and_frame_time_wins(tmp_path):
    path, flux = _jwst_like(tmp_path)
    out = tmp_path / "rate.fits"
    assert main(["fit", str(path), "-o", str(out), "--channels", "4", "--refcorr", "none", "--units", "e-/s",
                 "--gain", "2", "--frame-time", "5", "-q"]) == 0
    with fits.open(out) as hdul:
        assert hdul["SCI"].header["BUNIT"] == "e-/s" and hdul[0].header["TIMESRC"] == "--frame-time"
        science = hdul["DQ"].data == 0
        assert np.median(hdul["SCI"].data[science] * 5 / (2 * flux[science])) == pytest.approx(1.0, abs=0.01)


def test_an_input_in_electrons_stays_electrons(tmp_path):
    cube, _ = noisy_ramp((32, 128), 4, seed=1)
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube, header=fits.Header({"BUNIT": "electrons"})).writeto(path)
    out = tmp_path / "out.fits"
    assert main(["fit", str(path), "-o", str(out), "--channels", "4", "-q"]) == 0
    assert fits.getheader(out, "SCI")["BUNIT"] == "e-"


def test_a_crop_of_a_full_frame_takes_the_full_frame_time(tmp_path):
    geometry = preset("nirps-h4rg", n_rows=256)
    cube, flux = noisy_ramp(geometry.shape, 4, seed=3)
    path = tmp_path / "crop.fits"
    fits.PrimaryHDU(cube).writeto(path)
    window, crop = tmp_path / "window.fits", tmp_path / "crop-rate.fits"
    common = ["--geometry", "nirps-h4rg", "--units", "e-/s", "--refcorr", "none", "-q"]
    assert main(["fit", str(path), "-o", str(window), *common]) == 0
    assert main(["fit", str(path), "-o", str(crop), "--full-frame-timing", *common]) == 0
    full = preset("nirps-h4rg").frame_time
    assert fits.getheader(crop)["TGROUP"] == pytest.approx(full)
    assert fits.getheader(window)["TGROUP"] == pytest.approx(geometry.frame_time)
    science = fits.getdata(crop, "DQ") == 0
    ratio = np.mean(fits.getdata(window, "SCI")[science]) / np.mean(fits.getdata(crop, "SCI")[science])
    assert ratio == pytest.approx(full / geometry.frame_time, rel=1e-4)  # 16x for 256 of 4096 rows


@pytest.mark.parametrize("primary, message", [
    ({"TGROUP": 21.0}, r"inconsistent timing: TGROUP = 21 s but \(NFRAMES \+ GROUPGAP\) x TFRAME = \(1 \+ 0\) x 10.737"),
    ({"TGROUP": -1.0}, r"TGROUP = -1.0 is not a time > 0"),
    ({"NFRAMES": "four"}, r"NFRAMES = 'four' is not a whole number >= 1"),
])
def test_bad_timing_keywords_are_refused(tmp_path, capsys, primary, message):
    import re

    path, _ = _jwst_like(tmp_path, **primary)
    out = tmp_path / "rate.fits"
    assert main(["fit", str(path), "-o", str(out), "--channels", "4", "--units", "e-/s", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert re.search(message, err) and "jw_uncal.fits" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_full_frame_timing_needs_a_preset(tmp_path, capsys):
    cube, _ = noisy_ramp((32, 128), 4, seed=1)
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube).writeto(path)
    assert main(["fit", str(path), "-o", str(tmp_path / "o.fits"), "--channels", "4", "--full-frame-timing",
                 "-q"]) == 2
    assert "is no preset; give --frame-time" in capsys.readouterr().err


def test_reference_pixels_are_do_not_use(tmp_path):
    cube, _ = noisy_ramp((32, 128), 4, seed=1)
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube).writeto(path)
    out = tmp_path / "o.fits"
    assert main(["fit", str(path), "-o", str(out), "--channels", "4", "-q"]) == 0
    dq = fits.getdata(out, "DQ")
    reference = (dq & PixelFlag.REFERENCE_PIXEL) > 0
    assert reference.sum() == 2 * 4 * 128 + 2 * 4 * 24 and (dq[reference] & PixelFlag.DO_NOT_USE).all()


def test_jwst_rate_file_opens_as_an_image_model(tmp_path):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels",
                                     reason="stdatamodels (test extra) is not installed")
    path, flux = _jwst_like(tmp_path)
    out = tmp_path / "rate.fits"
    assert main(["fit", str(path), "-o", str(out), "--channels", "4", "--product", "jwst", "--gain", "1.5",
                 "--refcorr", "none", "-q"]) == 0
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "DQ", "ERR", "VAR_POISSON", "VAR_RNOISE"]
    with datamodels.ImageModel(str(out)) as model:
        assert model.data.shape == (64, 64) and model.dq.dtype == np.uint32
        np.testing.assert_allclose(model.err**2, model.var_poisson + model.var_rnoise, rtol=1e-5)
        science = model.dq == 0
        assert model.meta.bunit_data == "DN/s"  # a JWST rate: DN/s, the gain only in the variances
        assert np.median(model.data[science] * TGROUP / flux[science]) == pytest.approx(1.0, abs=0.01)


def test_nirps_layout_has_slope_intercept_error_and_reads_in_extensions_1_to_4(tmp_path):
    path, flux = _jwst_like(tmp_path)
    out = tmp_path / "nirps.fits"
    assert main(["fit", str(path), "-o", str(out), "--channels", "4", "--product", "nirps", "--units", "e-/s", "--refcorr", "none",
                 "-q"]) == 0
    with fits.open(out) as hdul:
        assert [h.name for h in hdul[1:5]] == ["SLOPE", "INTERCEPT", "ERRSLOPE", "NUMREADS"]
        assert (hdul["NUMREADS"].data[hdul["DQ"].data == 0] == 6).all()
        # the level at the first read: the cube's bias (500) plus the first frame's charge
        assert np.median(hdul["INTERCEPT"].data[4:-4, 4:-4]) == pytest.approx(500.0 + np.median(flux), abs=2)


def test_denoise_writes_per_second_as_fit_does(tmp_path):
    geometry = preset("nirps-h4rg", n_rows=24)
    cube, _ = noisy_ramp(geometry.shape, 6, seed=5)
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube).writeto(path)
    over, rate = tmp_path / "over.fits", tmp_path / "rate.fits"
    assert main(["denoise", str(path), "-o", str(over), "-q"]) == 0
    assert main(["denoise", str(path), "-o", str(rate), "--units", "e-/s", "-q"]) == 0
    with fits.open(over) as a, fits.open(rate) as b:
        tgroup = a[0].header["TGROUP"]
        np.testing.assert_allclose(b["SCI"].data * 6 * tgroup, a["SCI"].data, rtol=1e-5, atol=1e-4)
        assert b["SCI"].header["BUNIT"] == "DN/s" and a["SCI"].header["BUNIT"] == "DN"
        np.testing.assert_array_equal(a["INTERCEPT"].data, b["INTERCEPT"].data)


def test_a_jwst_product_over_the_ramp_is_refused(tmp_path, capsys):
    path, _ = _jwst_like(tmp_path)
    assert main(["fit", str(path), "-o", str(tmp_path / "r.fits"), "--channels", "4", "--product", "jwst",
                 "--units", "e-", "-q"]) == 2
    assert "--product jwst is a rate file" in capsys.readouterr().err


def test_a_jwst_rate_is_dn_per_second_with_the_gain_only_in_its_variances(tmp_path):
    path, flux = _jwst_like(tmp_path, V2_REF=120.5, ROLL_REF=33.0, PA_V3=40.0, XPOSURE=53.7)
    common = ["--channels", "4", "--refcorr", "none", "--gain", "2", "-q"]
    electrons, rate = tmp_path / "e.fits", tmp_path / "rate.fits"
    assert main(["fit", str(path), "-o", str(electrons), "--units", "e-/s", *common]) == 0
    assert main(["fit", str(path), "-o", str(rate), "--product", "jwst", *common]) == 0
    with fits.open(electrons) as e, fits.open(rate) as r:
        assert r["SCI"].header["BUNIT"] == "DN/s" and r["ERR"].header["BUNIT"] == "DN/s"
        np.testing.assert_allclose(r["SCI"].data * 2, e["SCI"].data, rtol=1e-6)
        np.testing.assert_allclose(r["VAR_POISSON"].data * 4, e["VAR_POISSON"].data, rtol=1e-6)
        np.testing.assert_allclose(r["VAR_RNOISE"].data * 4, e["VAR_RNOISE"].data, rtol=1e-6)
        science = r["DQ"].data == 0
        assert np.median(r["SCI"].data[science] * TGROUP / flux[science]) == pytest.approx(1.0, abs=0.01)
        # the pointing keywords where JWST's schema keeps them: SCI, not the primary
        for key in ("V2_REF", "ROLL_REF", "PA_V3", "XPOSURE"):
            assert key in r["SCI"].header and key not in r[0].header
        assert r[0].header["INSTRUME"] == "NIRSPEC"
        assert r[0].header["RDNOISE"] == pytest.approx(e[0].header["RDNOISE"] / 2, rel=1e-3)


def test_a_jwst_readnoise_reference_is_converted_from_cds_dn_or_refused_without_gain(tmp_path, capsys):
    path, _ = _jwst_like(tmp_path)
    reference = fits.HDUList([fits.PrimaryHDU(header=fits.Header({"REFTYPE": "READNOISE"})),
                              fits.ImageHDU(np.full((64, 64), 8.0 * np.sqrt(2) / 2, np.float32), name="SCI")])
    reference.writeto(tmp_path / "rn.fits")
    out = tmp_path / "rate.fits"
    common = ["fit", str(path), "-o", str(out), "--channels", "4", "--refcorr", "none", "-q"]
    assert main([*common, "--read-noise", str(tmp_path / "rn.fits")]) == 2
    assert "a JWST READNOISE reference is the CDS noise in DN; give --gain" in capsys.readouterr().err
    assert not out.exists()
    assert main([*common, "--read-noise", str(tmp_path / "rn.fits"), "--gain", "2"]) == 0
    assert fits.getheader(out)["RDNOISE"] == pytest.approx(8.0, rel=1e-4)  # per read, electrons


def test_the_schema_keeps_in_sci_the_keywords_the_jwst_writer_moves_there():
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    from hxrg_denoiser.io.cards import JWST_SCI_KEYWORDS, WCS_PREFIXES, jwst_sci_keyword

    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if node.get("fits_hdu") == "SCI" and "fits_keyword" in node:
                found.add(node["fits_keyword"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(datamodels.ImageModel().schema)
    written = {k for k in found if k != "BUNIT" and not k.startswith((*WCS_PREFIXES, "PC3_"))}  # WCS: 2D in SCI
    assert all(jwst_sci_keyword(k) for k in written)
    assert JWST_SCI_KEYWORDS <= found


def test_the_integration_read_from_a_4d_cube_is_stated(tmp_path, caplog):
    path, _ = _jwst_like(tmp_path)  # two integrations
    out, chosen = tmp_path / "rate.fits", tmp_path / "second.fits"
    common = ["--channels", "4", "--refcorr", "none", "-q"]
    with caplog.at_level("WARNING"):
        assert main(["fit", str(path), "-o", str(out), *common]) == 0
    assert "integration 0 of 2 fitted (--integration N picks another" in caplog.text
    assert fits.getheader(out)["INTEGRTN"] == 0
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert main(["fit", str(path), "-o", str(chosen), "--integration", "1", *common]) == 0
    assert "integration" not in caplog.text and fits.getheader(chosen)["INTEGRTN"] == 1


def _oriented(tmp_path, name, cube, fast, slow):
    from hxrg_denoiser.io.orientation import to_science

    header = fits.Header({"TGROUP": TGROUP, "FASTAXIS": fast, "SLOWAXIS": slow})
    path = tmp_path / name
    fits.HDUList([fits.PrimaryHDU(header=header), fits.ImageHDU(to_science(cube, fast, slow), name="SCI")]).writeto(path)
    return path


def test_a_transposed_detector_is_fitted_and_cleaned_in_readout_order_and_written_back(tmp_path):
    """The same readout stored as NIRCam (FASTAXIS -1) and as NIRSpec (FASTAXIS 2) stores it: the products are
    the same image in each file's orientation, --clean included (1/f along the fast axis)."""
    from hxrg_denoiser.io.orientation import to_readout
    from hxrg_denoiser.simulate import noise_preset, simulate_cube

    geometry = preset("jwst-h2rg", n_rows=64)
    cube = simulate_cube(geometry, 6, noise_preset("nirspec"), seed=8)
    images = {}
    for name, (fast, slow) in {"nircam": (-1, 2), "nirspec": (2, 1)}.items():
        path = _oriented(tmp_path, f"{name}.fits", cube, fast, slow)
        out = tmp_path / f"{name}-rate.fits"
        assert main(["fit", str(path), "-o", str(out), "--clean", "--geometry", "jwst-h2rg", "-q"]) == 0
        with fits.open(out) as hdul:
            assert hdul["SCI"].data.shape == fits.getdata(path, "SCI").shape[1:]
            images[name] = to_readout(hdul["SCI"].data, fast, slow), to_readout(hdul["DQ"].data, fast, slow)
    np.testing.assert_allclose(images["nirspec"][0], images["nircam"][0], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(images["nirspec"][1], images["nircam"][1])
    assert (images["nircam"][1][:, :4] & PixelFlag.REFERENCE_PIXEL).all()  # the readout's reference columns


def test_axes_a_file_states_wrongly_are_one_line(tmp_path, capsys):
    cube, _ = noisy_ramp((32, 64), 4, seed=1)
    path = tmp_path / "bad.fits"
    fits.PrimaryHDU(cube, header=fits.Header({"FASTAXIS": 1, "SLOWAXIS": 3})).writeto(path)
    assert main(["fit", str(path), "-o", str(tmp_path / "o.fits"), "--channels", "4", "-q"]) == 2
    assert "bad.fits: FASTAXIS = 1, SLOWAXIS = 3: expected +-1 and +-2, one each" in capsys.readouterr().err


def test_a_ramp_file_s_groupdq_and_pixeldq_are_honoured(tmp_path):
    """A JWST ``_ramp.fits`` (after dq_init and saturation): the groups GROUPDQ marks saturated are not fitted
    and PIXELDQ's bits reach the output's DQ, in the file's orientation (NIRCam, FASTAXIS -1)."""
    path, flux = _jwst_like(tmp_path, name="jw_ramp.fits", FASTAXIS=-1, SLOWAXIS=2)
    with fits.open(path) as hdul:
        data = hdul["SCI"].data.copy()
        primary = hdul[0].header.copy()
    groupdq = np.zeros(data.shape, np.uint8)
    pixeldq = np.zeros(data.shape[2:], np.uint32)
    groupdq[:, 3:, 20, 30] = 2  # SATURATED from group 3: what follows is a plateau the fit must not see
    data[:, 3:, 20, 30] = 60000.0
    pixeldq[40, 50] = 2048  # HOT
    fits.HDUList([fits.PrimaryHDU(header=primary), fits.ImageHDU(data, name="SCI"),
                  fits.ImageHDU(pixeldq, name="PIXELDQ"), fits.ImageHDU(groupdq, name="GROUPDQ")]).writeto(
        path, overwrite=True)
    out = tmp_path / "rate.fits"
    assert main(["fit", str(path), "-o", str(out), "--channels", "4", "--refcorr", "none", "--integration", "0",
                 "-q"]) == 0
    with fits.open(out) as hdul:
        dq, sci = hdul["DQ"].data, hdul["SCI"].data
        assert dq[20, 30] & PixelFlag.SATURATED and dq[40, 50] & 2048
        assert np.count_nonzero(dq & PixelFlag.SATURATED) == 1
        # SCI is DN over the ramp's 6 groups; per group within 4 sigma of a slope of 3 reads of 8 DN noise
        assert abs(sci[20, 30] / 6 - flux[20, 30]) < 23.0
        assert hdul[0].header["SATLEVEL"] == "GROUPDQ"
    # denoise's input fit takes them too
    from conftest import write_small_model

    from hxrg_denoiser.geometry import ReadoutGeometry

    model = write_small_model(tmp_path / "small", ReadoutGeometry("t", 64, 64, 4))
    denoised = tmp_path / "denoised.fits"
    assert main(["denoise", str(path), "-o", str(denoised), "--model", str(model), "--channels", "4",
                 "--integration", "0", "-q"]) == 0
    dq = fits.getdata(denoised, "DQ")
    assert dq[20, 30] & PixelFlag.SATURATED and dq[40, 50] & 2048


def test_per_pixel_maps_of_a_transposed_file_line_up_with_its_pixels(tmp_path):
    """Maps are stored in the data file's orientation (as JWST reference files are): on a NIRSpec-oriented file
    (fitted in readout order) gain, saturation, bad-pixel and read-noise maps are turned with the reads, so the
    product is the readout-order fit with the same maps, in the file's orientation."""
    from hxrg_denoiser.io.orientation import to_readout, to_science
    from hxrg_denoiser.simulate import make_scene, noise_preset, simulate_cube

    geometry = preset("jwst-h2rg", n_rows=64)
    scene = make_scene("stars", geometry, seed=3).image
    cube = simulate_cube(geometry, 6, noise_preset("white"), scene=scene, seed=9)
    path = _oriented(tmp_path, "nirspec.fits", cube, 2, 1)
    rng = np.random.default_rng(1)
    maps = {"gain": rng.uniform(1.0, 3.0, geometry.shape).astype(np.float32),  # in readout order
            "saturation": np.where(rng.random(geometry.shape) < 0.01, 30.0, 1e9).astype(np.float32),
            "bad-pixels": (rng.random(geometry.shape) < 0.01).astype(np.float32),
            "read-noise": rng.uniform(4.0, 8.0, geometry.shape).astype(np.float32)}
    stored, readout = [], []
    for name, image in maps.items():
        fits.PrimaryHDU(np.ascontiguousarray(to_science(image, 2, 1))).writeto(tmp_path / f"{name}.fits")
        fits.PrimaryHDU(image).writeto(tmp_path / f"{name}-readout.fits")
        stored += [f"--{name}", str(tmp_path / f"{name}.fits")]
        readout += [f"--{name}", str(tmp_path / f"{name}-readout.fits")]
    from conftest import write_cube

    from hxrg_denoiser.io.linearity import write_linearity

    coefficients = np.stack([np.zeros(geometry.shape), np.ones(geometry.shape),
                             rng.uniform(0.0, 1e-4, geometry.shape)]).astype(np.float32)
    write_linearity(tmp_path / "linearity.fits", np.ascontiguousarray(to_science(coefficients, 2, 1)))
    write_linearity(tmp_path / "linearity-readout.fits", coefficients)
    stored += ["--linearity", str(tmp_path / "linearity.fits")]
    readout += ["--linearity", str(tmp_path / "linearity-readout.fits")]
    plain = write_cube(tmp_path / "readout.fits", cube)
    common = ["--geometry", "jwst-h2rg", "-q"]
    assert main(["fit", str(path), "-o", str(tmp_path / "oriented.fits"), *stored, *common]) == 0
    assert main(["fit", str(plain), "-o", str(tmp_path / "direct.fits"), *readout, *common]) == 0
    with fits.open(tmp_path / "oriented.fits") as oriented, fits.open(tmp_path / "direct.fits") as direct:
        for ext in ("SCI", "ERR", "DQ"):
            np.testing.assert_array_equal(to_readout(oriented[ext].data, 2, 1), direct[ext].data)
        assert (direct["DQ"].data & PixelFlag.SATURATED).any() and (direct["DQ"].data & PixelFlag.DO_NOT_USE).any()
    # a map in the readout's orientation does not fit the file: one line, rows and columns as stored
    assert main(["fit", str(path), "-o", str(tmp_path / "bad.fits"), "--gain", str(tmp_path / "gain-readout.fits"),
                 *common]) == 2
    assert not (tmp_path / "bad.fits").exists()


def test_full_frame_maps_are_cut_to_a_subarray(tmp_path, capsys):
    """A subarray (SUBSTRT1/SUBSTRT2 in its header, 1-based first column and row) given full-frame maps, as CRDS
    often has them: each map is cut to the subarray, so the fit equals one with maps of the subarray's shape;
    a full frame too small for the subarray is refused in one line."""
    from conftest import noisy_ramp

    cube = noisy_ramp((32, 64), 6, seed=2)[0] + 300.0 * np.arange(6, dtype=np.float32)[:, None, None]
    header = fits.Header({"SUBSTRT1": 33, "SUBSTRT2": 17})
    path = tmp_path / "sub.fits"
    fits.PrimaryHDU(cube.astype(np.float32), header=header).writeto(path)
    rng = np.random.default_rng(3)
    full_gain = rng.uniform(1.0, 3.0, (128, 128)).astype(np.float32)
    full_sat = np.where(rng.random((128, 128)) < 0.05, 1500.0, 1e9).astype(np.float32)
    fits.PrimaryHDU(full_gain).writeto(tmp_path / "gain_full.fits")
    fits.PrimaryHDU(full_sat).writeto(tmp_path / "sat_full.fits")
    fits.PrimaryHDU(full_gain[16:48, 32:96]).writeto(tmp_path / "gain_sub.fits")
    fits.PrimaryHDU(full_sat[16:48, 32:96]).writeto(tmp_path / "sat_sub.fits")
    common = ["--channels", "2", "--refcorr", "none", "-q"]
    assert main(["fit", str(path), "-o", str(tmp_path / "a.fits"), "--gain", str(tmp_path / "gain_full.fits"),
                 "--saturation", str(tmp_path / "sat_full.fits"), *common]) == 0
    assert main(["fit", str(path), "-o", str(tmp_path / "b.fits"), "--gain", str(tmp_path / "gain_sub.fits"),
                 "--saturation", str(tmp_path / "sat_sub.fits"), *common]) == 0
    for ext in ("SCI", "ERR", "DQ"):
        np.testing.assert_array_equal(fits.getdata(tmp_path / "a.fits", ext), fits.getdata(tmp_path / "b.fits", ext))
    assert (fits.getdata(tmp_path / "a.fits", "DQ") & PixelFlag.SATURATED).any()
    fits.PrimaryHDU(full_gain[:40, :90]).writeto(tmp_path / "gain_small.fits")
    assert main(["fit", str(path), "-o", str(tmp_path / "c.fits"), "--gain", str(tmp_path / "gain_small.fits"),
                 *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "map is 40 x 90, the data are 32 x 64 (a subarray from row 16, column 32)" in err[0]
    assert not (tmp_path / "c.fits").exists()


def test_header_comments_are_whole_words(tmp_path, monkeypatch):
    """Every card of a fit's and a denoised product's header fits on its line with its comment whole, or with
    whole words of it where a long value leaves little room (never a word cut by astropy)."""
    import warnings

    from conftest import noisy_ramp, write_cube, write_small_model

    from hxrg_denoiser.geometry import ReadoutGeometry
    from hxrg_denoiser.io.cards import make_header

    cube = noisy_ramp((64, 64), 8, seed=4)[0]
    path = write_cube(tmp_path / "cube.fits", cube)
    write_small_model(tmp_path / "small", ReadoutGeometry("t", 64, 64, 4))
    monkeypatch.chdir(tmp_path)  # paths as short as a user's: a long one is a CONTINUE card, whatever its comment
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns where it cuts a comment
        assert main(["fit", path.name, "-o", "f.fits", "--channels", "4", "--clean", "-q"]) == 0
        assert main(["denoise", path.name, "-o", "d.fits", "--model", "./small", "--channels", "4", "-q"]) == 0
        for name in ("f.fits", "d.fits"):
            for card in fits.getheader(tmp_path / name).cards:
                assert len(card.image) == 80
        card = make_header({"MODELSHA": ("0" * 64, "SHA-256 of the model's weights"),
                        "RNCORR1": (0.25, "read-noise error corr., 1 row(s) apart")})
    assert card.comments["MODELSHA"] == "" and card.comments["RNCORR1"] == "read-noise error corr., 1 row(s) apart"


def test_fit_combines_every_integration_as_jwst_does(tmp_path, capsys):
    """``--integration all``: each integration of a 4D cube fitted, then combined by inverse variance (the
    combination the stpipe step's rate uses), equal to combining the single-integration fits; the error
    falls about as the square root of the integrations; denoise and inspect say in one line they take one."""
    from conftest import noisy_ramp

    from hxrg_denoiser.fitting.integrations import combine_integrations

    cubes = np.stack([noisy_ramp((32, 64), 8, seed=s)[0] for s in (1, 2, 3)])
    path = tmp_path / "ints.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cubes, name="SCI")]).writeto(path)
    common = ["--channels", "2", "--refcorr", "none", "-q"]
    assert main(["fit", str(path), "-o", str(tmp_path / "all.fits"), "--integration", "all", *common]) == 0
    singles = []
    for i in range(3):
        assert main(["fit", str(path), "-o", str(tmp_path / f"i{i}.fits"), "--integration", str(i), *common]) == 0
        singles.append({ext.lower(): fits.getdata(tmp_path / f"i{i}.fits", ext)
                        for ext in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE")})
    expected = combine_integrations({k: np.stack([s[k] for s in singles]) for k in singles[0]})
    with fits.open(tmp_path / "all.fits") as combined:
        for ext in ("SCI", "ERR", "DQ"):
            np.testing.assert_array_equal(combined[ext].data, expected[ext.lower()])
        assert combined[0].header["INTEGRTN"] == "all" and combined[0].header["NINTS"] == 3
        ratio = np.median(combined["ERR"].data / singles[0]["err"])
    assert 0.5 < ratio < 0.65  # 1 / sqrt(3) = 0.577
    for command in (["denoise", str(path), "-o", str(tmp_path / "d.fits")], ["inspect", str(path), "-o",
                                                                            str(tmp_path / "plots")]):
        assert main([*command, "--integration", "all", "--channels", "2", "-q"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--integration all" in err[0]
