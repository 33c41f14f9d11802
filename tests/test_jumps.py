"""Cosmic-ray jumps: detection on the simulator's cosmic rays, segment fits, flags, reads used."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hxrg_denoiser.classical.estimators import ols_weights
from hxrg_denoiser.classical.jumps import detect_jumps, segment_read_weights
from hxrg_denoiser.dq import PixelFlag
from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.fitting import FitOptions, fit_cube
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.io.upstream_flags import FlaggedJumps
from hxrg_denoiser.simulate.noise import NoiseModel, noise_preset
from hxrg_denoiser.simulate.ramp import simulate_cube

SMALL = ReadoutGeometry("t", 32, 128, 4)


def test_segment_weights_without_jumps_are_the_up_the_ramp_weights():
    for n in (3, 7, 30):
        weights = segment_read_weights(np.ones((n - 1, 1), dtype=bool))
        np.testing.assert_allclose(weights[:, 0], ols_weights(n), atol=1e-12)


def test_segment_weights_give_the_slope_of_a_ramp_with_any_jumps_exactly():
    rng = np.random.default_rng(0)
    n = 12
    for _ in range(20):
        usable = rng.random((n - 1, 1)) > 0.3
        if not usable.any():
            continue
        reads = 3.0 + 2.5 * np.arange(n) + np.cumsum(np.r_[0, np.where(usable[:, 0], 0.0, 500.0)])  # jumps where unusable
        weights = segment_read_weights(usable)
        assert np.isclose(weights[:, 0] @ reads, 2.5)


def test_a_noiseless_ramp_with_a_jump_returns_its_flux_exactly():
    n, flux = 20, 4.0
    cube = np.broadcast_to((10.0 + flux * np.arange(n, dtype=np.float32))[:, None, None], (n,) + SMALL.shape).copy()
    cube[9:, 10, 50] += 3000.0  # a hit between reads 8 and 9
    image = fit_cube(cube, SMALL, FitOptions(refcorr="none", read_noise=5.0))
    science = ~SMALL.reference_mask
    np.testing.assert_allclose(image.sci[science], flux * n, rtol=1e-5)
    jumped = (image.dq & PixelFlag.JUMP_DET) > 0
    assert jumped[10, 50] and jumped.sum() == 1
    assert image.reads_used[10, 50] == n and image.reads_used[11, 50] == n
    np.testing.assert_allclose(image.intercept[science], 10.0, atol=1e-3)  # the level at the first read
    plain = fit_cube(cube, SMALL, FitOptions(refcorr="none", read_noise=5.0, jump_threshold=None))
    assert plain.sci[10, 50] > flux * n + 1000  # without detection the hit is in the flux
    assert not (plain.dq & PixelFlag.JUMP_DET).any()


def test_jump_before_saturation_and_a_single_read_segment():
    n = 10
    cube = np.broadcast_to((2.0 * np.arange(n, dtype=np.float32))[:, None, None], (n,) + SMALL.shape).copy()
    cube[1:, 8, 40] += 3000.0  # hit after read 0: the first segment has one read, it does not count
    cube[6:, 9, 41] += 5000.0  # hit after read 5, then saturated from read 8 (5016 >= 5015)
    image = fit_cube(cube, SMALL, FitOptions(refcorr="none", read_noise=3.0, saturation=5015.0))
    assert np.isclose(image.sci[8, 40], 2.0 * n, rtol=1e-5) and image.reads_used[8, 40] == n - 1
    assert np.isclose(image.sci[9, 41], 2.0 * n, rtol=1e-5)
    assert np.isclose(image.intercept[9, 41], 0.0, atol=1e-3)  # from the first segment, before the hit
    assert np.isclose(image.intercept[8, 40], 3000.0, atol=1e-2)  # read 0 alone is no segment: reads 1-9
    assert image.reads_used[9, 41] == 8  # reads 0-5 and 6-7
    assert image.dq[9, 41] & PixelFlag.JUMP_DET and image.dq[9, 41] & PixelFlag.SATURATED


def _cosmic_ray_pair(geometry, noise, n_reads, seed):
    """A ramp with cosmic rays and the same ramp without them (every other component identical)."""
    hit = simulate_cube(geometry, n_reads, noise.replace(cosmic_ray_rate=2000.0), seed=seed)
    clean = simulate_cube(geometry, n_reads, noise, seed=seed)
    return hit, clean, np.diff(hit - clean, axis=0)


@pytest.mark.parametrize("noise", ["nirspec", "h4rg-lab"])
def test_jumps_above_10_sigma_are_found_and_pure_noise_is_not_flagged(noise):
    geometry = preset("nirps-h4rg", n_rows=48)
    hit, clean, jump_sizes = _cosmic_ray_pair(geometry, noise_preset(noise), 30, seed=3)
    image = fit_cube(hit, geometry, FitOptions(refcorr="seed"))
    sigma = np.sqrt(2.0) * image.provenance.read_noise
    science = ~geometry.reference_mask
    big = (jump_sizes > 10 * sigma).any(axis=0) & science
    found = (image.dq & PixelFlag.JUMP_DET) > 0
    assert big.sum() > 1000
    assert (found & big).sum() >= 0.95 * big.sum()
    pure = fit_cube(clean, geometry, FitOptions(refcorr="seed"))
    false_rate = ((pure.dq & PixelFlag.JUMP_DET) > 0)[science].mean()
    assert false_rate <= 1e-4, false_rate


def test_hit_pixels_keep_their_flux_within_their_error():
    """White read noise + Poisson (the ERR model): (SCI - truth) / ERR of hit pixels has unit spread, no bias."""
    geometry = preset("nirps-h4rg", n_rows=48)
    rng = np.random.default_rng(7)
    scene = np.where(geometry.reference_mask, 0.0, rng.uniform(0, 600, geometry.shape)).astype(np.float32)
    noise = NoiseModel(white=6.0, cosmic_ray_rate=2000.0)
    n = 30
    cube = simulate_cube(geometry, n, noise, scene=scene, seed=11)
    image = fit_cube(cube, geometry, FitOptions(refcorr="none"))
    jumped = ((image.dq & PixelFlag.JUMP_DET) > 0) & np.isfinite(image.sci)
    assert jumped.sum() > 1000
    z = ((image.sci - scene) / image.err)[jumped]
    assert abs(np.mean(z)) < 0.1
    assert 0.9 < np.std(z) < 1.15
    assert np.all(image.reads_used[jumped] <= n)


def test_jump_results_do_not_depend_on_the_strip_size():
    geometry = preset("nirps-h4rg", n_rows=40)
    hit, _, _ = _cosmic_ray_pair(geometry, noise_preset("nirspec"), 12, seed=5)
    a = fit_cube(hit, geometry, FitOptions(strip_rows=8))
    b = fit_cube(hit, geometry, FitOptions(strip_rows=128))
    np.testing.assert_array_equal(a.sci, b.sci)
    np.testing.assert_array_equal(a.dq, b.dq)
    np.testing.assert_array_equal(a.reads_used, b.reads_used)


def test_neighbours_of_a_jump_can_be_flagged_too():
    n = 10
    cube = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n,) + SMALL.shape).copy()
    cube[5:, 12, 60] += 4000.0
    found = detect_jumps(cube, np.full(SMALL.shape, n), np.ones(SMALL.shape, dtype=np.float32), 3.0,
                         neighbours=True)
    flat = set(found.pixels.tolist())
    assert flat == {12 * 128 + 60, 11 * 128 + 60, 13 * 128 + 60, 12 * 128 + 59, 12 * 128 + 61}
    assert found.jumps[4].all() and found.jumps.sum() == 5


def test_jump_threshold_is_checked():
    with pytest.raises(UsageError, match="--jump-threshold"):
        FitOptions(jump_threshold=0.0)


def test_channel_row_offsets_are_removed_before_the_test_so_smaller_jumps_are_found():
    """Between two reads, correlated noise moves a channel's row (and its even and odd columns apart) by
    10 e-; the white noise is 4 e- per read. Jumps of 40 e- (5 sigma of a white difference is 28 e-) are
    found once those offsets are removed, and pure noise gets no more false flags than 1e-4 per pixel;
    tested against the whole per-read noise with the offsets left in, most are missed (and against the
    white noise with them left in, pure noise is flagged everywhere)."""
    rng = np.random.default_rng(300801)
    n, rows, width, channels = 20, 64, 64, 8
    cols = width * channels
    offsets = rng.normal(0.0, 10.0, (n, rows, channels, 2))
    correlated = np.repeat(offsets[:, :, :, None, :], width // 2, axis=3).reshape(n, rows, cols)
    white = 4.0
    cube = (np.cumsum(correlated, axis=0) + rng.normal(0.0, white, (n, rows, cols))).astype(np.float32)
    clean = cube.copy()
    hit_rows, hit_cols = rng.integers(0, rows, 300), rng.integers(0, cols, 300)
    hit_read = rng.integers(1, n, 300)
    for r, c, k in zip(hit_rows, hit_cols, hit_read):
        cube[k:, r, c] += 40.0
    unsaturated = np.full((rows, cols), n)
    slope = np.zeros((rows, cols), np.float32)
    hit = np.zeros((rows, cols), bool)
    hit[hit_rows, hit_cols] = True

    def flagged(data, noise, width_or_none):
        found = detect_jumps(data, unsaturated, slope, noise, channel_width=width_or_none)
        mask = np.zeros(rows * cols, bool)
        mask[found.pixels] = True
        return mask.reshape(rows, cols)

    total = float(np.sqrt(white**2 + 10.0**2 / 2))  # per read, as a difference sees it
    assert flagged(cube, white, width)[hit].mean() > 0.95
    assert flagged(cube, total, None)[hit].mean() < 0.3
    assert flagged(clean, white, width).mean() <= 1e-4
    assert flagged(clean, white, None).mean() > 1e-2


def test_a_large_jump_does_not_hide_a_smaller_one_in_its_channel_row_nor_flag_the_others():
    """A 5000 e- cosmic ray moves the plain mean of its channel row's 32 even columns by 156 e-: measured
    with it, that offset would flag the 30 other pixels of the set (-156 e- where 5 sigma is 28 e-) and
    hide a 60 e- jump two columns away. The set's offset is averaged again without the outlier, so only
    the two real jumps are found."""
    rng = np.random.default_rng(300803)
    n, rows, width, channels = 12, 8, 64, 4
    cols = width * channels
    cube = rng.normal(0.0, 4.0, (n, rows, cols)).astype(np.float32)
    cube[6:, 3, 64 + 10] += 5000.0
    cube[6:, 3, 64 + 12] += 60.0
    found = detect_jumps(cube, np.full((rows, cols), n), np.zeros((rows, cols), np.float32), 4.0,
                         channel_width=width)
    jumped = {int(p): np.flatnonzero(found.jumps[:, i]).tolist() for i, p in enumerate(found.pixels)}
    assert jumped == {3 * cols + 74: [5], 3 * cols + 76: [5]}


def test_the_neighbours_of_a_jump_are_tested_again_at_its_difference():
    """Cosmic rays of 600 e- spread over 3 x 3 pixels leave 26 e- in the corners (3.3 sigma of a difference
    with 5.6 e- per read, under the 5-sigma threshold): tested again where their centre jumped, more than
    80 % of the corners are flagged (under 10 % without that test), and pure noise gains no flag."""
    rng = np.random.default_rng(300804)
    n, rows, cols = 30, 64, 256
    kernel = np.exp(-0.5 * (np.arange(-1, 2) / 0.7) ** 2)
    kernel = np.outer(kernel, kernel) / np.outer(kernel, kernel).sum()
    clean = rng.normal(0.0, 5.6, (n, rows, cols)).astype(np.float32)
    cube = clean.copy()
    ys, xs = np.meshgrid(np.arange(4, rows - 4, 8), np.arange(4, cols - 4, 8), indexing="ij")
    corners = np.zeros((rows, cols), bool)
    for y, x, k in zip(ys.ravel(), xs.ravel(), rng.integers(3, n - 3, ys.size)):
        cube[k:, y - 1 : y + 2, x - 1 : x + 2] += 600.0 * kernel
        corners[[y - 1, y - 1, y + 1, y + 1], [x - 1, x + 1, x - 1, x + 1]] = True
    unsaturated = np.full((rows, cols), n)
    slope = np.zeros((rows, cols), np.float32)

    def flagged(data, threshold):
        found = detect_jumps(data, unsaturated, slope, 5.6, cluster_threshold=threshold)
        mask = np.zeros(rows * cols, bool)
        mask[found.pixels] = True
        return mask.reshape(rows, cols)

    assert flagged(cube, None)[corners].mean() < 0.1
    assert flagged(cube, 2.0)[corners].mean() > 0.8
    assert not flagged(clean, 2.0).any()


def test_the_neighbours_of_a_pixel_that_jumps_often_are_not_cut_up(monkeypatch):
    """A pixel that jumps at 4 reads (a pattern, not a cosmic ray) whose neighbours share a 2.7-sigma part
    of each step: they keep their ramps whole (testing them would flag 4 differences each)."""
    from hxrg_denoiser.classical import jumps as jumps_module

    rng = np.random.default_rng(300805)
    n, rows, cols = 24, 16, 64
    cube = rng.normal(0.0, 5.6, (n, rows, cols)).astype(np.float32)
    for k in (4, 9, 14, 19):
        cube[k:, 8, 30] += 400.0
        cube[k:, 7:10, 29:32] += 21.5  # 2.7 sigma of a difference
        cube[k:, 8, 30] -= 21.5
    unsaturated = np.full((rows, cols), n)
    slope = np.zeros((rows, cols), np.float32)
    found = detect_jumps(cube, unsaturated, slope, 5.6)
    assert found.pixels.tolist() == [8 * cols + 30]
    monkeypatch.setattr(jumps_module, "CLUSTER_MAX_JUMPS", 10)
    assert len(detect_jumps(cube, unsaturated, slope, 5.6)) > 5


def test_jump_noise_lies_between_the_white_and_the_total_read_noise():
    from hxrg_denoiser.fitting import jump_read_noise, ramp_read_noise
    from hxrg_denoiser.io.ramps import ArrayRamp
    from hxrg_denoiser.strips import StripStream

    geometry = preset("nirps-h4rg", n_rows=48)
    cube = simulate_cube(geometry, 12, noise_preset("h4rg-lab"), seed=300802)
    stream = StripStream(ArrayRamp(cube), geometry, refcorr="seed")
    total, white = ramp_read_noise(stream)
    jump = jump_read_noise(stream)
    assert white < jump < total, (white, jump, total)


@pytest.mark.integration
def test_offsets_and_the_neighbour_test_cut_what_cosmic_rays_add_to_a_correlated_noise_fit(monkeypatch):
    """h4rg-lab noise (strong 1/f): the variance that cosmic rays add to a reference-corrected fit of a dark
    ramp, against the same ramp without them. Without the test of a jump's neighbours, it falls by more
    than a quarter when the jump test removes each channel row's offsets (smaller jumps found: 2.5 against
    4.0 e-^2); the neighbour test then takes it under half of that (0.5), the charge a cosmic ray leaves
    beside its centre being found. The ramp without hits is fitted the same either way. (The two-point test
    alone, ``jump_step=False``; the step test, which always removes the offsets, finds the small jumps the
    two-point test misses when it keeps them.)"""
    import hxrg_denoiser.fitting.read_noise as fitting

    geometry = preset("nirps-h4rg", n_rows=72)
    noise = noise_preset("h4rg-lab")
    hit = simulate_cube(geometry, 30, noise.replace(cosmic_ray_rate=100.0), seed=11)
    twin = simulate_cube(geometry, 30, noise, seed=11)
    science = ~geometry.reference_mask

    def added_variance(cluster: float | None = None, step: bool = False) -> tuple[float, np.ndarray]:
        options = FitOptions(refcorr="seed", jump_cluster_threshold=cluster, jump_step=step)
        with_hits, without = (fit_cube(cube, geometry, options).sci[science] for cube in (hit, twin))
        return float(np.nanmean(with_hits**2) - np.nanmean(without**2)), without

    both, _ = added_variance(2.0)
    removed, twin_removed = added_variance()
    monkeypatch.setattr(fitting, "JUMP_OFFSETS_GAIN", 0.0)  # never remove them
    kept, twin_kept = added_variance()
    with_step, _ = added_variance(step=True)
    assert removed < 0.75 * kept, (removed, kept)
    assert with_step < 0.5 * kept, (with_step, kept)
    assert both < 0.5 * removed, (both, removed)
    assert np.mean(twin_removed != twin_kept) < 2e-4  # at most a rare false flag apart


def test_cds_and_fowler_leave_out_the_pixels_a_jump_hit():
    """The jump is found on all the reads; CDS and Fowler, whose fixed reads hold it in their difference,
    leave the pixel out (NaN, JUMP_DET and DO_NOT_USE, no reads used); the others keep their exact flux,
    and --no-jumps keeps the old, wrong value."""
    n, flux = 12, 4.0
    cube = np.broadcast_to((10.0 + flux * np.arange(n, dtype=np.float32))[:, None, None], (n,) + SMALL.shape).copy()
    cube[7:, 5, 40] += 500.0
    for method in ("cds", "fowler"):
        image = fit_cube(cube, SMALL, FitOptions(method=method, refcorr="none", read_noise=3.0))
        assert np.isnan(image.sci[5, 40]) and image.reads_used[5, 40] == 0
        assert image.dq[5, 40] & PixelFlag.JUMP_DET and image.dq[5, 40] & PixelFlag.DO_NOT_USE
        others = np.ones(SMALL.shape, bool)
        others[5, 40] = False
        others &= ~SMALL.reference_mask
        np.testing.assert_allclose(image.sci[others], flux * n, rtol=1e-5)
        kept = fit_cube(cube, SMALL, FitOptions(method=method, refcorr="none", read_noise=3.0, jump_threshold=None))
        assert kept.sci[5, 40] > flux * n + 400.0


def test_flagged_jumps_are_the_differences_into_the_flagged_groups_in_readout_order():
    groupdq = np.zeros((5, 3, 4), np.uint8)
    groupdq[2, 1, 3] = 4  # JUMP_DET on group 2: the difference between groups 1 and 2
    groupdq[0, 0, 0] = 4  # on group 0: no difference into it
    groupdq[3, 2, 0] = 2 | 4  # other bits beside it count too
    jumps = FlaggedJumps.from_groupdq(groupdq)
    assert sorted(zip(jumps.differences, jumps.rows, jumps.cols)) == [(1, 1, 3), (2, 2, 0)]
    turned = FlaggedJumps.from_groupdq(groupdq, fast=-1, slow=2)  # x runs the other way in readout order
    assert sorted(zip(turned.differences, turned.rows, turned.cols)) == [(1, 1, 0), (2, 2, 3)]
    later = jumps.from_read(2)  # reads from 2 on: only the second is left, its difference now 0
    assert list(zip(later.differences, later.rows, later.cols)) == [(0, 2, 0)]
    pixels, differences = jumps.in_rows(1, 3, n_cols=4, n_differences=4)
    assert sorted(zip(pixels, differences)) == [(0 * 4 + 3, 1), (1 * 4 + 0, 2)]
    assert jumps.in_rows(1, 3, n_cols=4, n_differences=2)[0].tolist() == [3]  # differences past the reads fitted


def test_jumps_flagged_upstream_are_fitted_around_as_the_jumps_found():
    """A step too small for the tests here (3 sigma of a read difference), flagged upstream (a JWST GROUPDQ): the
    pixel's slope is fitted on its segments and flagged JUMP_DET, exactly as if it had been found; without the
    flags the step stays in the slope."""
    n, flux, rn = 20, 4.0, 5.0
    rng = np.random.default_rng(3)
    cube = (10.0 + flux * np.arange(n, dtype=np.float32))[:, None, None] + rn * rng.standard_normal((n,) + SMALL.shape)
    cube = cube.astype(np.float32)
    cube[9:, 10, 50] += 3 * rn * np.sqrt(2)  # between reads 8 and 9
    groupdq = np.zeros(cube.shape, np.uint8)
    groupdq[9, 10, 50] = 4
    flagged = FitOptions(refcorr="none", read_noise=rn, jump_flags=FlaggedJumps.from_groupdq(groupdq))
    with_flags, plain = fit_cube(cube, SMALL, flagged), fit_cube(cube, SMALL, FitOptions(refcorr="none", read_noise=rn))
    assert with_flags.dq[10, 50] & PixelFlag.JUMP_DET and not plain.dq[10, 50] & PixelFlag.JUMP_DET
    usable = np.ones(n - 1, bool)
    usable[8] = False
    expected = float(np.sum(segment_read_weights(usable[:, None])[:, 0] * cube[:, 10, 50])) * n
    assert with_flags.sci[10, 50] == pytest.approx(expected, rel=1e-5)
    assert plain.sci[10, 50] - with_flags.sci[10, 50] > 10  # the step, left in
    others = np.ones(SMALL.shape, bool)
    others[10, 50] = False
    np.testing.assert_array_equal(with_flags.sci[others], plain.sci[others])
    alone = fit_cube(cube, SMALL, dataclasses.replace(flagged, jump_threshold=None))
    assert alone.sci[10, 50] == with_flags.sci[10, 50] and alone.dq[10, 50] & PixelFlag.JUMP_DET


def test_pixels_that_saturate_mid_ramp_do_not_move_their_channel_rows_offsets():
    """After saturation a pixel's differences lie its whole flux below their expectation: in a channel row's
    offset they shifted every difference of the row, and the step test flagged every faint pixel there (all
    of them, before these offsets weighed pixels by their noise and left saturating ones out)."""
    geometry = preset("jwst-h2rg", n_rows=64)
    n = 10
    rng = np.random.default_rng(5)
    scene = np.full(geometry.shape, 20.0 * (n - 1))
    bright = np.zeros(geometry.shape, dtype=bool)
    rows = np.arange(8, 56, 2)
    for channel in range(4):
        for row in rows:
            bright[row, channel * 512 + rng.choice(np.arange(8, 504), 8, replace=False)] = True
    scene[bright] = rng.uniform(1.2e4, 5e4, bright.sum()) * (n - 1)  # the full well (1e5 e-) reached mid-ramp
    cube = simulate_cube(geometry, n, noise_preset("nirspec").replace(saturation=1e5), scene=scene, seed=4)
    image = fit_cube(cube, geometry, FitOptions(refcorr="seed", saturation=9.5e4))
    assert ((image.dq[bright] & PixelFlag.SATURATED) > 0).all()
    faint = ~geometry.reference_mask & ~bright
    faint[np.setdiff1d(np.arange(64), rows)] = False  # the rows that hold saturating pixels
    assert ((image.dq[faint] & PixelFlag.JUMP_DET) > 0).mean() < 2e-4


def test_bright_pixels_weigh_little_in_their_channel_rows_offsets():
    """The offset common to a channel row's even (odd) columns is their inverse-variance mean: a few bright
    pixels' shot noise (300 e- per difference beside 8 e-) stays out of it."""
    from hxrg_denoiser.classical.channel_rows import difference_offsets, set_weights

    rng = np.random.default_rng(2)
    width, sets, n = 64, 400, 6
    common = rng.normal(0.0, 20.0, (n, sets, 1)).repeat(width, axis=2).reshape(n, -1)
    flux = np.zeros(sets * width)
    flux[rng.choice(flux.size, sets * 4, replace=False)] = 9e4
    sigma = np.sqrt(2 * 5.7**2 + flux)
    reads = np.cumsum(rng.normal(0.0, 1.0, (n, flux.size)) * sigma + flux, axis=0) + np.cumsum(common, axis=0)
    truth = np.diff(np.cumsum(common, axis=0), axis=0).reshape(n - 1, sets, width)[:, :, :2]
    plain = difference_offsets(reads, flux, width) - truth
    weighted = difference_offsets(reads, flux, width, set_weights(sigma)) - truth
    assert np.sqrt(np.mean(weighted**2)) < 0.3 * np.sqrt(np.mean(plain**2))
    assert np.sqrt(np.mean(weighted**2)) < 1.5 * 8.1 / np.sqrt(width / 2)  # the dark pixels' own limit
