"""The loops compiled with numba for speed give what the numpy they replace gives, bit for bit."""

import numpy as np
import pytest

from hxrg_denoiser.classical.estimators import estimate_read_noise
from hxrg_denoiser.classical.plateau import band_read_noise, exact_median
from hxrg_denoiser.stats import robust_sigma


def _band_read_noise_numpy(reads):
    """band_read_noise as numpy alone computes it (the definition the compiled pass must equal)."""
    stride = max(1, (reads.shape[0] - 2) * reads.shape[1] * reads.shape[2] // (1 << 21)) | 1
    sampled = reads[:, :, ::stride]
    return float(1.4826 * np.median(np.abs(sampled[2:] - 2 * sampled[1:-1] + sampled[:-2])) / np.sqrt(6.0))


@pytest.mark.parametrize("shape", [(100, 40, 1024), (7, 5, 33), (6, 4, 20), (3, 1, 1), (3, 1, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
def test_band_read_noise_is_numpys(shape, dtype):
    rng = np.random.default_rng(shape[0])
    reads = rng.normal(1000, 8, shape).astype(dtype)
    assert band_read_noise(reads) == _band_read_noise_numpy(reads)


def test_band_read_noise_with_a_nan_is_nan():
    reads = np.random.default_rng(1).normal(1000, 8, (10, 3, 8)).astype(np.float32)
    reads[4, 1, 2] = np.nan
    assert np.isnan(band_read_noise(reads)) and np.isnan(_band_read_noise_numpy(reads))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 1001])
def test_exact_median_is_numpys(n):
    values = np.random.default_rng(n).normal(0, 1, n).astype(np.float32)
    values[::3] = values[0]  # ties
    assert exact_median(values) == np.median(values)
    assert exact_median(values).dtype == np.median(values).dtype


@pytest.mark.parametrize("shape", [(100, 64, 1024), (3, 7), (5, 4, 6), (20, 300, 500)])
def test_estimate_read_noise_is_that_of_all_second_differences_thinned(shape):
    """The compiled pass computes only the second differences the estimate keeps: the same values."""
    reads = np.random.default_rng(len(shape)).normal(100, 5, shape)
    view = reads[:, ::2] if len(shape) == 3 else reads  # not contiguous: taken as numpy would take it
    second = np.diff(np.asarray(view, dtype=np.float32), n=2, axis=0).reshape(-1)
    step = -(-second.size // (1 << 21))
    assert estimate_read_noise(view) == robust_sigma(second[::step] if step > 1 else second) / np.sqrt(6.0)
