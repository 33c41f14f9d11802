"""``hxrg fit --integration all --rateints``: each integration's flux beside the combined rate."""

import numpy as np
import pytest
from astropy.io import fits
from conftest import noisy_ramp

from hxrg_denoiser.cli import main
from hxrg_denoiser.fitting.integrations import combine_integrations

ARRAYS = ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE")


def _cube(tmp_path, n_integrations=3):
    cubes = np.stack([noisy_ramp((32, 64), 8, seed=s)[0] for s in range(1, n_integrations + 1)])
    path = tmp_path / "ints.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cubes, name="SCI", header=fits.Header({"TGROUP": 10.0}))]
                 ).writeto(path)
    return path


@pytest.mark.parametrize("product", ["hxrg", "jwst"])
def test_rateints_holds_each_integration_s_fit_and_combines_into_the_rate(tmp_path, product):
    """Each plane is the ``--integration i`` fit bit for bit, and the planes combine into the rate written beside
    them; with ``--product jwst`` the file is JWST's rateints, a CubeModel in DN/s."""
    path = _cube(tmp_path)
    common = ["--channels", "2", "--refcorr", "none", "--gain", "2", "--product", product, "-q"]
    rate, rateints = tmp_path / "rate.fits", tmp_path / "rateints.fits"
    assert main(["fit", str(path), "-o", str(rate), "--integration", "all", "--rateints", str(rateints),
                 *common]) == 0
    with fits.open(rateints) as cube, fits.open(rate) as combined:
        assert cube[0].header["NINTS"] == 3 and cube[0].header["INTEGRTN"] == "each"
        planes = {name.lower(): cube[name].data for name in ARRAYS}
        assert planes["sci"].shape == (3, 32, 64)
        expected = combine_integrations(planes)
        for name in ARRAYS:
            np.testing.assert_array_equal(combined[name].data, expected[name.lower()])
    for i in range(3):
        single = tmp_path / f"i{i}.fits"
        assert main(["fit", str(path), "-o", str(single), "--integration", str(i), *common]) == 0
        for name in ARRAYS:
            np.testing.assert_array_equal(fits.getdata(single, name), planes[name.lower()][i])
    if product == "jwst":
        datamodels = pytest.importorskip("stdatamodels.jwst.datamodels",
                                         reason="stdatamodels (test extra) is not installed")
        with datamodels.CubeModel(str(rateints)) as model:
            assert model.data.shape == (3, 32, 64) and model.meta.bunit_data == "DN/s"
            np.testing.assert_allclose(model.err**2, model.var_poisson + model.var_rnoise, rtol=1e-5)


@pytest.mark.parametrize("extra, message", [
    ([], "--integration all"),
    (["--integration", "all", "--product", "nirps", "--units", "e-/s"], "--product nirps"),
    (["--integration", "all", "--rateints-same"], "same file as -o"),
    (["--integration", "all", "--rateints-exists"], "exists"),
])
def test_rateints_is_refused_in_one_line_before_any_output(tmp_path, capsys, extra, message):
    path = _cube(tmp_path, 2)
    rate, rateints = tmp_path / "rate.fits", tmp_path / "ri.fits"
    if "--rateints-same" in extra:
        rateints = rate
    if "--rateints-exists" in extra:
        rateints.write_bytes(b"keep")
    extra = [e for e in extra if not e.startswith("--rateints-")]
    assert main(["fit", str(path), "-o", str(rate), "--rateints", str(rateints), "--channels", "2", "-q",
                 *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not rate.exists() or rate == rateints and rate.read_bytes() == b"keep"
    assert rateints.read_bytes() == b"keep" if "exists" in message else not rateints.exists()


def test_rateints_applies_to_one_input(tmp_path, capsys):
    path = _cube(tmp_path, 2)
    other = tmp_path / "other.fits"
    other.write_bytes(path.read_bytes())
    assert main(["fit", str(path), str(other), "-o", str(tmp_path / "out") + "/", "--rateints",
                 str(tmp_path / "ri.fits"), "--channels", "2", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--rateints applies to one input" in err[0]
    assert not (tmp_path / "out").exists()
