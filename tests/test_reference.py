import numpy as np
import pytest

from hxrg_denoiser.classical.reference import correct_reference_pixels, measure_reference_levels, running_median
from hxrg_denoiser.geometry import ReadoutGeometry, preset
from hxrg_denoiser.io.ramps import ArrayRamp
from hxrg_denoiser.strips import StripStream

AMPLITUDE = 100.0


def systematics_cube(
    geometry: ReadoutGeometry, n_reads: int = 6, seed: int = 0, drift_along_rows: bool = True
) -> np.ndarray:
    """Per-channel offsets that drift linearly from read to read (and along the rows when asked),
    plus a slow row-wise common mode shared by all channels."""
    rng = np.random.default_rng(seed)
    n_rows = geometry.n_rows
    y = np.arange(n_rows)[None, :, None]
    reads = np.arange(n_reads)[:, None, None]
    offset = rng.uniform(-AMPLITUDE, AMPLITUDE, (1, 1, geometry.n_channels))
    per_read = rng.uniform(-AMPLITUDE, AMPLITUDE, (1, 1, geometry.n_channels)) / n_reads
    per_row = rng.uniform(-AMPLITUDE, AMPLITUDE, (n_reads, 1, geometry.n_channels)) / n_rows
    per_channel = offset + per_read * reads + (per_row * y if drift_along_rows else 0.0)
    per_channel = np.repeat(per_channel, geometry.channel_width, axis=2)
    phase = rng.uniform(0, 2 * np.pi, (n_reads, 1, 1))
    common = AMPLITUDE * np.sin(2 * np.pi * y / 2048.0 + phase)
    pedestal = rng.normal(1000.0, 50.0, geometry.shape)[None]
    return (pedestal + per_channel + common).astype(np.float32)


@pytest.mark.parametrize("method", ["seed", "smoothed"])
def test_reference_correction_removes_offsets_drifts_and_common_mode(method):
    """``seed`` fits a line along y per channel; ``smoothed`` (JWST-like) a constant per channel and parity."""
    g = preset("nirps-h4rg", n_rows=512)
    cube = systematics_cube(g, drift_along_rows=method == "seed")
    corrected = correct_reference_pixels(cube.copy(), g, method)
    residual = corrected[:, g.science_rows, g.science_cols]
    assert np.abs(residual).max() < 0.01 * AMPLITUDE
    uncorrected = cube - cube[0]
    assert np.abs(uncorrected[:, g.science_rows, g.science_cols]).max() > AMPLITUDE


def test_seed_line_goes_through_top_and_bottom_medians():
    g = ReadoutGeometry("t", 64, 64, 2)
    cube = np.zeros((2,) + g.shape, np.float32)
    cube[1, :4, :32] = 10.0  # bottom rows of channel 0
    cube[1, -4:, :32] = 30.0
    levels = measure_reference_levels(cube[:, :4], cube[:, -4:], g, "seed")
    np.testing.assert_array_equal(levels.bottom[1], [10.0, 0.0])
    np.testing.assert_array_equal(levels.top[1], [30.0, 0.0])


def test_running_median_truncates_at_edges():
    values = np.arange(10, dtype=np.float32)[None, :, None]
    out = running_median(values, 2, 3, slice(None))
    expected = [np.median(np.arange(10)[max(0, y - 2) : y + 3]) for y in range(10)]
    np.testing.assert_array_equal(out[0], expected)


@pytest.mark.parametrize("method", ["none", "seed", "smoothed"])
@pytest.mark.parametrize("strip_rows", [1, 7, 64, 200])
def test_strips_give_bit_identical_correction(method, strip_rows):
    g = preset("h2rg-32", n_rows=96)
    rng = np.random.default_rng(3)
    cube = systematics_cube(g, n_reads=4) + rng.normal(0, 5, (4,) + g.shape).astype(np.float32)
    whole = correct_reference_pixels(cube.copy(), g, method)
    stream = StripStream(ArrayRamp(cube), g, refcorr=method, strip_rows=strip_rows)
    pieces = np.concatenate([data.electrons for data in stream], axis=1)
    np.testing.assert_array_equal(pieces, whole)
