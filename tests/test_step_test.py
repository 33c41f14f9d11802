"""The step test: one step in a ramp, found with all its reads."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from conftest import write_cube

from hxrg_denoiser.classical.step_test import largest_steps, step_jumps, step_statistics, step_threshold
from hxrg_denoiser.cli import main
from hxrg_denoiser.dq import PixelFlag


def test_the_statistic_has_unit_variance_under_read_and_shot_noise():
    rng = np.random.default_rng(0)
    n, pixels, noise, flux = 16, 50_000, 5.0, 20.0
    reads = rng.poisson(flux, (n, pixels)).cumsum(axis=0) + rng.normal(0, noise, (n, pixels))
    z = step_statistics(reads, np.full(pixels, flux), noise)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=0.025)
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=0.025)


def test_a_step_is_measured_where_it_is():
    """Noise-free: a 40 e- step between reads 5 and 6 on a slope of 3 e- per read is 40 / sigma at place 5."""
    n = 12
    reads = (3.0 * np.arange(n) + 40.0 * (np.arange(n) > 5))[:, None]
    z = step_statistics(reads, np.zeros(1), 2.0)[:, 0]
    assert z.argmax() == 5
    k = np.arange(n)
    before, after = k[:6], k[6:]
    sxx = ((before - before.mean()) ** 2).sum() + ((after - after.mean()) ** 2).sum()
    sigma = 2.0 * np.sqrt(1 / 6 + 1 / 6 + (n / 2) ** 2 / sxx)
    assert z[5] == pytest.approx(40.0 / sigma, rel=1e-5)


def test_false_flags_and_small_jumps():
    rng = np.random.default_rng(1)
    noise = 5.9
    quiet = rng.normal(0, noise, (20, 200_000)).astype(np.float32)
    pixels, _ = step_jumps(quiet, np.zeros(quiet.shape[1]), noise)
    assert pixels.size / quiet.shape[1] < 1.5e-4  # designed for 6e-5: 12 expected
    # 35 e- steps early in the ramp: 4.2 sigma of one difference, under the two-point test's 5
    hit = rng.normal(0, noise, (20, 20_000))
    hit[3:] += 35.0
    pixels, places = step_jumps(hit, np.zeros(hit.shape[1]), noise)
    assert pixels.size / hit.shape[1] > 0.97 and np.mean(places == 2) > 0.97
    assert step_threshold(20) < step_threshold(100)


def test_fit_flags_a_small_step_that_the_two_point_test_misses(tmp_path):
    rng = np.random.default_rng(7)
    cube = rng.normal(1000.0, 4.0, (20, 32, 128)).astype(np.float32)
    cube[4:, 12, 70] += 24.0  # 4.2 sigma of one difference
    path = write_cube(tmp_path / "cube.fits", cube)
    flagged = {}
    for extra in ([], ["--no-jump-step"]):
        out = tmp_path / f"out{len(extra)}.fits"
        assert main(["fit", str(path), "-o", str(out), "--refcorr", "none", "--channels", "4", "--read-noise", "4",
                     "-q", *extra]) == 0
        with fits.open(out) as hdul:
            flagged[bool(extra)] = bool(hdul["DQ"].data[12, 70] & PixelFlag.JUMP_DET)
            assert hdul[0].header["JUMPSTEP"] is (not extra)
            if not extra:  # the slope is fitted on the segments: the step is gone from SCI
                assert abs(hdul["SCI"].data[12, 70]) < 5 * hdul["ERR"].data[12, 70]
    assert flagged == {False: True, True: False}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [3, 4, 21])
def test_largest_steps_are_step_statistics_max_bit_for_bit(dtype, n):
    """The cache-sized kernel the fit uses gives step_statistics' max and argmax exactly, NaN and inf included."""
    rng = np.random.default_rng(n)
    pixels = 3000
    reads = (rng.poisson(20, (n, pixels)).cumsum(axis=0) + rng.normal(0, 5, (n, pixels))).astype(dtype)
    reads[:, :5] = np.nan
    reads[2:, 10:40] += 40.0
    reads[2:, 50] = np.inf
    flux = rng.uniform(-5, 30, pixels).astype(np.float32)
    flux[7] = np.nan
    noise = rng.uniform(3, 6, pixels)
    with np.errstate(invalid="ignore"):
        z = np.nan_to_num(step_statistics(reads, flux, noise), nan=0.0)
        largest, place = largest_steps(reads, flux, noise)
    measured = np.isfinite(largest)  # pixels with some statistic that is not NaN (the inf one aside)
    assert (~measured).sum() == 6  # the 5 NaN pixels give -inf, the inf one +inf
    np.testing.assert_array_equal(place[measured], z.argmax(axis=0)[measured])
    np.testing.assert_array_equal(largest[measured], z.max(axis=0)[measured])
    np.testing.assert_array_equal(largest > 4.0, z.max(axis=0) > 4.0)  # the same jumps, at the same places
    assert largest.dtype == z.dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_largest_steps_with_offsets_are_those_of_the_reads_less_them(dtype):
    """The channel-row offsets the fit subtracts before the step test are taken inside the kernel: the same
    statistics, bit for bit, as the test of the reads with them subtracted first."""
    rng = np.random.default_rng(4)
    n, width, pixels = 15, 64, 64 * 40
    reads = (rng.poisson(10, (n, pixels)).cumsum(axis=0) + rng.normal(0, 5, (n, pixels))).astype(dtype)
    reads[5:, 100:104] += 30.0
    values = np.zeros((n, pixels // width * 2), dtype=np.float32)
    values[1:] = rng.normal(0, 3, (n - 1, values.shape[1])).cumsum(axis=0)
    column = np.arange(pixels) // width * 2 + np.arange(pixels) % 2
    flux = rng.uniform(0, 20, pixels).astype(np.float32)
    noise = rng.uniform(3, 6, pixels)
    alone = largest_steps(reads - values[:, column], flux, noise)
    inside = largest_steps(reads, flux, noise, offsets=(values, width))
    np.testing.assert_array_equal(alone[0], inside[0])
    np.testing.assert_array_equal(alone[1], inside[1])
    assert alone[1][100:104].min() >= 3  # the steps found where they are
    with pytest.raises(ValueError, match="offsets of shape"):
        largest_steps(reads, flux, noise, offsets=(values[:, 1:], width))


def test_largest_steps_from_several_threads_at_once():
    """The compiled kernel runs in numba's thread pool, which takes one caller at a time: callers from several
    threads (the fit's blocks, a Dask worker's tasks) each get their own pixels' answer."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    ramps = [(rng.normal(0, 5, (12, 20000)).cumsum(axis=0)).astype(np.float32) for _ in range(6)]
    flux = np.zeros(20000, dtype=np.float32)
    alone = [largest_steps(r, flux, 5.0) for r in ramps]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda r: largest_steps(r, flux, 5.0), ramps))
    for (a, pa), (b, pb) in zip(alone, together):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(pa, pb)
