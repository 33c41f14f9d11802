"""The simulator's detector effects: inter-pixel capacitance, classical non-linearity, telegraph pixels."""

import numpy as np
import pytest

from hxrg_denoiser.errors import UsageError
from hxrg_denoiser.geometry import preset
from hxrg_denoiser.simulate import noise_preset, simulate_cube
from hxrg_denoiser.simulate.detector import NonLinearity, TelegraphPixels, interpixel_capacitance

GEOMETRY = preset("h2rg-32", n_rows=64)
QUIET = noise_preset("none")


def _point_scene(charge: float = 1e4) -> np.ndarray:
    scene = np.zeros(GEOMETRY.shape, np.float32)
    scene[30, 300] = charge
    return scene


def test_ipc_moves_the_stated_share_to_each_neighbour_and_keeps_the_charge():
    image = np.zeros((9, 9), np.float32)
    image[4, 4] = 1000.0
    out = interpixel_capacitance(image, 0.015)
    assert out[4, 4] == pytest.approx(1000.0 * (1 - 4 * 0.015))
    for y, x in ((3, 4), (5, 4), (4, 3), (4, 5)):
        assert out[y, x] == pytest.approx(15.0)
    assert out[3, 3] == 0.0 and out.sum() == pytest.approx(1000.0)


def test_ipc_and_nonlinearity_in_a_simulated_ramp():
    last = simulate_cube(GEOMETRY, 4, QUIET.replace(ipc=0.01), scene=_point_scene(), seed=1, poisson=False)[-1]
    assert last[30, 300] == pytest.approx(1e4 * 0.96, rel=1e-5) and last[29, 300] == pytest.approx(100.0, rel=1e-5)
    ramp = simulate_cube(GEOMETRY, 4, QUIET.replace(nonlinearity=0.05), scene=_point_scene(), seed=1, poisson=False)
    linear = 1e4 * np.arange(1, 5) / 4
    b = (1 - ramp[:, 30, 300] / linear) / linear * 1e5  # the loss is b Q / 1e5, b = 0.05 within +-10 %
    np.testing.assert_allclose(b, b[-1], rtol=2e-3)
    assert 0.045 <= b[-1] <= 0.055
    # the coefficient is the detector's: the same for every exposure of one detector
    model = QUIET.replace(nonlinearity=0.05)
    np.testing.assert_array_equal(NonLinearity(GEOMETRY, model, 3).coefficient, NonLinearity(GEOMETRY, model, 3).coefficient)


def test_telegraph_pixels_jump_between_two_levels_and_spare_reference_pixels():
    model = QUIET.replace(rts_fraction=0.01, rts_amplitude=30.0, detector_seed=5)
    cube = simulate_cube(GEOMETRY, 40, model, seed=2)
    telegraph = TelegraphPixels(GEOMETRY, model, 5, 2)
    assert telegraph.rows.size > 50
    values = cube[:, telegraph.rows, telegraph.cols]
    for k in range(telegraph.rows.size):
        assert set(np.unique(values[:, k])) <= {0.0, np.float32(telegraph.step[k])}
    switched = (np.diff(values, axis=0) != 0).any(axis=0)
    assert switched.mean() > 0.5
    others = np.ones(GEOMETRY.shape, bool)
    others[telegraph.rows, telegraph.cols] = False
    assert not cube[:, others].any() and not cube[:, GEOMETRY.reference_mask].any()
    # the pixels and their steps belong to the detector, the switching to the exposure
    again = simulate_cube(GEOMETRY, 40, model, seed=3)
    assert not np.array_equal(again, cube)
    assert not again[:, others].any()
    with pytest.raises(ValueError, match="read after read"):
        fresh = TelegraphPixels(GEOMETRY, model, 5, 2)
        fresh.offsets(0)
        fresh.offsets(2)


@pytest.mark.parametrize(("change", "message"), [
    ({"ipc": 0.25}, "ipc must be < 0.2"),
    ({"nonlinearity": 0.6}, "nonlinearity must be < 0.5"),
    ({"rts_fraction": 2.0}, "fractions of the pixels, at most 1"),
    ({"hot_pixel_fraction": 1.5}, "fractions of the pixels, at most 1"),
    ({"rts_amplitude": -1.0}, "rts_amplitude must be a finite number >= 0"),
])
def test_bad_detector_effect_levels_are_refused(change, message):
    with pytest.raises(UsageError, match=message):
        QUIET.replace(**change)
