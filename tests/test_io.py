import numpy as np
import pytest
from astropy.io import fits
from conftest import linear_ramp, write_cube, write_reads

from hxrg_denoiser.errors import RampInputError
from hxrg_denoiser.io.ramps import natural_sort_key, open_ramp


@pytest.fixture
def cube():
    data, _ = linear_ramp((32, 48), 5, bias=2000.0)
    return np.round(data)


def test_folder_of_reads_matches_cube(tmp_path, cube):
    folder = write_reads(tmp_path / "reads", cube, uint16=True)
    with open_ramp(folder) as ramp:
        assert ramp.shape == (5, 32, 48)
        np.testing.assert_array_equal(ramp.read_rows(3, 20), cube[:, 3:20])
        assert ramp.read_rows(0, 1).dtype == np.float32
        assert ramp.read_source(2).endswith("read_2.fits")


def test_folder_is_sorted_naturally(tmp_path, cube):
    big = np.concatenate([cube] * 3)  # 15 reads: read_10 must follow read_9
    folder = write_reads(tmp_path / "reads", big)
    with open_ramp(folder) as ramp:
        np.testing.assert_array_equal(ramp.read_rows(0, 32), big)
    assert sorted(["r10", "r9", "r1"], key=natural_sort_key) == ["r1", "r9", "r10"]


def test_3d_cube_in_primary_or_named_hdu(tmp_path, cube):
    with open_ramp(write_cube(tmp_path / "a.fits", cube, uint16=True)) as ramp:
        np.testing.assert_array_equal(ramp.read_rows(0, 32), cube)
    with open_ramp(write_cube(tmp_path / "b.fits", cube, hdu_name="RAMP"), hdu="RAMP") as ramp:
        np.testing.assert_array_equal(ramp.read_rows(5, 6), cube[:, 5:6])


def test_jwst_4d_cube_picks_integration(tmp_path, cube):
    data = np.stack([cube, cube + 7])
    path = write_cube(tmp_path / "jw.fits", data, hdu_name="SCI")
    with open_ramp(path, integration=1) as ramp:
        assert ramp.shape == cube.shape
        np.testing.assert_array_equal(ramp.read_rows(0, 32), cube + 7)
    with pytest.raises(RampInputError, match="integration 2 does not exist"):
        open_ramp(path, integration=2)


def test_bscale_bzero_are_applied(tmp_path, cube):
    hdu = fits.PrimaryHDU(np.zeros((5, 32, 48), np.int16))
    hdu.header["BSCALE"] = 2.0
    hdu.header["BZERO"] = 10.0
    hdu.writeto(tmp_path / "s.fits")
    with open_ramp(tmp_path / "s.fits") as ramp:
        assert np.all(ramp.read_rows(0, 2) == 10.0)


def _write_text(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing.fits", "missing.fits: no such file"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "empty: folder holds no FITS files"),
        (lambda p: _write_text(p / "x.fits", "not fits at all" * 300), "x.fits: not a readable FITS"),
        (lambda p: write_cube(p / "two_d.fits", np.zeros((4, 4), np.float32)), "two_d.fits: no 3D or 4D image"),
        (lambda p: write_cube(p / "one.fits", np.zeros((1, 16, 16), np.float32)), "one.fits: 1 read"),
    ],
    ids=["missing", "empty-folder", "not-fits", "wrong-dims", "one-read"],
)
def test_bad_inputs_name_the_file(tmp_path, make, match):
    with pytest.raises(RampInputError, match=match):
        open_ramp(make(tmp_path))


def test_truncated_file_is_refused(tmp_path, cube):
    path = write_cube(tmp_path / "t.fits", cube)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RampInputError, match="t.fits: truncated FITS file"):
        open_ramp(path)


def test_mixed_read_shapes_are_refused(tmp_path, cube):
    folder = write_reads(tmp_path / "reads", cube)
    fits.PrimaryHDU(np.zeros((32, 40), np.float32)).writeto(folder / "read_9.fits")
    with pytest.raises(RampInputError, match=r"read_9.fits: read is 32 x 40 but read_0.fits is 32 x 48"):
        open_ramp(folder)


def test_strips_read_ahead_are_the_strips_read_one_by_one_and_errors_come_with_their_strip():
    from hxrg_denoiser.geometry import ReadoutGeometry
    from hxrg_denoiser.io.ramps import ArrayRamp
    from hxrg_denoiser.strips import StripStream, loaded_ahead

    geometry = ReadoutGeometry("t", 64, 64, 4)
    cube = np.random.default_rng(3).normal(100.0, 5.0, (5, 64, 64)).astype(np.float32)
    stream = StripStream(ArrayRamp(cube), geometry, refcorr="seed", strip_rows=16)
    ahead = list(loaded_ahead(stream, stream.strips))
    assert [d.strip for d in ahead] == stream.strips
    for data, strip in zip(ahead, stream.strips):
        np.testing.assert_array_equal(data.electrons, stream.load(strip).electrons)
    cube[2, 40, 9] = np.nan  # in the third strip: the first two are handed out before the error
    stream = StripStream(ArrayRamp(cube), geometry, refcorr="seed", strip_rows=16)
    handed = []
    with pytest.raises(RampInputError, match="non-finite value .* row 40, column 9"):
        for data in loaded_ahead(stream, stream.strips):
            handed.append(data.strip.start)
    assert handed == [0, 16]


def test_values_whose_sum_overflows_are_not_taken_for_non_finite_ones():
    from hxrg_denoiser.geometry import ReadoutGeometry
    from hxrg_denoiser.io.ramps import ArrayRamp
    from hxrg_denoiser.strips import StripStream

    geometry = ReadoutGeometry("t", 16, 16, 2)
    cube = np.full((3, 16, 16), 3e37, dtype=np.float32)  # finite; their float32 sum is inf
    stream = StripStream(ArrayRamp(cube), geometry, strip_rows=16)
    assert np.isfinite(stream.load(stream.strips[0]).electrons).all()
