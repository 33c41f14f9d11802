import numpy as np
import pytest
from conftest import linear_ramp, noisy_ramp
from hypothesis import given, settings
from hypothesis import strategies as st

from hxrg_denoiser.classical.estimators import (
    cds_slope,
    estimate_read_noise,
    fowler_slope,
    fowler_weights,
    linear_slope_variance,
    ols_weights,
    optimal_utr_slope,
    utr_slope,
)

ESTIMATORS = {
    "cds": cds_slope,
    "fowler1": lambda c: fowler_slope(c, 1),
    "fowler4": lambda c: fowler_slope(c, 4),
    "utr": utr_slope,
    "utr_optimal": lambda c: optimal_utr_slope(c, 5.0)[0],
}


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("n_reads", [8, 33])
def test_noiseless_linear_ramp_returns_its_flux(name, n_reads):
    cube, flux = linear_ramp((16, 24), n_reads)
    np.testing.assert_allclose(ESTIMATORS[name](cube), flux, rtol=0, atol=2e-4 * 40)


@settings(max_examples=25, deadline=None)
@given(
    n_reads=st.integers(2, 40),
    slope=st.floats(-100, 100),
    offset=st.floats(-1e3, 1e3),
)
def test_linear_estimators_are_exact_for_any_line(n_reads, slope, offset):
    ramp = (offset + slope * np.arange(n_reads, dtype=np.float64))[:, None].astype(np.float32)
    tol = 1e-4 * (abs(slope) + abs(offset) / n_reads + 1)
    assert utr_slope(ramp)[0] == pytest.approx(slope, abs=tol)
    assert cds_slope(ramp)[0] == pytest.approx(slope, abs=tol)


def test_utr_equals_numpy_polyfit_per_pixel():
    cube, _ = noisy_ramp((6, 7), 20, seed=3)
    expected = np.polyfit(np.arange(20), cube.reshape(20, -1).astype(np.float64), 1)[0].reshape(6, 7)
    np.testing.assert_allclose(utr_slope(cube), expected, rtol=1e-5, atol=1e-4)


def test_weights_sum_to_zero_and_measure_unit_slope():
    for weights in (ols_weights(10), fowler_weights(10, 3)):
        assert weights.sum() == pytest.approx(0.0, abs=1e-12)
        assert weights @ np.arange(10) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Fowler number 6 must be between 1 and 5"):
        fowler_weights(10, 6)
    with pytest.raises(ValueError, match="at least 2 reads"):
        ols_weights(1)


def _normalised_errors(estimate, variance, flux):
    return (estimate - flux) / np.sqrt(variance)


@pytest.mark.parametrize("weights_of", [ols_weights, lambda n: fowler_weights(n, 4)], ids=["ols", "fowler4"])
def test_linear_variance_is_calibrated(weights_of):
    """Seeded Monte Carlo: (estimate - truth) / sigma has unit std for read + Poisson noise."""
    n_reads, read_noise = 16, 5.0
    cube, flux = noisy_ramp((200, 100), n_reads, read_noise, seed=11)
    weights = weights_of(n_reads)
    from hxrg_denoiser.classical.estimators import weighted_read_sum

    slope = weighted_read_sum(cube, weights)
    z = _normalised_errors(slope, linear_slope_variance(weights, read_noise, slope), flux)
    assert np.std(z) == pytest.approx(1.0, abs=0.03)


def test_optimal_weighting_is_calibrated_and_beats_ols_at_high_flux():
    n_reads, read_noise = 16, 3.0
    cube, flux = noisy_ramp((200, 100), n_reads, read_noise, seed=12)
    slope, variance = optimal_utr_slope(cube, read_noise)
    z = _normalised_errors(slope, variance, flux)
    assert np.std(z) == pytest.approx(1.0, abs=0.03)
    bright = flux > 10
    assert np.std((slope - flux)[bright]) < np.std((utr_slope(cube) - flux)[bright])


def test_read_noise_estimate():
    cube, _ = noisy_ramp((100, 100), 20, read_noise=7.0, seed=5)
    # second differences also see the Poisson noise of ~10 e-/frame: allow for it
    assert estimate_read_noise(cube) == pytest.approx(np.sqrt(7.0**2 + 2 * 10 / 6), rel=0.05)


def test_utr_matches_stcal_ramp_fit_ols():
    stcal_fit = pytest.importorskip("stcal.ramp_fitting.ramp_fit", reason="stcal (test extra) is not installed")
    from stcal.ramp_fitting.ramp_fit_class import RampData

    n_reads, shape, group_time = 12, (10, 12), 2.0
    cube, _ = noisy_ramp(shape, n_reads, read_noise=30.0, seed=8)
    ramp = RampData()
    ramp.set_arrays(
        cube[None].copy(),
        np.zeros((1, n_reads) + shape, np.uint8),
        np.zeros(shape, np.uint32),
        np.zeros(shape, np.float32),
    )
    ramp.set_meta(name="NIRSPEC", frame_time=group_time, group_time=group_time, groupgap=0, nframes=1, drop_frames1=None)
    flags = {
        "DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4, "NO_GAIN_VALUE": 524288,
        "UNRELIABLE_SLOPE": 16777216, "PERSISTENCE": 32, "CHARGELOSS": 128,
    }
    ramp.algorithm = "OLS_C"
    ramp.set_dqflags(flags)
    # A large read noise keeps every pixel below stcal's SNR 5, where optimal weights are uniform (OLS).
    readnoise = np.full(shape, 300.0, np.float32)
    image_info, _, _ = stcal_fit.ramp_fit_data(ramp, False, readnoise, np.ones(shape, np.float32), "OLS_C", "optimal", "none")
    slope_per_second = image_info["slope"] if isinstance(image_info, dict) else image_info[0]
    stcal_slope = slope_per_second * group_time
    np.testing.assert_allclose(utr_slope(cube), stcal_slope, rtol=1e-5, atol=2e-5 * np.abs(stcal_slope).max())
